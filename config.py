"""Default settings. The environment overrides secrets and the database; tests pass overrides."""

import os
from datetime import timedelta

basedir = os.path.abspath(os.path.dirname(__file__))

APP_NAME = "物业业户服务管理系统"
COMPANY_NAME = os.environ.get("COMPANY_NAME", "物业管理有限公司")
APP_THEME = ""
APP_ICON = ""

# Database: SQLite in the instance folder unless DATABASE_URL names another (PostgreSQL).
SQLALCHEMY_DATABASE_URI = os.environ.get(
    "DATABASE_URL", "sqlite:///" + os.path.join(basedir, "instance", "wuye.db")
)
SQLALCHEMY_TRACK_MODIFICATIONS = False
SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

# A development key; production must set SECRET_KEY (the app refuses to start otherwise).
DEFAULT_SECRET_KEY = "dev-insecure-change-me"
SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
ENV_NAME = os.environ.get("WUYE_ENV", "development")

# Schema through migrations only; permissions are written by `flask init`, not at start-up.
FAB_CREATE_DB = False
FAB_UPDATE_PERMS = False
# FAB's user/role/permission REST resources stay off: administrators manage accounts on the screens;
# the API login (/api/v1/security/login) is always there.
FAB_ADD_SECURITY_API = False
FAB_API_SWAGGER_UI = True
FAB_API_MAX_PAGE_SIZE = 100
FAB_SECURITY_MANAGER_CLASS = "app.security.WuyeSecurityManager"
FAB_INDEX_VIEW = "views.dashboard.HomeView"
AUTH_ROLE_ADMIN = "系统管理员"
AUTH_ROLE_PUBLIC = "Public"
AUTH_TYPE = 1  # AUTH_DB
AUTH_USER_REGISTRATION = False
FAB_PASSWORD_COMPLEXITY_ENABLED = True
FAB_PASSWORD_COMPLEXITY_VALIDATOR = "app.security.password_rules"
AUTH_RATE_LIMITED = True
AUTH_RATE_LIMIT = "10 per 5 minutes"
RATELIMIT_ENABLED = True
RATELIMIT_STORAGE_URI = os.environ.get("REDIS_URL", "memory://")
JWT_ACCESS_TOKEN_EXPIRES = timedelta(hours=8)
LOGIN_LOCKOUT_FAILURES = 5
LOGIN_LOCKOUT_MINUTES = 15

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = None
MAX_CONTENT_LENGTH = 8 * 1024 * 1024
UPLOAD_FOLDER = os.path.join(basedir, "instance", "uploads")
# Screens keep their menu, search menu and filter-bar choices between requests (app/screen_cache.py);
# a save in any worker of this machine drops them at once, anything else after this many seconds.
SCREEN_CACHE_SECONDS = float(os.environ.get("SCREEN_CACHE_SECONDS", "10"))
# Roles' permissions and users' estates are kept between requests while the security stamp (read with
# the user of every request) is unchanged (app/security_stamp.py); this many seconds at most, for
# changes written with plain SQL behind the application's back.
SECURITY_CACHE_SECONDS = float(os.environ.get("SECURITY_CACHE_SECONDS", "60"))

# Chinese by default, English selectable.
BABEL_DEFAULT_LOCALE = "zh"
BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
# FAB puts its own catalogue first; ours is merged after it and fills/overrides its strings.
BABEL_TRANSLATION_DIRECTORIES = os.path.join(basedir, "translations")
LANGUAGES = {
    "zh": {"flag": "cn", "name": "中文"},
    "en": {"flag": "gb", "name": "English"},
}
TIMEZONE = "Asia/Shanghai"

# Business settings (defaults; the administrator changes them in 系统设置 → 参数设置).
PICKUP_HOURS = 2
RETURN_DAYS = 3
MATERIAL_REPORT_DAYS = 3
PURCHASE_DAYS = 3
URGE_COOLDOWN_MINUTES = 10
RECTIFY_HOURS = 12
COMPLAINT_REPLY_HOURS = 24
PRICE_MARGIN_LIMIT = "0.20"

# Roster import limits.
IMPORT_MAX_ROWS = 20000

"""Application factory: one start-up path for the web app, the CLI and the tests."""

from __future__ import annotations

import logging
import os

from flask import Flask
from flask_appbuilder import AppBuilder
from flask_babel import lazy_gettext as _l
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.extensions import csrf, db, migrate

logger = logging.getLogger(__name__)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_APP_NAME = "物业业户服务管理系统"  # config.APP_NAME unless a deployment names it otherwise


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):  # noqa: ARG001
    """SQLite enforces foreign keys only when asked on every connection."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def create_app(config: dict | None = None) -> Flask:
    # FAB warns about the security models' relation columns it cannot filter: noise for operators.
    logging.getLogger("flask_appbuilder.models.filters").setLevel(logging.ERROR)
    app = Flask(__name__, instance_path=os.path.join(ROOT, "instance"))
    app.config.from_object("config")
    if config:
        app.config.update(config)
    if app.config.get("APP_NAME") == DEFAULT_APP_NAME:
        app.config["APP_NAME"] = _l("物业业户服务管理系统")  # the product's name in the user's language
    _check_production_secret(app)
    os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"))
    csrf.init_app(app)

    with app.app_context():
        import models  # noqa: F401  (every table known to SQLAlchemy and Alembic)
        from app import formatting, hardening, i18n, screen_cache
        from views import register_views

        appbuilder = AppBuilder(app, db.session, base_template="wuye/layout.html")
        formatting.init_app(app)
        hardening.init_app(app)
        i18n.init_app(app)
        screen_cache.init_app(app)
        register_views(appbuilder)

    from app.cli import register_cli

    register_cli(app)
    return app


def _check_production_secret(app: Flask) -> None:
    """Refuse to start in production with the development secret."""
    if app.config.get("ENV_NAME") == "production" and (
        not app.config.get("SECRET_KEY")
        or app.config["SECRET_KEY"] == app.config.get("DEFAULT_SECRET_KEY")
    ):
        raise RuntimeError("生产环境必须设置 SECRET_KEY 环境变量(不能使用默认开发密钥)。")

"""Security headers, rate limits on both logins, input that cannot reach the database, and error
pages that never show a traceback (Chinese messages, JSON under /api/)."""

from __future__ import annotations

import functools
import logging

from flask import Flask, abort, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; object-src 'none'"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _error(status: int, message: str):
    """A Chinese error answer: JSON for the API, a plain page (no database access) for screens."""
    if _is_api():
        return jsonify(message=message), status
    return render_template("wuye/error.html", status=status, message=message), status


# ---------------------------------------------------------------- hostile input
def _bad_text(value) -> bool:
    """NUL characters and lone surrogates cannot be stored (PostgreSQL refuses NUL, UTF-8 refuses
    surrogates): such input is refused up front instead of failing inside the database."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_bad_text(k) or _bad_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_bad_text(v) for v in value)
    return False


def _refuse_unstorable_input():
    if request.path.startswith("/static/"):
        return None
    texts = list(request.args.items(multi=True))
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            texts += list(request.form.items(multi=True))
        elif request.is_json:
            body = request.get_json(silent=True)
            if _bad_text(body):
                return _error(400, _("输入包含无法保存的字符(如空字符),请检查后重新提交"))
    if any(_bad_text(k) or _bad_text(v) for k, v in texts) or _bad_text(request.path):
        return _error(400, _("输入包含无法保存的字符(如空字符),请检查后重新提交"))
    return None


API_PUBLIC = ("/api/v1/security/login", "/api/v1/security/refresh")


def _api_requires_login():
    """Every API resource answers 401 to a visitor without a valid token, whatever it is asked."""
    if not _is_api() or request.path.rstrip("/") in API_PUBLIC or request.method == "OPTIONS":
        return None
    from flask_jwt_extended import verify_jwt_in_request
    from flask_login import current_user

    if current_user.is_authenticated:
        return None  # a screen session: the resource itself decides (browser login is off by default)
    try:
        if verify_jwt_in_request(optional=True) is not None:
            return None
    except Exception:  # expired, malformed or forged token
        return jsonify(message=_("登录已过期或令牌无效,请重新登录")), 401
    return jsonify(message=_("请先登录(POST /api/v1/security/login 获取令牌)")), 401


def _safe_download(view):
    """FAB's file download (no screen here has file columns) answers 404 for a name that is not a
    stored upload instead of failing."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except (IndexError, OSError):
            abort(404)

    return wrapper


def _guard_views_once(app: Flask):
    """Screens are registered after this module is set up: wrap their download endpoints on the
    first request."""
    done = []

    def guard():
        if done:
            return
        for endpoint, view in list(app.view_functions.items()):
            if endpoint.endswith(".download"):
                app.view_functions[endpoint] = _safe_download(view)
        done.append(True)

    return guard


def init_app(app: Flask) -> None:
    validator = app.config.get("FAB_PASSWORD_COMPLEXITY_VALIDATOR")
    if isinstance(validator, str):  # FAB calls the setting: a dotted name in config.py is resolved here
        from werkzeug.utils import import_string

        app.config["FAB_PASSWORD_COMPLEXITY_VALIDATOR"] = import_string(validator)
    app.before_request(_guard_views_once(app))
    app.before_request(_refuse_unstorable_input)
    app.before_request(_api_requires_login)

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if not request.path.startswith("/swagger"):
            headers.setdefault("Content-Security-Policy", CSP)
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if not request.path.startswith("/static/"):
            # owners' names, phones and money: never kept by a shared browser or proxy
            headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(413)
    def too_large(error):
        return _error(413, _("上传的文件过大(上限 %(mb)s MB)", mb=app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)))

    @app.errorhandler(429)
    def too_many(error):
        if request.path.rstrip("/").endswith("/login"):
            return _error(429, _("登录尝试过于频繁,请稍后再试"))
        return _error(429, _("请求过于频繁,请稍后再试"))

    @app.errorhandler(FileNotFoundError)
    def missing_file(error):
        return _error(404, _("文件不存在"))

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        return _error(400, _("页面已过期或缺少安全令牌,请刷新页面后重新提交"))

    @app.errorhandler(500)
    def server_error(error):
        from app.extensions import db

        try:
            db.session.rollback()
        except Exception:  # the database itself may be what failed
            logger.exception("rollback after an error failed")
        return _error(500, _("系统内部错误,操作未完成,数据未保存。请稍后重试或联系系统管理员。"))

    @app.errorhandler(Exception)
    def unexpected(error):
        if isinstance(error, HTTPException):
            return error
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return server_error(error)

    _limit_api_login(app)


def _limit_api_login(app: Flask) -> None:
    """FAB limits only the login page: the API login gets the same limit, on the same storage
    (RATELIMIT_STORAGE_URI, from REDIS_URL when set, so every worker counts together)."""
    limiter = getattr(app.appbuilder.sm, "limiter", None)
    if limiter is None or not app.config.get("AUTH_RATE_LIMITED") or not app.config.get("RATELIMIT_ENABLED", True):
        return
    for endpoint, view in list(app.view_functions.items()):
        if endpoint.endswith("SecurityApi.login"):
            app.view_functions[endpoint] = limiter.limit(app.config["AUTH_RATE_LIMIT"], methods=["POST"])(view)

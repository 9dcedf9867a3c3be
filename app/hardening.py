"""Security headers, rate limit on the API login, and error pages that never show a traceback."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from flask_babel import gettext as _

logger = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)


def init_app(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.path.startswith("/swagger"):
            response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    @app.errorhandler(413)
    def too_large(error):
        message = _("上传的文件过大(上限 %(mb)s MB)", mb=app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024))
        if request.path.startswith("/api/"):
            return jsonify(message=message), 413
        return message, 413

    limiter = app.appbuilder.sm.limiter if hasattr(app.appbuilder.sm, "limiter") else None
    if limiter is not None and app.config.get("AUTH_RATE_LIMITED") and app.config.get("RATELIMIT_ENABLED", True):
        view = app.view_functions.get("SecurityApi.login")
        if view is not None:
            app.view_functions["SecurityApi.login"] = limiter.limit(app.config["AUTH_RATE_LIMIT"], methods=["POST"])(view)

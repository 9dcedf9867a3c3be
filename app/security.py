"""Security manager: temporary lock-out after repeated failures and Chinese password rules."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from flask import current_app
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_babel import lazy_gettext as _l

logger = logging.getLogger(__name__)


def password_rules(password: str) -> None:
    """At least 8 characters with letters and digits; raises with a Chinese message."""
    if len(password or "") < 8:
        raise PasswordComplexityValidationError(str(_l("密码至少 8 位")))
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        raise PasswordComplexityValidationError(str(_l("密码须同时包含字母和数字")))


class WuyeSecurityManager(SecurityManager):
    def is_locked_out(self, user) -> bool:
        limit = current_app.config.get("LOGIN_LOCKOUT_FAILURES", 5)
        minutes = current_app.config.get("LOGIN_LOCKOUT_MINUTES", 15)
        if not user or (user.fail_login_count or 0) < limit:
            return False
        changed = user.changed_on or datetime.now()
        return datetime.now() - changed < timedelta(minutes=minutes)

    def auth_user_db(self, username, password):
        user = self.find_user(username=username) if username else None
        if user is not None and self.is_locked_out(user):
            logger.warning("login refused for %s: locked out", username)
            return None
        return super().auth_user_db(username, password)

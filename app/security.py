"""Security manager: temporary lock-out after repeated failures and Chinese password rules.

Every failed login (login page or `/api/v1/security/login`) is recorded in `login_failure` by
user name, whether the name exists or not (so the lock-out does not reveal which names exist).
LOGIN_LOCKOUT_FAILURES failures within LOGIN_LOCKOUT_MINUTES lock the name until that many
minutes after the last failure; while locked even the right password is refused, with a Chinese
message on the page and in the API answer. A successful login clears the failures.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from flask import current_app, flash, g, has_request_context, redirect, request
from flask_appbuilder import expose
from flask_appbuilder.api import safe
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_appbuilder.security.api import SecurityApi as FabSecurityApi
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import AuthDBView as FabAuthDBView
from flask_appbuilder.security.views import PermissionViewModelView as FabPermissionViewModelView
from flask_appbuilder.security.views import RoleModelView as FabRoleModelView
from flask_appbuilder.security.views import UserDBModelView as FabUserDBModelView
from flask_appbuilder.security.views import UserGroupModelView as FabUserGroupModelView
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import delete, select

from app.permission_labels import permission_label, permissions_text
from app.security_stamp import VERSION_COLUMN, cache_of, remember_version
from models.base import fmt_dt, utcnow

logger = logging.getLogger(__name__)


def password_rules(password: str) -> None:
    """At least 8 characters with letters and digits; raises with a Chinese message."""
    if len(password or "") < 8:
        raise PasswordComplexityValidationError(str(_l("密码至少 8 位")))
    if len(password) > 128:
        raise PasswordComplexityValidationError(str(_l("密码不能超过 128 位")))
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        raise PasswordComplexityValidationError(str(_l("密码须同时包含字母和数字")))


def _login_key(username) -> str:
    return (username or "").strip().lower()[:100] if isinstance(username, str) else ""


def lockout_message(until: datetime) -> str:
    minutes = max(1, int((until - utcnow()).total_seconds() + 59) // 60)
    return str(
        _l(
            "登录失败次数过多,该账号已被临时锁定,请 %(m)s 分钟后(%(t)s 以后)再试;如忘记密码请联系系统管理员。",
            m=minutes,
            t=fmt_dt(until),
        )
    )



def _bearer_request() -> bool:
    """Whether this request authenticates with a token (REST), not a session cookie."""
    return has_request_context() and request.headers.get("Authorization", "").startswith("Bearer ")

class AuthDBView(FabAuthDBView):
    """The login page, telling a locked-out user so in Chinese."""

    invalid_login_message = _l("用户名或密码错误,请重新输入。")

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):
        sm = self.appbuilder.sm
        username = request.form.get("username") if request.method == "POST" else None
        if username is not None:
            until = sm.lockout_until(username)
            if until is not None:
                flash(lockout_message(until), "danger")
                return redirect(self.appbuilder.get_url_for_login)
        response = super().login()
        if username is not None and not current_user.is_authenticated:
            until = sm.lockout_until(username)
            if until is not None:
                flash(lockout_message(until), "danger")
        return response


class SecurityApi(FabSecurityApi):
    """`POST /api/v1/security/login`, answering a locked-out name with 401 and a Chinese message."""

    @expose("/login", methods=["POST"])
    @safe
    def login(self):
        body = request.get_json(silent=True) if request.is_json else None
        username = body.get("username") if isinstance(body, dict) else None
        until = self.appbuilder.sm.lockout_until(username) if isinstance(username, str) else None
        if until is not None:
            return self.response(401, message=lockout_message(until))
        return super().login()


def _safe_actions():
    from views.base import SafeActionsMixin

    return SafeActionsMixin


def _plain(value):
    """A value as our screens show it; roles or groups as their names ("物业经理、接待员", not a list)."""
    from views.base import display_value

    if isinstance(value, (list, tuple, set)):
        return str(_l("、")).join(str(v) for v in value)
    return display_value(value)


class _PlainValues:
    """FAB's security screens show values like ours: 是/否, local times, nothing for empty; columns
    FAB leaves unlabelled (relations it offers as filters) get translated labels."""

    extra_labels: dict = {}

    def _init_forms(self):
        from views.fields import strict_multiple_selects

        super()._init_forms()
        strict_multiple_selects(self.add_form, self.edit_form)

    def _init_properties(self):
        self.label_columns = {**self.label_columns, **self.extra_labels}
        super()._init_properties()
        self.formatters_columns = dict(self.formatters_columns)
        for column in set(self.list_columns) | set(self.show_columns):
            self.formatters_columns.setdefault(column, _plain)


class UserDBModelView(_safe_actions(), _PlainValues, FabUserDBModelView):
    """FAB's user screen (same name, same permissions) whose actions never fail on a missing row."""


class RoleModelView(_safe_actions(), _PlainValues, FabRoleModelView):
    """FAB's role screen (same name, same permissions) whose actions never fail on a missing row."""

    extra_labels = {"user": _l("Users"), "groups": _l("Groups")}
    formatters_columns = {"permissions": lambda perms: permissions_text(perms)}

    def _init_forms(self):
        super()._init_forms()
        # the permissions to choose from read "维修单 · 派工" (FAB shows "can dispatch on RepairOrder")
        for form in (self.add_form, self.edit_form):
            form.permissions.kwargs["get_label"] = permission_label


class UserGroupModelView(_PlainValues, FabUserGroupModelView):
    """FAB's group screen (same name, same permissions) with labelled columns."""

    label_columns = {"name": _l("Name"), "label": _l("Label"), "description": _l("Description"), "users": _l("Users"), "roles": _l("Roles")}


class PermissionViewModelView(_PlainValues, FabPermissionViewModelView):
    """FAB's list of permissions on views (same name, same permission) with a labelled role filter."""

    extra_labels = {"role": _l("Role")}


class WuyeSecurityManager(SecurityManager):
    authdbview = AuthDBView
    security_api = SecurityApi
    userdbmodelview = UserDBModelView
    rolemodelview = RoleModelView
    groupmodelview = UserGroupModelView
    permissionviewmodelview = PermissionViewModelView
    # FAB's login statistics chart loads Google Charts from the internet (offices are often offline)
    # and fails on a malformed group; not offered.
    userstatschartview = None

    def exist_permission_on_roles(self, view_name, permission_name, role_ids) -> bool:
        """FAB asks the database once per permission check (a menu of 60 items: 60 queries). Within
        one request the roles' permissions are read once and every later check answered from them."""
        if not has_request_context():
            return super().exist_permission_on_roles(view_name, permission_name, role_ids)
        return (permission_name, view_name) in self.role_permission_pairs(role_ids)

    def load_user(self, pk):
        """The user of a request's session or token with their roles and groups in one statement
        (FAB reads them in three), and the security stamp's number the request's cached permissions
        and estates are checked against (app/security_stamp.py)."""
        from sqlalchemy.orm import joinedload

        model = self.user_model
        row = self.session.execute(
            select(model, VERSION_COLUMN)
            .where(model.id == int(pk))
            .options(joinedload(model.roles), joinedload(model.groups))
        ).unique().first()
        if row is None:
            return None
        user, version = row
        remember_version(version)
        return user if user.is_active else None

    def get_public_permissions(self):
        """The Public role's permissions (with their names) in one statement; FAB reads the role, then
        its permissions, before every REST request checks the token."""
        from flask_appbuilder.security.sqla.models import assoc_permissionview_role
        from sqlalchemy.orm import joinedload

        pv, role = self.permissionview_model, self.role_model
        return list(
            self.session.scalars(
                select(pv)
                .join(assoc_permissionview_role, assoc_permissionview_role.c.permission_view_id == pv.id)
                .join(role, role.id == assoc_permissionview_role.c.role_id)
                .where(role.name == self.auth_role_public)
                .options(joinedload(pv.permission), joinedload(pv.view_menu))
            ).unique()
        )

    def is_item_public(self, permission_name, view_name) -> bool:
        """FAB asks this of every REST request before it reads the token: a statement each time. A request
        that brings a token is answered by the token's user instead, and the Public role is read only
        when the user's roles refuse (`has_access`): the same answers (the API lets no one in without a
        valid token anyway, app/hardening.py)."""
        if _bearer_request():
            return False
        return super().is_item_public(permission_name, view_name)

    def has_access(self, permission_name, view_name) -> bool:
        """FAB's answer, remembered for the rest of the request (a list page asks about twenty times:
        menu, buttons, actions), per logged-in user; anonymous and API-key requests ask FAB each time."""
        if not has_request_context() or getattr(g, "_api_key_user", False) or not current_user.is_authenticated:
            if super().has_access(permission_name, view_name):
                return True
            # a token's user: what the Public role may do, they may too (see is_item_public)
            return _bearer_request() and super().is_item_public(permission_name, view_name)
        memo = request.environ.setdefault("wuye.has_access", {})
        key = (current_user.get_id(), permission_name, view_name)
        answer = memo.get(key)
        if answer is None:
            answer = memo[key] = super().has_access(permission_name, view_name)
        return answer

    def access_key(self):
        """What decides every `has_access` answer for the logged-in user of this request (built-in
        role names and the permissions of the other roles, read for this request), or None for an
        anonymous visitor or an API key: a cache key for what is drawn from permissions alone."""
        if not has_request_context() or getattr(g, "_api_key_user", False) or not current_user.is_authenticated:
            return None
        user = self._get_safe_user(g.user)
        if not user or not user.is_active:
            return None
        roles = self.get_user_roles(user)
        builtin = tuple(sorted({role.name for role in roles if role.name in self.builtin_roles}))
        db_role_ids = [role.id for role in roles if role.name not in self.builtin_roles]
        if not db_role_ids:
            return builtin, frozenset()
        return builtin, self.role_permission_pairs(db_role_ids)

    def role_permission_pairs(self, role_ids) -> frozenset[tuple[str, str]]:
        """(permission, view) of a set of roles: read once per request, and kept across requests
        while the security stamp stays the same (app/security_stamp.py)."""
        key = tuple(sorted(role_ids))
        memo = request.environ.setdefault("wuye.role_permissions", {})
        pairs = memo.get(key)
        if pairs is None:
            pairs = memo[key] = cache_of("role_permissions").get(key, lambda: self._read_role_permission_pairs(key))
        return pairs

    def _read_role_permission_pairs(self, role_ids: tuple[int, ...]) -> frozenset[tuple[str, str]]:
        from flask_appbuilder.security.sqla.models import assoc_permissionview_role

        pv, perm, view = self.permissionview_model, self.permission_model, self.viewmenu_model
        rows = self.session.execute(
            select(perm.name, view.name)
            .select_from(pv)
            .join(assoc_permissionview_role, assoc_permissionview_role.c.permission_view_id == pv.id)
            .join(perm, perm.id == pv.permission_id)
            .join(view, view.id == pv.view_menu_id)
            .where(assoc_permissionview_role.c.role_id.in_(role_ids))
        ).all()
        return frozenset((p, v) for p, v in rows)

    def user_ids_with_permission(self, permission_name: str, view_name: str) -> set[int]:
        """Every user holding a permission through a role or a group's role (one query; what
        `_has_view_access` answers user by user)."""
        from flask_appbuilder.security.sqla.models import (
            assoc_group_role,
            assoc_permissionview_role,
            assoc_user_group,
            assoc_user_role,
        )

        pv, perm, view = self.permissionview_model, self.permission_model, self.viewmenu_model
        roles = (
            select(assoc_permissionview_role.c.role_id)
            .join(pv, pv.id == assoc_permissionview_role.c.permission_view_id)
            .join(perm, perm.id == pv.permission_id)
            .join(view, view.id == pv.view_menu_id)
            .where(perm.name == permission_name, view.name == view_name)
        )
        direct = select(assoc_user_role.c.user_id).where(assoc_user_role.c.role_id.in_(roles))
        grouped = (
            select(assoc_user_group.c.user_id)
            .join(assoc_group_role, assoc_group_role.c.group_id == assoc_user_group.c.group_id)
            .where(assoc_group_role.c.role_id.in_(roles))
        )
        ids = {i for i in self.session.scalars(direct.union(grouped)) if i is not None}
        builtin = {name for name in self.builtin_roles if self._has_access_builtin_roles(self.find_role(name), permission_name, view_name)} if self.builtin_roles else set()
        if builtin:
            role_ids = select(self.role_model.id).where(self.role_model.name.in_(builtin))
            ids |= set(self.session.scalars(select(assoc_user_role.c.user_id).where(assoc_user_role.c.role_id.in_(role_ids))))
        return ids

    def lockout_until(self, username) -> datetime | None:
        """When the lock on this user name ends, or None when it is not locked."""
        from models.security import LoginFailure

        key = _login_key(username)
        if not key:
            return None
        limit = int(current_app.config.get("LOGIN_LOCKOUT_FAILURES", 5))
        minutes = int(current_app.config.get("LOGIN_LOCKOUT_MINUTES", 15))
        if limit <= 0:
            return None
        now = utcnow()
        recent = self.session.scalars(
            select(LoginFailure.at)
            .where(LoginFailure.username == key, LoginFailure.at > now - timedelta(minutes=minutes))
            .order_by(LoginFailure.at.desc())
            .limit(limit)
        ).all()
        if len(recent) < limit:
            return None
        return recent[0] + timedelta(minutes=minutes)

    def is_locked_out(self, user) -> bool:
        return user is not None and self.lockout_until(user.username) is not None

    def record_login_failure(self, username) -> None:
        from models.security import LoginFailure

        key = _login_key(username)
        if not key:
            return
        in_request = has_request_context()
        via = "api" if in_request and request.path.startswith("/api/") else "web"
        ip = (request.remote_addr or "")[:64] if in_request else None
        self.session.add(LoginFailure(username=key, at=utcnow(), ip=ip, via=via))
        self.session.commit()

    def clear_login_failures(self, username) -> None:
        from models.security import LoginFailure

        self.session.execute(delete(LoginFailure).where(LoginFailure.username == _login_key(username)))
        self.session.commit()

    def auth_user_db(self, username, password):
        if self.lockout_until(username) is not None:
            logger.warning("login refused for %s: locked out", username)
            return None
        user = super().auth_user_db(username, password)
        if user is None:
            self.record_login_failure(username)
        else:
            self.clear_login_failures(username)
        return user

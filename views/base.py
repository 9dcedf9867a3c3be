"""What every screen and REST resource shares: the permission map, commits that turn a lost update
into a conflict, the acting user, area filters, how values are shown, grid and show-page actions
that never fail, and small response helpers.

The scoped screen is in views/scoped_view.py, the scoped REST resource in views/rest.py, the
workflow pages in views/transitions.py."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import abort, flash, redirect, request, send_file, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.filters import BaseFilter, map_args_filter
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.exc import StaleDataError

from app.scope import request_user
from models.base import MAX_ID, fmt_dt, person_name, stale_conflict
from models.workflow import Actor

logger = logging.getLogger(__name__)

# Superset-style: one permission per concept and verb, shared by the screen and the REST resource.
PERMISSION_MAP = {
    "list": "read",
    "show": "read",
    "api": "read",
    "api_read": "read",
    "api_get": "read",
    "api_column_add": "write",
    "api_column_edit": "write",
    "api_readvalues": "read",
    "download": "read",
    "add": "write",
    "edit": "write",
    "api_create": "write",
    "api_update": "write",
    "delete": "delete",
    "api_delete": "delete",
    "action": "read",
    "action_post": "read",
    "get": "read",
    "get_list": "read",
    "info": "read",
    "post": "write",
    "put": "write",
    "export": "export",
    "events": "read",
    "transition": "read",
    "do_transition": "read",
    "print_view": "read",
    "history": "read",
}

VERSION_FIELD = "row_version"


def commit_or_conflict(session) -> None:
    """Commit; a write on a row someone else changed meanwhile becomes a Chinese 409 conflict."""
    try:
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise stale_conflict() from exc


def versioned(model) -> bool:
    mapper = getattr(model, "__mapper__", None)
    return mapper is not None and mapper.version_id_col is not None


_UNSET = object()


class AreaFilter(BaseFilter):
    """A screen's own filter; its `arg_name` is the REST `opr`. FAB records every filter's arg_name in
    one global table of operators, which it reads before a column's own filters, so two areas' filters
    of the same name ("q", "scope", "overdue") answered for each other, whichever was built last. An
    area filter leaves that table as it found it and is found on its own column only."""

    def __init__(self, *args, **kwargs):
        before = map_args_filter.get(self.arg_name, _UNSET)
        super().__init__(*args, **kwargs)
        if before is _UNSET:
            map_args_filter.pop(self.arg_name, None)
        else:
            map_args_filter[self.arg_name] = before


def current_actor() -> Actor:
    return Actor(user=request_user())


def display_value(value):
    """How a screen shows a value: nothing for empty, local time without seconds, money with two places."""
    from datetime import date
    from decimal import Decimal

    if value is None:
        return ""
    if isinstance(value, bool):
        return str(_l("是")) if value else str(_l("否"))
    if isinstance(value, (datetime, date)):
        return fmt_dt(value)
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, User):
        return person_name(value)
    return value


class SafeActionsMixin:
    """Grid and show-page actions that never fail: an unknown action answers 404, a refused one
    says so in Chinese (anonymous visitors go to the login page), rows the user cannot see are
    skipped (FAB's own would call the action with None or redirect to a 404 page)."""

    def _refuse_action(self):
        if request_user() is None:
            return redirect(url_for(self.appbuilder.sm.auth_view.__class__.__name__ + ".login", next=request.url))
        flash(str(_l("您没有执行此操作的权限")), "danger")
        return redirect(url_for(f"{self.__class__.__name__}.list"))

    def _action_allowed(self, name: str) -> bool:
        return name in self.actions and self.appbuilder.sm.has_access(
            self.get_action_permission_name(name), self.class_permission_name
        )

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name, pk):
        """A show-page action: unknown names answer 404, a refused one says so in Chinese."""
        if name not in self.actions:
            abort(404)
        if not self.is_get_mutation_allowed():
            flash(str(_l("请通过页面上的按钮执行此操作")), "danger")
            return redirect(url_for(f"{self.__class__.__name__}.list"))
        if not self._action_allowed(name):
            return self._refuse_action()
        item = self._action_item(pk)
        if item is None:
            abort(404)
        return self.actions[name].func(item)

    def _action_item(self, pk):
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            return None
        if not -MAX_ID <= pk <= MAX_ID:
            return None
        return self.datamodel.get(pk, self._base_filters)

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        """A grid action on the selected rows (rows outside the user's estates are not found)."""
        name = request.form.get("action", "")
        if name not in self.actions:
            abort(404)
        if not self._action_allowed(name):
            return self._refuse_action()
        items = [self._action_item(pk) for pk in request.form.getlist("rowid")]
        items = [i for i in items if i is not None]
        if not items:
            flash(str(_l("没有选中可操作的记录")), "warning")
            return redirect(url_for(f"{self.__class__.__name__}.list"))
        return self.actions[name].func(items)


def send_xlsx(path_or_buffer, filename: str):
    return send_file(
        path_or_buffer,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=filename,
    )

"""Shared view machinery: estate-scoped screens and REST resources, transitions, exports."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask_appbuilder import ModelRestApi, ModelView
from flask_appbuilder.api import expose as api_expose
from flask_appbuilder.api import protect, safe
from flask_appbuilder.baseviews import expose
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.models.filters import BaseFilter, map_args_filter
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_appbuilder.urltools import get_filter_args, get_order_args, get_page_args, get_page_size_args
from flask_appbuilder.widgets import ShowWidget
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError as MarshmallowError
from sqlalchemy.exc import DataError, ProgrammingError
from sqlalchemy.orm.exc import StaleDataError
from wtforms import HiddenField
from wtforms.fields.core import UnboundField

from app.scope import request_user
from models.base import MAX_ID, DomainError, check_version, fmt_dt, stale_conflict
from models.workflow import WORKFLOWS, Actor
from views.widgets import ScreenListWidget, ScreenSearchWidget

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


def history_lines(session, model, item, labels: dict) -> list[dict]:
    """The field history of a record for its show page (newest first)."""
    from models.history import describe, history_of

    if not getattr(model, "history_enabled", False):
        return []
    return [
        {
            "at": entry.at,
            "user": entry.user_name,
            "action": entry.action_label,
            "source": entry.source_label,
            "fields": describe(session, model, entry, labels),
        }
        for entry in history_of(session, item)
    ]



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

class HistoryShowWidget(ShowWidget):
    """FAB's show widget followed by the record's change history (修改记录)."""

    template = "wuye/show_with_history.html"


def current_actor() -> Actor:
    return Actor(user=request_user())


def datetime_formatter(value):
    return fmt_dt(value)


# Labels of the columns every audited record has, so no screen falls back to FAB's English names.
DEFAULT_LABELS = {
    "id": _l("编号"),
    "estate": _l("小区/大厦"),
    "estate_id": _l("小区/大厦"),
    "created_on": _l("创建时间"),
    "changed_on": _l("修改时间"),
    "created_by": _l("创建人"),
    "changed_by": _l("修改人"),
    "version": _l("版本"),
    "status": _l("状态"),
}


def _code_formatter(enum_cls):
    def format_code(value):
        return enum_cls.label_of(value) if value else ""

    return format_code


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



class ScopedModelView(SafeActionsMixin, ModelView):
    """A FAB ModelView over the estate-scoped interface with Chinese errors kept on the form."""

    method_permission_name = PERMISSION_MAP
    page_size = 25
    show_widget = HistoryShowWidget
    list_widget = ScreenListWidget
    search_widget = ScreenSearchWidget
    # column -> custom filter classes, offered first in that column's search menu (FAB reads a
    # single-digit filter index from the URL, so they must come before FAB's ten defaults)
    search_filters: dict = {}

    def __init__(self, **kwargs):
        # A grid action `action_<name>` is granted by `can_<name>` (like the transition it starts),
        # unless the view maps it otherwise.
        mapping = dict(self.method_permission_name or {})
        for attr_name in dir(type(self)):
            func = getattr(type(self), attr_name, None)
            if attr_name.startswith("action_") and hasattr(func, "_action") and attr_name not in mapping:
                mapping[attr_name] = func._action[0]
        self.method_permission_name = mapping
        super().__init__(**kwargs)

    # A list page's loader options (eager loading of what the columns show, nothing else) and its
    # count strategy (None: exact; N: at most N + 1 keys are counted). Used by lists, not exports.
    list_options: tuple = ()
    list_count_limit: int | None = None
    # `list_values(items, columns)`: the grid's cells, when a view draws some without the loaded rows'
    # relations (FAB: `datamodel.get_values`)
    list_values = None

    def _list(self, **kwargs):
        listing = getattr(self.datamodel, "listing", None)
        if listing is None or not (self.list_options or self.list_count_limit or self.list_values):
            return super()._list(**kwargs)
        with listing(self.list_options, self.list_count_limit, self.list_values):
            return super()._list(**kwargs)

    def _init_forms(self):
        super()._init_forms()
        for form in (self.add_form, self.edit_form, self.search_form):
            for name in dir(form):
                field = getattr(form, name, None)
                # an optional related record's empty choice says so (FAB shows its internal `__None`),
                # in the forms and in the search menu
                if isinstance(field, UnboundField) and field.field_class is QuerySelectField:
                    field.kwargs.setdefault("blank_text", _l("— 不选 —"))
        if versioned(self.datamodel.obj):
            # the version the clerk saw travels with the edit form: saving over a newer version is refused
            self.edit_form = type(self.edit_form.__name__, (self.edit_form,), {VERSION_FIELD: HiddenField()})

    def _init_properties(self):
        # Chinese labels first, so FAB does not prettify column names into English ("Estate Id")
        labels = {**DEFAULT_LABELS, **dict(self.label_columns or {})}
        for name in list(self.datamodel.obj.__table__.c.keys()) if hasattr(self.datamodel.obj, "__table__") else []:
            if name.endswith("_id") and name not in labels and name[:-3] in labels:
                labels[name] = labels[name[:-3]]
        self.label_columns = labels
        super()._init_properties()
        filters = self._filters
        for column, filter_classes in self.search_filters.items():
            for position, filter_cls in enumerate(filter_classes):
                instance = filter_cls(column, self.datamodel)
                # FAB keeps the menu's list and the URL's list apart: both must agree on positions
                filters._search_filters.setdefault(column, []).insert(position, instance)
                filters._all_filters.setdefault(column, []).insert(position, instance)
        self.formatters_columns = dict(self.formatters_columns)
        columns = getattr(self.datamodel.obj, "__table__", None)
        for column in set(self.list_columns) | set(self.show_columns):
            enum_cls = columns.c[column].info.get("enum") if columns is not None and column in columns.c else None
            # a stored code is shown by its label (in the user's language), never as the raw code
            self.formatters_columns.setdefault(column, _code_formatter(enum_cls) if enum_cls else display_value)
        # FAB offers Python properties as sortable columns; the database cannot sort on them
        self.order_columns = [c for c in self.order_columns if not isinstance(getattr(self.datamodel.obj, c, None), property)]

    def _handle_domain_error(self, form, error: DomainError) -> None:
        field = getattr(form, error.field, None) if error.field else None
        if field is not None:
            field.errors = list(field.errors or []) + [error.message]
        else:
            flash(error.message, "danger")

    def _get_list_widget(self, filters, actions=None, order_column="", order_direction="", **kwargs):
        # a crafted `_oc_<View>=<property>` would reach the database as ORDER BY on a Python property
        if order_column and order_column not in (self.order_columns or []):
            order_column, order_direction = "", ""
        return super()._get_list_widget(filters, actions=actions, order_column=order_column,
                                        order_direction=order_direction, **kwargs)

    def _add(self):
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self.add_form.refresh()
        if request.method == "POST":
            self._fill_form_exclude_cols(exclude_cols, form)
            if form.validate():
                self.process_form(form, True)
                item = self.datamodel.obj()
                try:
                    form.populate_obj(item)
                    self.pre_add(item)
                    self.datamodel.add(item)
                    self.post_add(item)
                except DomainError as error:
                    self._handle_domain_error(form, error)
                    return self._get_add_widget(form=form, exclude_cols=exclude_cols)
                flash(str(self.add_row_message), "success")
                return None
            return self._get_add_widget(form=form, exclude_cols=exclude_cols)
        self.update_redirect()
        return self._get_add_widget(form=form, exclude_cols=exclude_cols)

    def _edit(self, pk):
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        pk = self.datamodel.get_pk_value(item)
        if request.method == "POST":
            form = self.edit_form.refresh(request.form)
            self._fill_form_exclude_cols(exclude_cols, form)
            form._id = pk
            if form.validate():
                self.process_form(form, False)
                try:
                    self._check_form_version(form, item)
                    form.populate_obj(item)
                    self.pre_update(item)
                    self.datamodel.edit(item)
                    self.post_update(item)
                except DomainError as error:
                    self._handle_domain_error(form, error)
                    return self._edit_widgets(item, form, exclude_cols)
                flash(str(self.edit_row_message), "success")
                return None
            return self._edit_widgets(item, form, exclude_cols)
        form = self.edit_form.refresh(obj=item)
        if VERSION_FIELD in form:
            form[VERSION_FIELD].data = item.version
        self.prefill_form(form, pk)
        self.update_redirect()
        return self._edit_widgets(item, form, exclude_cols)

    def _edit_widgets(self, item, form, exclude_cols):
        """The edit form and, as FAB's own edit does, the tabs of the related views."""
        return self._get_related_views_widgets(
            item,
            filters={},
            orders=get_order_args(),
            pages=get_page_args(),
            page_sizes=get_page_size_args(),
            widgets=self._get_edit_widget(form=form, exclude_cols=exclude_cols),
        )

    def _check_form_version(self, form, item) -> None:
        """Refuse saving a form that was opened on an older version of the record."""
        if VERSION_FIELD not in form:
            return
        submitted = form[VERSION_FIELD].data
        del form[VERSION_FIELD]  # not a column: keep it out of populate_obj
        check_version(item, submitted)

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        widgets = super()._get_show_widget(pk, item, widgets=widgets, actions=actions, show_fieldsets=show_fieldsets)
        show = widgets.get("show")
        if show is not None and hasattr(show, "template_args"):
            show.template_args["history"] = history_lines(
                self.datamodel.session, self.datamodel.obj, item, dict(self.label_columns)
            )
        return widgets

    def _delete(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        try:
            self.pre_delete(item)
            self.datamodel.delete(item)
            self.post_delete(item)
            flash(str(self.delete_row_message), "success")
        except DomainError as error:
            flash(error.message, "danger")
        self.update_redirect()

    # ------------------------------------------------------------- export
    export_columns: list[tuple[str, object]] = []
    export_title: object = None

    def export_rows(self):
        """The rows of the list as filtered now (scoped, in the list's order)."""
        get_filter_args(self._filters)
        order_column, order_direction = self.base_order or ("", "")
        _, items = self.datamodel.query(self._filters, order_column, order_direction)
        return items

    @expose("/export/")
    @has_access
    @permission_name("export")
    def export(self):
        from app.xlsx import workbook_response

        columns = self.export_columns or [(c, self.label_columns.get(c, c)) for c in self.list_columns]
        title = str(self.export_title or self.list_title or self.__class__.__name__)
        return workbook_response(title, columns, self.export_rows())


class _CachedSchemaValidation:
    """FAB checks every `?q=` against its JSON schema with `jsonschema.validate`, which first validates
    the schema itself against the meta-schema: most of a small list request's time. Same answers,
    with one validator per schema (FAB's schemas are constants)."""

    def __init__(self, module):
        self._module = module
        self._validators: dict[int, tuple] = {}

    def __getattr__(self, name):
        return getattr(self._module, name)

    def validate(self, instance, schema, *args, **kwargs):
        if args or kwargs:
            return self._module.validate(instance, schema, *args, **kwargs)
        cached = self._validators.get(id(schema))
        if cached is None or cached[0] is not schema:
            cls = self._module.validators.validator_for(schema)
            cls.check_schema(schema)
            cached = self._validators[id(schema)] = (schema, cls(schema))
        error = self._module.exceptions.best_match(cached[1].iter_errors(instance))
        if error is not None:
            raise error


def _cache_rison_validation() -> None:
    import flask_appbuilder.api as fab_api

    if not isinstance(fab_api.jsonschema, _CachedSchemaValidation):
        fab_api.jsonschema = _CachedSchemaValidation(fab_api.jsonschema)


MARSHMALLOW_ZH = {
    "Not a valid number.": _l("必须是数字"),
    "Not a valid integer.": _l("必须是整数"),
    "Not a valid boolean.": _l("只能是 true 或 false"),
    "Not a valid string.": _l("必须是文字"),
    "Not a valid datetime.": _l("时间格式不正确,应为 ISO 8601,如 2026-11-29T14:30:00+08:00"),
    "Not a valid date.": _l("日期格式不正确,应为 YYYY-MM-DD"),
    "Not a valid time.": _l("时间格式不正确,应为 HH:MM"),
    "Missing data for required field.": _l("必填"),
    "Field may not be null.": _l("不能为空"),
    "Unknown field.": _l("未知字段"),
    "Invalid input type.": _l("数据类型不正确"),
    "Special numeric values (nan or infinity) are not permitted.": _l("必须是有限的数字"),
    "Related Object doesn't exist in DB": _l("引用的记录不存在"),
    "Request is not JSON": _l("请求体必须是 JSON 对象"),
}


def chinese_messages(message):
    """Marshmallow's English validation messages in Chinese, field names kept."""
    if isinstance(message, dict):
        return {k: chinese_messages(v) for k, v in message.items()}
    if isinstance(message, list):
        return [chinese_messages(m) for m in message]
    if isinstance(message, str):
        text = MARSHMALLOW_ZH.get(message)
        if text is None and message.startswith("Length must be"):
            text = _l("长度超出限制")
        return str(text) if text is not None else message
    return message


class ScopedModelRestApi(ModelRestApi):
    """A FAB ModelRestApi over the estate-scoped interface; domain errors answer 4xx, never 500."""

    method_permission_name = PERMISSION_MAP
    allow_browser_login = False
    workflow_type: str | None = None

    def __init__(self, *args, **kwargs):
        from views.rest_list import verify_token_once

        _cache_rison_validation()
        verify_token_once()
        super().__init__(*args, **kwargs)

    # As on ScopedModelView: loader options and count strategy of `GET /` (the list).
    list_options: tuple = ()
    list_count_limit: int | None = None

    # `GET /` answered by views/rest_list.py (same JSON, without FAB's per-request machinery) when
    # the request needs nothing else; False: always FAB's path (the tests compare both).
    lean_list = True

    def get_list_headless(self, **kwargs):
        from views.rest_list import lean_list_response, refused_filter

        refused = refused_filter(self, kwargs.get("rison", {}))
        if refused is not None:
            return self.response_400(message=refused)
        try:
            if self.lean_list:
                response = lean_list_response(self, kwargs.get("rison", {}))
                if response is not None:
                    return response
            listing = getattr(self.datamodel, "listing", None)
            if listing is None or not (self.list_options or self.list_count_limit):
                return super().get_list_headless(**kwargs)
            with listing(self.list_options, self.list_count_limit):
                return super().get_list_headless(**kwargs)
        except (DataError, ProgrammingError) as error:
            if not _bad_filter_value(error, kwargs.get("rison", {})):
                raise
            self.datamodel.session.rollback()
            return self.response_400(message=str(_l("筛选条件的值与字段的类型不符")))

    def _domain_response(self, error: DomainError):
        self.datamodel.session.rollback()
        return self.response(error.status, message=error.payload())

    def post_headless(self):
        try:
            response = self._checked(super().post_headless())
            if response.status_code == 201:
                # answer with the whole record (id, foreign keys, derived values), not only what was sent
                payload = response.get_json(silent=True) or {}
                item = self.datamodel.get(payload.get("id"), self._base_filters)
                if item is not None:
                    return self.response(201, id=item.id, result=self.show_model_schema.dump(item))
            return response
        except DomainError as error:
            return self._domain_response(error)
        except (TypeError, ValueError, LookupError) as error:  # a body shaped unlike the schema
            return self._malformed(error)

    def _malformed(self, error):
        self.datamodel.session.rollback()
        logger.info("malformed body on %s: %s", request.path, error)
        return self.response_400(message=str(_l("请求内容的格式不正确,请检查字段类型")))

    def response_500(self, message=None):
        """FAB answers unexpected errors with their text; ours never show internals."""
        self.datamodel.session.rollback()
        return self.response(500, message=str(_l("系统内部错误,操作未完成,数据未保存")))

    def _init_properties(self):
        if versioned(self.datamodel.obj):
            # every answer about a record carries its version; PUT and transitions may send it back
            for attr in ("show_columns", "list_columns"):
                columns = getattr(self, attr, None)
                if columns and "version" not in columns:
                    setattr(self, attr, list(columns) + ["version"])
        super()._init_properties()

    def _body_version(self):
        """The version the client read: `version` in the JSON body (removed before the schema sees it)
        or an `If-Match` header."""
        body = request.get_json(silent=True) if request.is_json else None
        version = body.pop("version", None) if isinstance(body, dict) else None
        if version is None and request.headers.get("If-Match"):
            version = request.headers["If-Match"].strip().removeprefix("W/").strip('"')
        return version

    def put_headless(self, pk):
        try:
            version = self._body_version()
            if version is not None:
                item = self.datamodel.get(pk, self._base_filters)
                if item is not None:
                    check_version(item, version)
            response = self._checked(super().put_headless(pk))
        except DomainError as error:
            return self._domain_response(error)
        except (TypeError, ValueError, LookupError) as error:
            return self._malformed(error)
        if response.status_code == 200 and versioned(self.datamodel.obj):
            item = self.datamodel.get(pk, self._base_filters)
            if item is not None:
                payload = response.get_json() or {}
                if isinstance(payload.get("result"), dict):
                    payload["result"]["version"] = item.version
                response = self.response(200, **payload)
                response.headers["ETag"] = f'"{item.version}"'
        return response

    def get_headless(self, pk, **kwargs):
        response = super().get_headless(pk, **kwargs)
        if response.status_code == 200:
            version = (response.get_json() or {}).get("result", {}).get("version")
            if version is not None:
                response.headers["ETag"] = f'"{version}"'
        return response

    def delete_headless(self, pk):
        try:
            return self._checked(super().delete_headless(pk))
        except DomainError as error:
            return self._domain_response(error)

    def _checked(self, response):
        """Roll back whatever a refused request touched; validation messages in Chinese, fields named."""
        if response.status_code >= 400:
            self.datamodel.session.rollback()
        if response.status_code in (400, 422):
            payload = response.get_json(silent=True) or {}
            if "message" in payload:
                return self.response(response.status_code, message=chinese_messages(payload["message"]))
        return response

    # ------------------------------------------------------------- transitions
    def transition_params(self) -> dict:
        if not request.data:
            return {}
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise MarshmallowError({"body": [str(_l("请求体必须是 JSON 对象"))]})
        return body

    @api_expose("/<int:pk>/<string:transition>", methods=["POST"])
    @protect()
    @safe
    @permission_name("transition")
    def transition(self, pk: int, transition: str):
        """Apply a state transition to a record
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          - in: path
            schema:
              type: string
            name: transition
          requestBody:
            content:
              application/json:
                schema:
                  type: object
          responses:
            200:
              description: the updated record
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            409:
              description: the move is not allowed now
            422:
              $ref: '#/components/responses/422'
        """
        workflow = WORKFLOWS.get(self.workflow_type or "")
        if workflow is None:
            return self.response_404()
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            return self.response_404()
        try:
            params = self.transition_params()
        except MarshmallowError as err:
            return self.response_400(message=err.messages)
        version = params.pop("version", None)
        if version is None and request.headers.get("If-Match"):
            version = request.headers["If-Match"].strip().removeprefix("W/").strip('"')
        session = self.datamodel.session
        try:
            workflow.apply(session, item, transition, current_actor(), params=params, version=version)
            commit_or_conflict(session)
        except DomainError as error:
            return self._domain_response(error)
        except TypeError as error:  # unexpected keys in the body
            session.rollback()
            logger.info("bad transition body: %s", error)
            return self.response_400(message=str(_l("请求参数不正确:%(e)s", e=_unexpected_key(error))))
        session.refresh(item)
        return self.response(200, id=item.id, result=self.show_model_schema.dump(item))

    @api_expose("/<int:pk>/events", methods=["GET"])
    @protect()
    @safe
    @permission_name("events")
    def events(self, pk: int):
        """The event log of a record
        ---
        get:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: events, oldest first
        """
        workflow = WORKFLOWS.get(self.workflow_type or "")
        item = self.datamodel.get(pk, self._base_filters)
        if item is None or workflow is None:
            return self.response_404()
        events = workflow.events(self.datamodel.session, item.id)
        return self.response(200, result=[e.to_api(workflow) for e in events])

    @api_expose("/<int:pk>/history", methods=["GET"])
    @protect()
    @safe
    @permission_name("history")
    def history(self, pk: int):
        """The field history of a record: who changed which field when, old and new values
        ---
        get:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: changes, newest first
            404:
              $ref: '#/components/responses/404'
        """
        from models.history import history_of

        item = self.datamodel.get(pk, self._base_filters)
        if item is None or not getattr(self.datamodel.obj, "history_enabled", False):
            return self.response_404()
        return self.response(200, result=[entry.to_api() for entry in history_of(self.datamodel.session, item)])


def _bad_filter_value(error, args) -> bool:
    """Whether the database refused a `?q=` filter's value for its column's type (PostgreSQL: a data
    exception, class 22, or no operator for the two types, 42883: 'abc' for a boolean, 1 for a text)."""
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None) or ""
    filters = args.get("filters") if isinstance(args, dict) else None
    return bool(filters) and (code.startswith("22") or code == "42883")


def _unexpected_key(error: TypeError) -> str:
    text = str(error)
    if "unexpected keyword argument" in text:
        return text.split("unexpected keyword argument")[-1].strip()
    return text


def redirect_back(default_endpoint: str | None = None):
    target = request.referrer
    if target and target.startswith(request.host_url):
        return redirect(target)
    return redirect(url_for(default_endpoint) if default_endpoint else "/")


def now_utc() -> datetime:
    from models.base import utcnow

    return utcnow()


def send_xlsx(path_or_buffer, filename: str):
    return send_file(
        path_or_buffer,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=filename,
    )


def app_config(key: str, default=None):
    return current_app.config.get(key, default)


# ---------------------------------------------------------------- transitions on screens
class TransitionViewMixin:
    """Screens for a workflow: `/do/<name>/<pk>` shows the move's form (if it takes input), applies it
    through the workflow, flashes the result and returns to the record. Grid actions made with
    `transition_action` call the same page (or apply at once when the move takes no input)."""

    workflow_type: str | None = None
    # transition name -> WTForms form class collecting its parameters
    transition_forms: dict = {}
    transition_template = "wuye/transition_form.html"

    def _workflow(self):
        return WORKFLOWS[self.workflow_type]

    def _form_params(self, form) -> dict:
        return {k: v for k, v in form.data.items() if k != "csrf_token"}

    def apply_transition(self, item, name: str, params: dict | None = None) -> bool:
        session = self.datamodel.session
        try:
            self._workflow().apply(session, item, name, current_actor(), params=params or {})
            commit_or_conflict(session)
        except DomainError:
            session.rollback()
            raise
        return True

    @expose("/do/<string:name>/<pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("do_transition")
    def do_transition(self, name, pk):
        workflow = self._workflow()
        transition = workflow.transitions.get(name)
        ids = [p for p in str(pk).split(",") if p]
        items = [self.datamodel.get(i, self._base_filters) for i in ids]
        if transition is None or not items or any(i is None for i in items):
            abort(404)
        actor = current_actor()
        if not actor.can(transition.permission_name, workflow.permission_view):
            flash(str(_l("您没有「%(label)s」的权限", label=transition.label)), "danger")
            if len(items) == 1:
                return redirect(url_for(f"{self.__class__.__name__}.show", pk=items[0].id))
            return redirect(url_for(f"{self.__class__.__name__}.list"))
        form_cls = self.transition_forms.get(name)
        form = form_cls() if form_cls else None
        if form is not None and hasattr(self, "prepare_transition_form"):
            self.prepare_transition_form(name, form, items)
        if request.method == "POST" and (form is None or form.validate()):
            params = self._form_params(form) if form is not None else {}
            params.pop(VERSION_FIELD, None)
            version = request.form.get(VERSION_FIELD) if len(items) == 1 else None
            done = 0
            for item in items:
                try:
                    check_version(item, version)
                    self.apply_transition(item, name, params)
                    done += 1
                except DomainError as error:
                    if form is not None and len(items) == 1:
                        field = getattr(form, error.field, None) if error.field else None
                        if field is not None:
                            field.errors = list(field.errors or []) + [error.message]
                        else:
                            flash(error.message, "danger")
                        return self.render_template(
                            self.transition_template, form=form, items=items, transition=transition, view=self
                        )
                    flash(f"{item}:{error.message}", "danger")
            if done:
                flash(str(_l("「%(label)s」已完成 %(n)s 条", label=transition.label, n=done)), "success")
            if len(items) == 1:
                return redirect(url_for(f"{self.__class__.__name__}.show", pk=items[0].id))
            return redirect(url_for(f"{self.__class__.__name__}.list"))
        # a move without input still goes through a POST (CSRF): the page asks for confirmation
        return self.render_template(self.transition_template, form=form, items=items, transition=transition, view=self)


def transition_action(name: str, label, icon: str = "fa-play", multiple: bool = True):
    """A FAB grid/show action that opens the transition page for the selected rows."""
    from flask_appbuilder.actions import action

    @action(name, label, None, icon, multiple=multiple, single=True)
    def _act(self, items):
        items = items if isinstance(items, list) else [items]
        ids = ",".join(str(i.id) for i in items if i is not None)
        if not ids:
            abort(404)
        return redirect(url_for(f"{self.__class__.__name__}.do_transition", name=name, pk=ids))

    _act.__name__ = f"action_{name}"
    return _act

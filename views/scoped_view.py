"""`ScopedModelView`: a FAB ModelView over the estate-scoped interface, with Chinese labels and
errors kept on the form, refused stale edits, the record's change history and the Excel export."""

from __future__ import annotations

import logging

from flask import abort, flash, request
from flask_appbuilder import ModelView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_appbuilder.security.sqla.models import User
from flask_appbuilder.urltools import get_filter_args, get_order_args, get_page_args, get_page_size_args
from flask_appbuilder.widgets import ShowWidget
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField
from wtforms.fields.core import UnboundField

from models.base import DomainError, check_version
from views.base import PERMISSION_MAP, VERSION_FIELD, SafeActionsMixin, display_value, versioned
from views.fields import login_label, strict_multiple_selects
from views.widgets import ScreenListWidget, ScreenSearchWidget

logger = logging.getLogger(__name__)


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


class HistoryShowWidget(ShowWidget):
    """FAB's show widget followed by the record's change history (修改记录)."""

    template = "wuye/show_with_history.html"


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
                if isinstance(field, UnboundField) and self.datamodel.is_relation(name) \
                        and issubclass(self.datamodel.get_related_model(name), User):
                    field.kwargs["get_label"] = login_label  # 叶春梅(jdy), not FAB's "春梅 叶"
        strict_multiple_selects(self.add_form, self.edit_form)
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

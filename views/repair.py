"""维修管理 (SPEC §4, §11): the ledger 维修(服务)汇总表 — its grid, filter bar and Excel — registering
an order and its show page (timeline, materials, deadlines); `register` adds every repair screen and
the REST resource `repair_order`.

The rest of the area: views/repair_roles.py (who may do what), repair_moves.py (one page per move,
`/do/<move>/<ids>`), repair_print.py (print forms, monthly Excel, 维修记录表), repair_mine.py
(我的工单), repair_api.py (REST), repair_display.py and repair_choices.py (labels, badges, filters,
dropdowns), repair_forms.py and repair_purchase.py. Every rule is the model's: these classes only
choose what to show and call `RepairOrder.register` and `repair_flow.apply`.
"""

from __future__ import annotations

import logging

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.sqla.filters import FilterInFunction
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import defaultload, joinedload, lazyload

from app.scope import ScopedInterface
from app.screen_cache import cached_lookup
from models.base import DomainError, utcnow
from models.master import Department, Estate, Staff, Unit
from models.repair import (
    TERMINAL,
    RepairCategory,
    RepairOrder,
    RepairStatus,
    Urgency,
    address_text,
    can_backdate,
    period_of,
    repair_flow,
)
from models.repair_reports import LEDGER_COLUMNS
from models.repair_transitions import allowed_for
from views import add_screen
from views.base import PERMISSION_MAP, commit_or_conflict, current_actor
from views.repair_api import API_READ, LIST_COUNT_LIMIT, RepairOrderApi  # noqa: F401  (API_READ: bench/)
from views.repair_choices import (
    FilterCode,
    FilterOverdue,
    allowed_or_all,
    bar_departments,
    bar_estates,
    bar_staff,
    department_choices,
    estate_choices,
    g_session,
    owner_choices,
    recent_periods,
    staff_choices,
    unit_choices,
)
from views.repair_display import (
    LABELS,
    origin_link,
    overdue_badges,
    overdue_formatter,
    short,
    status_badge,
    timeline,
    urgency_badge,
)
from views.repair_forms import REGISTER_COLUMNS, TRANSITION_FORMS, LocalDateTimeField, RegisterForm
from views.repair_mine import MyRepairOrderView
from views.repair_moves import RepairMovesMixin, order_action
from views.repair_print import RepairPrintMixin, RepairRecordView
from views.repair_roles import ORDER_MOVES, RO
from views.scoped_view import ScopedModelView
from views.transitions import TransitionViewMixin

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- the ledger and the order
# What a ledger row shows: the unit and its building are joined in the page's query; the estate, section
# and worker are shown by name from `ledger_names` (each join more costs PostgreSQL more planning than
# the rows take to read); the owner, materials and the staff's estates are not read by the grid.
LEDGER_LOADING = (
    lazyload("*"),
    joinedload(RepairOrder.unit).lazyload("*"),
    defaultload(RepairOrder.unit).joinedload(Unit.building).lazyload("*"),
)
NAMED = {"estate": (0, "estate_id"), "department": (1, "department_id"), "assignee": (2, "assignee_id")}


def ledger_names() -> tuple[dict, dict, dict]:
    """Estate, section and staff names by id, shared like the filter bar's lookups (app/screen_cache.py:
    dropped when anything is saved)."""

    def build():
        session = g_session()
        return tuple(dict(session.execute(select(model.id, model.name)).all()) for model in (Estate, Department, Staff))

    return cached_lookup("repair.names", build)


def ledger_values(orders, columns) -> list[dict]:
    """The ledger's cells (as FAB's `get_values`): 小区/大厦 in the address, 维修处 and 维修人员 by name;
    a name saved since the lookup was read (by a process the lookup did not hear of) is read here."""
    names = ledger_names()
    models = (Estate, Department, Staff)
    read_here: dict = {}

    def name(index, key):
        if key is None:
            return None
        if key in names[index]:
            return names[index][key]
        if (index, key) not in read_here:
            row = g_session().get(models[index], key)
            read_here[index, key] = row.name if row is not None else None
        return read_here[index, key]

    rows = []
    for order in orders:
        row = {}
        for column in columns:
            if column in NAMED:
                index, key = NAMED[column]
                row[column] = name(index, getattr(order, key))
            elif column == "address":
                row[column] = address_text(name(0, order.estate_id), str(order.unit) if order.unit is not None else None, order.location)
            else:
                row[column] = ScopedInterface._get_attr_value(order, column)
        rows.append(row)
    return rows


class RepairOrderView(RepairMovesMixin, RepairPrintMixin, TransitionViewMixin, ScopedModelView):
    """维修(服务)汇总表 — every order with its notes; one click to its page and its forms."""

    datamodel = ScopedInterface(RepairOrder)
    # a page reads what its columns show in one query (names from a lookup) and counts at most 10,000 matches
    list_options = LEDGER_LOADING
    list_values = staticmethod(ledger_values)
    list_count_limit = LIST_COUNT_LIMIT
    class_permission_name = RO
    workflow_type = "repair_order"
    base_permissions = ["can_read", "can_write", "can_export"]  # no delete: an order is cancelled, never deleted
    method_permission_name = PERMISSION_MAP | {"print_slip": "read", "monthly": "export"}
    transition_forms = TRANSITION_FORMS
    transition_template = "wuye/repair_transition.html"
    list_template = "wuye/repair_list.html"
    show_template = "wuye/repair_show.html"
    list_title = _l("维修(服务)汇总表")
    show_title = _l("维修单")
    add_title = _l("登记维修单")
    edit_title = _l("修改维修单")
    label_columns = LABELS
    list_columns = [
        "number", "recorded_at", "address", "problem_short", "category_label", "urgency",
        "department", "assignee", "status", "overdue_text",
    ]
    show_fieldsets = [
        (
            _l("报修"),
            {
                "fields": [
                    "number", "period", "source_label", "kind_label", "category_label", "urgency", "emergency_reason_label",
                    "paid_label", "estate", "address", "resident_name", "resident_company", "contact_phone", "problem",
                    "appointment_at", "recorded_at", "recorder_name", "note",
                ]
            },
        ),
        (
            _l("派单与维修"),
            {
                "fields": [
                    "department", "assignee", "dispatched_at", "picked_up_at", "receiver_name", "started_at",
                    "completed_at", "work_hours", "cause", "delay_kind_label", "delay_reason", "transfer_count", "urge_count",
                ]
            },
        ),
        (
            _l("费用与验收"),
            {
                "fields": [
                    "quoted_amount", "owner_consent", "service_fee", "material_total", "total", "total_in_words",
                    "owner_signed_by", "owner_signed_at", "satisfied_label",
                ]
            },
        ),
        (
            _l("回单、回访与退单"),
            {
                "fields": [
                    "returned_at", "revisited_at", "rectify_notice", "reject_reason", "reject_opinion", "cancel_reason",
                ]
            },
        ),
    ]
    show_columns = [f for _, spec in show_fieldsets for f in spec["fields"]]
    add_columns = REGISTER_COLUMNS
    add_fieldsets = [
        (_l("报修"), {"fields": ["source", "urgency", "emergency_reason", "category", "kind", "paid"]}),
        (_l("业户与位置"), {"fields": ["owner_id", "unit_id", "estate_id", "location", "contact_name", "contact_phone"]}),
        (_l("报修内容"), {"fields": ["problem", "appointment_at", "recorded_at", "note"]}),
        (_l("立即派单(急修)"), {"fields": ["department_id", "assignee_id"], "expanded": True}),
    ]
    edit_columns = ["contact_name", "contact_phone", "location", "problem", "appointment_at", "note"]
    edit_form_extra_fields = {"appointment_at": LocalDateTimeField(_l("预约维修时间"))}
    search_columns = [
        "estate", "period", "status", "category", "urgency", "return_due_at", "assignee", "department", "number",
        "kind", "source", "paid", "recorded_at", "returned_at", "problem",
    ]
    # the search menu offers the people and sections of the filter bar, not every row of the company
    search_form_query_rel_fields = {
        "assignee": [["id", FilterInFunction, lambda: [int(v) for v, _ in bar_staff() if v]]],
        "department": [["id", FilterInFunction, lambda: [int(v) for v, _ in bar_departments() if v]]],
    }
    search_filters = {
        "period": [FilterCode],
        "status": [FilterCode],
        "category": [FilterCode],
        "urgency": [FilterCode],
        "kind": [FilterCode],
        "source": [FilterCode],
        "return_due_at": [FilterOverdue],
    }
    base_order = ("recorded_at", "desc")
    order_columns = ["number", "recorded_at", "status", "category"]
    formatters_columns = {
        "status": status_badge,
        "urgency": urgency_badge,
        "problem_short": short,
        "overdue_text": overdue_formatter,
    }
    export_title = _l("维修(服务)汇总表")
    export_columns = LEDGER_COLUMNS

    for _name in ORDER_MOVES:
        locals()[f"action_{_name}"] = order_action(_name, repair_flow.transitions[_name].label)
    del _name

    # ------------------------------------------------------------ list
    def render_template(self, template, **kwargs):
        if template == self.list_template:
            kwargs.update(self._ledger_context())
        return super().render_template(template, **kwargs)

    def _ledger_context(self) -> dict:
        """The filter bar above the grid: the FAB filter arguments it sets, and the choices."""
        view = self.__class__.__name__
        now = utcnow()
        periods = recent_periods(now)
        return {
            "bar": {
                "estate": ("_flt_0_estate", bar_estates()),
                "period": ("_flt_0_period", [("", "—")] + [(p, p) for p in periods]),
                "status": ("_flt_0_status", [("", "—")] + RepairStatus.choices()),
                "category": ("_flt_0_category", [("", "—")] + RepairCategory.choices()),
                "urgency": ("_flt_0_urgency", [("", "—")] + Urgency.choices()),
                "overdue": ("_flt_0_return_due_at", [("", "—"), ("1", str(_l("已超期"))), ("0", str(_l("未超期")))]),
                "assignee": ("_flt_0_assignee", bar_staff()),
            },
            "bar_labels": {
                "estate": _l("小区/大厦"), "period": _l("期间"), "status": _l("状态"), "category": _l("类别"),
                "urgency": _l("紧急程度"), "overdue": _l("超期"), "assignee": _l("维修人员"),
            },
            "list_url": url_for(f"{view}.list"),
            "export_url": url_for(f"{view}.export"),
            "monthly_url": url_for(f"{view}.monthly"),
            "current_period": period_of(now),
            "periods": periods,
        }

    # ------------------------------------------------------------ add: RepairOrder.register
    def _add(self):
        form = RegisterForm()
        self._prepare_register_form(form)
        if request.method == "POST":
            if form.validate():
                session = self.datamodel.session
                try:
                    order = RepairOrder.register(session, current_actor(), **self._register_params(form))
                    commit_or_conflict(session)
                except DomainError as error:
                    session.rollback()
                    self._handle_domain_error(form, error)
                    return self._register_widget(form)
                g.repair_added = order.id
                flash(str(_l("已登记维修单 %(n)s", n=order.number)), "success")
                return None
            return self._register_widget(form)
        self.update_redirect()
        return self._register_widget(form)

    def _register_widget(self, form):
        return self._get_add_widget(form=form, exclude_cols=[c for c in self.add_columns if c not in form])

    def post_add_redirect(self):
        pk = g.get("repair_added")
        if pk:
            return redirect(url_for(f"{self.__class__.__name__}.show", pk=pk))
        return super().post_add_redirect()

    def _prepare_register_form(self, form) -> None:
        actor = current_actor()
        form.owner_id.choices = owner_choices()
        form.unit_id.choices = unit_choices()
        form.estate_id.choices = estate_choices()
        if actor.can("can_dispatch", RO):
            estates = allowed_or_all()
            form.department_id.choices = department_choices(estates)
            form.assignee_id.choices = staff_choices(estates)
        else:
            del form["department_id"]
            del form["assignee_id"]
        if not can_backdate(actor):
            del form["recorded_at"]
        for field in ("owner_id", "unit_id", "category", "urgency", "source", "problem", "contact_phone", "estate_id"):
            value = request.args.get(field)
            if request.method == "GET" and value and field in form:
                form[field].data = value

    @staticmethod
    def _register_params(form) -> dict:
        params = {}
        for name, value in form.data.items():
            if name == "csrf_token" or value is None or value == "":
                continue
            params[name] = value
        return params

    # ------------------------------------------------------------ show
    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        widgets = self._get_show_widget(pk, item)
        actor = current_actor()
        now = utcnow()
        moves = [t for t in repair_flow.available(item, actor) if t.name in ORDER_MOVES and allowed_for(item, actor, t.name)]
        self.update_redirect()
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=widgets,
            item=item,
            moves=moves,
            deadlines=item.deadlines(now),
            overdue=overdue_badges(item, now),
            timeline=timeline(item),
            can_edit=actor.can("can_write", RO) and item.status not in TERMINAL,
            view_name=self.__class__.__name__,
            status_html=status_badge(item.status),
            urgency_html=urgency_badge(item.urgency),
            origin=origin_link(self.datamodel.session, item),
            now=now,
        )


def register(appbuilder) -> None:
    from views import repair_purchase

    add_screen(appbuilder, RepairOrderView, "RepairLedger", _l("维修(服务)汇总表"), "Repair", "fa-wrench")
    add_screen(appbuilder, MyRepairOrderView, "MyRepairOrders", _l("我的工单"), "Repair", "fa-user")
    add_screen(appbuilder, RepairRecordView, "RepairRecords", _l("维修记录表"), "Repair", "fa-list-alt")
    appbuilder.add_api(RepairOrderApi)
    repair_purchase.register(appbuilder)

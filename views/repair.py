"""维修管理 screens and the REST resource `repair_order` (SPEC §4, §11).

The ledger 维修(服务)汇总表 with its filters and Excel, the show page (timeline, materials,
deadlines), one page per move (`/do/<move>/<ids>`), the print forms, 维修记录表, 我的工单. Every
rule is the model's: these classes only choose what to show and call `RepairOrder.register` and
`repair_flow.apply`.
"""

from __future__ import annotations

import logging
import re

from flask import abort, flash, g, has_request_context, redirect, request, url_for
from flask_appbuilder.actions import action
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.sqla.filters import FilterInFunction
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import false, or_, select
from sqlalchemy.orm import defaultload, joinedload, lazyload

from app import roles
from app.scope import ScopedInterface, allowed_estate_ids, request_user, scoped
from app.screen_cache import cached_lookup
from app.xlsx import send_xlsx_file, temp_xlsx_path
from models.base import DomainError, ValidationError, utcnow
from models.master import Department, Estate, Owner, Staff, Unit
from models.repair import (
    OVERDUE_LABELS,
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
from models.repair_reports import LEDGER_COLUMNS, record_columns, staff_names, write_monthly_orders
from models.repair_transitions import SECTION_KINDS, allowed_for
from models.workflow import Actor
from views import add_screen
from views.base import PERMISSION_MAP, AreaFilter, commit_or_conflict, current_actor
from views.repair_forms import LINE_LABELS, REGISTER_COLUMNS, TRANSITION_FORMS, LocalDateTimeField, RegisterForm
from views.rest import ScopedModelRestApi
from views.scoped_view import ScopedModelView
from views.transitions import TransitionViewMixin

logger = logging.getLogger(__name__)

RO = "RepairOrder"
ORDER_MOVES = [
    "dispatch", "accept", "assign", "transfer", "start", "report_delay", "complete", "sign_off", "return",
    "reject", "approve_reject", "urge", "merge", "cancel", "revisit_done", "rectify", "close",
]
BASE = ("read",)
FRONT_DESK = ("read", "write", "export", "dispatch", "urge", "merge", "cancel", "sign_off", "return", "rectify", "close")

# The handbook's duties (接待 六, 维修单 一): who registers, dispatches, picks up, works, signs, buys.
roles.extend(
    {
        "接待员": {RO: FRONT_DESK, "Requisition": BASE, "RepairStats": BASE},
        "总值班员": {
            RO: FRONT_DESK + ("transfer", "report_delay", "revisit_done", "backdate"),
            "Requisition": BASE,
            "RepairStats": BASE,
        },
        "处主任": {
            RO: ("read", "export", "accept", "assign", "transfer", "report_delay", "reject"),
            "MyRepairOrder": BASE,
            "Requisition": ("read", "cancel"),
            "RepairStats": BASE,
        },
        "维修人员": {RO: ("read", "start", "complete", "sign_off"), "MyRepairOrder": BASE},
        "工程部经理": {RO: ("read", "export", "approve_reject"), "Requisition": BASE, "RepairStats": BASE},
        "大厦管理部经理": {RO: ("read", "export", "approve_reject"), "Requisition": BASE, "RepairStats": BASE},
        "采购员": {RO: BASE, "Requisition": ("read", "buy", "report_unavailable")},
        "供应处主任": {RO: BASE, "Requisition": ("read", "export", "buy", "report_unavailable", "cancel")},
        "财务内勤": {RO: ("read", "export")},
        "物业管理员": {RO: BASE},
    }
)

LABELS = {
    "number": _l("维修单号"),
    "period": _l("期间"),
    "status": _l("状态"),
    "status_label": _l("状态"),
    "source": _l("来源"),
    "source_label": _l("来源"),
    "kind": _l("维修/服务"),
    "kind_label": _l("维修/服务"),
    "category": _l("类别"),
    "category_label": _l("类别"),
    "urgency": _l("紧急程度"),
    "urgency_label": _l("紧急程度"),
    "emergency_reason_label": _l("急修原因"),
    "paid": _l("有偿"),
    "paid_label": _l("有偿/无偿"),
    "estate": _l("小区/大厦"),
    "unit": _l("房屋"),
    "owner": _l("业户"),
    "address": _l("用户地址"),
    "resident_name": _l("用户名称"),
    "resident_company": _l("住户单位"),
    "contact_name": _l("联系人"),
    "contact_phone": _l("联系电话"),
    "location": _l("位置/地址"),
    "problem": _l("报修内容"),
    "appointment_at": _l("预约维修时间"),
    "note": _l("备注"),
    "recorded_at": _l("登记时间"),
    "recorder_name": _l("记录人"),
    "department": _l("维修处"),
    "assignee": _l("维修人员"),
    "assignee_name": _l("维修人"),
    "dispatched_at": _l("派单时间"),
    "picked_up_at": _l("接单时间"),
    "receiver_name": _l("接受人"),
    "started_at": _l("开工时间"),
    "completed_at": _l("完工时间"),
    "work_hours": _l("维修工时"),
    "cause": _l("造成维修原因、责任"),
    "quoted_amount": _l("报价(元)"),
    "owner_consent": _l("业主认可报价"),
    "service_fee": _l("服务费(元)"),
    "material_total": _l("材料费(元)"),
    "total": _l("合计(元)"),
    "total_in_words": _l("合计大写"),
    "owner_signed_by": _l("业主验收签字"),
    "owner_signed_at": _l("验收时间"),
    "satisfied_label": _l("验收意见"),
    "returned_at": _l("回单时间"),
    "revisited_at": _l("回访完成时间"),
    "delay_kind_label": _l("延期原因类别"),
    "delay_reason": _l("延期原因"),
    "reject_reason": _l("退单理由"),
    "reject_opinion": _l("退单签署意见"),
    "cancel_reason": _l("取消原因"),
    "rectify_notice": _l("整改通知"),
    "urge_count": _l("催单次数"),
    "transfer_count": _l("转单次数"),
    "overdue_text": _l("超期"),
    "problem_short": _l("维修内容"),
    "return_due_at": _l("回单期限"),
    "assignee_id": _l("维修人员"),
    "estate_id": _l("小区/大厦"),
    "unit_id": _l("房屋"),
    "owner_id": _l("业户"),
    "department_id": _l("维修处"),
    "emergency_reason": _l("急修原因"),
    "backdated": _l("补录"),
    "recorded_by": _l("记录人"),
    "recorded_by_id": _l("记录人"),
    "dispatched_by": _l("派单人"),
    "dispatched_by_id": _l("派单人"),
    "picked_up_by": _l("接受人"),
    "picked_up_by_id": _l("接受人"),
    "returned_by": _l("回单经办人"),
    "returned_by_id": _l("回单经办人"),
    "pickup_due_at": _l("取单期限"),
    "material_due_at": _l("缺料上报期限"),
    "paused_since": _l("等待材料起"),
    "paused_seconds": _l("等待材料累计(秒)"),
    "delay_kind": _l("延期原因类别"),
    "delay_reported_at": _l("延期上报时间"),
    "material_reported_late": _l("缺料逾期上报"),
    "fee_standard": _l("收费标准项目"),
    "fee_standard_id": _l("收费标准项目"),
    "consent_at": _l("业主认可时间"),
    "satisfied": _l("验收意见"),
    "rectify_count": _l("整改次数"),
    "rectify_noticed_at": _l("整改通知时间"),
    "closed_at": _l("关闭时间"),
    "reject_from_status": _l("退单前状态"),
    "reject_requested_at": _l("退单时间"),
    "reject_decided_at": _l("退单签署时间"),
    "reject_decided_by": _l("退单签署人"),
    "reject_decided_by_id": _l("退单签署人"),
    "cancelled_at": _l("取消时间"),
    "merged_into": _l("合并到"),
    "merged_into_id": _l("合并到"),
    "last_urged_at": _l("最近催单时间"),
    "month_end_flag": _l("月末未交回"),
    "origin_type": _l("来源记录类型"),
    "origin_id": _l("来源记录"),
    "materials": _l("使用维修材料"),
    "requisitions": _l("请购单"),
    "ledger_note": _l("备注"),
    "created_on": _l("创建时间"),
    "changed_on": _l("修改时间"),
    "created_by": _l("创建人"),
    "changed_by": _l("修改人"),
}

def overdue_badges(order: RepairOrder, now=None) -> Markup:
    kinds = order.overdue_kinds(now or utcnow())
    return Markup("".join(f'<span class="label label-danger overdue-badge">{escape(str(OVERDUE_LABELS[k]))}</span> ' for k in kinds))


def overdue_formatter(text: str) -> Markup:
    """超期 column: one red label per late clock."""
    return Markup("".join(f'<span class="label label-danger overdue-badge">{escape(t)}</span> ' for t in (text or "").split("、") if t))


def status_badge(code: str) -> Markup:
    css = {
        "registered": "default", "dispatched": "info", "accepted": "info", "in_progress": "primary",
        "awaiting_acceptance": "warning", "completed": "success", "returned": "success", "revisited": "success",
        "closed": "default", "rectifying": "warning", "reject_pending": "danger", "rejected": "default", "cancelled": "default",
    }.get(code, "default")
    return Markup(f'<span class="label label-{css}">{escape(RepairStatus.label_of(code))}</span>')


def urgency_badge(code: str) -> Markup:
    if code == Urgency.emergency.value:
        return Markup(f'<span class="label label-danger">{escape(Urgency.label_of(code))}</span>')
    return Markup(escape(Urgency.label_of(code)))


def short(text, n: int = 28):
    text = text or ""
    return text if len(text) <= n else text[: n - 1] + "…"


# ---------------------------------------------------------------- filters
class FilterCode(AreaFilter):
    """Exact match on a code column (status, category, ...), chosen from a list on the ledger."""

    name = _l("等于")
    arg_name = "code"

    def apply(self, query, value):
        if value in (None, ""):
            return query
        return query.filter(getattr(self.model, self.column_name) == value)


class FilterOverdue(AreaFilter):
    """超期: not picked up, not returned or material not reported in time (as of now)."""

    name = _l("超期")
    arg_name = "overdue"

    def apply(self, query, value):
        if value in (None, ""):
            return query
        clause = RepairOrder.overdue_clause(utcnow())
        return query.filter(clause if str(value) in ("1", "true", "是") else ~clause)


class MyOrdersInterface(ScopedInterface):
    """我的工单: the orders assigned to me, and those of the sections I head."""

    def _scope(self, query):
        query = super()._scope(query)
        user = request_user()
        staff_id = Actor(user=user).staff_id if user is not None else None
        if not staff_id:
            return query.filter(false())
        headed = select(Department.id).where(Department.head_id == staff_id)
        return query.filter(or_(RepairOrder.assignee_id == staff_id, RepairOrder.department_id.in_(headed)))


# Moves a clerk makes on a batch of orders with one form; the others are made one order at a time.
BATCH_MOVES = {"dispatch", "accept", "assign", "return", "urge", "cancel", "approve_reject", "revisit_done", "close", "buy"}


def order_action(name: str, label, icon: str = "fa-play", view: str | None = None):
    """A grid action opening the move's page for the selected rows (the show page draws its own buttons)."""

    @action(name, label, None, icon, multiple=True, single=False)
    def _act(self, items):
        items = [i for i in (items if isinstance(items, list) else [items]) if i is not None]
        if not items:
            abort(404)
        if len(items) > 1 and name not in BATCH_MOVES:
            flash(str(_l("「%(label)s」须逐张办理,请只选一张维修单", label=label)), "warning")
            return redirect(url_for(f"{self.__class__.__name__}.list"))
        ids = ",".join(str(i.id) for i in items)
        return redirect(url_for(f"{view or self.__class__.__name__}.do_transition", name=name, pk=ids))

    _act.__name__ = f"action_{name}"
    return _act


# ---------------------------------------------------------------- choices (within the user's estates)
def estate_choices() -> list[tuple[str, str]]:
    rows = g_session().scalars(scoped(select(Estate), Estate).order_by(Estate.name))
    return [("", "—")] + [(str(e.id), e.name) for e in rows]


def unit_choices() -> list[tuple[str, str]]:
    rows = g_session().scalars(scoped(select(Unit), Unit).order_by(Unit.estate_id, Unit.building_id, Unit.room))
    return [("", "—")] + [(str(u.id), u.label) for u in rows]


def owner_choices() -> list[tuple[str, str]]:
    rows = g_session().scalars(scoped(select(Owner), Owner).order_by(Owner.estate_id, Owner.unit_id, Owner.name))
    return [("", "—")] + [(str(o.id), f"{o.name} · {o.unit.label if o.unit else ''} · {o.phone}") for o in rows]


def department_choices(estate_ids: set[int]) -> list[tuple[str, str]]:
    query = (
        select(Department.id, Department.name)
        .where(Department.kind.in_(SECTION_KINDS))
        .where(or_(Department.estate_id.is_(None), Department.estate_id.in_(sorted(estate_ids))))
        .order_by(Department.name)
    )
    return [("", "—")] + [(str(i), name) for i, name in g_session().execute(query)]


def staff_choices(estate_ids: set[int], department_id: int | None = None) -> list[tuple[str, str]]:
    """Active section staff of these estates (or of none) whose login may complete an order: two
    queries, not three per person (every page of the ledger draws this list)."""
    from flask import current_app
    from sqlalchemy.orm import contains_eager, lazyload

    query = (
        select(Staff)
        .join(Department, Department.id == Staff.department_id)
        .where(Staff.active.is_(True), Department.kind.in_(SECTION_KINDS))
        .where(or_(~Staff.estates.any(), Staff.estates.any(Estate.id.in_(sorted(estate_ids)))))
        .options(lazyload("*"), contains_eager(Staff.department))
    )
    if department_id:
        query = query.where(Staff.department_id == department_id)
    able = current_app.appbuilder.sm.user_ids_with_permission("can_complete", RO)
    rows = []
    for staff in g_session().scalars(query.order_by(Department.name, Staff.name)):
        if staff.user_id is not None and staff.user_id not in able:
            continue
        rows.append((str(staff.id), f"{staff.name}({staff.department.name})"))
    return [("", "—")] + rows


def g_session():
    from app.extensions import db

    return db.session


def guess_department(choices, category: str) -> str | None:
    """水电 → 水电处: preselect the section named after the category."""
    label = RepairCategory.label_of(category)
    for value, text in choices:
        if value and label and str(text).startswith(label):
            return value
    return None


LINE_ERROR = re.compile(r"^(materials|items)\[(\d+)\]\.?(\w*)$")


# ---------------------------------------------------------------- the ledger and the order
LIST_COUNT_LIMIT = 10_000
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


class RepairOrderView(TransitionViewMixin, ScopedModelView):
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

    # ------------------------------------------------------------ moves
    def prepare_transition_form(self, name, form, items):
        item = items[0]
        estates = {i.estate_id for i in items}
        actor = current_actor()
        if "department_id" in form:
            form.department_id.choices = department_choices(estates)
            if request.method == "GET" and name == "dispatch" and len(items) == 1:
                form.department_id.data = guess_department(form.department_id.choices, item.category)
        if "assignee_id" in form:
            dept = item.department_id if name in ("accept", "assign") and len({i.department_id for i in items}) == 1 else None
            form.assignee_id.choices = staff_choices(estates, dept)
        if name == "dispatch" and not can_backdate(actor):
            del form["dispatched_at"]
        if name == "start":
            from models.billing import FeeStandard

            fees = g_session().scalars(
                select(FeeStandard)
                .where(FeeStandard.active.is_(True), or_(FeeStandard.estate_id.is_(None), FeeStandard.estate_id == item.estate_id))
                .order_by(FeeStandard.name)
            )
            form.fee_standard_id.choices = [("", "—")] + [(str(f.id), str(f)) for f in fees]
        if name == "merge":
            query = (
                select(RepairOrder)
                .where(RepairOrder.estate_id == item.estate_id, RepairOrder.id != item.id, RepairOrder.status.not_in([s.value for s in TERMINAL]))
                .order_by(RepairOrder.recorded_at.desc())
                .limit(200)
            )
            form.into_id.choices = [("", "—")] + [
                (str(o.id), f"{o.number} {o.address} {short(o.problem, 20)}({o.status_label})") for o in g_session().scalars(query)
            ]
        if name == "sign_off" and request.method == "GET":
            form.signed_by.data = item.resident_name

    def _form_params(self, form) -> dict:
        data = super()._form_params(form)
        rows_of = {}
        for key in ("materials", "items"):
            if key in data:
                kept, where = [], []
                for i, row in enumerate(data[key]):
                    row = {k: v for k, v in row.items() if v not in (None, "")}
                    if set(row) - {"provider"}:
                        kept.append(row)
                        where.append(i)
                data[key] = kept
                rows_of[key] = where
        g.repair_line_rows = rows_of
        return {k: v for k, v in data.items() if v is not None and v != ""}

    def apply_transition(self, item, name: str, params: dict | None = None) -> bool:
        try:
            return super().apply_transition(item, name, params)
        except ValidationError as error:
            match = LINE_ERROR.match(error.field or "")
            if not match:
                raise
            key, index, column = match.group(1), int(match.group(2)), match.group(3)
            rows = g.get("repair_line_rows", {}).get(key, [])
            line = rows[index] + 1 if index < len(rows) else index + 1
            label = LINE_LABELS.get(column, "")
            raise ValidationError(key, _l("第 %(n)s 行%(f)s:%(m)s", n=line, f=label, m=error.message)) from error

    # ------------------------------------------------------------ print (A4)
    @expose("/print/<int:pk>")
    @has_access
    def print_view(self, pk):
        """维修(服务)任务单 / 返修申请表 with material lines, capitals total and signature lines."""
        item = self._printable(pk)
        return self.render_template(
            "wuye/repair_print_task.html",
            item=item,
            form_title=str(_l("维修(服务)任务单")),
            estate_name=item.estate.name if item.estate else "",
            doc_no=item.number,
            staff_name=staff_names(self.datamodel.session),
        )

    @expose("/slip/<int:pk>")
    @has_access
    def print_slip(self, pk):
        """物业维修单 (附: 物业维修)."""
        item = self._printable(pk)
        return self.render_template(
            "wuye/repair_print_slip.html",
            item=item,
            form_title=str(_l("物业维修单")),
            estate_name=item.estate.name if item.estate else "",
            doc_no=item.number,
        )

    def _printable(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        return item

    # ------------------------------------------------------------ Excel
    @expose("/monthly/")
    @has_access
    def monthly(self):
        """总值班室月报表 for a period (the `monthly_orders` export)."""
        period = request.args.get("period") or period_of(utcnow())
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
            flash(str(_l("期间格式应为 YYYY-MM")), "danger")
            return redirect(url_for(f"{self.__class__.__name__}.list"))
        ids = allowed_estate_ids()  # None: every estate
        estate_id = request.args.get("estate_id", type=int)
        if estate_id is not None and ids is not None and estate_id not in ids:
            abort(404)
        path = temp_xlsx_path()
        write_monthly_orders(self.datamodel.session, period, path, estate_id, None if estate_id else ids)
        return send_xlsx_file(path, f"维修单月报表-{period}.xlsx")


def per_request(key: str, fn):
    """A value computed once per request (the bar and the search menu share their choices)."""
    if not has_request_context():
        return fn()
    cache = request.environ.setdefault("wuye.repair", {})
    if key not in cache:
        cache[key] = fn()
    return cache[key]


def bar_staff() -> list[tuple[str, str]]:
    """The filter bar's and search menu's repair staff, shared by users of the same estates for a few
    seconds (app/screen_cache.py: dropped when anything is saved)."""
    return per_request("staff", lambda: cached_lookup("repair.staff", lambda: staff_choices(allowed_or_all())))


def bar_departments() -> list[tuple[str, str]]:
    return per_request("departments", lambda: cached_lookup("repair.departments", lambda: department_choices(allowed_or_all())))


def bar_estates() -> list[tuple[str, str]]:
    return cached_lookup("repair.estates", estate_choices)


def allowed_or_all() -> set[int]:
    ids = allowed_estate_ids()
    if ids is None:
        return {e for e in g_session().scalars(select(Estate.id))}
    return set(ids)


def recent_periods(now, months: int = 14) -> list[str]:
    """The current period and the ones before it, newest first."""
    current = period_of(now)
    year, month = int(current[:4]), int(current[5:])
    periods = []
    for _ in range(months):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return periods


def timeline(order: RepairOrder) -> list[dict]:
    """The event log as a clerk reads it: when, who, what, from → to, note."""
    names = {}
    rows = []
    for event in order.event_rows():
        user = event.user
        if user is not None and user.id not in names:
            staff = g_session().scalar(select(Staff.name).where(Staff.user_id == user.id))
            names[user.id] = staff or f"{user.last_name or ''}{user.first_name or ''}" or user.username
        transition = repair_flow.transitions.get(event.transition)
        rows.append(
            {
                "at": event.at,
                "who": names.get(user.id) if user is not None else str(_l("系统")),
                "what": str(transition.label) if transition else event.transition,
                "name": event.transition,
                "from": RepairStatus.label_of(event.from_status) if event.from_status else "",
                "to": RepairStatus.label_of(event.to_status) if event.to_status else "",
                "note": event.note or "",
            }
        )
    return rows


class RepairRecordView(ScopedModelView):
    """维修记录表 (附): 序号, 时间, 住户单位, 住户姓名, 电话, 维修内容, 维修单号, 接受人, 记录人, 维修人, 备注."""

    datamodel = ScopedInterface(RepairOrder)
    class_permission_name = RO
    base_permissions = ["can_read", "can_export"]
    list_title = _l("维修记录表")
    label_columns = LABELS | {
        "recorded_at": _l("时间"),
        "resident_name": _l("住户姓名"),
        "contact_phone": _l("电话"),
        "problem_short": _l("维修内容"),
        "assignee_name": _l("维修人"),
        "ledger_note": _l("备注"),
    }
    list_template = "wuye/repair_records.html"
    list_columns = [
        "recorded_at", "resident_company", "resident_name", "contact_phone", "problem_short", "number", "receiver_name",
        "recorder_name", "assignee_name", "ledger_note",
    ]
    search_columns = ["estate", "period", "recorded_at", "number", "assignee"]
    search_filters = {"period": [FilterCode]}
    base_order = ("recorded_at", "asc")
    formatters_columns = {"problem_short": lambda v: short(v, 40)}
    export_title = _l("维修记录表")

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        return redirect(url_for("RepairOrderView.show", pk=pk))

    @expose("/export/")
    @has_access
    def export(self):
        from app.xlsx import workbook_response

        rows = self.export_rows()
        for i, row in enumerate(rows, 1):
            row._seq = i
        return workbook_response(str(self.export_title), record_columns(staff_names(self.datamodel.session)), rows)


class MyRepairOrderView(ScopedModelView):
    """我的工单: a repair worker's own orders (and a section head's section), newest first."""

    datamodel = MyOrdersInterface(RepairOrder)
    class_permission_name = "MyRepairOrder"
    base_permissions = ["can_read"]
    method_permission_name = PERMISSION_MAP | {f"action_{n}": "read" for n in ("accept", "assign", "start", "report_delay", "complete", "sign_off")}
    list_title = _l("我的工单")
    label_columns = LABELS
    list_columns = ["number", "recorded_at", "address", "resident_name", "contact_phone", "problem_short", "urgency", "status", "overdue_text"]
    search_columns = ["status", "period", "urgency", "recorded_at"]
    search_filters = {"status": [FilterCode], "period": [FilterCode], "urgency": [FilterCode]}
    base_order = ("recorded_at", "desc")
    formatters_columns = {"status": status_badge, "urgency": urgency_badge, "problem_short": short, "overdue_text": overdue_formatter}

    for _name in ("accept", "assign", "start", "report_delay", "complete", "sign_off"):
        locals()[f"action_{_name}"] = order_action(_name, repair_flow.transitions[_name].label, view="RepairOrderView")
    del _name

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        return redirect(url_for("RepairOrderView.show", pk=pk))


# ---------------------------------------------------------------- REST
API_READ = [
    "id", "number", "period", "status", "status_label", "source", "kind", "category", "urgency", "emergency_reason", "paid",
    "estate_id", "unit_id", "owner_id", "contact_name", "contact_phone", "location", "problem", "appointment_at", "note",
    "recorded_at", "recorded_by_id", "backdated", "department_id", "assignee_id", "dispatched_at", "pickup_due_at",
    "picked_up_at", "return_due_at", "paused_since", "material_due_at", "delay_kind", "delay_reason", "delay_reported_at",
    "material_reported_late", "started_at", "completed_at", "work_hours", "cause", "fee_standard_id", "quoted_amount",
    "owner_consent", "service_fee", "material_total", "total", "total_in_words", "owner_signed_by", "owner_signed_at",
    "satisfied", "returned_at", "revisited_at", "rectify_count", "rectify_notice", "reject_reason", "reject_opinion",
    "cancel_reason", "merged_into_id", "urge_count", "last_urged_at", "transfer_count", "month_end_flag",
    "origin_type", "origin_id", "overdue",
]


class RepairOrderApi(ScopedModelRestApi):
    """`/api/v1/repair_order`: create with POST (RepairOrder.register), moves as POST /<id>/<move>."""

    resource_name = "repair_order"
    class_permission_name = RO
    datamodel = ScopedInterface(RepairOrder)
    # the list answers the order's own columns: no related rows loaded, at most 10,000 counted
    list_options = (lazyload("*"),)
    list_count_limit = LIST_COUNT_LIMIT
    workflow_type = "repair_order"
    allow_browser_login = False
    base_permissions = ["can_read", "can_write", "can_backdate"] + [f"can_{n}" for n in ORDER_MOVES]
    list_columns = API_READ
    show_columns = API_READ + ["material_lines", "deadline_list", "events"]
    add_columns = ["estate_id", "unit_id", "owner_id", "contact_phone", "problem", "category", "urgency", "paid", "source", "appointment_at", "recorded_at"]
    edit_columns = ["contact_name", "contact_phone", "location", "problem", "appointment_at", "note"]
    search_columns = [
        "estate_id", "unit_id", "owner_id", "department_id", "assignee_id", "status", "kind", "period", "category",
        "urgency", "source", "paid", "number", "recorded_at", "dispatched_at", "completed_at", "month_end_flag",
    ]
    order_columns = ["id", "number", "recorded_at", "dispatched_at", "completed_at", "period", "status"]
    base_order = ("id", "desc")

    def post_headless(self):
        if not request.is_json:
            return self.response_400(message=str(_l("请求体必须是 JSON")))
        body = request.get_json(silent=True)
        if body is None:
            return self.response_400(message=str(_l("请求体不是合法的 JSON")))
        if not isinstance(body, dict):
            return self.response_400(message=str(_l("请求体必须是 JSON 对象")))
        session = self.datamodel.session
        try:
            order = RepairOrder.register(session, current_actor(), **{str(k): v for k, v in body.items()})
            commit_or_conflict(session)
        except DomainError as error:
            return self._domain_response(error)
        session.refresh(order)
        return self.response(201, id=order.id, result=self.show_model_schema.dump(order))


def register(appbuilder) -> None:
    from views import repair_purchase

    add_screen(appbuilder, RepairOrderView, "RepairLedger", _l("维修(服务)汇总表"), "Repair", "fa-wrench")
    add_screen(appbuilder, MyRepairOrderView, "MyRepairOrders", _l("我的工单"), "Repair", "fa-user")
    add_screen(appbuilder, RepairRecordView, "RepairRecords", _l("维修记录表"), "Repair", "fa-list-alt")
    appbuilder.add_api(RepairOrderApi)
    repair_purchase.register(appbuilder)


def origin_link(session, item) -> tuple[str, str] | None:
    """(label, url) of the visit, call or complaint the order was registered from, so both records link."""
    from models.reception_desk import ORIGIN_ENDPOINTS, origin_label

    if not item.origin_type or not item.origin_id:
        return None
    if item.origin_type in ORIGIN_ENDPOINTS:
        label = origin_label(session, item.origin_type, item.origin_id)
        return (label, url_for(ORIGIN_ENDPOINTS[item.origin_type], pk=item.origin_id)) if label else None
    if item.origin_type == "complaint":
        from models.complaint import Complaint

        complaint = session.get(Complaint, item.origin_id)
        if complaint is not None:
            return (f"{_l('投诉')} {complaint}", url_for("ComplaintView.show", pk=complaint.id))
    return None

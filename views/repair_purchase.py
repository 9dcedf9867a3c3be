"""请购单 (维修单 一.5) and per-staff repair statistics: screens and REST resources."""

from __future__ import annotations

from flask import request
from flask_appbuilder import BaseView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from app.scope import ScopedInterface, allowed_estate_ids
from models.base import ValidationError, utcnow
from models.repair import period_of
from models.repair_purchase import PurchaseRequisition, RequisitionStatus, requisition_flow
from models.repair_reports import STAT_COLUMNS, staff_statistics
from views import add_screen
from views.repair_choices import FilterCode, g_session, recent_periods
from views.repair_forms import REQUISITION_FORMS
from views.repair_moves import order_action
from views.rest import ScopedModelRestApi
from views.scoped_view import ScopedModelView
from views.transitions import TransitionViewMixin

REQUISITION_MOVES = ["buy", "report_unavailable", "cancel"]


def requisition_status(code: str) -> Markup:
    css = {"pending": "warning", "bought": "success", "unavailable": "danger", "cancelled": "default"}.get(code, "default")
    return Markup(f'<span class="label label-{css}">{escape(RequisitionStatus.label_of(code))}</span>')


class RequisitionView(TransitionViewMixin, ScopedModelView):
    """请购单: the section's material requests and what the purchaser did with them."""

    datamodel = ScopedInterface(PurchaseRequisition)
    class_permission_name = "Requisition"
    # filed with a material delay on the order, changed only by its moves
    base_permissions = ["can_read", "can_export"]
    workflow_type = "requisition"
    transition_forms = REQUISITION_FORMS
    list_title = _l("请购单")
    show_title = _l("请购单")
    edit_title = _l("修改请购单")
    label_columns = {
        "number": _l("请购单号"),
        "order": _l("维修单"),
        "order_number": _l("维修单号"),
        "estate": _l("小区/大厦"),
        "department": _l("申请部门"),
        "reason": _l("请购原因"),
        "items_text": _l("请购物品"),
        "status": _l("状态"),
        "status_label": _l("状态"),
        "filed_at": _l("申请时间"),
        "filed_by": _l("申请人"),
        "due_at": _l("采购期限"),
        "bought_at": _l("购到时间"),
        "bought_by": _l("采购人"),
        "unavailable_at": _l("报告时间"),
        "unavailable_reason": _l("无法采购原因"),
        "note": _l("说明"),
    }
    list_columns = ["number", "order", "estate", "department", "items_text", "status", "filed_at", "due_at"]
    show_columns = [
        "number", "order", "estate", "department", "reason", "items_text", "status_label", "filed_at", "filed_by", "due_at",
        "bought_at", "bought_by", "unavailable_at", "unavailable_reason", "note",
    ]
    search_columns = ["status", "estate", "department", "number", "filed_at"]
    search_filters = {"status": [FilterCode]}
    base_order = ("filed_at", "desc")
    formatters_columns = {"status": requisition_status}
    export_columns = [
        ("number", _l("请购单号")),
        ("order_number", _l("维修单号")),
        ("estate.name", _l("小区/大厦")),
        ("department.name", _l("申请部门")),
        ("reason", _l("请购原因")),
        ("items_text", _l("请购物品")),
        ("status_label", _l("状态")),
        ("filed_at", _l("申请时间"), "datetime"),
        ("due_at", _l("采购期限"), "datetime"),
        ("bought_at", _l("购到时间"), "datetime"),
        ("unavailable_reason", _l("无法采购原因")),
    ]

    for _name in REQUISITION_MOVES:
        locals()[f"action_{_name}"] = order_action(_name, requisition_flow.transitions[_name].label, "fa-shopping-cart")
    del _name


class RequisitionApi(ScopedModelRestApi):
    resource_name = "requisition"
    class_permission_name = "Requisition"
    datamodel = ScopedInterface(PurchaseRequisition)
    workflow_type = "requisition"
    base_permissions = ["can_read"] + [f"can_{n}" for n in REQUISITION_MOVES]
    list_columns = show_columns = [
        "id", "number", "repair_order_id", "estate_id", "department_id", "reason", "status", "filed_at", "filed_by_id",
        "due_at", "bought_at", "unavailable_at", "unavailable_reason", "note", "item_lines",
    ]
    search_columns = ["repair_order_id", "estate_id", "department_id", "status", "number"]
    order_columns = ["id", "filed_at", "due_at"]


class RepairStatsView(BaseView):
    """维修人员统计: dispatched, transferred, 退单, done, revisited, on time, satisfaction per worker."""

    route_base = "/repairstats"
    class_permission_name = "RepairStats"
    method_permission_name = {"index": "read", "export": "read"}
    default_view = "index"

    def _rows(self):
        period = request.args.get("period") or period_of(utcnow())
        try:
            rows = staff_statistics(g_session(), period, allowed_estate_ids())
        except ValidationError as error:
            return period, [], error.message
        return period, rows, None

    @expose("/")
    @has_access
    def index(self):
        period, rows, error = self._rows()
        return self.render_template(
            "wuye/repair_stats.html",
            title=_l("维修人员统计"),
            period=period,
            periods=recent_periods(utcnow()),
            rows=rows,
            columns=STAT_COLUMNS,
            error=error,
        )

    @expose("/export/")
    @has_access
    def export(self):
        from app.xlsx import workbook_response

        period, rows, _error = self._rows()
        columns = [(key, str(label), "int") if key in ("assigned", "transferred", "rejected", "done", "revisited", "on_time", "signed") else (key, str(label)) for key, label in STAT_COLUMNS]
        return workbook_response(f"维修人员统计 {period}", columns, rows)


def register(appbuilder) -> None:
    add_screen(appbuilder, RequisitionView, "Requisitions", _l("请购单"), "Repair", "fa-shopping-cart")
    add_screen(appbuilder, RepairStatsView, "RepairStats", _l("维修人员统计"), "Repair", "fa-bar-chart")
    appbuilder.add_api(RequisitionApi)


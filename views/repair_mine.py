"""我的工单: a repair worker's own orders, and those of the sections a head runs; moves open the
ledger's move pages."""

from __future__ import annotations

import logging

from flask import redirect, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _l
from sqlalchemy import false, or_, select

from app.scope import ScopedInterface, request_user
from models.master import Department
from models.repair import RepairOrder, repair_flow
from models.workflow import Actor
from views.base import PERMISSION_MAP
from views.repair_choices import FilterCode
from views.repair_display import LABELS, overdue_formatter, short, status_badge, urgency_badge
from views.repair_moves import order_action
from views.scoped_view import ScopedModelView

logger = logging.getLogger(__name__)


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

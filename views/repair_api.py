"""`/api/v1/repair_order`: the REST resource of 维修单 (SPEC §11)."""

from __future__ import annotations

import logging

from flask import request
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import lazyload

from app.scope import ScopedInterface
from models.base import DomainError
from models.repair import RepairOrder
from views.base import commit_or_conflict, current_actor
from views.repair_roles import ORDER_MOVES, RO
from views.rest import ScopedModelRestApi

logger = logging.getLogger(__name__)


# The REST list and the ledger count at most this many matches.
LIST_COUNT_LIMIT = 10_000


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

"""How a 维修单 is shown: its labels, status/urgency/overdue badges, the timeline of its event log and
the link to the record it was registered from."""

from __future__ import annotations

import logging

from flask import url_for
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from models.base import utcnow
from models.repair import OVERDUE_LABELS, RepairOrder, RepairStatus, Urgency, colleague_name, repair_flow

logger = logging.getLogger(__name__)


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


def timeline(order: RepairOrder) -> list[dict]:
    """The event log as a clerk reads it: when, who, what, from → to, note."""
    names = {}
    rows = []
    for event in order.event_rows():
        user = event.user
        if user is not None and user.id not in names:
            names[user.id] = colleague_name(user)
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

"""The front desk's model functions: one-click follow-ups (a repair order or a complaint from a
visit or a call, linked both ways), finding a household as the clerk types, what is open for it,
and the desk's one save."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models.base import PermissionDenied, ValidationError, require_text
from models.master import Owner, Unit, normalize_phone
from models.reception import CallRecord, VisitRecord
from models.reception_common import escape_like, installed_model, like_pattern
from models.workflow import Actor

# Per record type: the repair order's source, the complaint's channel, the text and time fields.
FOLLOW_UP = {
    "visit_record": {"source": "window", "channel": "visit", "text": "reason", "name": "visitor_name", "phone": "visitor_phone", "at": "visited_at"},
    "call_record": {"source": "hotline", "channel": "phone", "text": "content", "name": "caller_name", "phone": "phone", "at": "called_at"},
    "owner_visit": {"source": "visit", "channel": "owner_visit", "text": "opinions", "name": "interviewee", "phone": None, "at": "visited_at"},
}
REPAIR_EXTRA = ("category", "kind", "urgency", "emergency_reason", "paid", "appointment_at", "location", "note", "problem", "contact_phone", "department_id", "assignee_id")


def object_type_of(record) -> str:
    return record.__tablename__


def record_phone(record) -> str | None:
    spec = FOLLOW_UP[object_type_of(record)]
    phone = getattr(record, spec["phone"]) if spec["phone"] else None
    if not phone and record.owner is not None:
        phone = record.owner.phone
    return phone


def _log_follow_up(session, record, name: str, actor: Actor, now: datetime, note: str) -> None:
    from models.workflow import WORKFLOWS

    flow = WORKFLOWS.get(object_type_of(record))
    if flow is not None:
        flow.log(session, record, name, actor, now, note=note)


def register_repair_from(session, actor: Actor, now: datetime, record, **extra):
    """登记维修单 from a visit or a call: owner, unit, phone and text filled in, linked both ways."""
    from models.workflow import TransitionRefused

    RepairOrder = installed_model("models.repair", "RepairOrder")
    if RepairOrder is None:
        raise ValidationError("follow_up", _l("本系统未启用维修单"))
    if record.repair_order_id is not None:
        raise TransitionRefused(_l("该记录已登记过维修单"))
    unknown = sorted(set(extra) - set(REPAIR_EXTRA))
    if unknown:
        raise ValidationError(unknown[0], _l("不能提交此字段"))
    spec = FOLLOW_UP[object_type_of(record)]
    text = getattr(record, spec["text"]) or getattr(record, "suggestions", None)
    fields = {
        "estate_id": record.estate_id,
        "unit_id": record.unit_id,
        "owner_id": record.owner_id,
        "contact_name": getattr(record, spec["name"]) if spec["name"] else None,
        "contact_phone": record_phone(record),
        "problem": text,
        "source": spec["source"],
        "origin_type": object_type_of(record),
        "origin_id": record.id,
    }
    fields.update({k: v for k, v in extra.items() if v not in (None, "") or k in ("paid",)})
    order = RepairOrder.register(session, actor, now, **fields)
    record.repair_order_id = order.id
    _log_follow_up(session, record, "repair_order", actor, now, str(_l("登记维修单 %(n)s", n=order.number)))
    session.flush()
    return order


def register_complaint_from(session, actor: Actor, now: datetime, record, category=None, content=None, department_id=None):
    """登记投诉 from a visit or a call (channel 来访/电话/走访), received when the owner came or called."""
    from models.base import parse_choice
    from models.workflow import TransitionRefused

    if installed_model("models.complaint", "Complaint") is None:
        raise ValidationError("follow_up", _l("本系统未启用投诉管理"))
    from models.complaint import ComplaintCategory, register_complaint_from_source

    if record.complaint_id is not None:
        raise TransitionRefused(_l("该记录已登记过投诉"))
    if not actor.can("can_write", "Complaint"):
        raise PermissionDenied(_l("您没有登记投诉的权限"))
    spec = FOLLOW_UP[object_type_of(record)]
    text = content if content not in (None, "") else getattr(record, spec["text"]) or getattr(record, "suggestions", None)
    complaint = register_complaint_from_source(
        session, actor, now, record, object_type_of(record),
        category=parse_choice("category", category, ComplaintCategory),
        content=require_text("content", text, 2000, _l("请填写投诉内容")),
        channel=spec["channel"],
        received_at=getattr(record, spec["at"]),
        complainant=getattr(record, spec["name"]) if spec["name"] else None,
        phone=record_phone(record),
        department_id=department_id,
    )
    _log_follow_up(session, record, "complaint", actor, now, str(_l("登记投诉 %(n)s", n=str(complaint))))
    session.flush()
    return complaint


# ---------------------------------------------------------------- the quick-entry desk
LOOKUP_LIMIT = 10
DESK_FIELDS = {  # desk form field -> (call field, visit field)
    "name": ("caller_name", "visitor_name"),
    "phone": ("phone", "visitor_phone"),
    "text": ("content", "reason"),
}
DESK_COMMON = ("estate_id", "unit_id", "owner_id", "category", "outcome")


def find_households(session, text: str, estate_ids, limit: int = LOOKUP_LIMIT) -> list[Owner]:
    """Owners whose phone, name or room contains what the clerk typed (`3-502` = building 3, room 502)."""
    from sqlalchemy import or_

    from app.scope import scope_condition
    from models.master import Building

    text = (text or "").strip()[:40]
    if not text:
        return []
    like = like_pattern(text)
    conds = [
        Owner.phone.like(like_pattern(normalize_phone(text) or text), escape="\\"),
        Owner.name.like(like, escape="\\"),
        Owner.company.like(like, escape="\\"),
        Unit.room.like(like, escape="\\"),
    ]
    for sep in ("-", "—", " ", "号楼", "栋", "座"):
        if sep in text:
            building, _, room = text.partition(sep)
            if building.strip() and room.strip():
                conds.append(
                    Building.name.like(escape_like(building.strip()) + "%", escape="\\")
                    & Unit.room.like(escape_like(room.strip()) + "%", escape="\\")
                )
            break
    query = (
        select(Owner)
        .join(Unit, Unit.id == Owner.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .where(or_(*conds))
        .order_by(Owner.phone.like(escape_like(text) + "%", escape="\\").desc(), Building.name, Unit.room, Owner.name)
        .limit(limit)
    )
    cond = scope_condition(Owner, estate_ids)
    if cond is not None:
        query = query.where(cond)
    return list(session.scalars(query).unique())


def household_overview(session, owner: Owner) -> dict:
    """What the desk shows for a household: open repair orders, open complaints, unpaid payment
    requests and the latest calls and visits (each as plain dicts)."""
    from sqlalchemy import or_

    from models.base import fmt_dt, fmt_money

    result: dict = {"repair_orders": [], "complaints": [], "payment_requests": [], "recent": []}
    unit_or_owner = lambda model: or_(model.unit_id == owner.unit_id, model.owner_id == owner.id)  # noqa: E731
    RepairOrder = installed_model("models.repair", "RepairOrder")
    if RepairOrder is not None:
        closed = [s.value for s in installed_model("models.repair", "TERMINAL")]
        for o in session.scalars(
            select(RepairOrder).where(unit_or_owner(RepairOrder), RepairOrder.status.not_in(closed)).order_by(RepairOrder.recorded_at.desc()).limit(20)
        ):
            result["repair_orders"].append(
                {"id": o.id, "number": o.number, "status": o.status, "status_label": o.status_label, "category_label": o.category_label,
                 "problem": o.problem, "recorded_at": fmt_dt(o.recorded_at)}
            )
    Complaint = installed_model("models.complaint", "Complaint")
    if Complaint is not None:
        for c in session.scalars(
            select(Complaint).where(unit_or_owner(Complaint), Complaint.status != "closed").order_by(Complaint.received_at.desc()).limit(20)
        ):
            result["complaints"].append(
                {"id": c.id, "number": str(c), "status": c.status, "status_label": c.status_label, "category_label": c.category_label,
                 "content": c.content, "received_at": fmt_dt(c.received_at), "reply_due_at": fmt_dt(c.reply_due_at)}
            )
    PaymentRequest = installed_model("models.billing", "PaymentRequest")
    if PaymentRequest is not None:
        from models.billing import OPEN_STATUSES

        for p in session.scalars(
            select(PaymentRequest).where(unit_or_owner(PaymentRequest), PaymentRequest.status.in_(OPEN_STATUSES)).order_by(PaymentRequest.due_on)
        ):
            result["payment_requests"].append(
                {"id": p.id, "number": p.number, "period": p.period, "status": p.status, "status_label": p.status_label,
                 "total": fmt_money(p.total), "balance": fmt_money(p.balance), "due_on": fmt_dt(p.due_on)}
            )
    recent = [
        (c.called_at, "call_record", c.id, str(_l("来电")), c.category_label, c.content)
        for c in session.scalars(select(CallRecord).where(unit_or_owner(CallRecord)).order_by(CallRecord.called_at.desc()).limit(5))
    ] + [
        (v.visited_at, "visit_record", v.id, str(_l("来访")), v.category_label, v.reason)
        for v in session.scalars(select(VisitRecord).where(unit_or_owner(VisitRecord)).order_by(VisitRecord.visited_at.desc()).limit(5))
    ]
    recent.sort(key=lambda r: r[0], reverse=True)
    result["recent"] = [
        {"at": fmt_dt(at), "type": t, "id": i, "kind": kind, "category_label": cat, "text": text} for at, t, i, kind, cat, text in recent[:6]
    ]
    return result


def desk_record(session, actor: Actor, now: datetime, body) -> tuple:
    """The desk's one save: a call or a visit, and at once the repair order or complaint it needs.

    Everything is written in the caller's transaction; any error leaves nothing behind. Errors name
    the desk's fields (`name`, `phone`, `text`, `repair.category`, ...)."""
    if not isinstance(body, dict):
        raise ValidationError("body", _l("请求体必须是 JSON 对象"))
    body = dict(body)
    kind = body.pop("kind", "call")
    follow = body.pop("follow_up", None) or None
    repair = body.pop("repair", None) or {}
    complaint = body.pop("complaint", None) or {}
    if not isinstance(repair, dict) or not isinstance(complaint, dict):
        raise ValidationError("follow_up", _l("后续登记的内容格式不正确"))
    if kind not in ("call", "visit"):
        raise ValidationError("kind", _l("只能登记来电(call)或来访(visit)"))
    model = CallRecord if kind == "call" else VisitRecord
    index = 0 if kind == "call" else 1
    if not actor.can("can_write", model.__name__):
        raise PermissionDenied(_l("您没有登记%(what)s的权限", what=_l("来电") if kind == "call" else _l("来访")))
    allowed = set(DESK_FIELDS) | set(DESK_COMMON) | ({"for_staff_id"} if kind == "call" else {"handled_on_spot", "department_id"})
    data = {}
    for key, value in body.items():
        if key not in allowed:
            raise ValidationError(str(key)[:40], _l("不能提交此字段"))
        if value in (None, "") and key != "handled_on_spot":
            continue
        data[DESK_FIELDS[key][index] if key in DESK_FIELDS else key] = value
    if kind == "visit":
        data.setdefault("handled_on_spot", False)
    reverse = {fields[index]: desk for desk, fields in DESK_FIELDS.items()}
    try:
        record = model.register(session, actor, now, data)
    except ValidationError as err:
        raise ValidationError(reverse.get(err.field, err.field), err.message) from None
    follow_up = None
    try:
        if follow == "repair":
            follow_up = register_repair_from(session, actor, now, record, **repair)
        elif follow == "complaint":
            follow_up = register_complaint_from(session, actor, now, record, **complaint)
        elif follow is not None:
            raise ValidationError("follow_up", _l("后续登记只能是维修单(repair)或投诉(complaint)"))
    except ValidationError as err:
        if err.field == "follow_up":
            raise
        raise ValidationError(f"{follow}.{err.field}", err.message) from None
    except TypeError as err:  # an unexpected key in the follow-up's body
        raise ValidationError("follow_up", _l("后续登记的内容格式不正确")) from err
    return record, follow_up



# ---------------------------------------------------------------- the way back from a follow-up
ORIGIN_MODELS = {"visit_record": VisitRecord, "call_record": CallRecord}
ORIGIN_ENDPOINTS = {"visit_record": "VisitRecordView.show", "call_record": "CallRecordView.show", "owner_visit": "OwnerVisitView.show"}
ORIGIN_KINDS = {"visit_record": _l("来访记录"), "call_record": _l("来电记录"), "owner_visit": _l("走访记录")}


def origin_label(session, object_type: str | None, object_id: int | None) -> str | None:
    """How a repair order or complaint names the reception record it came from, e.g.
    「来电记录 2026-11-16 13:05 王宁」; the screen's endpoint is `ORIGIN_ENDPOINTS[object_type]`."""
    if object_type not in ORIGIN_KINDS or not object_id:
        return None
    if object_type == "owner_visit":
        from models.reception_contact import OwnerVisit

        model = OwnerVisit
    else:
        model = ORIGIN_MODELS[object_type]
    record = session.get(model, object_id)
    return f"{ORIGIN_KINDS[object_type]} {record}" if record is not None else None

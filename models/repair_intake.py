"""登记: how a 维修单 comes into being — `RepairOrder.register`, called by the REST API, the add form,
reception (from a visit or a call) and complaints. Checks every field, numbers the order in its
period and logs it; with a department given it is dispatched at once (an emergency by phone)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l

from models.base import PermissionDenied, ValidationError, fmt_dt, parse_bool, parse_dt, parse_int, require_text
from models.repair_codes import (
    BACKDATE_LIMIT,
    CLOCK_TOLERANCE,
    OBJECT_TYPE,
    PERMISSION_VIEW,
    SOURCE_SYNONYMS,
    ZERO,
    RepairCategory,
    RepairKind,
    RepairSource,
    Urgency,
    next_number,
    order_number,
    parse_code,
    parse_emergency_reason,
    period_of,
)
from models.repair_codes import RepairStatus as S
from models.workflow import Event

logger = logging.getLogger(__name__)

REGISTER_FIELDS = {
    "estate_id", "unit_id", "owner_id", "contact_phone", "contact_name", "location", "problem", "category", "kind",
    "urgency", "emergency_reason", "paid", "source", "appointment_at", "recorded_at", "note", "department_id",
    "assignee_id", "origin_type", "origin_id",
}


def can_backdate(actor) -> bool:
    return actor.can("can_backdate", PERMISSION_VIEW)


def optional_text(field: str, value, max_len: int) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return require_text(field, value, max_len)


def register_order(cls, session, actor, now: datetime, fields: dict):
    from app.scope import check_estate_write
    from models.master import Estate, Owner, Unit, check_phone

    unknown = sorted(set(fields) - REGISTER_FIELDS)
    if unknown:
        raise ValidationError(unknown[0], _l("不认识的字段"))
    if not actor.can("can_write", PERMISSION_VIEW):
        raise PermissionDenied(_l("您没有登记维修单的权限"))

    estate_id = parse_int("estate_id", fields.get("estate_id"), required=False)
    unit_id = parse_int("unit_id", fields.get("unit_id"), required=False)
    owner_id = parse_int("owner_id", fields.get("owner_id"), required=False)
    owner = unit = None
    if owner_id is not None:
        owner = session.get(Owner, owner_id)
        if owner is None:
            raise ValidationError("owner_id", _l("业户不存在"))
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
        if unit is None:
            raise ValidationError("unit_id", _l("房屋不存在"))
    if owner is not None:
        if unit is None:
            unit = owner.unit
        elif owner.unit_id != unit.id:
            raise ValidationError("owner_id", _l("该业户不是所选房屋的业户"))
    if unit is not None:
        if estate_id is not None and unit.estate_id != estate_id:
            raise ValidationError("unit_id", _l("房屋不属于所选小区/大厦"))
        estate_id = unit.estate_id
    if estate_id is None:
        raise ValidationError("estate_id", _l("请选择小区/大厦"))
    if session.get(Estate, estate_id) is None:
        raise ValidationError("estate_id", _l("小区/大厦不存在"))

    location = optional_text("location", fields.get("location"), 200)
    if unit is None and not location:
        raise ValidationError("location", _l("公共区域报修请填写位置"))
    problem = require_text("problem", fields.get("problem"), 2000, _l("请填写报修内容"))
    category = parse_code("category", fields.get("category"), RepairCategory)
    kind = parse_code("kind", fields.get("kind") or RepairKind.repair.value, RepairKind)
    source = parse_code("source", fields.get("source") or RepairSource.hotline.value, RepairSource, synonyms=SOURCE_SYNONYMS)
    urgency = parse_code("urgency", fields.get("urgency") or Urgency.normal.value, Urgency)
    reason = fields.get("emergency_reason")
    if urgency == Urgency.emergency.value:
        if reason is None or reason == "":
            raise ValidationError("emergency_reason", _l("急修须选择急修原因"))
        reason = parse_emergency_reason(reason)
    elif reason not in (None, ""):
        raise ValidationError("emergency_reason", _l("只有急修才填写急修原因"))
    else:
        reason = None
    paid = parse_bool("paid", fields.get("paid"), required=False) or False

    contact_name = optional_text("contact_name", fields.get("contact_name"), 40)
    phone = fields.get("contact_phone")
    if phone not in (None, ""):
        if not isinstance(phone, str):
            raise ValidationError("contact_phone", _l("电话号码必须是文字"))
        phone = check_phone("contact_phone", phone)
    elif owner is not None:
        phone = owner.phone
    else:
        raise ValidationError("contact_phone", _l("请填写联系电话"))

    recorded_at = parse_dt("recorded_at", fields.get("recorded_at"))
    backdated = False
    if recorded_at is None:
        recorded_at = now
    elif recorded_at > now + CLOCK_TOLERANCE:
        raise ValidationError("recorded_at", _l("登记时间不能晚于现在"))
    elif recorded_at < now - CLOCK_TOLERANCE:
        if not can_backdate(actor):
            raise ValidationError("recorded_at", _l("只有总值班员或系统管理员可以补录以前的登记时间"))
        if recorded_at < now - BACKDATE_LIMIT:
            raise ValidationError("recorded_at", _l("补录的登记时间不能早于一年前"))
        backdated = True
    appointment_at = parse_dt("appointment_at", fields.get("appointment_at"))
    if appointment_at is not None and appointment_at < recorded_at - timedelta(hours=1):
        raise ValidationError("appointment_at", _l("预约维修时间不能早于登记时间"))
    origin_type = optional_text("origin_type", fields.get("origin_type"), 30)
    origin_id = parse_int("origin_id", fields.get("origin_id"), required=False)

    order = cls(
        estate_id=estate_id,
        unit_id=unit.id if unit is not None else None,
        owner_id=owner.id if owner is not None else None,
        contact_name=contact_name,
        contact_phone=phone,
        location=location,
        problem=problem,
        category=category,
        kind=kind,
        source=source,
        urgency=urgency,
        emergency_reason=reason,
        paid=paid,
        appointment_at=appointment_at,
        note=optional_text("note", fields.get("note"), 2000),
        origin_type=origin_type,
        origin_id=origin_id,
        recorded_at=recorded_at,
        recorded_by_id=actor.user_id,
        backdated=backdated,
        status=S.registered.value,
        service_fee=ZERO,
        material_total=ZERO,
        total=ZERO,
    )
    check_estate_write(order, session)
    department_id = fields.get("department_id")
    if department_id not in (None, ""):
        # checked before a number is spent; dispatch checks it again with the order in hand
        if not actor.can("can_dispatch", PERMISSION_VIEW):
            raise PermissionDenied(_l("您没有「派单」的权限"))

    period = period_of(recorded_at)
    order.period = period
    order.number = order_number(period, next_number(session, "WX-" + period.replace("-", "")))
    session.add(order)
    session.flush()
    session.add(
        Event(
            object_type=OBJECT_TYPE,
            object_id=order.id,
            transition="register",
            from_status=None,
            to_status=S.registered.value,
            note=str(_l("补录(倒填登记时间 %(t)s)", t=fmt_dt(recorded_at))) if backdated else None,
            user_id=actor.user_id,
            at=now,
        )
    )
    session.flush()
    if department_id not in (None, ""):
        params = {"department_id": department_id}
        if fields.get("assignee_id") not in (None, ""):
            params["assignee_id"] = fields["assignee_id"]
        if backdated:
            params["dispatched_at"] = recorded_at
        from models.repair import repair_flow

        repair_flow.apply(session, order, "dispatch", actor, now, params)
    logger.info("repair order %s registered", order.number)
    return order

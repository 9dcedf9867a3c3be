"""Repair orders after completion (接待 二.5, 五.5–7; 维修单 一.4): the revisit plan, after-rain
revisits, the rectification notice 整改通知 and the move to 已回访.

This module reacts to the repair order's transitions through listeners and moves the order only
through `repair_flow` (the written notice also replaces the order's first rectification note):
- `complete`: the order gets its revisit plan (`plan_for`); re-done work after a rectification
  gets its own revisit;
- a revisit recorded with a problem sends the order to 整改中 (`rectify {notice}`) and opens a
  整改通知, to be written and handed to the repair staff within 12 h of the revisit (setting
  `rectify_hours`); a problem found before the order is back at the duty room waits for its return;
- when all revisits are done without an open problem, the returned order moves to 已回访
  (`revisit_done`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, String, Text, exists, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    UTCDateTime,
    ValidationError,
    code_column,
    local,
    require_text,
    utcnow,
)
from models.repair import RepairOrder, repair_flow
from models.revisit import (
    RainDay,
    Revisit,
    RevisitKind,
    RevisitStatus,
    first_rain_day,
    needs_rain_revisit,
    plan_for,
    rain_days_for,
    revisit_flow,
    revisits_of,
    schedule_revisit,
)
from models.task import close_stale_tasks, close_tasks, ensure_task
from models.workflow import Actor, Workflow, register_workflow

logger = logging.getLogger(__name__)

DUTY_ROLE = "总值班员"
ORDER = "repair_order"
# order states in which the work is finished and follow-up may go on
AFTER_COMPLETION = ("awaiting_acceptance", "completed", "returned", "revisited", "closed")
DEAD_STATES = ("cancelled", "rejected")


class RectificationStatus(LabeledEnum):
    pending = "pending"
    issued = "issued"
    reworked = "reworked"
    closed = "closed"

    @classmethod
    def labels(cls):
        return {
            "pending": _l("待发通知"),
            "issued": _l("整改中"),
            "reworked": _l("已返工待复查"),
            "closed": _l("已完成"),
        }


OPEN_RECTIFICATION = (RectificationStatus.pending.value, RectificationStatus.issued.value, RectificationStatus.reworked.value)


def rectify_hours(session) -> int:
    from models.system import setting

    return int(setting(session, "rectify_hours"))


class Rectification(EstateOwned, AuditMixinNullable, Model):
    """整改通知: the written notice to the repair staff after a revisit found a problem."""

    __tablename__ = "rectification"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    repair_order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id"), nullable=False, index=True)
    revisit_id: Mapped[int | None] = mapped_column(ForeignKey("revisit.id"), index=True)
    status: Mapped[str] = code_column(RectificationStatus, nullable=False, default=RectificationStatus.pending.value, index=True)
    problem: Mapped[str] = mapped_column(Text, nullable=False)
    notice: Mapped[str | None] = mapped_column(Text)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    worker_name: Mapped[str | None] = mapped_column(String(80))
    department_name: Mapped[str | None] = mapped_column(String(80))
    reworked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    followup_revisit_id: Mapped[int | None] = mapped_column(ForeignKey("revisit.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    repair_order = relationship("RepairOrder", foreign_keys=[repair_order_id], lazy="joined")
    revisit = relationship("Revisit", foreign_keys=[revisit_id])
    followup_revisit = relationship("Revisit", foreign_keys=[followup_revisit_id])
    issued_by = relationship("User", foreign_keys=[issued_by_id])

    def __repr__(self) -> str:
        return self.number or f"整改通知 {self.id or ''}".strip()

    @property
    def status_label(self) -> str:
        return RectificationStatus.label_of(self.status)

    @property
    def order_number(self) -> str:
        return self.repair_order.number if self.repair_order is not None else ""

    def is_overdue(self, now: datetime) -> bool:
        return self.status == RectificationStatus.pending.value and self.due_at < now

    @property
    def issued_on_time(self) -> bool | None:
        if self.issued_at is None:
            return None
        return self.issued_at <= self.due_at

    @property
    def state_label(self) -> str:
        if self.is_overdue(utcnow()):
            return str(_l("超过 12 小时未发通知"))
        if self.issued_on_time is False:
            return str(_l("%(status)s(通知超时)", status=self.status_label))
        return self.status_label


rectification_flow = register_workflow(
    Workflow(object_type="rectification", permission_view="Rectification", status_labels=RectificationStatus.label_of)
)


def next_number(session, found_at: datetime) -> str:
    prefix = f"ZG-{local(found_at):%Y%m}-"
    last = session.scalar(select(func.max(Rectification.number)).where(Rectification.number.like(prefix + "%")))
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:04d}"


@rectification_flow.add("issue", [RectificationStatus.pending.value], RectificationStatus.issued.value, _l("发出整改通知"))
def _issue(rect: Rectification, actor, now, session, notice=None):
    """Write the notice to the repair staff; the order goes (or stays) in 整改中 with it."""
    text = require_text("notice", notice, 1000, _l("请填写整改通知的内容(要求维修人员整改什么)"))
    rect.notice = text
    rect.issued_at = now
    rect.issued_by_id = actor.user_id
    order = rect.repair_order or session.get(RepairOrder, rect.repair_order_id)
    if order.status == "rectifying":
        order.rectify_notice = text  # the written notice replaces the note made when the problem was found
    else:
        send_to_rectifying(session, order, rect, actor, now, text)
    close_tasks(session, "rectification_overdue", "rectification", rect.id, now, note=str(_l("整改通知已发出")))
    late = "" if rect.issued_at <= rect.due_at else "(超过 12 小时)"
    return f"整改通知已发出{late}:{text[:100]}"


@rectification_flow.add("rework", [RectificationStatus.pending.value, RectificationStatus.issued.value], RectificationStatus.reworked.value, _l("返工完成"))
def _rework(rect: Rectification, actor, now, session, revisit_id=None):
    rect.reworked_at = now
    rect.followup_revisit_id = revisit_id
    return str(_l("返工完成,安排复查回访"))


@rectification_flow.add("close", [RectificationStatus.reworked.value], RectificationStatus.closed.value, _l("复查完成"))
def _close(rect: Rectification, actor, now, session, problem=None):
    rect.closed_at = now
    return str(_l("复查回访仍有问题,已另开整改通知")) if problem else str(_l("复查回访无问题,整改完成"))


def on_behalf(session, flow, obj, name: str, actor, now: datetime, params: dict):
    """A move that follows from one the actor was allowed to make (issuing a notice sends the order
    to 整改中): applied by the system, logged under the actor's name."""
    event = flow.apply(session, obj, name, Actor.system_actor(), now, params)
    event.user_id = actor.user_id
    return event


def open_rectification(session, order_id: int, statuses=OPEN_RECTIFICATION) -> Rectification | None:
    return session.scalar(
        select(Rectification)
        .where(Rectification.repair_order_id == order_id, Rectification.status.in_(statuses))
        .order_by(Rectification.id.desc())
    )


# ---------------------------------------------------------------- the plan on completion
def _subject(order) -> str:
    from models.repair import RepairCategory

    place = str(order.unit) if getattr(order, "unit", None) is not None else (getattr(order, "location", None) or "")
    return f"{order.number} {RepairCategory.label_of(order.category)} {place} {order.problem or ''}".strip()[:200]


def _contact(order) -> tuple[str | None, str | None]:
    owner = getattr(order, "owner", None)
    return (owner.name if owner is not None else None), (order.contact_phone or (owner.phone if owner is not None else None))


def _schedule(session, order, kind, not_before, due_at, round_no: int, rain_day_id: int | None = None) -> Revisit:
    name, phone = _contact(order)
    return schedule_revisit(
        session,
        ORDER,
        order.id,
        estate_id=order.estate_id,
        kind=kind,
        not_before=not_before,
        due_at=due_at,
        round=round_no,
        subject=_subject(order),
        contact_name=name,
        contact_phone=phone,
        repair_order_id=order.id,
        rain_day_id=rain_day_id,
    )


def _rain_day_id(session, estate_id: int, day) -> int | None:
    return session.scalar(
        select(RainDay.id)
        .where(RainDay.date == day, (RainDay.estate_id == estate_id) | RainDay.estate_id.is_(None))
        .order_by(RainDay.estate_id.is_(None))
    )


def plan_order(session, order, now: datetime) -> list[Revisit]:
    """Create the order's revisit plan from its completion time (nothing if it already has one)."""
    if order.completed_at is None or revisits_of(session, ORDER, order.id):
        return []
    rain = rain_days_for(session, order.estate_id, since=local(order.completed_at).date(), until=local(now).date())
    created = []
    for planned in plan_for(order, order.completed_at, rain):
        rain_id = _rain_day_id(session, order.estate_id, planned.rain_day) if planned.rain_day else None
        created.append(_schedule(session, order, planned.kind, planned.not_before, planned.due_at, 1, rain_id))
    return created


def _rework_revisit(session, order, rect: Rectification, now: datetime) -> Revisit:
    """Re-done work gets its own revisit, within the order's first-revisit window."""
    first = plan_for(order, order.completed_at)[0]
    rounds = [r.round for r in revisits_of(session, ORDER, order.id)]
    return _schedule(session, order, RevisitKind.R1.value, first.not_before, first.due_at, max(rounds, default=1) + 1)


RECTIFY_FROM = ("returned", "revisited")  # the order states `rectify` starts from


def send_to_rectifying(session, order, rect: Rectification, actor, now: datetime, text: str) -> bool:
    """Apply the order's `rectify {notice}` when its state allows (else on its return to the duty room)."""
    if order.status not in RECTIFY_FROM:
        return False
    rect._issuing = True
    try:
        on_behalf(session, repair_flow, order, "rectify", actor, now, {"notice": text})
    finally:
        rect._issuing = False
    return True


def draft_notice(rect: Rectification) -> str:
    return str(_l("回访发现问题,须整改:%(p)s", p=rect.problem))[:2000]


@repair_flow.on("complete")
def _on_complete(order, event, actor, now, session) -> None:
    rect = open_rectification(session, order.id, (RectificationStatus.pending.value, RectificationStatus.issued.value))
    if rect is not None and event.from_status == "rectifying":
        revisit = _rework_revisit(session, order, rect, now)
        rectification_flow.apply(session, rect, "rework", Actor.system_actor(), now, {"revisit_id": revisit.id})
    else:
        plan_order(session, order, now)


@repair_flow.on("return")
def _on_return(order, event, actor, now, session) -> None:
    rect = open_rectification(session, order.id, (RectificationStatus.pending.value, RectificationStatus.issued.value))
    if rect is not None:  # a problem found before the order came back: now it can be rectified
        send_to_rectifying(session, order, rect, actor, now, rect.notice or draft_notice(rect))
    else:
        maybe_revisited(session, order, now)


@repair_flow.on("rectify")
def _on_rectify(order, event, actor, now, session) -> None:
    """`rectify` applied on the order itself (not through the notice): the notice is recorded here."""
    import json

    notice = (json.loads(event.data or "{}") or {}).get("notice") or event.note or ""
    rect = open_rectification(session, order.id, (RectificationStatus.pending.value, RectificationStatus.issued.value))
    if rect is not None:
        if not getattr(rect, "_issuing", False) and rect.status == RectificationStatus.pending.value:
            on_behalf(session, rectification_flow, rect, "issue", actor, now, {"notice": notice})
        return
    rect = new_rectification(session, order, None, notice or str(_l("整改")), now)
    rect._issuing = True
    on_behalf(session, rectification_flow, rect, "issue", actor, now, {"notice": notice or rect.problem})


def new_rectification(session, order, revisit: Revisit | None, problem: str, now: datetime) -> Rectification:
    found = revisit.done_at if revisit is not None and revisit.done_at else now
    worker = getattr(order, "assignee", None)
    dept = getattr(order, "department", None)
    rect = Rectification(
        estate_id=order.estate_id,
        repair_order_id=order.id,
        repair_order=order,
        revisit_id=revisit.id if revisit is not None else None,
        status=RectificationStatus.pending.value,
        problem=problem,
        found_at=found,
        due_at=found + timedelta(hours=rectify_hours(session)),
        worker_name=getattr(worker, "name", None),
        department_name=getattr(dept, "name", None),
        number=next_number(session, found),
    )
    session.add(rect)
    session.flush()
    return rect


@revisit_flow.on("record")
def _order_revisited(revisit: Revisit, event, actor, now, session) -> None:
    """A recorded revisit of an order: a problem opens a 整改通知; a finished follow-up closes the
    rectification; all done without problems moves the order to 已回访."""
    if revisit.object_type != ORDER:
        return
    order = session.get(RepairOrder, revisit.object_id)
    if order is None:
        return
    system = Actor.system_actor()
    followed = session.scalar(
        select(Rectification).where(Rectification.followup_revisit_id == revisit.id, Rectification.status == RectificationStatus.reworked.value)
    )
    if followed is not None:
        rectification_flow.apply(session, followed, "close", system, now, {"problem": revisit.problem} if revisit.has_problem else {})
    if revisit.has_problem:
        rect = open_rectification(session, order.id, (RectificationStatus.pending.value, RectificationStatus.issued.value))
        if rect is None:
            rect = new_rectification(session, order, revisit, revisit.problem, now)
        else:
            rect.problem = f"{rect.problem}\n{revisit.problem}"[:4000]
        notice = getattr(revisit, "_notice", None)
        if notice and rect.status == RectificationStatus.pending.value:
            on_behalf(session, rectification_flow, rect, "issue", actor, now, {"notice": notice})
        elif order.status != "rectifying":
            # the problem sends the order to 整改中 at once; the written notice is due within 12 h
            send_to_rectifying(session, order, rect, actor, now, notice or draft_notice(rect))
        return
    maybe_revisited(session, order, now)


def all_revisits_done(session, order) -> bool:
    revisits = revisits_of(session, ORDER, order.id)
    if not revisits or any(r.status == RevisitStatus.pending.value for r in revisits):
        return False
    if needs_rain_revisit(order) and not any(r.kind == RevisitKind.after_rain.value for r in revisits):
        return False  # 渗漏水: the revisit after the next rain is still to come
    return open_rectification(session, order.id) is None


def maybe_revisited(session, order, now: datetime) -> bool:
    """Move a returned order to 已回访 once every revisit is done and no problem is open."""
    if order.status != "returned" or not all_revisits_done(session, order):
        return False
    repair_flow.apply(session, order, "revisit_done", Actor.system_actor(), now)
    return True


# ---------------------------------------------------------------- the hourly plan job
def open_after_rain(session, now: datetime, estate_id: int | None = None) -> int:
    """Create the after-rain revisits of leak orders once a rain day on or after completion is
    recorded (for one estate, or every estate when the rain day is for all). Idempotent."""
    has_after_rain = exists().where(Revisit.repair_order_id == RepairOrder.id, Revisit.kind == RevisitKind.after_rain.value)
    has_plan = exists().where(Revisit.repair_order_id == RepairOrder.id)
    query = select(RepairOrder).where(
        RepairOrder.category == "leak",
        RepairOrder.completed_at.is_not(None),
        RepairOrder.status.not_in(DEAD_STATES),
        has_plan,
        ~has_after_rain,
    )
    if estate_id is not None:
        query = query.where(RepairOrder.estate_id == estate_id)
    created = 0
    today = local(now).date()
    for order in session.scalars(query):
        first_done = session.scalar(select(func.min(Revisit.not_before)).where(Revisit.repair_order_id == order.id)) or order.completed_at
        rain = rain_days_for(session, order.estate_id, since=local(first_done).date(), until=today)
        day = first_rain_day(first_done, rain)
        if day is None:
            continue
        planned = [p for p in plan_for(order, first_done, [day]) if p.kind == RevisitKind.after_rain.value][0]
        revisit = _schedule(session, order, planned.kind, planned.not_before, planned.due_at, 1, _rain_day_id(session, order.estate_id, day))
        created += 1
        logger.info("after-rain revisit %s for order %s (rain %s)", revisit.id, order.number, day)
    return created


def ensure_plans(session, now: datetime) -> int:
    """Orders completed without a plan (back-dated emergencies, data from before): plan them now."""
    query = select(RepairOrder).where(
        RepairOrder.completed_at.is_not(None),
        RepairOrder.status.in_(AFTER_COMPLETION[:3]),
        ~exists().where(Revisit.repair_order_id == RepairOrder.id),
    )
    return sum(1 for order in list(session.scalars(query)) if plan_order(session, order, now))


def settle_returned(session, now: datetime) -> int:
    """Returned orders whose follow-up is complete (e.g. done before the order came back)."""
    orders = session.scalars(select(RepairOrder).where(RepairOrder.status == "returned", exists().where(Revisit.repair_order_id == RepairOrder.id)))
    return sum(1 for order in list(orders) if maybe_revisited(session, order, now))


# ---------------------------------------------------------------- overdue
def scan_rectifications(session, now: datetime) -> dict[str, int]:
    """rectification_overdue: a problem found in a revisit without a written notice after 12 h."""
    late = list(
        session.scalars(select(Rectification).where(Rectification.status == RectificationStatus.pending.value, Rectification.due_at < now))
    )
    created = 0
    for rect in late:
        _task, new = ensure_task(
            session,
            "rectification_overdue",
            "rectification",
            rect.id,
            f"维修单 {rect.order_number} 回访发现问题已超 12 小时未书面通知整改",
            estate_id=rect.estate_id,
            role_name=DUTY_ROLE,
            due_at=rect.due_at,
            detail=rect.problem,
            now=now,
        )
        created += new
    closed = close_stale_tasks(session, "rectification_overdue", "rectification", {r.id for r in late}, now)
    return {"rectification_overdue": created, "rectification_overdue_closed": closed}


# ---------------------------------------------------------------- complaint → repair order
def register_repair_from_complaint(session, complaint, actor, now, category=None, urgency=None, problem=None, emergency_reason=None, location=None):
    """Register a repair order (source 投诉) from a complaint: its estate, unit, owner and content,
    with the complaint as the order's origin."""
    if complaint.unit_id is None and not location:
        raise ValidationError("location", _l("投诉没有登记房屋:请填写维修位置,或先补充投诉的房屋"))
    fields = {
        "estate_id": complaint.estate_id,
        "unit_id": complaint.unit_id,
        "owner_id": complaint.owner_id,
        "contact_name": complaint.complainant,
        "contact_phone": complaint.phone,
        "problem": problem or complaint.content,
        "category": category,
        "urgency": urgency or "normal",
        "emergency_reason": emergency_reason,
        "source": "complaint",
        "location": location,
        "origin_type": "complaint",
        "origin_id": complaint.id,
    }
    return RepairOrder.register(session, actor, now, **{k: v for k, v in fields.items() if v not in (None, "")})

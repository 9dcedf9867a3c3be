"""Revisits 回访 (接待 二.5, 五; 维修单 一.4): rain days, the revisit plan and the revisit record.

A revisit belongs to a repair order, a complaint or another record (`object_type`/`object_id`).
Repair orders get a plan on completion (`plan_for`, the union of the handbook's rules); complaints
and visit opinions get one revisit, due when it is set. The duty room records method,
satisfaction and the problem found; what a recorded revisit means for its object is decided by
listeners on `revisit_flow.on("record")` (models/rectification.py for repair orders,
models/complaint.py for complaints).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    TZ,
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    UTCDateTime,
    ValidationError,
    code_column,
    fmt_dt,
    local_date,
    parse_choice,
    parse_dt,
    parse_text,
    utcnow,
)
from models.task import close_tasks
from models.workflow import Workflow, register_workflow

logger = logging.getLogger(__name__)

EARLY_GRACE = timedelta(minutes=5)  # clocks of the office PCs differ a little


# ---------------------------------------------------------------- codes
class RevisitKind(LabeledEnum):
    R1 = "R1"
    R2 = "R2"
    after_rain = "after_rain"

    @classmethod
    def labels(cls):
        return {"R1": _l("首次回访"), "R2": _l("二次回访"), "after_rain": _l("雨后回访")}


class RevisitMethod(LabeledEnum):
    phone = "phone"
    visit = "visit"

    @classmethod
    def labels(cls):
        return {"phone": _l("电话"), "visit": _l("上门")}


class Satisfaction(LabeledEnum):
    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    dissatisfied = "dissatisfied"

    @classmethod
    def labels(cls):
        return {"satisfied": _l("满意"), "basically_satisfied": _l("基本满意"), "dissatisfied": _l("不满意")}


class RevisitStatus(LabeledEnum):
    pending = "pending"
    done = "done"

    @classmethod
    def labels(cls):
        return {"pending": _l("待回访"), "done": _l("已回访")}


OBJECT_LABELS = {"repair_order": _l("维修单"), "complaint": _l("投诉"), "visit_record": _l("来访记录"), "owner_visit": _l("走访记录")}


# ---------------------------------------------------------------- time helpers
def day_start(day: date) -> datetime:
    """Midnight of a calendar day in Asia/Shanghai, as UTC."""
    return datetime.combine(day, time(0), tzinfo=TZ).astimezone(UTC)


# ---------------------------------------------------------------- the plan (pure rules)
@dataclass(frozen=True)
class PlannedRevisit:
    kind: str
    not_before: datetime
    due_at: datetime
    rain_day: date | None = None

    def __iter__(self):  # unpacks as (kind, not_before, due_at)
        return iter((self.kind, self.not_before, self.due_at))


EMERGENCY = "emergency"
LEAK = "leak"
SAFETY = "safety"


def _fact(order, name: str):
    return order.get(name) if isinstance(order, dict) else getattr(order, name, None)


def first_rain_day(completed_at: datetime, rain_days: Iterable[date]) -> date | None:
    """The first recorded rain day on or after the (local) day of completion."""
    start = local_date(completed_at)
    later = sorted(d for d in rain_days if d >= start)
    return later[0] if later else None


def plan_for(order, completed_at: datetime, rain_days: Iterable[date] = ()) -> list[PlannedRevisit]:
    """The revisits an order needs after completion: the union of the rules of SPEC §5.

    | 急修 (emergency) | R1 within 24 h; R2 not before +2 days, due +3 days            |
    | 渗漏水 (leak)     | R1 within 3 days; after_rain due 2 days after the next rain day |
    | 安全设施 (safety) | R1 within 2 days                                               |
    | any other        | R1 within 7 days                                               |

    Where two rules give the same revisit the tighter window wins (an emergency leak: R1 within
    24 h). The after-rain revisit appears once a rain day on or after completion is known.
    `order` is anything with `urgency` and `category` (an order, a dict).
    """
    c = completed_at
    windows: dict[str, tuple[datetime, datetime, date | None]] = {}

    def add(kind: str, not_before: datetime, due_at: datetime, rain: date | None = None) -> None:
        if kind in windows:
            old_nb, old_due, old_rain = windows[kind]
            windows[kind] = (max(old_nb, not_before), min(old_due, due_at), old_rain or rain)
        else:
            windows[kind] = (not_before, due_at, rain)

    add(RevisitKind.R1.value, c, c + timedelta(days=7))
    if _fact(order, "urgency") == EMERGENCY:
        add(RevisitKind.R1.value, c, c + timedelta(hours=24))
        add(RevisitKind.R2.value, c + timedelta(days=2), c + timedelta(days=3))
    if _fact(order, "category") == SAFETY:
        add(RevisitKind.R1.value, c, c + timedelta(days=2))
    if _fact(order, "category") == LEAK:
        add(RevisitKind.R1.value, c, c + timedelta(days=3))
        rain = first_rain_day(c, rain_days)
        if rain is not None:
            add(RevisitKind.after_rain.value, max(c, day_start(rain)), day_start(rain) + timedelta(days=2), rain)
    order_of = {k.value: i for i, k in enumerate(RevisitKind)}
    return [PlannedRevisit(k, nb, due, rain) for k, (nb, due, rain) in sorted(windows.items(), key=lambda kv: order_of[kv[0]])]


def needs_rain_revisit(order) -> bool:
    return _fact(order, "category") == LEAK


# ---------------------------------------------------------------- rain days
class RainDay(EstateOwned, AuditMixinNullable, Model):
    """雨天: a day it rained, for one estate or (estate empty) for every estate."""

    __tablename__ = "rain_day"
    estate_shared = True
    __table_args__ = (UniqueConstraint("estate_id", "date", name="uq_rain_day_estate_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    note: Mapped[str | None] = mapped_column(String(200))

    def __repr__(self) -> str:
        where = self.estate.name if self.estate else str(_l("全部小区/大厦"))
        return f"{self.date:%Y-%m-%d} {where}"

    @property
    def scope_label(self) -> str:
        return self.estate.name if self.estate else str(_l("全部小区/大厦"))

    def validate(self, session, now: datetime | None = None) -> None:
        if self.date is None:
            raise ValidationError("date", _l("请填写下雨的日期"))
        if isinstance(self.date, datetime):
            self.date = self.date.date()
        if not isinstance(self.date, date):
            raise ValidationError("date", _l("日期格式不正确,应为 YYYY-MM-DD"))
        today = local_date(now or utcnow())
        if self.date > today:
            raise ValidationError("date", _l("雨天日期不能晚于今天(%(today)s):只能登记已经下过雨的日子", today=today.isoformat()))
        if self.date < today - timedelta(days=366):
            raise ValidationError("date", _l("雨天日期不能早于一年前"))
        if self.note is not None and len(self.note) > 200:
            raise ValidationError("note", _l("不能超过 %(n)s 个字", n=200))
        cond = RainDay.estate_id.is_(None) if self.estate_id is None else RainDay.estate_id == self.estate_id
        dup = session.scalar(select(RainDay.id).where(cond, RainDay.date == self.date, RainDay.id != (self.id or 0)))
        if dup:
            raise ValidationError("date", _l("这一天的雨天已经登记过了"))

    def check_delete(self, session) -> None:
        used = session.scalar(select(func.count(Revisit.id)).where(Revisit.rain_day_id == self.id))
        if used:
            raise ValidationError("date", _l("已有 %(n)s 条雨后回访依据此雨天安排,不能删除", n=used))


def rain_days_for(session, estate_id: int | None, since: date | None = None, until: date | None = None) -> list[date]:
    """The rain days that count for an estate (its own and the all-estates ones)."""
    query = select(RainDay.date).where(or_(RainDay.estate_id.is_(None), RainDay.estate_id == estate_id))
    if since is not None:
        query = query.where(RainDay.date >= since)
    if until is not None:
        query = query.where(RainDay.date <= until)
    return sorted(set(session.scalars(query)))


# ---------------------------------------------------------------- revisits
class Revisit(EstateOwned, AuditMixinNullable, Model):
    """回访: one planned call or visit, and what it found."""

    __tablename__ = "revisit"
    __table_args__ = (
        Index("ix_revisit_object", "object_type", "object_id"),
        Index("ix_revisit_open", "status", "due_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    object_type: Mapped[str] = mapped_column(String(30), nullable=False)
    object_id: Mapped[int] = mapped_column(Integer, nullable=False)
    repair_order_id: Mapped[int | None] = mapped_column(ForeignKey("repair_order.id"), index=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    kind: Mapped[str] = code_column(RevisitKind, nullable=False, index=True)
    status: Mapped[str] = code_column(RevisitStatus, nullable=False, default=RevisitStatus.pending.value, index=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    rain_day_id: Mapped[int | None] = mapped_column(ForeignKey("rain_day.id"))
    subject: Mapped[str | None] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(80))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    method: Mapped[str | None] = code_column(RevisitMethod)
    satisfaction: Mapped[str | None] = code_column(Satisfaction)
    problem: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(String(500))
    visited_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    visited_by = relationship("Staff", foreign_keys=[visited_by_id], lazy="joined")
    recorded_by = relationship("User", foreign_keys=[recorded_by_id])
    rain_day = relationship("RainDay", foreign_keys=[rain_day_id])

    def __repr__(self) -> str:
        return f"{self.subject or self.object_label} {self.kind_label}"

    # ---- labels a clerk reads
    @property
    def kind_label(self) -> str:
        return RevisitKind.label_of(self.kind)

    @property
    def status_label(self) -> str:
        return RevisitStatus.label_of(self.status)

    @property
    def method_label(self) -> str:
        return RevisitMethod.label_of(self.method)

    @property
    def satisfaction_label(self) -> str:
        return Satisfaction.label_of(self.satisfaction)

    @property
    def object_label(self) -> str:
        return str(OBJECT_LABELS.get(self.object_type, self.object_type))

    @property
    def window(self) -> str:
        return f"{fmt_dt(self.not_before)} ~ {fmt_dt(self.due_at)}"

    @property
    def has_problem(self) -> bool:
        return bool((self.problem or "").strip())

    # ---- deadlines (pure functions of the row and `now`)
    def is_open(self, now: datetime) -> bool:
        return self.status == RevisitStatus.pending.value and self.not_before <= now

    def is_overdue(self, now: datetime) -> bool:
        return self.status == RevisitStatus.pending.value and self.due_at < now

    @property
    def overdue(self) -> bool:
        return self.is_overdue(utcnow())

    @property
    def on_time(self) -> bool | None:
        if self.done_at is None:
            return None
        return self.done_at <= self.due_at

    @property
    def state_label(self) -> str:
        """Status with the deadline in mind: 待回访 / 未到时间 / 已超期 / 已回访(超期)."""
        now = utcnow()
        if self.status == RevisitStatus.pending.value:
            if self.is_overdue(now):
                return str(_l("已超期"))
            if self.not_before > now:
                return str(_l("未到回访时间"))
            return self.status_label
        if self.status == RevisitStatus.done.value and self.on_time is False:
            return str(_l("已回访(超期)"))
        return self.status_label


revisit_flow = register_workflow(Workflow(object_type="revisit", permission_view="Revisit", status_labels=RevisitStatus.label_of))


@revisit_flow.add("record", [RevisitStatus.pending.value], RevisitStatus.done.value, _l("登记回访"))
def _record(
    revisit: Revisit,
    actor,
    now: datetime,
    session,
    method=None,
    satisfaction=None,
    problem=None,
    note=None,
    done_at=None,
    notice=None,
):
    """Record method, satisfaction and the problem found. A problem with a `notice` also issues the
    rectification notice at once (the repair listener does that)."""
    method = parse_choice("method", method, RevisitMethod)
    satisfaction = parse_choice("satisfaction", satisfaction, Satisfaction)
    problem = parse_text("problem", problem, 1000)
    note = parse_text("note", note, 500)
    notice = parse_text("notice", notice, 1000)
    when = parse_dt("done_at", done_at) or now
    if when > now + EARLY_GRACE:
        raise ValidationError("done_at", _l("回访时间不能晚于现在"))
    if when < revisit.not_before:
        raise ValidationError(
            "done_at",
            _l("还没到回访时间:这次%(kind)s最早 %(at)s 才能做", kind=revisit.kind_label, at=fmt_dt(revisit.not_before)),
        )
    if notice and not problem:
        raise ValidationError("notice", _l("没有发现问题时不需要整改通知;如有问题请先填写发现的问题"))
    revisit.method = method
    revisit.satisfaction = satisfaction
    revisit.problem = problem
    revisit.note = note
    revisit.done_at = when
    revisit.recorded_by_id = actor.user_id
    revisit.visited_by_id = actor.staff_id
    revisit._notice = notice  # read by the rectification listener in the same transaction
    close_tasks(session, ["revisit_due", "revisit_overdue"], "revisit", revisit.id, now, note=str(_l("已回访")))
    text = f"{RevisitMethod.label_of(method)}回访,{Satisfaction.label_of(satisfaction)}"
    if problem:
        text += f";发现问题:{problem}"
    return text


def schedule_revisit(
    session,
    object_type: str,
    object_id: int,
    *,
    estate_id: int,
    due_at: datetime,
    not_before: datetime,
    kind: str = RevisitKind.R1.value,
    round: int = 1,
    subject: str | None = None,
    contact_name: str | None = None,
    contact_phone: str | None = None,
    repair_order_id: int | None = None,
    complaint_id: int | None = None,
    rain_day_id: int | None = None,
) -> Revisit:
    """One revisit for any record (a complaint, a visit opinion): used by the other areas too."""
    if due_at < not_before:
        raise ValidationError("due_at", _l("回访期限不能早于可回访时间"))
    revisit = Revisit(
        object_type=object_type,
        object_id=object_id,
        estate_id=estate_id,
        kind=kind,
        round=round,
        not_before=not_before,
        due_at=due_at,
        status=RevisitStatus.pending.value,
        subject=(subject or "")[:200] or None,
        contact_name=(contact_name or "")[:80] or None,
        contact_phone=(contact_phone or "")[:30] or None,
        repair_order_id=repair_order_id,
        complaint_id=complaint_id,
        rain_day_id=rain_day_id,
    )
    session.add(revisit)
    session.flush()
    return revisit


def revisits_of(session, object_type: str, object_id: int) -> list[Revisit]:
    return list(
        session.scalars(
            select(Revisit).where(Revisit.object_type == object_type, Revisit.object_id == object_id).order_by(Revisit.round, Revisit.due_at, Revisit.id)
        )
    )


# ---------------------------------------------------------------- KPI
@dataclass
class Kpi:
    """A figure with its target: `value` is a ratio (0..1) or a rate in ‰; None when nothing to count."""

    name: str
    label: str
    numerator: int
    denominator: int
    value: Decimal | None
    target: Decimal
    unit: str  # "%" (value is a ratio shown as a percentage) or "‰"
    higher_is_better: bool = True

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value < self.target

    @property
    def display(self) -> str:
        if self.value is None:
            return "—"
        if self.unit == "%":
            return f"{(self.value * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"
        return f"{self.value.quantize(Decimal('0.01'), ROUND_HALF_UP)}‰"

    @property
    def target_display(self) -> str:
        if self.unit == "%":
            return f"{(self.target * 100).normalize():f}%"
        return f"{'<' if not self.higher_is_better else '≥'} {self.target.normalize():f}‰"

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "value": str(self.value) if self.value is not None else None,
            "display": self.display,
            "target": str(self.target),
            "unit": self.unit,
            "met": self.met,
        }


def ratio(numerator: int, denominator: int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = day_start(date(year, month, 1))
    end = day_start(date(year + (month == 12), month % 12 + 1, 1))
    return start, end


def revisit_rate(session, estate_id: int | None, year: int, month: int, now: datetime | None = None) -> Kpi:
    """回访处理率: revisits done on time ÷ revisits due in the month (up to `now`); target 100%.

    Every kind of revisit counts (repair orders, complaints, visit opinions).
    `estate_id=None` is the whole company.
    """
    now = now or utcnow()
    start, end = month_bounds(year, month)
    end = min(end, now)
    conds = [Revisit.due_at >= start, Revisit.due_at < end]
    if estate_id is not None:
        conds.append(Revisit.estate_id == estate_id)
    due = session.scalar(select(func.count(Revisit.id)).where(*conds)) or 0
    on_time = (
        session.scalar(
            select(func.count(Revisit.id)).where(*conds, Revisit.done_at.is_not(None), Revisit.done_at <= Revisit.due_at)
        )
        or 0
    )
    return Kpi("revisit_rate", str(_l("回访处理率")), on_time, due, ratio(on_time, due), Decimal("1"), "%")

"""Owner contact (接待 一.3, 二.4, 五): 走访记录 and the 物业经理's 3-visits-a-month rule."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    UTCDateTime,
    ValidationError,
    as_utc,
    code_column,
    fmt_dt,
    require_text,
    utcnow,
)
from models.master import Staff
from models.reception_common import (
    active_staff,
    amend_body,
    check_place,
    choice_of,
    create,
    not_in_future,
    opt_dt,
    opt_int,
    opt_text,
    period_of,
    read_body,
    req_bool,
    sync_foreign_keys,
)
from models.revisit import RevisitMethod, Satisfaction  # noqa: F401  (Satisfaction re-exported)
from models.task import TaskKind, close_stale_tasks, close_tasks, ensure_staff_task, ensure_task
from models.workflow import Actor, Workflow, register_workflow

logger = logging.getLogger(__name__)

MANAGER_ROLE = "物业经理"
VISITS_PER_MONTH = 3  # 接待 二.4
DEFAULT_REPLY_DAYS = 7


class OwnerVisitStatus(LabeledEnum):
    no_reply = "no_reply"
    awaiting_reply = "awaiting_reply"
    replied = "replied"

    @classmethod
    def labels(cls):
        return {"no_reply": _l("无需答复"), "awaiting_reply": _l("待答复"), "replied": _l("已答复")}


# A reply to an owner visit is a revisit: the same methods and satisfaction codes (models.revisit).
ReplyMethod = RevisitMethod


# ---------------------------------------------------------------- 走访记录
class OwnerVisit(EstateOwned, AuditMixinNullable, Model):
    """走访记录: a staff member visits an owner, hears opinions and suggestions; a reply may be owed."""

    __tablename__ = "owner_visit"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)  # required by `validate`
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    period: Mapped[str] = mapped_column(String(7), nullable=False, index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owner.id"), index=True)
    interviewee: Mapped[str | None] = mapped_column(String(40))
    opinions: Mapped[str | None] = mapped_column(Text)
    suggestions: Mapped[str | None] = mapped_column(Text)
    reply_needed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    reply_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = code_column(OwnerVisitStatus, nullable=False, default="no_reply", index=True)
    reply: Mapped[str | None] = mapped_column(Text)
    reply_method: Mapped[str | None] = code_column(ReplyMethod)
    satisfaction: Mapped[str | None] = code_column(Satisfaction)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    repair_order_id: Mapped[int | None] = mapped_column(Integer, index=True)
    complaint_id: Mapped[int | None] = mapped_column(Integer, index=True)

    staff = relationship("Staff", foreign_keys=[staff_id], lazy="joined")
    unit = relationship("Unit", foreign_keys=[unit_id], lazy="joined")
    owner = relationship("Owner", foreign_keys=[owner_id], lazy="joined")
    replied_by = relationship("Staff", foreign_keys=[replied_by_id])

    API_FIELDS = {
        "estate_id": opt_int,
        "staff_id": opt_int,
        "visited_at": opt_dt,
        "unit_id": opt_int,
        "owner_id": opt_int,
        "interviewee": opt_text(40),
        "opinions": opt_text(4000),
        "suggestions": opt_text(4000),
        "reply_needed": req_bool,
        "reply_due_at": opt_dt,
    }
    API_REQUIRED = ("reply_needed",)
    API_EDITABLE = ("interviewee", "opinions", "suggestions", "unit_id", "owner_id")

    def __repr__(self) -> str:
        who = self.interviewee or (self.owner.name if self.owner else "") or (str(self.unit) if self.unit else "")
        return f"{fmt_dt(self.visited_at)} {who}".strip()

    @property
    def status_label(self) -> str:
        return OwnerVisitStatus.label_of(self.status)

    @property
    def reply_method_label(self) -> str:
        return ReplyMethod.label_of(self.reply_method)

    @property
    def satisfaction_label(self) -> str:
        return Satisfaction.label_of(self.satisfaction)

    @property
    def place(self) -> str:
        return str(self.unit) if self.unit is not None else ""

    def derive_estate(self, session) -> None:
        from models.master import Unit

        sync_foreign_keys(self)
        if self.estate_id is None and self.unit_id is not None and session.get(Unit, self.unit_id) is not None:
            self.estate_id = session.get(Unit, self.unit_id).estate_id

    def validate(self, session) -> None:
        now = utcnow()
        check_place(session, self)
        staff = active_staff(session, "staff_id", self.staff_id, self.estate_id, required=False)
        if staff is None:
            raise ValidationError("staff_id", _l("请选择走访人"))
        if self.owner_id is not None and not self.interviewee:
            from models.master import Owner

            self.interviewee = session.get(Owner, self.owner_id).name
        self.opinions = (self.opinions or "").strip() or None
        self.suggestions = (self.suggestions or "").strip() or None
        if not self.opinions and not self.suggestions:
            raise ValidationError("opinions", _l("请填写业户的意见或建议(没有可填“无”)"))
        for field in ("opinions", "suggestions"):
            if getattr(self, field) and len(getattr(self, field)) > 4000:
                raise ValidationError(field, _l("不能超过 %(n)s 个字", n=4000))
        self.visited_at = as_utc(self.visited_at) if self.visited_at else now
        not_in_future("visited_at", self.visited_at, now)
        self.period = period_of(self.visited_at)
        self.reply_needed = bool(self.reply_needed)
        if self.id is None:
            self.status = OwnerVisitStatus.awaiting_reply.value if self.reply_needed else OwnerVisitStatus.no_reply.value
        elif self.reply_needed != (self.status != OwnerVisitStatus.no_reply):
            raise ValidationError("reply_needed", _l("登记后不能更改是否需要答复"))
        if self.reply_needed:
            self.reply_due_at = as_utc(self.reply_due_at) if self.reply_due_at else self.visited_at + timedelta(days=DEFAULT_REPLY_DAYS)
            if self.reply_due_at < self.visited_at:
                raise ValidationError("reply_due_at", _l("答复期限不能早于走访时间"))
        else:
            self.reply_due_at = None

    def on_created(self, session, actor: Actor, now: datetime) -> None:
        """A visit that owes a reply puts the revisit on the visitor's task list."""
        if self.reply_needed:
            ensure_staff_task(
                session,
                TaskKind.revisit_due.value,
                "owner_visit",
                self.id,
                str(_l("走访意见待答复:%(who)s", who=str(self))),
                staff_id=self.staff_id,
                estate_id=self.estate_id,
                due_at=self.reply_due_at,
                detail="\n".join(x for x in (self.opinions, self.suggestions) if x),
                now=now,
            )

    @classmethod
    def register(cls, session, actor: Actor, now: datetime, body: dict) -> OwnerVisit:
        visit = cls()
        read_body(visit, body, cls.API_FIELDS, cls.API_REQUIRED)
        if visit.staff_id is None:
            visit.staff_id = actor.staff_id
        create(session, visit, actor, now)
        return visit

    def amend(self, session, body: dict) -> None:
        amend_body(self, body)


owner_visit_flow = register_workflow(
    Workflow(object_type="owner_visit", permission_view="OwnerVisit", status_labels=OwnerVisitStatus.label_of)
)


@owner_visit_flow.add("reply", ["awaiting_reply"], "replied", _l("回访答复"))
def _reply(visit: OwnerVisit, actor: Actor, now, session, reply=None, method=None, satisfaction=None, replied_at=None):
    """The reply owed after a visit is given through a revisit (接待 一.3)."""
    from models.base import parse_dt

    visit.reply = require_text("reply", reply, 4000, _l("请填写答复内容"))
    visit.reply_method = choice_of(ReplyMethod)("method", method)
    visit.satisfaction = choice_of(Satisfaction)("satisfaction", satisfaction) if satisfaction not in (None, "") else None
    when = parse_dt("replied_at", replied_at) or now
    not_in_future("replied_at", when, now)
    if when < visit.visited_at:
        raise ValidationError("replied_at", _l("答复时间不能早于走访时间"))
    visit.replied_at = when
    visit.replied_by_id = actor.staff_id
    close_tasks(session, [TaskKind.revisit_due.value, TaskKind.revisit_overdue.value], "owner_visit", visit.id, now, str(_l("已答复")))
    return f"{visit.reply_method_label}:{visit.reply}"


def overdue_replies(session, now: datetime) -> list[OwnerVisit]:
    return list(
        session.scalars(
            select(OwnerVisit).where(
                OwnerVisit.status == OwnerVisitStatus.awaiting_reply.value, OwnerVisit.reply_due_at < now
            )
        )
    )


# ---------------------------------------------------------------- 物业经理每月 3 次走访
class ManagerVisitMonth(Model):
    """One 物业经理's visits in one month, as the month-end check found them (接待 二.4)."""

    __tablename__ = "manager_visit_month"
    __table_args__ = (UniqueConstraint("staff_id", "period", name="uq_manager_visit_month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), nullable=False, index=True)
    period: Mapped[str] = mapped_column(String(7), nullable=False, index=True)
    visits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    required: Mapped[int] = mapped_column(Integer, nullable=False, default=VISITS_PER_MONTH)
    short: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    staff = relationship("Staff", foreign_keys=[staff_id], lazy="joined")

    def __repr__(self) -> str:
        return f"{self.staff.name if self.staff else ''} {self.period}"

    @property
    def result_label(self) -> str:
        return str(_l("不足 %(n)s 次", n=self.required)) if self.short else str(_l("达标"))


def managers(session) -> list[Staff]:
    """Active staff whose login holds the 物业经理 role."""
    from flask import current_app

    sm = current_app.appbuilder.sm
    role = sm.find_role(MANAGER_ROLE)
    if role is None:
        return []
    staff = session.scalars(select(Staff).where(Staff.active.is_(True), Staff.user_id.is_not(None)).order_by(Staff.id))
    return [s for s in staff if s.user is not None and role in s.user.roles]


def month_range(period: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of next month) of a `YYYY-MM` period in Asia/Shanghai, as UTC."""
    from datetime import UTC, date, time

    from models.base import TZ

    year, month = (int(x) for x in period.split("-"))
    start = date(year, month, 1)
    end = date(year + (month == 12), month % 12 + 1, 1)
    return (
        datetime.combine(start, time.min, TZ).astimezone(UTC),
        datetime.combine(end, time.min, TZ).astimezone(UTC),
    )


def visits_in_month(session, staff_ids: list[int], period: str) -> dict[int, int]:
    start, end = month_range(period)
    rows = session.execute(
        select(OwnerVisit.staff_id, func.count(OwnerVisit.id))
        .where(OwnerVisit.staff_id.in_(staff_ids), OwnerVisit.visited_at >= start, OwnerVisit.visited_at < end)
        .group_by(OwnerVisit.staff_id)
    ).all()
    return {staff_id: n for staff_id, n in rows}


def check_manager_visits(session, now: datetime) -> dict:
    """Flag each 物业经理 with fewer than 3 visits in the month of `now` (a task for them).

    Idempotent: the month's check row is updated, the task is opened once and closed when the
    count reaches 3."""
    period = period_of(now)
    people = managers(session)
    counts = visits_in_month(session, [s.id for s in people], period) if people else {}
    flagged = 0
    short_rows: set[int] = set()
    for staff in people:
        n = counts.get(staff.id, 0)
        row = session.scalar(select(ManagerVisitMonth).where(ManagerVisitMonth.staff_id == staff.id, ManagerVisitMonth.period == period))
        if row is None:
            row = ManagerVisitMonth(staff_id=staff.id, period=period)
            session.add(row)
        row.visits, row.required, row.short, row.checked_at = n, VISITS_PER_MONTH, n < VISITS_PER_MONTH, now
        session.flush()
        if row.short:
            short_rows.add(row.id)
            estate_ids = sorted(staff.estate_ids)
            _task, created = ensure_task(
                session,
                TaskKind.manager_visits_short.value,
                "manager_visit_month",
                row.id,
                str(_l("%(period)s 走访业户 %(n)s 次,不足每月 %(req)s 次", period=period, n=n, req=VISITS_PER_MONTH)),
                estate_id=estate_ids[0] if len(estate_ids) == 1 else None,
                assignee_id=staff.id,
                detail=str(_l("物业经理每月走访业户不少于 3 次(接待 二.4)")),
                now=now,
            )
            flagged += created
    # a manager who caught up: the month's open flag closes
    stale_ids = set(
        session.scalars(select(ManagerVisitMonth.id).where(ManagerVisitMonth.period == period, ManagerVisitMonth.short.is_(False)))
    )
    closed = 0
    for row_id in stale_ids:
        closed += close_tasks(session, TaskKind.manager_visits_short.value, "manager_visit_month", row_id, now)
    return {"managers": len(people), "short": len(short_rows), "tasks_created": flagged, "tasks_closed": closed}


def scan_overdue_replies(session, now: datetime) -> dict:
    """Visit opinions whose reply is past due: the revisit task turns into an overdue one."""
    late = overdue_replies(session, now)
    created = 0
    for visit in late:
        close_tasks(session, TaskKind.revisit_due.value, "owner_visit", visit.id, now, str(_l("已超期")))
        _task, new = ensure_staff_task(
            session,
            TaskKind.revisit_overdue.value,
            "owner_visit",
            visit.id,
            str(_l("走访意见答复超期:%(who)s", who=str(visit))),
            staff_id=visit.staff_id,
            estate_id=visit.estate_id,
            due_at=visit.reply_due_at,
            now=now,
        )
        created += new
    close_stale_tasks(session, TaskKind.revisit_overdue.value, "owner_visit", {v.id for v in late}, now)
    return {"owner_visit_reply_overdue": created}

"""Reception 接待 (接待 三–四): walk-in visits (接待记录表) and phone calls with messages (转告).

A walk-in is handled on the spot, or handed to a department head the same day (Asia/Shanghai);
the head decides and assigns; the outcome is written back. A call for an absent colleague becomes
a `message` task that the colleague acknowledges with the task's `done` transition.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    PermissionDenied,
    UTCDateTime,
    ValidationError,
    as_utc,
    code_column,
    parse_int,
    require_text,
    utcnow,
)
from models.master import Department, Owner, Staff, Unit, check_phone, normalize_phone
from models.reception_common import (  # noqa: F401  (re-exported for the other reception modules)
    MANAGER_ROLES,
    active_staff,
    amend_body,
    check_place,
    choice_of,
    create,
    is_company_user,
    local_day_start,
    next_local_midnight,
    not_in_future,
    opt_dt,
    opt_int,
    opt_phone,
    opt_text,
    period_of,
    read_body,
    req_bool,
    sync_foreign_keys,
)
from models.task import Task, TaskKind, close_tasks, ensure_staff_task, task_flow
from models.workflow import Actor, Workflow, register_workflow

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- codes
class ReceptionCategory(LabeledEnum):
    """来访/来电类别."""

    consult = "consult"
    repair = "repair"
    complaint = "complaint"
    suggestion = "suggestion"
    rent_sale = "rent_sale"
    payment = "payment"
    other = "other"

    @classmethod
    def labels(cls):
        return {
            "consult": _l("咨询"),
            "repair": _l("报修"),
            "complaint": _l("投诉"),
            "suggestion": _l("建议"),
            "rent_sale": _l("租售"),
            "payment": _l("缴费"),
            "other": _l("其他"),
        }


class VisitStatus(LabeledEnum):
    handled = "handled"
    pending = "pending"
    handed_over = "handed_over"
    assigned = "assigned"
    resolved = "resolved"

    @classmethod
    def labels(cls):
        return {
            "handled": _l("当场处理"),
            "pending": _l("待移交"),
            "handed_over": _l("已移交部门"),
            "assigned": _l("处理中"),
            "resolved": _l("已办结"),
        }


# ---------------------------------------------------------------- 来访记录
class VisitRecord(EstateOwned, AuditMixinNullable, Model):
    """来访记录 / 接待记录表 (接待 三.4)."""

    __tablename__ = "visit_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    period: Mapped[str] = mapped_column(String(7), nullable=False, index=True)
    visitor_name: Mapped[str] = mapped_column(String(40), nullable=False)
    visitor_phone: Mapped[str | None] = mapped_column(String(30))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owner.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = code_column(ReceptionCategory, nullable=False, index=True)
    handled_on_spot: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    status: Mapped[str] = code_column(VisitStatus, nullable=False, default="pending", index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    repair_order_id: Mapped[int | None] = mapped_column(Integer, index=True)
    complaint_id: Mapped[int | None] = mapped_column(Integer, index=True)

    unit = relationship("Unit", foreign_keys=[unit_id], lazy="joined")
    owner = relationship("Owner", foreign_keys=[owner_id], lazy="joined")
    received_by = relationship("Staff", foreign_keys=[received_by_id])
    department = relationship("Department", foreign_keys=[department_id])
    assignee = relationship("Staff", foreign_keys=[assignee_id])

    API_FIELDS = {
        "estate_id": opt_int,
        "unit_id": opt_int,
        "owner_id": opt_int,
        "visitor_name": opt_text(40),
        "visitor_phone": opt_phone,
        "reason": opt_text(2000),
        "category": choice_of(ReceptionCategory),
        "handled_on_spot": req_bool,
        "visited_at": opt_dt,
        "outcome": opt_text(2000),
        "received_by_id": opt_int,
    }
    API_REQUIRED = ("estate_id", "reason", "category", "handled_on_spot")  # the visitor's name comes from the owner if not given
    API_EDITABLE = ("visitor_name", "visitor_phone", "reason", "category", "unit_id", "owner_id")

    def __repr__(self) -> str:
        from models.base import fmt_dt

        return f"{fmt_dt(self.visited_at)} {self.visitor_name}"

    @property
    def status_label(self) -> str:
        return VisitStatus.label_of(self.status)

    @property
    def category_label(self) -> str:
        return ReceptionCategory.label_of(self.category)

    @property
    def handover_due_at(self) -> datetime | None:
        """What cannot be handled on the spot goes to the department head by local midnight."""
        if self.handled_on_spot or self.visited_at is None:
            return None
        return next_local_midnight(self.visited_at)

    def handover_late(self, now: datetime | None = None) -> bool:
        """Handed over after the day of the visit, or still not handed over when the day is over."""
        due = self.handover_due_at
        if due is None:
            return False
        if self.handed_over_at is not None:
            return self.handed_over_at >= due
        return self.status == VisitStatus.pending and (now or utcnow()) >= due

    @property
    def place(self) -> str:
        return str(self.unit) if self.unit is not None else ""

    @property
    def handover_text(self) -> str:
        """The same-day rule as the record page states it."""
        due = self.handover_due_at
        if due is None:
            return str(_l("当场处理,无需移交"))
        from models.base import fmt_dt

        if self.handed_over_at is not None:
            return str(_l("未在来访当天移交")) if self.handover_late() else str(_l("当天已移交"))
        if self.handover_late():
            return str(_l("已超期:应于 %(t)s 前移交部门负责人", t=fmt_dt(due)))
        return str(_l("须于 %(t)s 前移交部门负责人", t=fmt_dt(due)))

    @property
    def handling_text(self) -> str:
        """处理情况 as the 接待记录表 shows it."""
        if self.handled_on_spot:
            return str(_l("当场处理:%(o)s", o=self.outcome)) if self.outcome else str(_l("当场处理"))
        parts = [str(_l("移交 %(dept)s", dept=self.department.name)) if self.department is not None else str(_l("待移交"))]
        if self.decision:
            parts.append(str(_l("处理办法:%(d)s", d=self.decision)))
        if self.assignee is not None:
            parts.append(str(_l("经办:%(n)s", n=self.assignee.name)))
        if self.outcome:
            parts.append(str(_l("结果:%(o)s", o=self.outcome)))
        return ";".join(parts)

    # -------------------------------------------------------- rules
    def derive_estate(self, session) -> None:
        sync_foreign_keys(self)
        if self.estate_id is None and self.unit_id is not None:
            unit = session.get(Unit, self.unit_id)
            if unit is not None:
                self.estate_id = unit.estate_id

    def validate(self, session) -> None:
        now = utcnow()
        check_place(session, self)
        if self.owner_id is not None and not (self.visitor_name or "").strip():
            self.visitor_name = session.get(Owner, self.owner_id).name
        self.visitor_name = require_text("visitor_name", self.visitor_name, 40, _l("请填写来访人姓名"))
        self.reason = require_text("reason", self.reason, 2000, _l("请填写来访事由"))
        choice_of(ReceptionCategory)("category", self.category)
        if self.visitor_phone:
            self.visitor_phone = check_phone("visitor_phone", self.visitor_phone, required=False)
        self.handled_on_spot = bool(self.handled_on_spot)
        self.visited_at = as_utc(self.visited_at) if self.visited_at else now
        not_in_future("visited_at", self.visited_at, now)
        self.period = period_of(self.visited_at)
        if self.received_by_id is not None:
            active_staff(session, "received_by_id", self.received_by_id, self.estate_id)
        if self.id is None:
            self.status = VisitStatus.handled.value if self.handled_on_spot else VisitStatus.pending.value
        elif self.handled_on_spot != (self.status == VisitStatus.handled):
            raise ValidationError("handled_on_spot", _l("登记后不能更改是否当场处理"))

    def on_created(self, session, actor: Actor, now: datetime) -> None:
        """The clerk who wrote the record received the visitor, unless another was named."""
        if self.received_by_id is None and actor.staff_id is not None:
            self.received_by_id = actor.staff_id

    @classmethod
    def register(cls, session, actor: Actor, now: datetime, body: dict) -> VisitRecord:
        """A new 来访记录 from an API body or the desk; `department_id` hands it over at once."""
        body = dict(body) if isinstance(body, dict) else body
        department_id = body.pop("department_id", None) if isinstance(body, dict) else None
        visit = cls()
        read_body(visit, body, cls.API_FIELDS, cls.API_REQUIRED)
        create(session, visit, actor, now)
        if department_id not in (None, ""):
            if visit.handled_on_spot:
                raise ValidationError("department_id", _l("当场处理的来访无需移交部门"))
            visit_flow.apply(session, visit, "hand_over", actor, now, {"department_id": department_id})
        return visit

    def amend(self, session, body: dict) -> None:
        """Correct what the clerk wrote (never the state or the handling)."""
        amend_body(self, body)


visit_flow = register_workflow(Workflow(object_type="visit_record", permission_view="VisitRecord", status_labels=VisitStatus.label_of))


@visit_flow.add("hand_over", ["pending"], "handed_over", _l("移交部门负责人"))
def _hand_over(visit: VisitRecord, actor, now, session, department_id=None, note=None):
    """Hand what cannot be handled on the spot to the department head (the same day)."""
    dept_id = parse_int("department_id", department_id, required=True)
    dept = session.get(Department, dept_id)
    if dept is None:
        raise ValidationError("department_id", _l("部门不存在"))
    if dept.estate_id is not None and dept.estate_id != visit.estate_id:
        raise ValidationError("department_id", _l("该部门不属于此小区/大厦"))
    note = opt_text(500)("note", note)
    visit.department_id = dept.id
    visit.department = dept
    visit.handed_over_at = now
    close_tasks(session, TaskKind.walkin_not_handed_over.value, "visit_record", visit.id, now, str(_l("已移交部门")))
    ensure_staff_task(
        session,
        TaskKind.walkin_handover.value,
        "visit_record",
        visit.id,
        str(_l("来访事项待决定处理办法:%(who)s %(reason)s", who=visit.visitor_name, reason=visit.reason[:60])),
        staff_id=dept.head_id,
        estate_id=visit.estate_id,
        role_name="管理处主任",
        detail=visit.reason,
        now=now,
    )
    late = visit.handover_late(now)
    text = str(_l("移交 %(dept)s", dept=dept.name))
    if late:
        text += str(_l("(未在来访当天移交)"))
    return f"{text};{note}" if note else text


@visit_flow.add("decide", ["handed_over", "assigned"], "assigned", _l("决定处理办法"))
def _decide(visit: VisitRecord, actor: Actor, now, session, decision=None, assignee_id=None):
    """The department head decides how and names who does it (接待 三.4)."""
    is_head = visit.department is not None and visit.department.head_id and visit.department.head_id == actor.staff_id
    if not (actor.system or is_head or actor.role_names & MANAGER_ROLES or is_company_user(actor.user)):
        raise PermissionDenied(_l("只有移交部门的负责人或管理处主任可以决定处理办法"))
    visit.decision = require_text("decision", decision, 2000, _l("请填写处理办法"))
    assignee = active_staff(session, "assignee_id", assignee_id, visit.estate_id)
    visit.assignee_id = assignee.id if assignee else None
    visit.assignee = assignee
    visit.decided_at = now
    close_tasks(session, TaskKind.walkin_handover.value, "visit_record", visit.id, now, str(_l("已决定处理办法")))
    who = assignee or (session.get(Staff, actor.staff_id) if actor.staff_id else None)
    if who is not None:
        ensure_staff_task(
            session,
            TaskKind.walkin_handover.value,
            "visit_record",
            visit.id,
            str(_l("处理来访事项:%(who)s %(reason)s", who=visit.visitor_name, reason=visit.reason[:60])),
            staff_id=who.id,
            estate_id=visit.estate_id,
            detail=visit.decision,
            now=now,
        )
    return visit.decision + (f"({assignee.name})" if assignee else "")


@visit_flow.add("resolve", ["handed_over", "assigned"], "resolved", _l("填写处理结果"))
def _resolve(visit: VisitRecord, actor, now, session, outcome=None):
    """The outcome is written back on the 接待记录表."""
    visit.outcome = require_text("outcome", outcome, 2000, _l("请填写处理结果"))
    visit.resolved_at = now
    close_tasks(session, [TaskKind.walkin_handover.value, TaskKind.walkin_not_handed_over.value], "visit_record", visit.id, now, str(_l("已办结")))
    return visit.outcome


def late_walkins(session, now: datetime) -> list[VisitRecord]:
    """Walk-ins not handled on the spot and still not handed over when their day is over."""
    return list(
        session.scalars(
            select(VisitRecord).where(
                VisitRecord.status == VisitStatus.pending.value,
                VisitRecord.visited_at < local_day_start(now),
            )
        )
    )


# ---------------------------------------------------------------- 来电记录
class CallRecord(EstateOwned, AuditMixinNullable, Model):
    """来电记录 (接待 四); a call for an absent colleague carries a 转告 (message task)."""

    __tablename__ = "call_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    called_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    period: Mapped[str] = mapped_column(String(7), nullable=False, index=True)
    caller_name: Mapped[str] = mapped_column(String(40), nullable=False)
    phone: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owner.id"), index=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = code_column(ReceptionCategory, nullable=False, index=True)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
    for_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    message_task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    message_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    repair_order_id: Mapped[int | None] = mapped_column(Integer, index=True)
    complaint_id: Mapped[int | None] = mapped_column(Integer, index=True)

    unit = relationship("Unit", foreign_keys=[unit_id], lazy="joined")
    owner = relationship("Owner", foreign_keys=[owner_id], lazy="joined")
    answered_by = relationship("Staff", foreign_keys=[answered_by_id])
    for_staff = relationship("Staff", foreign_keys=[for_staff_id])
    message_task = relationship("Task", foreign_keys=[message_task_id])

    API_FIELDS = {
        "estate_id": opt_int,
        "caller_name": opt_text(40),
        "phone": opt_text(30),
        "unit_id": opt_int,
        "owner_id": opt_int,
        "content": opt_text(2000),
        "category": choice_of(ReceptionCategory),
        "called_at": opt_dt,
        "for_staff_id": opt_int,
        "answered_by_id": opt_int,
        "outcome": opt_text(2000),
    }
    API_REQUIRED = ("content", "category")
    API_EDITABLE = ("caller_name", "phone", "unit_id", "owner_id", "content", "category", "outcome")

    def __repr__(self) -> str:
        from models.base import fmt_dt

        return f"{fmt_dt(self.called_at)} {self.caller_name}"

    @property
    def category_label(self) -> str:
        return ReceptionCategory.label_of(self.category)

    @property
    def message_status(self) -> str:
        if self.for_staff_id is None:
            return ""
        return str(_l("已阅")) if self.message_read_at else str(_l("未阅"))

    @property
    def place(self) -> str:
        return str(self.unit) if self.unit is not None else ""

    def derive_estate(self, session) -> None:
        sync_foreign_keys(self)
        if self.estate_id is None:
            if self.unit_id is not None and session.get(Unit, self.unit_id) is not None:
                self.estate_id = session.get(Unit, self.unit_id).estate_id
            elif self.owner_id is not None and session.get(Owner, self.owner_id) is not None:
                self.estate_id = session.get(Owner, self.owner_id).estate_id

    def validate(self, session) -> None:
        now = utcnow()
        check_place(session, self)
        owner = session.get(Owner, self.owner_id) if self.owner_id else None
        if owner is not None:
            self.caller_name = (self.caller_name or "").strip() or owner.name
            self.phone = (self.phone or "").strip() or owner.phone
        self.phone = check_phone("phone", self.phone)
        if owner is None and self.unit_id is None:
            match = owners_by_phone(session, self.phone, self.estate_id)
            if len(match) == 1:  # the caller is a known household: link it
                self.owner_id, self.unit_id = match[0].id, match[0].unit_id
                self.caller_name = (self.caller_name or "").strip() or match[0].name
        self.caller_name = require_text("caller_name", self.caller_name, 40, _l("请填写来电人"))
        self.content = require_text("content", self.content, 2000, _l("请填写来电内容"))
        choice_of(ReceptionCategory)("category", self.category)
        self.called_at = as_utc(self.called_at) if self.called_at else now
        not_in_future("called_at", self.called_at, now)
        self.period = period_of(self.called_at)
        if self.answered_by_id is not None:
            active_staff(session, "answered_by_id", self.answered_by_id, self.estate_id)
        if self.for_staff_id is not None:
            active_staff(session, "for_staff_id", self.for_staff_id, self.estate_id)
            if self.message_task_id is not None:
                task = session.get(Task, self.message_task_id)
                if task is not None and task.assignee_id != self.for_staff_id:
                    raise ValidationError("for_staff_id", _l("转告已发出,不能改转告对象"))

    def on_created(self, session, actor: Actor, now: datetime) -> None:
        if self.answered_by_id is None and actor.staff_id is not None:
            self.answered_by_id = actor.staff_id
        if self.for_staff_id is not None:
            self.send_message(session, now)

    def send_message(self, session, now: datetime) -> Task:
        """转告: the call goes to the absent colleague's task list until they mark it read."""
        task, _created = ensure_staff_task(
            session,
            TaskKind.message.value,
            "call_record",
            self.id,
            str(_l("转告:%(name)s(%(phone)s)来电:%(content)s", name=self.caller_name, phone=self.phone, content=self.content[:60])),
            staff_id=self.for_staff_id,
            estate_id=self.estate_id,
            detail=self.content,
            now=now,
        )
        self.message_task_id = task.id
        return task

    @classmethod
    def register(cls, session, actor: Actor, now: datetime, body: dict) -> CallRecord:
        call = cls()
        read_body(call, body, cls.API_FIELDS, cls.API_REQUIRED)
        if call.estate_id is None and call.unit_id is None and call.owner_id is None:
            raise ValidationError("estate_id", _l("请选择所属小区/大厦"))
        if not call.phone and call.owner_id is None:
            raise ValidationError("phone", _l("请填写电话号码"))
        create(session, call, actor, now)
        return call

    def amend(self, session, body: dict) -> None:
        amend_body(self, body)


@task_flow.on("done")
def _message_read(task: Task, event, actor, now, session) -> None:
    """The colleague marked the message read: the call record shows it."""
    if task.kind == TaskKind.message.value and task.object_type == "call_record":
        call = session.get(CallRecord, task.object_id)
        if call is not None and call.message_read_at is None:
            call.message_read_at = now


# ---------------------------------------------------------------- finding a household

def owners_by_phone(session, phone: str, estate_id: int | None) -> list[Owner]:
    phone = normalize_phone(phone)
    query = select(Owner).where(Owner.phone == phone)
    if estate_id is not None:
        query = query.where(Owner.estate_id == estate_id)
    return list(session.scalars(query.limit(2)))


def scan_walkins(session, now: datetime) -> dict:
    """walkin_not_handed_over: a walk-in not handled on the spot and not handed over by local midnight.

    The task goes to the clerk who received the visitor (else to the 接待员 role of the estate); it
    closes itself once the item is handed over."""
    late = late_walkins(session, now)
    created = 0
    for visit in late:
        _task, new = ensure_staff_task(
            session,
            TaskKind.walkin_not_handed_over.value,
            "visit_record",
            visit.id,
            str(_l("来访事项未当天移交:%(who)s %(reason)s", who=visit.visitor_name, reason=visit.reason[:60])),
            staff_id=visit.received_by_id,
            estate_id=visit.estate_id,
            role_name="接待员",
            due_at=visit.handover_due_at,
            detail=visit.reason,
            now=now,
        )
        created += new
    from models.task import close_stale_tasks

    closed = close_stale_tasks(session, TaskKind.walkin_not_handed_over.value, "visit_record", {v.id for v in late}, now)
    return {"walkin_not_handed_over": created, "walkin_not_handed_over_closed": closed}


# ---------------------------------------------------------------- one-click follow-ups

"""Complaints 投诉 (接待 二.3, 七; SPEC §6): the record, its workflow, weekly statistics and KPIs.

受理 received → 处理中 processing → 已答复 replied → 已回访 revisited → 已关闭 closed.
A reply is due 24 h after receipt (setting `complaint_reply_hours`); what the department cannot
handle is escalated to the department head or the company's leadership (a task); the reply is
followed by one revisit; closing decides validity (有效投诉) and records satisfaction.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask import current_app
from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint, func, inspect, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.exports import export
from models.base import (
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    UTCDateTime,
    ValidationError,
    code_column,
    local,
    local_date,
    parse_choice,
    parse_dt,
    parse_int,
    parse_text,
    require_text,
    utcnow,
)
from models.master import Department, Estate, Owner, Unit, check_phone
from models.revisit import (
    EARLY_GRACE,
    Kpi,
    Revisit,
    RevisitStatus,
    Satisfaction,
    day_start,
    ratio,
    revisit_flow,
    revisits_of,
    schedule_revisit,
)
from models.task import close_tasks, ensure_task
from models.workflow import Actor, TransitionRefused, Workflow, register_workflow

logger = logging.getLogger(__name__)

REVISIT_DAYS_DEFAULT = 3  # a complaint's revisit is due this many days after the reply unless set


class ComplaintChannel(LabeledEnum):
    phone = "phone"
    visit = "visit"
    letter = "letter"
    owner_visit = "owner_visit"
    survey = "survey"

    @classmethod
    def labels(cls):
        return {"phone": _l("电话"), "visit": _l("来访"), "letter": _l("信函"), "owner_visit": _l("走访"), "survey": _l("意见征询表")}


class ComplaintCategory(LabeledEnum):
    repair = "repair"
    service = "service"
    attitude = "attitude"
    security = "security"
    cleaning = "cleaning"
    environment = "environment"
    greening = "greening"
    fee = "fee"
    facility = "facility"
    elevator = "elevator"
    parking = "parking"
    noise = "noise"
    decoration = "decoration"
    neighbor = "neighbor"
    convenience = "convenience"
    other = "other"

    @classmethod
    def labels(cls):
        return {
            "repair": _l("维修质量"),
            "service": _l("服务质量"),
            "attitude": _l("服务态度"),
            "security": _l("治安保安"),
            "cleaning": _l("保洁卫生"),
            "environment": _l("环境"),
            "greening": _l("绿化"),
            "fee": _l("收费"),
            "facility": _l("公共设施"),
            "elevator": _l("电梯"),
            "parking": _l("车辆停放"),
            "noise": _l("噪音扰民"),
            "decoration": _l("装修管理"),
            "neighbor": _l("邻里纠纷"),
            "convenience": _l("便民服务"),
            "other": _l("其他"),
        }


class ComplaintStatus(LabeledEnum):
    received = "received"
    processing = "processing"
    replied = "replied"
    revisited = "revisited"
    closed = "closed"

    @classmethod
    def labels(cls):
        return {
            "received": _l("受理"),
            "processing": _l("处理中"),
            "replied": _l("已答复"),
            "revisited": _l("已回访"),
            "closed": _l("已关闭"),
        }


class EscalationTarget(LabeledEnum):
    department_head = "department_head"
    leadership = "leadership"

    @classmethod
    def labels(cls):
        return {"department_head": _l("部门负责人"), "leadership": _l("公司领导")}


ESCALATION_ALIASES = {
    "head": "department_head",
    "dept_head": "department_head",
    "department": "department_head",
    "部门负责人": "department_head",
    "部门领导": "department_head",
    "company": "leadership",
    "company_leadership": "leadership",
    "leader": "leadership",
    "leaders": "leadership",
    "management": "leadership",
    "公司领导": "leadership",
}
LEADERSHIP_ROLE = "公司经理"
OFFICE_HEAD_ROLE = "管理处主任"
RECEPTION_ROLE = "接待员"
OPEN_STATES = (ComplaintStatus.received.value, ComplaintStatus.processing.value)


def reply_hours() -> int:
    from app.extensions import db
    from models.system import setting

    try:
        return int(setting(db.session, "complaint_reply_hours"))
    except (RuntimeError, KeyError):
        return 24


class Complaint(EstateOwned, AuditMixinNullable, Model):
    """投诉: who complained about what, when, through which channel, and how it was handled."""

    __tablename__ = "complaint"
    __table_args__ = (UniqueConstraint("number", name="uq_complaint_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    channel: Mapped[str] = code_column(ComplaintChannel, nullable=False)
    category: Mapped[str] = code_column(ComplaintCategory, nullable=False, index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owner.id"), index=True)
    complainant: Mapped[str | None] = mapped_column(String(80))
    phone: Mapped[str | None] = mapped_column(String(30))
    content: Mapped[str] = mapped_column(Text, nullable=False)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    status: Mapped[str] = code_column(ComplaintStatus, nullable=False, default=ComplaintStatus.received.value, index=True)
    reply_due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    escalated_to: Mapped[str | None] = code_column(EscalationTarget)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_note: Mapped[str | None] = mapped_column(String(500))
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    valid: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[str | None] = code_column(Satisfaction)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_note: Mapped[str | None] = mapped_column(String(500))
    # what it came from and what it is about
    source_type: Mapped[str | None] = mapped_column(String(30))
    source_id: Mapped[int | None] = mapped_column(Integer)
    repair_order_id: Mapped[int | None] = mapped_column(ForeignKey("repair_order.id"), index=True)
    about_type: Mapped[str | None] = mapped_column(String(30))
    about_id: Mapped[int | None] = mapped_column(Integer)
    spawned_order_id: Mapped[int | None] = mapped_column(ForeignKey("repair_order.id"), index=True)

    unit = relationship("Unit", foreign_keys=[unit_id], lazy="joined")
    owner = relationship("Owner", foreign_keys=[owner_id], lazy="joined")
    department = relationship("Department", foreign_keys=[department_id], lazy="joined")
    replied_by = relationship("User", foreign_keys=[replied_by_id])

    def __repr__(self) -> str:
        return self.number or f"投诉 {self.id or ''}".strip()

    # ---- labels
    @property
    def status_label(self) -> str:
        return ComplaintStatus.label_of(self.status)

    @property
    def channel_label(self) -> str:
        return ComplaintChannel.label_of(self.channel)

    @property
    def category_label(self) -> str:
        return ComplaintCategory.label_of(self.category)

    @property
    def satisfaction_label(self) -> str:
        return Satisfaction.label_of(self.satisfaction)

    @property
    def escalated_label(self) -> str:
        return EscalationTarget.label_of(self.escalated_to)

    @property
    def valid_label(self) -> str:
        if self.valid is None:
            return str(_l("未判定"))
        return str(_l("有效投诉")) if self.valid else str(_l("无效投诉"))

    @property
    def summary(self) -> str:
        text = (self.content or "").replace("\n", " ")
        return text if len(text) <= 26 else text[:26] + "…"

    @property
    def replied_by_name(self) -> str:
        user = self.replied_by
        return f"{user.last_name or ''}{user.first_name or ''}" if user is not None else ""

    @property
    def received_by_name(self) -> str:
        user = self.created_by
        return f"{user.last_name or ''}{user.first_name or ''}" if user is not None else ""

    @property
    def reply_summary(self) -> str:
        """答复情况 for the list: late or on time, or by when it is due."""
        if self.replied_at is None and not self.reply_overdue(utcnow()):
            return str(_l("待答复(截止 %(due)s)", due=f"{local(self.reply_due_at):%m-%d %H:%M}"))
        return self.reply_state

    @property
    def who(self) -> str:
        return self.complainant or (self.owner.name if self.owner else "") or str(_l("未留名"))

    # ---- deadlines
    def reply_overdue(self, now: datetime) -> bool:
        return self.replied_at is None and self.reply_due_at is not None and self.reply_due_at < now

    @property
    def reply_state(self) -> str:
        if self.replied_at is None:
            return str(_l("超时未答复")) if self.reply_overdue(utcnow()) else str(_l("待答复"))
        return str(_l("按时答复")) if self.replied_on_time else str(_l("超时答复"))

    @property
    def replied_on_time(self) -> bool | None:
        if self.replied_at is None:
            return None
        return self.replied_at <= self.reply_due_at

    # ---- rules checked on every write
    def derive_estate(self, session) -> None:
        if self.owner_id and (self.owner is None or self.owner.id != self.owner_id):
            self.owner = session.get(Owner, self.owner_id)
        if self.unit_id and (self.unit is None or self.unit.id != self.unit_id):
            self.unit = session.get(Unit, self.unit_id)
        if self.owner is not None and self.unit is None:
            self.unit = self.owner.unit
            self.unit_id = self.owner.unit_id
        if self.estate_id is None:
            if self.unit is not None:
                self.estate_id = self.unit.estate_id
            elif self.owner is not None:
                self.estate_id = self.owner.estate_id

    def validate(self, session, now: datetime | None = None) -> None:
        now = now or utcnow()
        state = inspect(self)
        if state.persistent and self.status == ComplaintStatus.closed.value:
            raise ValidationError("status", _l("投诉已关闭,不能再修改"))
        if self.estate_id is None:
            raise ValidationError("estate_id", _l("请选择所属小区/大厦"))
        if session.get(Estate, self.estate_id) is None:
            raise ValidationError("estate_id", _l("小区/大厦不存在"))
        self.channel = parse_choice("channel", self.channel, ComplaintChannel)
        self.category = parse_choice("category", self.category, ComplaintCategory)
        self.content = require_text("content", self.content, 2000, _l("请填写投诉内容"))
        if self.owner_id and self.owner is None:
            raise ValidationError("owner_id", _l("业户不存在"))
        if self.unit_id and self.unit is None:
            raise ValidationError("unit_id", _l("房屋不存在"))
        if self.owner is not None and self.owner.estate_id != self.estate_id:
            raise ValidationError("owner_id", _l("业户不属于所选小区/大厦"))
        if self.unit is not None and self.unit.estate_id != self.estate_id:
            raise ValidationError("unit_id", _l("房屋不属于所选小区/大厦"))
        if self.owner is not None and self.unit is not None and self.owner.unit_id != self.unit.id:
            raise ValidationError("owner_id", _l("业户不住在所选房屋"))
        self.complainant = parse_text("complainant", self.complainant, 80)
        if self.complainant is None and self.owner is not None:
            self.complainant = self.owner.name
        if self.phone:
            self.phone = check_phone("phone", self.phone, required=False)
        elif self.owner is not None:
            self.phone = self.owner.phone
        if self.department_id:
            dept = session.get(Department, self.department_id)
            if dept is None:
                raise ValidationError("department_id", _l("部门不存在"))
            if dept.estate_id not in (None, self.estate_id):
                raise ValidationError("department_id", _l("该部门不属于所选小区/大厦"))
        if self.received_at is None:
            self.received_at = now
        if self.received_at > now + EARLY_GRACE:
            raise ValidationError("received_at", _l("受理时间不能晚于现在"))
        if self.received_at < now - timedelta(days=366):
            raise ValidationError("received_at", _l("受理时间不能早于一年前"))
        if self.reply_due_at is None or state.attrs.received_at.history.has_changes():
            self.reply_due_at = self.received_at + timedelta(hours=reply_hours())
        if self.source_type is not None:
            self.source_type = parse_text("source_type", self.source_type, 30)
        self._check_links(session)
        self._check_about(session)
        if not self.number:
            self.number = next_number(session, self.received_at)

    def _check_links(self, session) -> None:
        from models.repair import RepairOrder

        for field in ("repair_order_id", "spawned_order_id"):
            value = getattr(self, field)
            if value is None:
                continue
            order = session.get(RepairOrder, value)
            if order is None:
                raise ValidationError(field, _l("维修单不存在"))
            if order.estate_id != self.estate_id:
                raise ValidationError(field, _l("维修单不属于所选小区/大厦"))


    def _check_about(self, session) -> None:
        """A complaint about a convenience service (便民 二.4(12)) names the service it is about."""
        if self.about_type in (None, "") and self.about_id is None:
            self.about_type = None
            return
        if self.about_type not in ABOUT:
            raise ValidationError("about_type", _l("取值不正确,可选:%(codes)s", codes=", ".join(ABOUT)))
        if self.about_id is None:
            raise ValidationError("about_id", _l("请填写所涉服务的编号"))
        target = about_object(session, self.about_type, self.about_id)
        if target is None:
            raise ValidationError("about_id", _l("所涉服务不存在"))
        if getattr(target, "estate_id", None) not in (None, self.estate_id):
            raise ValidationError("about_id", _l("所涉服务不属于所选小区/大厦"))


# what a complaint may be about besides a repair order: type -> (module, model, label)
ABOUT = {
    "service_item": ("models.services", "ServiceItem", _l("便民服务项目")),
    "subscription": ("models.services_subscription", "Subscription", _l("长期服务")),
    "venue_booking": ("models.services", "VenueBooking", _l("场地预约")),
}


def about_object(session, about_type: str, about_id: int):
    import importlib

    module, model, _label = ABOUT[about_type]
    return session.get(getattr(importlib.import_module(module), model), about_id)


def next_number(session, received_at: datetime) -> str:
    """TS-YYYYMM-NNNN, sequential per month of receipt (Asia/Shanghai) across the company."""
    prefix = f"TS-{local(received_at):%Y%m}-"
    last = session.scalar(select(func.max(Complaint.number)).where(Complaint.number.like(prefix + "%")))
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:04d}"


complaint_flow = register_workflow(
    Workflow(object_type="complaint", permission_view="Complaint", status_labels=ComplaintStatus.label_of)
)


complaint_flow.add("register", [], ComplaintStatus.received.value, _l("受理"))(lambda *a, **k: None)


@complaint_flow.add("assign", OPEN_STATES, ComplaintStatus.processing.value, _l("交办部门"))
def _assign(c: Complaint, actor, now, session, department_id=None, note=None):
    """Hand the complaint to the department responsible (处理中)."""
    dept_id = parse_int("department_id", department_id)
    dept = session.get(Department, dept_id)
    if dept is None:
        raise ValidationError("department_id", _l("部门不存在"))
    if dept.estate_id not in (None, c.estate_id):
        raise ValidationError("department_id", _l("该部门不属于投诉所在的小区/大厦"))
    c.department_id = dept.id
    c.department = dept
    note = parse_text("note", note, 500)
    return f"交 {dept.name} 处理" + (f":{note}" if note else "")


@complaint_flow.add("escalate", OPEN_STATES, ComplaintStatus.processing.value, _l("上报"))
def _escalate(c: Complaint, actor, now, session, to=None, note=None):
    """上报: what the department cannot handle goes to its head or to the company's leadership."""
    if isinstance(to, str):
        to = ESCALATION_ALIASES.get(to.strip(), to.strip())
    target = parse_choice("to", to, EscalationTarget)
    note = parse_text("note", note, 500)
    assignee_id, role = None, None
    if target == EscalationTarget.department_head.value:
        head_id = c.department.head_id if c.department is not None else None
        if head_id is not None:
            assignee_id = head_id
        else:
            role = OFFICE_HEAD_ROLE
    else:
        role = LEADERSHIP_ROLE
    close_tasks(session, "complaint_escalated", "complaint", c.id, now, note=str(_l("已再次上报")))
    who = EscalationTarget.label_of(target)
    ensure_task(
        session,
        "complaint_escalated",
        "complaint",
        c.id,
        f"投诉 {c.number} 上报{who}:{c.content[:60]}",
        estate_id=c.estate_id,
        assignee_id=assignee_id,
        role_name=role,
        due_at=max(c.reply_due_at, now + timedelta(hours=4)) if c.replied_at is None else None,
        detail=note,
        now=now,
    )
    c.escalated_to = target
    c.escalated_at = now
    c.escalation_note = note
    return f"上报{who}" + (f":{note}" if note else "")


@complaint_flow.add("reply", OPEN_STATES, ComplaintStatus.replied.value, _l("答复"))
def _reply(c: Complaint, actor, now, session, reply=None, revisit_due_at=None):
    """答复 the complainant; a revisit follows (due `revisit_due_at`, by default 3 days on)."""
    text = require_text("reply", reply, 2000, _l("请填写答复内容"))
    due = parse_dt("revisit_due_at", revisit_due_at)
    if due is None:
        due = now + timedelta(days=int(current_app.config.get("COMPLAINT_REVISIT_DAYS", REVISIT_DAYS_DEFAULT)))
    if due <= now:
        raise ValidationError("revisit_due_at", _l("回访期限必须晚于答复时间"))
    if due > now + timedelta(days=60):
        raise ValidationError("revisit_due_at", _l("回访期限不能超过答复后 60 天"))
    first = c.replied_at is None
    c.reply = text
    if first:  # the 24-hour rule is about the first answer; a later one follows a failed revisit
        c.replied_at = now
        c.replied_by_id = actor.user_id
    close_tasks(session, ["complaint_reply_overdue", "complaint_escalated"], "complaint", c.id, now, note=str(_l("已答复")))
    _schedule_complaint_revisit(session, c, now, due)
    late = "" if not first or c.replied_at <= c.reply_due_at else "(超过答复时限)"
    return f"{'答复' if first else '再次答复'}{late}:{text[:100]}"


def _schedule_complaint_revisit(session, c: Complaint, now: datetime, due: datetime) -> Revisit:
    rounds = [r.round for r in revisits_of(session, "complaint", c.id)]
    return schedule_revisit(
        session,
        "complaint",
        c.id,
        estate_id=c.estate_id,
        not_before=now,
        due_at=due,
        round=max(rounds, default=0) + 1,
        subject=f"投诉 {c.number} {c.category_label}:{c.content[:40]}",
        contact_name=c.who,
        contact_phone=c.phone,
        complaint_id=c.id,
    )


@complaint_flow.add("revisit_done", [ComplaintStatus.replied.value], ComplaintStatus.revisited.value, _l("回访完成"))
def _revisit_done(c: Complaint, actor, now, session, revisit_id=None):
    return str(_l("回访完成,业户意见已记录"))


@complaint_flow.add("reopen", [ComplaintStatus.replied.value], ComplaintStatus.processing.value, _l("回访发现问题,重新处理"))
def _reopen(c: Complaint, actor, now, session, problem=None):
    """The revisit found the problem unsolved: back to 处理中 for another answer and another revisit."""
    return f"回访发现问题:{problem or ''}"


@complaint_flow.add("close", [ComplaintStatus.replied.value, ComplaintStatus.revisited.value], ComplaintStatus.closed.value, _l("关闭"))
def _close(c: Complaint, actor, now, session, valid=None, satisfaction=None, note=None):
    """关闭: decide whether it was a valid complaint (有效投诉) and record the complainant's satisfaction."""
    if valid is None or valid == "":
        raise ValidationError("valid", _l("关闭投诉前必须判定是否为有效投诉(valid:true 或 false)"))
    if isinstance(valid, bool):
        decided = valid
    elif isinstance(valid, str) and valid.strip().lower() in ("true", "1", "yes", "是", "有效"):
        decided = True
    elif isinstance(valid, str) and valid.strip().lower() in ("false", "0", "no", "否", "无效"):
        decided = False
    else:
        raise ValidationError("valid", _l("是否有效投诉只能是 true 或 false"))
    last = _last_revisit(session, c)
    satisfaction = parse_choice("satisfaction", satisfaction, Satisfaction, required=False)
    if satisfaction is None and last is not None and last.status == RevisitStatus.done.value:
        satisfaction = last.satisfaction
    if satisfaction is None:
        raise ValidationError("satisfaction", _l("请填写业户满意度(satisfied / basically_satisfied / dissatisfied)"))
    note = parse_text("note", note, 500)
    if c.status != ComplaintStatus.revisited.value:
        raise TransitionRefused(_l("投诉答复后还没有回访,不能关闭:请先在回访台登记回访"))
    c.valid = decided
    c.satisfaction = satisfaction
    c.closed_at = now
    c.close_note = note
    close_tasks(session, ["complaint_reply_overdue", "complaint_escalated"], "complaint", c.id, now)
    return f"{c.valid_label},{Satisfaction.label_of(satisfaction)}" + (f";{note}" if note else "")


@complaint_flow.add("spawn_repair", [*OPEN_STATES, ComplaintStatus.replied.value, ComplaintStatus.revisited.value], None, _l("转维修单"))
def _spawn_repair(c: Complaint, actor, now, session, category=None, urgency=None, problem=None, emergency_reason=None, location=None):
    """A complaint about something broken becomes a repair order (source 投诉), linked both ways."""
    if c.spawned_order_id is not None:
        raise TransitionRefused(_l("这条投诉已经转过维修单了"))
    from models.rectification import register_repair_from_complaint

    order = register_repair_from_complaint(
        session, c, actor, now, category=category, urgency=urgency, problem=problem, emergency_reason=emergency_reason, location=location
    )
    c.spawned_order_id = order.id
    return f"已转维修单 {order.number}"


def _last_revisit(session, c: Complaint) -> Revisit | None:
    rows = revisits_of(session, "complaint", c.id)
    return rows[-1] if rows else None


@revisit_flow.on("record")
def _complaint_revisited(revisit: Revisit, event, actor, now, session) -> None:
    """A recorded revisit of a complaint moves it to 已回访, or back to 处理中 when a problem remains."""
    if revisit.object_type != "complaint":
        return
    complaint = session.get(Complaint, revisit.object_id)
    if complaint is None or complaint.status != ComplaintStatus.replied.value:
        return
    system = Actor.system_actor()
    if revisit.has_problem:
        complaint_flow.apply(session, complaint, "reopen", system, now, {"problem": revisit.problem})
    else:
        complaint_flow.apply(session, complaint, "revisit_done", system, now, {"revisit_id": revisit.id})


def register_complaint(session, actor, now: datetime | None = None, **fields) -> Complaint:
    """Create a complaint from another record (a walk-in visit, a call, a survey answer)."""
    from app.scope import prepare_write

    complaint = Complaint(**fields)
    if complaint.received_at is None:
        complaint.received_at = now or utcnow()
    with session.no_autoflush:
        prepare_write(complaint, session)
    session.add(complaint)
    session.flush()
    complaint_flow.log(session, complaint, "register", actor, now or utcnow(), note=str(_l("受理投诉")))
    return complaint


# ---------------------------------------------------------------- overdue
def scan_reply_overdue(session, now: datetime) -> dict[str, int]:
    """complaint_reply_overdue: not answered 24 h after receipt → a task for the department head
    (or the 管理处主任 when no head is known). Set-based: a few statements however many are late."""
    from sqlalchemy import and_

    from models.task import sync_tasks

    late = and_(Complaint.status.in_(OPEN_STATES), Complaint.replied_at.is_(None), Complaint.reply_due_at < now)
    query = (
        select(Complaint.id, Complaint.number, Complaint.complainant, Complaint.content, Complaint.estate_id,
               Complaint.reply_due_at, Department.head_id, Owner.name.label("owner_name"))
        .outerjoin(Department, Department.id == Complaint.department_id)
        .outerjoin(Owner, Owner.id == Complaint.owner_id)
        .where(late)
    )
    rows = []
    for c in session.execute(query):
        who = c.complainant or c.owner_name or str(_l("未留名"))
        rows.append(
            {
                "object_id": c.id,
                "title": f"投诉 {c.number} 超过 24 小时未答复:{who} {c.content[:40]}",
                "estate_id": c.estate_id,
                "assignee_id": c.head_id,
                "role_name": None if c.head_id else OFFICE_HEAD_ROLE,
                "due_at": c.reply_due_at,
            }
        )
    created, closed = sync_tasks(session, "complaint_reply_overdue", "complaint", rows, now, keep=select(Complaint.id).where(late))
    return {"complaint_reply_overdue": created, "complaint_reply_overdue_closed": closed}


# ---------------------------------------------------------------- KPIs
def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return day_start(date(year, 1, 1)), day_start(date(year + 1, 1, 1))


def valid_complaint_rate(session, estate_id: int | None, year: int) -> Kpi:
    """有效投诉率: valid complaints received in the year ÷ households, in ‰; target below 0.5‰."""
    start, end = _year_bounds(year)
    conds = [Complaint.valid.is_(True), Complaint.received_at >= start, Complaint.received_at < end]
    if estate_id is not None:
        conds.append(Complaint.estate_id == estate_id)
        households = session.scalar(select(Estate.households).where(Estate.id == estate_id)) or 0
    else:
        households = session.scalar(select(func.sum(Estate.households))) or 0
    valid = session.scalar(select(func.count(Complaint.id)).where(*conds)) or 0
    value = (Decimal(valid) * 1000 / Decimal(households)).quantize(Decimal("0.0001")) if households else None
    return Kpi("valid_complaint_rate", str(_l("有效投诉率")), valid, int(households), value, Decimal("0.5"), "‰", higher_is_better=False)


def reply_on_time_rate(session, estate_id: int | None, year: int, month: int | None = None, now: datetime | None = None) -> Kpi:
    """24 小时答复率: complaints answered within the limit ÷ complaints whose reply was due, for a
    year or one month of receipt (up to `now`); target 100%."""
    from models.revisit import month_bounds

    now = now or utcnow()
    start, end = month_bounds(year, month) if month else _year_bounds(year)
    conds = [Complaint.received_at >= start, Complaint.received_at < end, or_(Complaint.reply_due_at <= now, Complaint.replied_at.is_not(None))]
    if estate_id is not None:
        conds.append(Complaint.estate_id == estate_id)
    due = session.scalar(select(func.count(Complaint.id)).where(*conds)) or 0
    on_time = (
        session.scalar(
            select(func.count(Complaint.id)).where(*conds, Complaint.replied_at.is_not(None), Complaint.replied_at <= Complaint.reply_due_at)
        )
        or 0
    )
    return Kpi("reply_on_time_rate", str(_l("24 小时答复率")), on_time, due, ratio(on_time, due), Decimal("1"), "%")


# ---------------------------------------------------------------- weekly statistics
class ComplaintWeek(EstateOwned, Model):
    """投诉周统计: one estate's complaints of one week (Monday to Sunday), kept as a record."""

    __tablename__ = "complaint_week"
    __table_args__ = (UniqueConstraint("estate_id", "week_start", name="uq_complaint_week"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    week_start: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    week_end: Mapped[date] = mapped_column(Date, nullable=False)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    valid: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    invalid: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    undecided: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    replied_on_time: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    replied_late: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unanswered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    data: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"{self.estate.name if self.estate else ''} {self.week_label}".strip()

    @property
    def period(self) -> str:
        return f"{self.week_start:%Y-%m}"

    @property
    def week_label(self) -> str:
        iso = self.week_start.isocalendar()
        return str(_l("%(y)s年第%(w)s周(%(start)s~%(end)s)", y=iso.year, w=iso.week, start=f"{self.week_start:%m-%d}", end=f"{self.week_end:%m-%d}"))

    @property
    def reply_rate(self) -> Decimal | None:
        return ratio(self.replied_on_time, self.replied_on_time + self.replied_late)

    @property
    def reply_rate_display(self) -> str:
        rate = self.reply_rate
        return "—" if rate is None else f"{rate * 100:.1f}%"

    @property
    def breakdown(self) -> dict[str, list[dict]]:
        try:
            data = json.loads(self.data) if self.data else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def previous_week(now: datetime) -> date:
    """The Monday of the week before the one `now` falls in (Asia/Shanghai)."""
    return week_start_of(local_date(now)) - timedelta(days=7)


def compute_week(session, estate_id: int, week_start: date, now: datetime) -> dict:
    """The statistics of one estate and week: totals and breakdowns by category, department,
    validity and on-time reply."""
    start = day_start(week_start)
    end = day_start(week_start + timedelta(days=7))
    rows = list(
        session.scalars(
            select(Complaint).where(Complaint.estate_id == estate_id, Complaint.received_at >= start, Complaint.received_at < end)
        )
    )

    def reply_class(c: Complaint) -> str:
        if c.replied_at is not None:
            return "on_time" if c.replied_at <= c.reply_due_at else "late"
        return "late" if c.reply_due_at < now else "pending"

    def validity(c: Complaint) -> str:
        return "undecided" if c.valid is None else ("valid" if c.valid else "invalid")

    def group(key, label) -> list[dict]:
        buckets: dict = defaultdict(lambda: {"count": 0, "valid": 0, "on_time": 0, "late": 0})
        labels = {}
        for c in rows:
            k = key(c)
            labels[k] = label(c)
            b = buckets[k]
            b["count"] += 1
            b["valid"] += 1 if c.valid else 0
            cls = reply_class(c)
            if cls in ("on_time", "late"):
                b[cls] += 1
        return [{"key": k, "label": labels[k], **v} for k, v in sorted(buckets.items(), key=lambda kv: (-kv[1]["count"], str(kv[0])))]

    summary = {
        "total": len(rows),
        "valid": sum(1 for c in rows if c.valid is True),
        "invalid": sum(1 for c in rows if c.valid is False),
        "undecided": sum(1 for c in rows if c.valid is None),
        "replied_on_time": sum(1 for c in rows if reply_class(c) == "on_time"),
        "replied_late": sum(1 for c in rows if reply_class(c) == "late"),
        "unanswered": sum(1 for c in rows if c.replied_at is None),
    }
    validity_labels = {"valid": str(_l("有效投诉")), "invalid": str(_l("无效投诉")), "undecided": str(_l("未判定"))}
    reply_labels = {"on_time": str(_l("24 小时内答复")), "late": str(_l("超时(含超时未答复)")), "pending": str(_l("未到答复期限"))}
    breakdown = {
        "category": group(lambda c: c.category, lambda c: c.category_label),
        "department": group(lambda c: c.department_id or 0, lambda c: c.department.name if c.department else str(_l("未指定部门"))),
        "validity": group(validity, lambda c: validity_labels[validity(c)]),
        "reply": group(reply_class, lambda c: reply_labels[reply_class(c)]),
    }
    return {**summary, "breakdown": breakdown}


def build_week(session, week_start: date, now: datetime) -> dict[str, int]:
    """Build (or refresh) every estate's record of the week; running it again creates nothing new."""
    created = updated = 0
    week_end = week_start + timedelta(days=6)
    for estate_id in session.scalars(select(Estate.id).order_by(Estate.id)):
        stats = compute_week(session, estate_id, week_start, now)
        breakdown = stats.pop("breakdown")
        record = session.scalar(select(ComplaintWeek).where(ComplaintWeek.estate_id == estate_id, ComplaintWeek.week_start == week_start))
        data = json.dumps(breakdown, ensure_ascii=False)
        if record is None:
            record = ComplaintWeek(estate_id=estate_id, week_start=week_start, week_end=week_end, built_at=now, data=data, **stats)
            session.add(record)
            created += 1
        elif record.data != data or any(getattr(record, k) != v for k, v in stats.items()):
            for k, v in stats.items():
                setattr(record, k, v)
            record.data = data
            record.built_at = now
            updated += 1
    session.flush()
    return {"weeks_created": created, "weeks_updated": updated, "week_start": week_start.isoformat()}


# ---------------------------------------------------------------- export
def weeks_for_period(session, period: str, estate_id: int | None = None, now: datetime | None = None) -> list[ComplaintWeek]:
    """The weeks touching a month (YYYY-MM) or a year (YYYY), per estate: the kept record where the
    weekly job made one, else the statistics computed now (not saved) for weeks already begun."""
    now = now or utcnow()
    year, _, month = period.partition("-")
    start = date(int(year), int(month or 1), 1)
    end = date(int(year) + 1, 1, 1) if not month else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    last = min(end - timedelta(days=1), local_date(now))
    estates = session.scalars(select(Estate).order_by(Estate.id) if estate_id is None else select(Estate).where(Estate.id == estate_id)).all()
    kept = {
        (w.estate_id, w.week_start): w
        for w in session.scalars(
            select(ComplaintWeek).where(ComplaintWeek.week_start >= week_start_of(start), ComplaintWeek.week_start <= last)
        )
    }
    weeks = []
    monday = week_start_of(start)
    while monday <= last:
        for estate in estates:
            record = kept.get((estate.id, monday))
            if record is None:
                stats = compute_week(session, estate.id, monday, now)
                breakdown = stats.pop("breakdown")
                record = ComplaintWeek(
                    estate_id=estate.id, week_start=monday, week_end=monday + timedelta(days=6), built_at=now,
                    data=json.dumps(breakdown, ensure_ascii=False), **stats,
                )
                record.estate = estate
            weeks.append(record)
        monday += timedelta(days=7)
    return weeks


@export("weekly_complaints", _l("投诉周统计"))
def export_weekly(session, period: str | None, path, estate_id: int | None = None, rows=None) -> int:
    """投诉周统计 as xlsx: one sheet of weekly totals, one per breakdown (category, department,
    validity, on-time reply). `period` YYYY-MM (the weeks touching that month) or YYYY."""
    from app.xlsx import Col, new_workbook, write_sheet

    weeks = rows if rows is not None else weeks_for_period(session, period, estate_id)
    workbook = new_workbook(path)
    estate_name = lambda w: w.estate.name if w.estate else ""  # noqa: E731
    write_sheet(
        workbook,
        str(_l("投诉周统计")),
        [
            Col("周次", lambda w: w.week_label, width=30),
            Col("周一", "week_start", "date"),
            Col("小区/大厦", estate_name, width=16),
            Col("投诉数", "total", "int"),
            Col("有效投诉", "valid", "int"),
            Col("无效投诉", "invalid", "int"),
            Col("未判定", "undecided", "int"),
            Col("24小时内答复", "replied_on_time", "int"),
            Col("超时答复/未答复", "replied_late", "int"),
            Col("尚未答复", "unanswered", "int"),
            Col("按时答复率", lambda w: w.reply_rate_display),
            Col("统计时间", "built_at", "datetime"),
        ],
        weeks,
        subtitle=str(_l("期间:%(p)s", p=period)) if period else None,
    )
    breakdowns = (
        ("category", _l("按类别"), _l("类别")),
        ("department", _l("按部门"), _l("部门")),
        ("validity", _l("按有效性"), _l("有效性")),
        ("reply", _l("按答复时效"), _l("答复时效")),
    )
    for key, title, column in breakdowns:
        lines = [(w, line) for w in weeks for line in w.breakdown.get(key, [])]
        write_sheet(
            workbook,
            str(title),
            [
                Col("周次", lambda r: r[0].week_label, width=30),
                Col("小区/大厦", lambda r: estate_name(r[0]), width=16),
                Col(str(column), lambda r: r[1]["label"], width=18),
                Col("投诉数", lambda r: r[1]["count"], "int"),
                Col("有效投诉", lambda r: r[1]["valid"], "int"),
                Col("24小时内答复", lambda r: r[1]["on_time"], "int"),
                Col("超时", lambda r: r[1]["late"], "int"),
            ],
            lines,
        )
    workbook.close()
    return len(weeks)

"""Complaints 投诉 (接待 二.3, 七; SPEC §6): what a complaint is, and its workflow.

受理 received → 处理中 processing → 已答复 replied → 已回访 revisited → 已关闭 closed.
A reply is due 24 h after receipt (setting `complaint_reply_hours`); what the department cannot
handle is escalated to the department head or the company's leadership (a task); the reply is
followed by one revisit; closing decides validity (有效投诉) and records satisfaction.

Here: the codes, the record with its deadlines and the rules checked on every write, its numbering
and `complaint_flow`. Next to it, loaded with it and re-exported here: the moves, registration from
another area's record and the overdue scan (`models.complaint_handling`); the KPIs, the weekly
statistics and their export (`models.complaint_reports`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, func, inspect, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    UTCDateTime,
    ValidationError,
    code_column,
    local,
    parse_choice,
    parse_text,
    person_name,
    require_text,
    utcnow,
)
from models.master import Department, Estate, Owner, Unit, check_phone
from models.revisit import EARLY_GRACE, Satisfaction
from models.workflow import Workflow, register_workflow

logger = logging.getLogger(__name__)


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
        return person_name(self.replied_by)

    @property
    def received_by_name(self) -> str:
        return person_name(self.created_by)

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


# the moves (with the revisit hook) and the reports (with the export) register themselves as they load
from models.complaint_handling import (  # noqa: E402,F401
    register_complaint,
    register_complaint_from_source,
    scan_reply_overdue,
)
from models.complaint_reports import (  # noqa: E402,F401
    ComplaintWeek,
    build_week,
    compute_week,
    export_weekly,
    previous_week,
    reply_on_time_rate,
    valid_complaint_rate,
    week_start_of,
    weeks_for_period,
)

"""维修单 (SPEC §4; 接待 六, 维修单 一–二 and the forms of 附): the repair work order.

What a 维修单 is: its columns, totals and billable lines, its deadlines (pure functions of the
order and `now`) and their SQL twins used by the overdue scan and the ledger's filter, and
`repair_flow`, its state machine. Next to it: the codes, period rule and numbering
(`models.repair_codes`), `RepairOrder.register` (`models.repair_intake`), the moves
(`models.repair_transitions`), 请购单 (`models.repair_purchase`), the overdue scan and month end
(`models.repair_scan`), lists, exports and statistics (`models.repair_reports`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, ForeignKey, Index, Integer, Numeric, String, Text, and_, select
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from models.base import (
    AuditMixinNullable,
    EstateOwned,
    Money,
    UTCDateTime,
    ValidationError,
    amount_in_words,
    code_column,
    fmt_dt,
    local,
    money,
    person_name,
    require_text,
    utcnow,
)
from models.repair_codes import (  # noqa: F401  (re-exported: the codes are part of what a 维修单 is)
    ACTIVE_STATES,
    BACKDATE_LIMIT,
    CLOCK_TOLERANCE,
    EMERGENCY_KEYWORDS,
    IN_SECTION,
    OBJECT_TYPE,
    OPEN_STATES,
    OVERDUE_LABELS,
    PERMISSION_VIEW,
    PROCESSED_NOT_BACK,
    RETURN_PENDING,
    SOURCE_SYNONYMS,
    TERMINAL,
    ZERO,
    DelayKind,
    DocCounter,
    EmergencyReason,
    MaterialProvider,
    RepairCategory,
    RepairKind,
    RepairSource,
    RepairStatus,
    Urgency,
    next_number,
    order_number,
    parse_code,
    parse_emergency_reason,
    period_bounds,
    period_of,
)
from models.repair_codes import RepairStatus as S
from models.workflow import Event, Workflow, register_workflow

logger = logging.getLogger(__name__)



# ---------------------------------------------------------------- models
def resident_text(contact_name: str | None, owner_name: str | None) -> str:
    """用户名称 / 住户姓名: who called, else the unit's owner."""
    return contact_name or owner_name or ""


def address_text(estate: str | None, unit: str | None, location: str | None) -> str:
    """用户地址: estate, building and room, or the location of a public area."""
    return " ".join(p for p in (estate, unit, location) if p)


class RepairOrder(EstateOwned, AuditMixinNullable, Model):
    """维修单 / 维修(服务)任务单 / 返修申请表 / 物业维修单."""

    __tablename__ = "repair_order"
    __table_args__ = (
        # the ledger's pages, newest first: an estate's orders, by status, company-wide by status
        Index("ix_repair_order_estate_recorded", "estate_id", "recorded_at"),
        Index("ix_repair_order_estate_status_recorded", "estate_id", "status", "recorded_at"),
        Index("ix_repair_order_status_recorded", "status", "recorded_at"),
        Index("ix_repair_order_period_estate", "period", "estate_id"),
        Index("ix_repair_order_status_pickup", "status", "pickup_due_at"),
        Index("ix_repair_order_status_return", "status", "return_due_at"),
        Index("ix_repair_order_status_material", "status", "material_due_at"),
        Index("ix_repair_order_assignee_status", "assignee_id", "status"),
        Index("ix_repair_order_estate_returned", "estate_id", "returned_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    period: Mapped[str] = mapped_column(String(7), nullable=False, index=True)
    status: Mapped[str] = code_column(RepairStatus, nullable=False, default=S.registered.value, index=True)
    # what and where (物业维修 / 返修申请表)
    source: Mapped[str] = code_column(RepairSource, nullable=False, default=RepairSource.hotline.value)
    kind: Mapped[str] = code_column(RepairKind, nullable=False, default=RepairKind.repair.value, index=True)
    category: Mapped[str] = code_column(RepairCategory, nullable=False, index=True)
    urgency: Mapped[str] = code_column(Urgency, nullable=False, default=Urgency.normal.value, index=True)
    emergency_reason: Mapped[str | None] = code_column(EmergencyReason)
    paid: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owner.id"), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(40))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    location: Mapped[str | None] = mapped_column(String(200))
    problem: Mapped[str] = mapped_column(Text, nullable=False)
    appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    origin_type: Mapped[str | None] = mapped_column(String(30))
    origin_id: Mapped[int | None] = mapped_column(Integer)
    # recording and dispatch
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    backdated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    dispatched_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    picked_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    picked_up_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    transfer_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # deadlines (set by the moves; `deadlines()` reads them)
    pickup_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    return_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    material_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    delay_kind: Mapped[str | None] = code_column(DelayKind)
    delay_reason: Mapped[str | None] = mapped_column(Text)
    delay_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    material_reported_late: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # the work (返修申请表)
    fee_standard_id: Mapped[int | None] = mapped_column(ForeignKey("fee_standard.id"))
    quoted_amount: Mapped[Decimal | None] = mapped_column(Money)
    owner_consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    work_hours: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    cause: Mapped[str | None] = mapped_column(Text)
    service_fee: Mapped[Decimal] = mapped_column(Money, nullable=False, default=ZERO)
    material_total: Mapped[Decimal] = mapped_column(Money, nullable=False, default=ZERO)
    total: Mapped[Decimal] = mapped_column(Money, nullable=False, default=ZERO)
    # acceptance, return, follow-up
    owner_signed_by: Mapped[str | None] = mapped_column(String(40))
    owner_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    satisfied: Mapped[bool | None] = mapped_column(Boolean)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    revisited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rectify_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rectify_notice: Mapped[str | None] = mapped_column(Text)
    rectify_noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 退单, cancel, merge, urge, month end
    reject_reason: Mapped[str | None] = mapped_column(Text)
    reject_from_status: Mapped[str | None] = mapped_column(String(30))
    reject_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reject_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reject_decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    reject_opinion: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("repair_order.id"))
    urge_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_urged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    month_end_flag: Mapped[str | None] = mapped_column(String(7), index=True)

    unit = relationship("Unit", foreign_keys=[unit_id], lazy="joined")
    owner = relationship("Owner", foreign_keys=[owner_id], lazy="joined")
    department = relationship("Department", foreign_keys=[department_id], lazy="joined")
    assignee = relationship("Staff", foreign_keys=[assignee_id], lazy="joined")
    fee_standard = relationship("FeeStandard", foreign_keys=[fee_standard_id])
    recorded_by = relationship("User", foreign_keys=[recorded_by_id])
    dispatched_by = relationship("User", foreign_keys=[dispatched_by_id])
    picked_up_by = relationship("User", foreign_keys=[picked_up_by_id])
    returned_by = relationship("User", foreign_keys=[returned_by_id])
    reject_decided_by = relationship("User", foreign_keys=[reject_decided_by_id])
    merged_into = relationship("RepairOrder", remote_side=[id], foreign_keys=[merged_into_id])
    materials = relationship(
        "RepairMaterial", back_populates="order", cascade="all, delete-orphan", order_by="RepairMaterial.id", lazy="selectin"
    )
    requisitions = relationship("PurchaseRequisition", back_populates="order", order_by="PurchaseRequisition.id")

    def __repr__(self) -> str:
        return self.number or "维修单"

    # ------------------------------------------------------------ labels
    @property
    def status_label(self) -> str:
        return RepairStatus.label_of(self.status)

    @property
    def category_label(self) -> str:
        return RepairCategory.label_of(self.category)

    @property
    def urgency_label(self) -> str:
        return Urgency.label_of(self.urgency)

    @property
    def source_label(self) -> str:
        return RepairSource.label_of(self.source)

    @property
    def kind_label(self) -> str:
        return RepairKind.label_of(self.kind)

    @property
    def emergency_reason_label(self) -> str:
        return EmergencyReason.label_of(self.emergency_reason)

    @property
    def delay_kind_label(self) -> str:
        return DelayKind.label_of(self.delay_kind)

    @property
    def paid_label(self) -> str:
        return str(_l("有偿")) if self.paid else str(_l("无偿"))

    @property
    def satisfied_label(self) -> str:
        if self.satisfied is None:
            return ""
        return str(_l("满意")) if self.satisfied else str(_l("不满意"))

    @property
    def is_emergency(self) -> bool:
        return self.urgency == Urgency.emergency.value

    # ------------------------------------------------------------ who and where, as the forms show them
    @property
    def resident_name(self) -> str:
        """用户名称 / 住户姓名."""
        return resident_text(self.contact_name, self.owner.name if self.owner is not None else None)

    @property
    def resident_company(self) -> str:
        """住户单位."""
        return (self.owner.company or "") if self.owner is not None else ""

    @property
    def address(self) -> str:
        """用户地址: estate, building and room, or the location of a public area."""
        return address_text(self.estate.name if self.estate is not None else None, str(self.unit) if self.unit is not None else None, self.location)

    @property
    def building_name(self) -> str:
        return self.unit.building.name if self.unit is not None and self.unit.building is not None else ""

    @property
    def room(self) -> str:
        return self.unit.room if self.unit is not None else ""

    @property
    def recorder_name(self) -> str:
        return colleague_name(self.recorded_by)

    @property
    def receiver_name(self) -> str:
        """接受人: who picked the order up at the duty room."""
        return colleague_name(self.picked_up_by)

    @property
    def assignee_name(self) -> str:
        return self.assignee.name if self.assignee is not None else ""

    @property
    def problem_short(self) -> str:
        return self.problem or ""

    @property
    def ledger_note(self) -> str:
        from models.repair_reports import ledger_note

        return ledger_note(self)

    # ------------------------------------------------------------ money
    @property
    def total_in_words(self) -> str:
        return amount_in_words(self.total)

    def recompute_totals(self) -> None:
        """计价 per line; the owner pays the service fee and the company's materials."""
        material = ZERO
        for line in self.materials:
            line.amount = money((line.quantity or 0) * (line.unit_price or 0))
            if line.provider == MaterialProvider.company.value:
                material += line.amount
        self.material_total = money(material)
        self.total = money((self.service_fee or ZERO) + self.material_total)

    def billable_lines(self) -> list[tuple[str, Decimal]]:
        """What a payment request charges for this order: the service fee and the company's materials."""
        if not self.paid:
            return []
        lines: list[tuple[str, Decimal]] = []
        if self.service_fee and self.service_fee > 0:
            lines.append((str(_l("%(no)s 维修服务费", no=self.number)), money(self.service_fee)))
        for line in self.materials:
            if line.provider == MaterialProvider.company.value and line.amount and line.amount > 0:
                spec = f" {line.spec}" if line.spec else ""
                text = _l("%(no)s 材料:%(name)s%(spec)s × %(qty)s", no=self.number, name=line.name, spec=spec, qty=_qty(line.quantity))
                lines.append((str(text), money(line.amount)))
        return lines

    # ------------------------------------------------------------ deadlines (pure functions of the row and now)
    def return_due(self, now: datetime) -> datetime | None:
        """When the order must be back; while waiting for material the clock stands still."""
        if self.return_due_at is None:
            return None
        if self.paused_since is not None:
            return self.return_due_at + max(now - self.paused_since, timedelta(0))
        return self.return_due_at

    def pickup_overdue(self, now: datetime) -> bool:
        return self.status == S.dispatched and self.pickup_due_at is not None and now > self.pickup_due_at

    def return_overdue(self, now: datetime) -> bool:
        return (
            self.status in RETURN_PENDING
            and self.return_due_at is not None
            and self.paused_since is None
            and now > self.return_due_at
        )

    def material_report_overdue(self, now: datetime) -> bool:
        return (
            self.status in (S.accepted, S.in_progress)
            and self.material_due_at is not None
            and self.delay_reported_at is None
            and now > self.material_due_at
        )

    def overdue_kinds(self, now: datetime) -> list[str]:
        kinds = []
        if self.pickup_overdue(now):
            kinds.append("not_picked_up")
        if self.return_overdue(now):
            kinds.append("not_returned")
        if self.material_report_overdue(now):
            kinds.append("material_not_reported")
        return kinds

    def is_overdue(self, now: datetime | None = None) -> bool:
        return bool(self.overdue_kinds(now or utcnow()))

    @property
    def overdue(self) -> list[str]:
        """What is late now (task kinds: not_picked_up, not_returned, material_not_reported)."""
        return self.overdue_kinds(utcnow())

    @property
    def overdue_text(self) -> str:
        return "、".join(str(OVERDUE_LABELS[k]) for k in self.overdue_kinds(utcnow()))

    @property
    def deadline_list(self) -> list[dict]:
        return [d.to_api() for d in self.deadlines(utcnow())]

    @property
    def material_lines(self) -> list[dict]:
        return [line.to_api() for line in self.materials]

    def deadlines(self, now: datetime) -> list[Deadline]:
        """The clocks that apply to the order now, for the show page and the API."""
        result = []
        if self.pickup_due_at is not None:
            done = self.picked_up_at
            result.append(Deadline("pickup", _l("取单期限"), self.pickup_due_at, done, self.pickup_overdue(now)))
        if self.dispatched_at is not None:
            due = self.return_due(now)
            note = None
            if self.paused_since is not None:
                note = _l("等待材料,计时暂停(自 %(t)s 起)", t=fmt_dt(self.paused_since))
            elif self.return_due_at is None and self.delay_kind == DelayKind.objective.value:
                note = _l("已报客观原因延期,未定新期限")
            result.append(Deadline("return", _l("回单期限"), due, self.returned_at, self.return_overdue(now), note))
        if self.material_due_at is not None and self.status in (S.accepted, S.in_progress):
            result.append(
                Deadline("material", _l("缺料上报期限"), self.material_due_at, self.delay_reported_at, self.material_report_overdue(now))
            )
        return result

    # ------------------------------------------------------------ SQL twins of the deadline rules
    @classmethod
    def pickup_overdue_clause(cls, now: datetime):
        return and_(cls.status == S.dispatched.value, cls.pickup_due_at.is_not(None), cls.pickup_due_at < now)

    @classmethod
    def return_overdue_clause(cls, now: datetime):
        return and_(
            cls.status.in_([s.value for s in RETURN_PENDING]),
            cls.return_due_at.is_not(None),
            cls.paused_since.is_(None),
            cls.return_due_at < now,
        )

    @classmethod
    def material_overdue_clause(cls, now: datetime):
        return and_(
            cls.status.in_([S.accepted.value, S.in_progress.value]),
            cls.material_due_at.is_not(None),
            cls.delay_reported_at.is_(None),
            cls.material_due_at < now,
        )

    @classmethod
    def overdue_clause(cls, now: datetime):
        from sqlalchemy import or_

        return or_(cls.pickup_overdue_clause(now), cls.return_overdue_clause(now), cls.material_overdue_clause(now))

    # ------------------------------------------------------------ event log
    @property
    def events(self) -> list[dict]:
        session = object_session(self)
        if session is None or self.id is None:
            return []
        return [e.to_api(repair_flow) for e in repair_flow.events(session, self.id)]

    def event_rows(self) -> list[Event]:
        session = object_session(self)
        return repair_flow.events(session, self.id) if session is not None and self.id else []

    # ------------------------------------------------------------ writes through the generic edit path
    def validate(self, session) -> None:
        """Edits of the descriptive fields (add goes through `register`)."""
        from models.master import check_phone

        if self.status in TERMINAL:
            raise ValidationError("status", _l("已关闭、已退单或已取消的维修单不能修改"))
        self.problem = require_text("problem", self.problem, 2000, _l("请填写报修内容"))
        if self.contact_phone:
            self.contact_phone = check_phone("contact_phone", self.contact_phone, required=False)
        if self.unit is not None and self.unit.estate_id != self.estate_id:
            raise ValidationError("unit_id", _l("房屋不属于该小区/大厦"))

    def check_delete(self, session) -> None:
        raise ValidationError("id", _l("维修单不能删除,请用「取消」并写明原因"))

    # ------------------------------------------------------------ registration
    @classmethod
    def register(cls, session, actor, now: datetime | None = None, **fields) -> RepairOrder:
        """登记: validate what the clerk entered, number the order and log it; with a department it is
        dispatched at once (an emergency from the phone). Raises ValidationError naming the field."""
        return register_order(cls, session, actor, now or utcnow(), fields)


class RepairMaterial(Model):
    """使用维修材料: 名称, 材料提供方, 规格, 数量, 单价, 计价."""

    __tablename__ = "repair_material"
    id: Mapped[int] = mapped_column(primary_key=True)
    repair_order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id", ondelete="CASCADE"), nullable=False, index=True)
    round: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    provider: Mapped[str] = code_column(MaterialProvider, nullable=False, default=MaterialProvider.company.value)
    spec: Mapped[str | None] = mapped_column(String(60))
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 2), nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(Money, nullable=False, default=ZERO)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False, default=ZERO)
    order = relationship("RepairOrder", back_populates="materials")

    def __repr__(self) -> str:
        return f"{self.name} {self.spec or ''} × {_qty(self.quantity)}".strip()

    @property
    def provider_label(self) -> str:
        return MaterialProvider.label_of(self.provider)

    @property
    def quantity_text(self) -> str:
        return _qty(self.quantity)

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "round": self.round,
            "name": self.name,
            "provider": self.provider,
            "spec": self.spec,
            "quantity": format(self.quantity, "f"),
            "unit_price": format(money(self.unit_price), "f"),
            "amount": format(money(self.amount), "f"),
        }


class RepairAssignment(Model):
    """派工记录: who held the order when, and why it left them (for per-staff statistics)."""

    __tablename__ = "repair_assignment"
    __table_args__ = (Index("ix_repair_assignment_staff", "staff_id", "started_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    repair_order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id", ondelete="CASCADE"), nullable=False, index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), nullable=False)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(20))  # transferred | reassigned | rejected | cancelled
    staff = relationship("Staff", foreign_keys=[staff_id], lazy="joined")

    def __repr__(self) -> str:
        return f"{self.staff.name if self.staff else ''} {fmt_dt(self.started_at)}"


@dataclass
class Deadline:
    key: str
    label: object
    due_at: datetime | None
    done_at: datetime | None
    overdue: bool
    note: object = None

    def to_api(self) -> dict:
        return {
            "key": self.key,
            "label": str(self.label),
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "done_at": self.done_at.isoformat() if self.done_at else None,
            "overdue": self.overdue,
            "note": str(self.note) if self.note else None,
        }


def _qty(value) -> str:
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), "f")
    return text


def colleague_name(user) -> str:
    """A login as the repair screens name it: the staff member's name, else the login's own."""
    if user is None:
        return ""
    from models.master import Staff

    session = object_session(user)
    if session is not None:
        name = session.scalar(select(Staff.name).where(Staff.user_id == user.id))
        if name:
            return name
    return person_name(user)


def status_labels(code: str | None) -> str:
    return RepairStatus.label_of(code)


repair_flow = register_workflow(Workflow(object_type=OBJECT_TYPE, permission_view=PERMISSION_VIEW, status_labels=status_labels))


# ---------------------------------------------------------------- registration (models/repair_intake.py)
from models.repair_intake import REGISTER_FIELDS, can_backdate, optional_text, register_order  # noqa: E402,F401


def local_month(moment: datetime) -> str:
    return local(moment).strftime("%Y-%m")


# The moves, 请购单 and 维修收费标准 register themselves on import.
from models import repair_purchase, repair_transitions  # noqa: E402,F401

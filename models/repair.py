"""维修单 (SPEC §4; 接待 六, 维修单 一–二 and the forms of 附): the repair work order.

Everything a 维修单 is lives here: its codes, columns, number and period, its deadlines (pure
functions of the order and `now`) and their SQL twins used by the overdue scan and the ledger's
filter, and `RepairOrder.register`, the one way an order comes into being (API, add form,
reception). The moves between states are in `models.repair_transitions`, registered on
`repair_flow`; 请购单 and 维修收费标准 are in `models.repair_purchase`.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, ForeignKey, Index, Integer, Numeric, String, Text, and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from models.base import (
    TZ,
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    Money,
    PermissionDenied,
    UTCDateTime,
    ValidationError,
    amount_in_words,
    as_utc,
    code_column,
    fmt_dt,
    local,
    local_date,
    money,
    parse_bool,
    parse_dt,
    parse_int,
    require_text,
    utcnow,
)
from models.workflow import Event, Workflow, register_workflow

logger = logging.getLogger(__name__)

OBJECT_TYPE = "repair_order"
PERMISSION_VIEW = "RepairOrder"
# Stated times (开工/完工 written on the form, a back-dated record) may run this far ahead of the clock.
CLOCK_TOLERANCE = timedelta(minutes=5)
BACKDATE_LIMIT = timedelta(days=366)
ZERO = Decimal("0.00")


# ---------------------------------------------------------------- codes
class RepairStatus(LabeledEnum):
    registered = "registered"
    dispatched = "dispatched"
    accepted = "accepted"
    in_progress = "in_progress"
    awaiting_acceptance = "awaiting_acceptance"
    completed = "completed"
    returned = "returned"
    revisited = "revisited"
    closed = "closed"
    rectifying = "rectifying"
    reject_pending = "reject_pending"
    rejected = "rejected"
    cancelled = "cancelled"

    @classmethod
    def labels(cls):
        return {
            "registered": _l("登记"),
            "dispatched": _l("已派单"),
            "accepted": _l("已接单"),
            "in_progress": _l("维修中"),
            "awaiting_acceptance": _l("待验收"),
            "completed": _l("已完工"),
            "returned": _l("已回单"),
            "revisited": _l("已回访"),
            "closed": _l("已关闭"),
            "rectifying": _l("整改中"),
            "reject_pending": _l("退单待签"),
            "rejected": _l("已退单"),
            "cancelled": _l("已取消"),
        }


S = RepairStatus
# States that can still be cancelled (nothing has been done at the owner's yet, or it was refused).
OPEN_STATES = (S.registered, S.dispatched, S.accepted, S.in_progress, S.reject_pending)
# Work not yet done: the owner may urge.
ACTIVE_STATES = (S.registered, S.dispatched, S.accepted, S.in_progress, S.rectifying)
# Dispatched and not yet back at the duty room: the return clock runs.
RETURN_PENDING = (S.dispatched, S.accepted, S.in_progress, S.awaiting_acceptance, S.completed)
# Work in the section's hands.
IN_SECTION = (S.dispatched, S.accepted, S.in_progress, S.rectifying)
# Processed (work done or refused) but not yet back at the duty room: the month-end check.
PROCESSED_NOT_BACK = (S.awaiting_acceptance, S.completed, S.reject_pending)
TERMINAL = (S.closed, S.rejected, S.cancelled)
OVERDUE_LABELS = {
    "not_picked_up": _l("超时未取"),
    "not_returned": _l("超期未回单"),
    "material_not_reported": _l("缺料未报"),
}


class RepairSource(LabeledEnum):
    window = "window"
    hotline = "hotline"
    visit = "visit"
    complaint = "complaint"
    patrol = "patrol"

    @classmethod
    def labels(cls):
        return {"window": _l("窗口"), "hotline": _l("热线"), "visit": _l("走访"), "complaint": _l("投诉"), "patrol": _l("巡查")}


SOURCE_SYNONYMS = {"phone": "hotline", "call": "hotline", "walk_in": "window", "walkin": "window", "counter": "window", "owner_visit": "visit", "inspection": "patrol"}


class RepairCategory(LabeledEnum):
    plumbing_electric = "plumbing_electric"
    air_conditioning = "air_conditioning"
    elevator = "elevator"
    civil = "civil"
    doors_windows = "doors_windows"
    leak = "leak"
    safety = "safety"
    appliance = "appliance"
    other = "other"

    @classmethod
    def labels(cls):
        return {
            "plumbing_electric": _l("水电"),
            "air_conditioning": _l("空调"),
            "elevator": _l("电梯"),
            "civil": _l("土建"),
            "doors_windows": _l("门窗"),
            "leak": _l("渗漏水"),
            "safety": _l("安全设施"),
            "appliance": _l("家电"),
            "other": _l("其他"),
        }


class RepairKind(LabeledEnum):
    repair = "repair"
    service = "service"

    @classmethod
    def labels(cls):
        return {"repair": _l("维修"), "service": _l("服务")}


class Urgency(LabeledEnum):
    normal = "normal"
    emergency = "emergency"

    @classmethod
    def labels(cls):
        return {"normal": _l("一般"), "emergency": _l("急修")}


class EmergencyReason(LabeledEnum):
    """The handbook's emergencies (接待 六.4, 维修单 一.8)."""

    elevator = "elevator"
    structure = "structure"
    electric = "electric"
    water = "water"
    stairs = "stairs"
    falling = "falling"
    outage = "outage"
    flood_fire_crime = "flood_fire_crime"
    other_danger = "other_danger"

    @classmethod
    def labels(cls):
        return {
            "elevator": _l("电梯失控/困人/故障"),
            "structure": _l("房屋结构性损坏危险"),
            "electric": _l("室内线路故障停电、漏电"),
            "water": _l("水泵故障、水管爆裂停水、龙头严重漏水"),
            "stairs": _l("楼板/踏步断裂、扶手栏杆松动损坏"),
            "falling": _l("门窗、玻璃、外墙即将坠落"),
            "outage": _l("超过一个房间范围的停水停电停空调停电话"),
            "flood_fire_crime": _l("跑水、火情、匪情"),
            "other_danger": _l("其他涉及危险的项目"),
        }


# Words a clerk may type for a reason, checked in this order (the broader outage first).
EMERGENCY_KEYWORDS = [
    ("elevator", ("电梯", "困人")),
    ("flood_fire_crime", ("跑水", "火情", "火灾", "着火", "匪")),
    ("outage", ("超过一个房间", "多个房间", "停空调", "停电话", "整栋", "整层")),
    ("structure", ("结构",)),
    ("electric", ("线路", "漏电", "停电", "短路")),
    ("water", ("水泵", "爆裂", "爆管", "漏水", "停水", "水管")),
    ("stairs", ("楼板", "踏步", "扶手", "栏杆", "楼梯")),
    ("falling", ("坠落", "玻璃", "外墙")),
    ("other_danger", ("危险", "其他")),
]


class MaterialProvider(LabeledEnum):
    owner = "owner"
    company = "company"

    @classmethod
    def labels(cls):
        return {"owner": _l("业主"), "company": _l("公司")}


class DelayKind(LabeledEnum):
    objective = "objective"
    material = "material"

    @classmethod
    def labels(cls):
        return {"objective": _l("客观原因"), "material": _l("缺材料/备件")}


def parse_code(field: str, value, enum_cls, required: bool = True, synonyms: dict | None = None) -> str | None:
    """A code from the API or a form; the Chinese label is accepted too."""
    if value is None or value == "":
        if required:
            raise ValidationError(field, _l("请选择"))
        return None
    if isinstance(value, str):
        text = value.strip()
        if text in {m.value for m in enum_cls}:
            return text
        if synonyms and text.lower() in synonyms:
            return synonyms[text.lower()]
        for code, label in enum_cls.labels().items():
            if text == str(label):
                return code
    choices = "、".join(f"{m.value}({enum_cls.label_of(m.value)})" for m in enum_cls)
    raise ValidationError(field, _l("取值不正确,可选:%(codes)s", codes=choices))


def parse_emergency_reason(value) -> str:
    """One of the handbook's reasons: its code, its label or words of it (电梯困人 → elevator)."""
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text in {m.value for m in EmergencyReason}:
            return text
        for code, words in EMERGENCY_KEYWORDS:
            if text == EmergencyReason.label_of(code) or any(w in text for w in words):
                return code
    raise ValidationError(
        "emergency_reason",
        _l("急修原因须是手册所列情形之一:%(list)s", list=";".join(str(v) for v in EmergencyReason.labels().values())),
    )


# ---------------------------------------------------------------- period, numbers, money
def period_of(moment: datetime) -> str:
    """维修单 一.7: the month recorded in, except the last 2 days belong to the next (Asia/Shanghai)."""
    day = local_date(moment)
    last = calendar.monthrange(day.year, day.month)[1]
    year, month = day.year, day.month
    if day.day > last - 2:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """The [start, end) instants (UTC) of the recordings that belong to a period."""
    year, month = int(period[:4]), int(period[5:7])
    prev_year, prev_month = (year - 1, 12) if month == 1 else (year, month - 1)
    prev_last = calendar.monthrange(prev_year, prev_month)[1]
    start = datetime(prev_year, prev_month, prev_last - 1, tzinfo=TZ)
    last = calendar.monthrange(year, month)[1]
    end = datetime(year, month, last - 1, tzinfo=TZ)
    return as_utc(start), as_utc(end)


class DocCounter(Model):
    """The last number handed out per series (`WX-202611`): one row, updated under a row lock."""

    __tablename__ = "doc_counter"
    key: Mapped[str] = mapped_column(String(20), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    def __repr__(self) -> str:
        return f"{self.key}:{self.last}"


def next_number(session, key: str) -> int:
    """The next number of a series, unique however many clerks save at the same moment.

    The UPDATE takes the row's write lock (PostgreSQL) or the database's (SQLite) until commit,
    so concurrent savers queue; the first number of a series is inserted under a savepoint and
    retried when another transaction inserted it first.
    """
    for _attempt in range(5):
        result = session.execute(
            update(DocCounter).where(DocCounter.key == key).values(last=DocCounter.last + 1).execution_options(synchronize_session=False)
        )
        if result.rowcount:
            return session.scalar(select(DocCounter.last).where(DocCounter.key == key).execution_options(populate_existing=True))
        try:
            with session.begin_nested():
                session.add(DocCounter(key=key, last=1))
            return 1
        except IntegrityError:
            continue
    raise RuntimeError(f"could not allocate a number for {key}")


def order_number(period: str, seq: int) -> str:
    return f"WX-{period.replace('-', '')}-{seq:04d}"


# ---------------------------------------------------------------- models
class RepairOrder(EstateOwned, AuditMixinNullable, Model):
    """维修单 / 维修(服务)任务单 / 返修申请表 / 物业维修单."""

    __tablename__ = "repair_order"
    __table_args__ = (
        Index("ix_repair_order_estate_status", "estate_id", "status"),
        Index("ix_repair_order_period_estate", "period", "estate_id"),
        Index("ix_repair_order_status_pickup", "status", "pickup_due_at"),
        Index("ix_repair_order_status_return", "status", "return_due_at"),
        Index("ix_repair_order_status_material", "status", "material_due_at"),
        Index("ix_repair_order_assignee_status", "assignee_id", "status"),
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
        if self.contact_name:
            return self.contact_name
        return self.owner.name if self.owner is not None else ""

    @property
    def resident_company(self) -> str:
        """住户单位."""
        return (self.owner.company or "") if self.owner is not None else ""

    @property
    def address(self) -> str:
        """用户地址: estate, building and room, or the location of a public area."""
        parts = [self.estate.name if self.estate is not None else ""]
        if self.unit is not None:
            parts.append(str(self.unit))
        if self.location:
            parts.append(self.location)
        return " ".join(p for p in parts if p)

    @property
    def building_name(self) -> str:
        return self.unit.building.name if self.unit is not None and self.unit.building is not None else ""

    @property
    def room(self) -> str:
        return self.unit.room if self.unit is not None else ""

    @property
    def recorder_name(self) -> str:
        return _user_name(self.recorded_by)

    @property
    def receiver_name(self) -> str:
        """接受人: who picked the order up at the duty room."""
        return _user_name(self.picked_up_by)

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
            lines.append((f"{self.number} {_l('维修服务费')}", money(self.service_fee)))
        for line in self.materials:
            if line.provider == MaterialProvider.company.value and line.amount and line.amount > 0:
                spec = f" {line.spec}" if line.spec else ""
                lines.append((f"{self.number} {_l('材料')}:{line.name}{spec} × {_qty(line.quantity)}", money(line.amount)))
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
        return _register(cls, session, actor, now or utcnow(), fields)


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


def _user_name(user) -> str:
    if user is None:
        return ""
    from models.master import Staff

    session = object_session(user)
    if session is not None:
        name = session.scalar(select(Staff.name).where(Staff.user_id == user.id))
        if name:
            return name
    return f"{user.last_name or ''}{user.first_name or ''}" or user.username


def status_labels(code: str | None) -> str:
    return RepairStatus.label_of(code)


repair_flow = register_workflow(Workflow(object_type=OBJECT_TYPE, permission_view=PERMISSION_VIEW, status_labels=status_labels))


# ---------------------------------------------------------------- registration
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


def _register(cls, session, actor, now: datetime, fields: dict) -> RepairOrder:
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
        repair_flow.apply(session, order, "dispatch", actor, now, params)
    logger.info("repair order %s registered", order.number)
    return order


def local_month(moment: datetime) -> str:
    return local(moment).strftime("%Y-%m")


# The moves, 请购单 and 维修收费标准 register themselves on import.
from models import repair_purchase, repair_transitions  # noqa: E402,F401

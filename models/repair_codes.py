"""Codes and numbering of the 维修单: statuses, sources, categories, urgency and the handbook's
emergencies, the period rule (维修单 一.7) and the company-wide numbers `WX-YYYYMM-NNNN`."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TZ, LabeledEnum, ValidationError, as_utc, local_date

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

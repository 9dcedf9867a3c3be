"""Convenience services (SPEC §8; 便民 一.4): the service catalogue 便民服务项目一览表, the free
信息查询 directory, and bookings of the free courts and rooms."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, Time, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    Money,
    UTCDateTime,
    ValidationError,
    code_column,
    fmt_dt,
    fmt_money,
    local,
    parse_choice,
    parse_money,
    require_text,
    utcnow,
)
from models.workflow import Workflow, register_workflow


class ItemKind(LabeledEnum):
    free = "free"
    paid = "paid"

    @classmethod
    def labels(cls):
        return {"free": _l("无偿服务"), "paid": _l("有偿服务")}


class ServiceCategory(LabeledEnum):
    """The handbook's categories (便民 一.4(1) 无偿, 一.4(2) 有偿, 二.4(3) 代理)."""

    info = "info"
    rescue = "rescue"
    renovation_review = "renovation_review"
    health_education = "health_education"
    reading_room = "reading_room"
    elderly_room = "elderly_room"
    agency_payment = "agency_payment"
    venue = "venue"
    charity = "charity"
    housekeeping = "housekeeping"
    medical = "medical"
    home_repair = "home_repair"
    vehicle = "vehicle"
    ticketing = "ticketing"
    recreation = "recreation"
    training = "training"
    agency = "agency"

    @classmethod
    def labels(cls):
        return {
            "info": _l("信息查询"),
            "rescue": _l("紧急救援"),
            "renovation_review": _l("装修图纸审核与推荐施工队"),
            "health_education": _l("居家常识介绍"),
            "reading_room": _l("图书杂志阅览室"),
            "elderly_room": _l("老年人活动室"),
            "agency_payment": _l("代缴费用"),
            "venue": _l("运动场地"),
            "charity": _l("公益活动"),
            "housekeeping": _l("家政类"),
            "medical": _l("医疗类"),
            "home_repair": _l("家庭维修装修"),
            "vehicle": _l("车辆保管与汽车服务"),
            "ticketing": _l("票务服务"),
            "recreation": _l("文体类"),
            "training": _l("培训班与兴趣班"),
            "agency": _l("代理服务"),
        }


FREE_CATEGORIES = {"info", "rescue", "renovation_review", "health_education", "reading_room", "elderly_room",
                   "agency_payment", "venue", "charity"}


class ServiceItem(EstateOwned, AuditMixinNullable, Model):
    """An item of the 便民服务项目一览表: company-wide unless an estate is named."""

    __tablename__ = "service_item"
    estate_shared = True
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    kind: Mapped[str] = code_column(ItemKind, nullable=False, default="paid", index=True)
    category: Mapped[str] = code_column(ServiceCategory, nullable=False, index=True)
    unit: Mapped[str | None] = mapped_column(String(20))
    price: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal("0.00"))
    cost: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal("0.00"))
    deposit: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal("0.00"))
    prepayment: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal("0.00"))
    long_term: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    description: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    def __repr__(self) -> str:
        return self.name

    @property
    def kind_label(self) -> str:
        return ItemKind.label_of(self.kind)

    @property
    def category_label(self) -> str:
        return ServiceCategory.label_of(self.category)

    @property
    def price_text(self) -> str:
        if self.kind == "free":
            return str(_l("免费"))
        return str(_l("%(price)s 元/%(unit)s", price=fmt_money(self.price), unit=self.unit or _l("次")))

    def validate(self, session) -> None:
        self.name = require_text("name", self.name, 60, _l("请填写服务项目名称"))
        self.kind = parse_choice("kind", self.kind or "paid", ItemKind)
        self.category = parse_choice("category", self.category, ServiceCategory)
        for field in ("price", "cost", "deposit", "prepayment"):
            value = getattr(self, field)
            setattr(self, field, parse_money(field, value if value is not None else "0"))
        if self.active is None:
            self.active = True
        if self.long_term is None:
            self.long_term = False
        if self.kind == "free":
            if self.price or self.deposit or self.prepayment:
                raise ValidationError("price", _l("无偿服务项目的价格、押金、预交款必须为 0"))
        else:
            if not (self.unit or "").strip():
                raise ValidationError("unit", _l("有偿服务项目请填写计价单位,如 次、小时、月"))
            check_price(self.price, self.cost, "price")
        dup = session.scalar(
            select(ServiceItem.id).where(
                ServiceItem.name == self.name,
                ServiceItem.estate_id.is_(None) if self.estate_id is None else ServiceItem.estate_id == self.estate_id,
                ServiceItem.id != (self.id or 0),
            )
        )
        if dup:
            raise ValidationError("name", _l("一览表中已有同名的服务项目"))


def check_price(price: Decimal, cost: Decimal, field: str = "price", margin_limit: Decimal | None = None) -> None:
    """保本微利: the price covers the cost, and (when a limit is given) earns no more than the limit."""
    if price < cost:
        raise ValidationError(
            field, _l("价格 %(p)s 元低于成本 %(c)s 元,不符合保本原则", p=f"{price:.2f}", c=f"{cost:.2f}")
        )
    if margin_limit is None:
        return
    if cost == 0:
        if price > 0:
            raise ValidationError(field, _l("成本为 0 的项目只能免费提供(保本微利)"))
        return
    margin = (price - cost) / cost
    if margin > margin_limit:
        raise ValidationError(
            field,
            _l(
                "利润率 %(m)s%% 超过上限 %(l)s%%,不符合微利原则(价格最高 %(max)s 元)",
                m=f"{margin * 100:.1f}",
                l=f"{margin_limit * 100:.1f}",
                max=f"{(cost * (1 + margin_limit)).quantize(Decimal('0.01')):.2f}",
            ),
        )


def margin_of(price: Decimal | None, cost: Decimal | None) -> Decimal | None:
    """Profit margin on cost in percent, one decimal (None when there is no cost)."""
    if price is None or not cost:
        return None
    return ((Decimal(price) - Decimal(cost)) / Decimal(cost) * 100).quantize(Decimal("0.1"))


# ---------------------------------------------------------------- 信息查询
class DirectoryCategory(LabeledEnum):
    catering = "catering"
    housekeeping = "housekeeping"
    moving = "moving"
    decoration = "decoration"
    etiquette = "etiquette"
    transport = "transport"
    employment = "employment"
    training = "training"
    hospital = "hospital"
    insurance = "insurance"
    second_hand = "second_hand"

    @classmethod
    def labels(cls):
        return {
            "catering": _l("餐饮"),
            "housekeeping": _l("家政"),
            "moving": _l("搬家"),
            "decoration": _l("装饰"),
            "etiquette": _l("礼仪"),
            "transport": _l("交通票务"),
            "employment": _l("就业"),
            "training": _l("培训"),
            "hospital": _l("医院"),
            "insurance": _l("保险"),
            "second_hand": _l("二手"),
        }


class DirectoryEntry(EstateOwned, AuditMixinNullable, Model):
    """A 信息查询 entry: a business or institution owners ask the front desk about."""

    __tablename__ = "directory_entry"
    estate_shared = True
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = code_column(DirectoryCategory, nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    contact: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(200))
    business: Mapped[str | None] = mapped_column(String(300))
    hours: Mapped[str | None] = mapped_column(String(60))
    note: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    def __repr__(self) -> str:
        return self.name

    @property
    def category_label(self) -> str:
        return DirectoryCategory.label_of(self.category)

    def validate(self, session) -> None:
        self.name = require_text("name", self.name, 80, _l("请填写单位名称"))
        self.category = parse_choice("category", self.category, DirectoryCategory)
        if not (self.phone or self.address):
            raise ValidationError("phone", _l("请至少填写电话或地址,业户才能联系到"))
        if self.phone:
            self.phone = directory_phone(self.phone)
        if self.active is None:
            self.active = True


HOTLINE_RE = re.compile(r"^(0\d{2,3}-?)?(1\d{4}|9\d{4,5})$")  # 12306, 95530, 021-96516


def directory_phone(value: str) -> str:
    """A phone number a business publishes: mobile, landline, 400/800, or a short hotline such as 12306."""
    from models.master import normalize_phone, phone_error

    phone = normalize_phone(value)
    if HOTLINE_RE.match(phone) or phone_error(phone) is None:
        return phone
    raise ValidationError("phone", _l("电话号码格式不正确:应为手机号、带区号的座机、400/800 电话或 12306、95530 这样的服务热线"))


# ---------------------------------------------------------------- venues
class VenueKind(LabeledEnum):
    badminton = "badminton"
    table_tennis = "table_tennis"
    basketball = "basketball"
    reading_room = "reading_room"
    elderly_room = "elderly_room"
    other = "other"

    @classmethod
    def labels(cls):
        return {
            "badminton": _l("羽毛球场"),
            "table_tennis": _l("乒乓球室"),
            "basketball": _l("篮球场"),
            "reading_room": _l("阅览室"),
            "elderly_room": _l("老年人活动室"),
            "other": _l("其他场地"),
        }


class Venue(EstateOwned, AuditMixinNullable, Model):
    """A free court or room of an estate (便民 一.4(1)⑤⑥⑧)."""

    __tablename__ = "venue"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    kind: Mapped[str] = code_column(VenueKind, nullable=False, index=True)
    opens: Mapped[time] = mapped_column(Time, nullable=False, default=time(8, 0))
    closes: Mapped[time] = mapped_column(Time, nullable=False, default=time(21, 0))
    max_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    capacity: Mapped[int | None] = mapped_column(Integer)
    location: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    def __repr__(self) -> str:
        return f"{self.estate.name if self.estate else ''} {self.name}".strip()

    @property
    def kind_label(self) -> str:
        return VenueKind.label_of(self.kind)

    @property
    def hours_text(self) -> str:
        return f"{self.opens:%H:%M}–{self.closes:%H:%M}" if self.opens and self.closes else ""

    def validate(self, session) -> None:
        self.name = require_text("name", self.name, 60, _l("请填写场地名称"))
        self.kind = parse_choice("kind", self.kind, VenueKind)
        if not self.estate_id:
            raise ValidationError("estate_id", _l("请选择所属小区/大厦"))
        self.opens = self.opens or time(8, 0)
        self.closes = self.closes or time(21, 0)
        if self.closes <= self.opens:
            raise ValidationError("closes", _l("关闭时间必须晚于开放时间"))
        if self.max_hours is None:
            self.max_hours = 2
        if not 1 <= self.max_hours <= 24:
            raise ValidationError("max_hours", _l("单次最长预约时数应在 1 到 24 之间"))
        if self.capacity is not None and self.capacity < 0:
            raise ValidationError("capacity", _l("容纳人数不能为负数"))
        if self.active is None:
            self.active = True


class BookingStatus(LabeledEnum):
    booked = "booked"
    cancelled = "cancelled"

    @classmethod
    def labels(cls):
        return {"booked": _l("已预约"), "cancelled": _l("已取消")}


class VenueBooking(EstateOwned, AuditMixinNullable, Model):
    """A booking of a free venue: who, when; no two bookings of a venue overlap."""

    __tablename__ = "venue_booking"
    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id"), nullable=False, index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owner.id"), index=True)
    booker_name: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    phone: Mapped[str | None] = mapped_column(String(30))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    people: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = code_column(BookingStatus, nullable=False, default="booked", index=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    venue = relationship("Venue", foreign_keys=[venue_id], lazy="joined")
    owner = relationship("Owner", foreign_keys=[owner_id], lazy="joined")

    def __repr__(self) -> str:
        return f"{self.venue.name if self.venue else ''} {fmt_dt(self.starts_at)}"

    @property
    def status_label(self) -> str:
        return BookingStatus.label_of(self.status)

    @property
    def time_text(self) -> str:
        if not self.starts_at or not self.ends_at:
            return ""
        return f"{fmt_dt(self.starts_at)}–{local(self.ends_at):%H:%M}"

    def derive_estate(self, session) -> None:
        if self.venue_id and (self.venue is None or self.venue.id != self.venue_id):
            from models.services import Venue as _Venue

            self.venue = session.get(_Venue, self.venue_id)
        if self.venue is not None:
            self.estate_id = self.venue.estate_id
        if self.owner_id:
            from models.master import Owner

            owner = session.get(Owner, self.owner_id)
            if owner is None:
                raise ValidationError("owner_id", _l("业户不存在"))
            if not (self.booker_name or "").strip():
                self.booker_name = owner.name
            if not self.phone:
                self.phone = owner.phone

    def validate(self, session) -> None:
        if self.venue is None:
            raise ValidationError("venue_id", _l("请选择场地"))
        if not self.venue.active:
            raise ValidationError("venue_id", _l("该场地已停用"))
        self.booker_name = require_text("booker_name", self.booker_name, 40, _l("请填写预约人姓名"))
        if self.phone:
            from models.master import check_phone

            self.phone = check_phone("phone", self.phone, required=False)
        if self.owner_id:
            from models.master import Owner

            owner = session.get(Owner, self.owner_id)
            if owner.estate_id != self.estate_id:
                raise ValidationError("owner_id", _l("业户不属于该场地所在的小区/大厦"))
        if self.starts_at is None:
            raise ValidationError("starts_at", _l("请填写开始时间"))
        if self.ends_at is None:
            raise ValidationError("ends_at", _l("请填写结束时间"))
        start, end = local(self.starts_at), local(self.ends_at)
        if end <= start:
            raise ValidationError("ends_at", _l("结束时间必须晚于开始时间"))
        if start.date() != end.date():
            raise ValidationError("ends_at", _l("预约不能跨天"))
        if start.time() < self.venue.opens or end.time() > self.venue.closes:
            raise ValidationError(
                "starts_at", _l("超出场地开放时间 %(h)s", h=self.venue.hours_text)
            )
        if end - start > timedelta(hours=self.venue.max_hours):
            raise ValidationError("ends_at", _l("单次预约最长 %(n)s 小时", n=self.venue.max_hours))
        if self.people is not None and (self.people < 1 or (self.venue.capacity and self.people > self.venue.capacity)):
            raise ValidationError("people", _l("人数应在 1 到场地容纳人数之间"))
        self.status = self.status or "booked"
        if self.status == "booked":
            if self.id is None and end <= local(utcnow()):
                raise ValidationError("starts_at", _l("不能预约已经过去的时段"))
            clash = session.scalar(
                select(VenueBooking).where(
                    VenueBooking.venue_id == self.venue.id,
                    VenueBooking.status == "booked",
                    VenueBooking.id != (self.id or 0),
                    VenueBooking.starts_at < self.ends_at,
                    VenueBooking.ends_at > self.starts_at,
                )
            )
            if clash is not None:
                raise ValidationError(
                    "starts_at", _l("该时段已被 %(who)s 预约(%(t)s)", who=clash.booker_name, t=clash.time_text)
                )


booking_flow = register_workflow(
    Workflow(object_type="venue_booking", permission_view="VenueBooking", status_labels=BookingStatus.label_of)
)


@booking_flow.add("cancel", ["booked"], "cancelled", _l("取消预约"))
def _cancel_booking(booking: VenueBooking, actor, now, session, reason=None):
    booking.cancel_reason = require_text("reason", reason, 200, _l("请填写取消原因"))
    return booking.cancel_reason

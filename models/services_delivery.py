"""Convenience-service deliveries (便民 二.4): each service provided to an owner at the announced
price, settled in cash on the spot, on the monthly payment request (owner-signed: its charge source)
or from the subscription's prepayment."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Numeric, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    AuditMixinNullable,
    DomainError,
    EstateOwned,
    LabeledEnum,
    Money,
    UTCDateTime,
    ValidationError,
    code_column,
    fmt_dt,
    local_date,
    money,
    parse_choice,
    parse_decimal,
    parse_dt,
    utcnow,
)
from models.billing import period_of
from models.billing_issue import Charge, billed_request_id, charge_source, not_billed
from models.services_price import price_in_force
from models.services_subscription import Subscription


class Settlement(LabeledEnum):
    cash = "cash"
    bill = "bill"
    prepaid = "prepaid"

    @classmethod
    def labels(cls):
        return {"cash": _l("现场收取现金"), "bill": _l("计入付款请求书"), "prepaid": _l("从预交款扣除")}


# ---------------------------------------------------------------- deliveries
class ServiceDelivery(EstateOwned, AuditMixinNullable, Model):
    """A service provided to an owner, charged at the announced price: cash on the spot (handed to
    finance), billed on the monthly payment request (owner-signed), or taken from the prepayment."""

    __tablename__ = "service_delivery"
    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscription.id"), index=True)
    service_item_id: Mapped[int] = mapped_column(ForeignKey("service_item.id"), nullable=False, index=True)
    price_list_line_id: Mapped[int] = mapped_column(ForeignKey("price_list_line.id"), nullable=False)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owner.id"), nullable=False, index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), nullable=False, index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True, default=utcnow)
    period: Mapped[str] = mapped_column(String(7), nullable=False, index=True)
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 2), nullable=False, default=Decimal("1"))
    unit_price: Mapped[Decimal] = mapped_column(Money, nullable=False)
    fee: Mapped[Decimal] = mapped_column(Money, nullable=False)
    settlement: Mapped[str] = code_column(Settlement, nullable=False, default="cash")
    owner_signed_by: Mapped[str | None] = mapped_column(String(40))
    owner_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handover_id: Mapped[int | None] = mapped_column(ForeignKey("cash_handover.id"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    subscription = relationship("Subscription", foreign_keys=[subscription_id], lazy="joined")
    service_item = relationship("ServiceItem", foreign_keys=[service_item_id], lazy="joined")
    price_line = relationship("PriceListLine", foreign_keys=[price_list_line_id])
    owner = relationship("Owner", foreign_keys=[owner_id], lazy="joined")
    unit = relationship("Unit", foreign_keys=[unit_id])
    staff = relationship("Staff", foreign_keys=[staff_id], lazy="joined")
    handover = relationship("CashHandover", back_populates="deliveries", foreign_keys=[handover_id])

    def __repr__(self) -> str:
        return f"{self.service_item.name if self.service_item else ''} {fmt_dt(self.delivered_at)}"

    @property
    def settlement_label(self) -> str:
        return Settlement.label_of(self.settlement)

    @property
    def collected(self) -> Decimal:
        """Cash the service staff took from the owner (to be handed to finance)."""
        return money(self.fee) if self.settlement == "cash" else Decimal("0.00")

    def billed_on(self, session) -> int | None:
        return billed_request_id(session, "service_delivery", self.id)

    def derive_estate(self, session) -> None:
        from models.master import Owner

        if self.subscription_id and (self.subscription is None or self.subscription.id != self.subscription_id):
            self.subscription = session.get(Subscription, self.subscription_id)
        if self.subscription is not None:
            self.owner_id, self.owner = self.subscription.owner_id, self.subscription.owner
            self.service_item_id = self.subscription.service_item_id
            self.service_item = self.subscription.service_item
        if self.owner_id and (self.owner is None or self.owner.id != self.owner_id):
            self.owner = session.get(Owner, self.owner_id)
        if self.owner is not None:
            self.unit_id = self.owner.unit_id
            self.estate_id = self.owner.estate_id

    def validate(self, session) -> None:
        if self.id is not None:
            self._check_unlocked(session)
        if self.subscription_id and self.subscription is None:
            raise ValidationError("subscription_id", _l("长期服务名单记录不存在"))
        if self.owner is None:
            raise ValidationError("owner_id", _l("请选择业户"))
        sub = self.subscription
        if sub is not None:
            if sub.status != "active":
                raise ValidationError("subscription_id", _l("该长期服务当前为「%(s)s」,不能提供服务", s=sub.status_label))
            if sub.deposit_held < sub.deposit_required:
                raise ValidationError("subscription_id", _l("押金未交清,请业户先向财务内勤缴交押金"))
        now = utcnow()
        self.delivered_at = parse_dt("delivered_at", self.delivered_at) or now
        if self.delivered_at > now + timedelta(minutes=5):
            raise ValidationError("delivered_at", _l("服务时间不能晚于现在"))
        if sub is not None and local_date(self.delivered_at) < sub.start_on:
            raise ValidationError("delivered_at", _l("服务时间早于长期服务开始日期"))
        self.quantity = parse_decimal("quantity", self.quantity if self.quantity is not None else "1", positive=True)
        self.settlement = parse_choice("settlement", self.settlement or "cash", Settlement)
        # only an announced list's price is charged; the price is never typed in
        line = price_in_force(session, self.estate_id, self.service_item_id, local_date(self.delivered_at))
        self.price_list_line_id, self.price_line = line.id, line
        self.unit_price = money(line.price)
        self.fee = money(self.unit_price * self.quantity)
        self.period = period_of(self.delivered_at)
        if self.owner_signed_by is not None and not isinstance(self.owner_signed_by, str):
            raise ValidationError("owner_signed_by", _l("签名业户必须是文字"))
        self.owner_signed_by = (self.owner_signed_by or "").strip()[:40] or None
        if self.owner_signed_by and self.owner_signed_at is None:
            self.owner_signed_at = now
        if self.settlement == "cash" and not self.staff_id:
            raise ValidationError("staff_id", _l("现场收取现金的服务须填写收款的服务人员"))
        if not self.owner_signed_by:
            self.owner_signed_at = None  # billed on a payment request only once the owner has signed
        if self.settlement == "prepaid":
            if sub is None:
                raise ValidationError("settlement", _l("只有长期服务可以从预交款扣除"))
            balance = sub.prepayment_balance(session)
            if self.fee > balance:
                raise ValidationError(
                    "settlement", _l("预交款余额 %(b)s 元不足以支付 %(f)s 元", b=f"{balance:.2f}", f=f"{self.fee:.2f}")
                )

    def _check_unlocked(self, session) -> None:
        if billed_request_id(session, "service_delivery", self.id):
            raise DomainError(_l("该服务已计入付款请求书,不能修改或删除"))
        handed = session.scalar(select(ServiceDelivery.handover_id).where(ServiceDelivery.id == self.id))
        if handed:
            raise DomainError(_l("该服务收取的现金已交财务,不能修改或删除"))

    def check_delete(self, session) -> None:
        self._check_unlocked(session)


@charge_source("service_delivery", _l("便民服务"))
def delivery_charges(session, up_to_period: str) -> list[Charge]:
    """Owner-signed deliveries to be billed on the monthly request."""
    from models.services import ServiceItem
    from models.services_price import PriceListLine

    # a month of every household's deliveries: plain rows of what the line says, no objects
    d = ServiceDelivery
    query = (
        select(d.id, d.estate_id, d.unit_id, d.owner_id, d.period, d.quantity, d.unit_price, d.fee, d.delivered_at, d.note,
               ServiceItem.name.label("item"), PriceListLine.unit.label("unit"))
        .join(ServiceItem, ServiceItem.id == d.service_item_id)
        .outerjoin(PriceListLine, PriceListLine.id == d.price_list_line_id)
        .where(
            d.settlement == "bill",
            d.owner_signed_at.is_not(None),
            d.period <= up_to_period,
            d.fee > 0,
            not_billed("service_delivery", d.id),
        )
    )
    label, each = str(_l("便民服务")), str(_l("次"))
    charges = []
    for row in session.execute(query):
        qty = row.quantity.normalize() if row.quantity is not None else 1
        charges.append(
            Charge(
                source_type="service_delivery",
                source_id=row.id,
                estate_id=row.estate_id,
                unit_id=row.unit_id,
                owner_id=row.owner_id,
                period=row.period,
                description=f"{label} {row.item} {money(row.unit_price):.2f}元/{row.unit or each} × {qty:f}",
                amount=money(row.fee),
                occurred_on=local_date(row.delivered_at),
                detail=row.note,
            )
        )
    return charges

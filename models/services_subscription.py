"""接受长期服务业户名单 (便民 二.4(4)–(9),(13)–(14)): subscriptions with the owner's signed
confirmation, deposits and prepayments registered by finance, deliveries at the announced price,
cash handed to finance and reconciled, stopping with a reason, and the falling-subscriber report."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Numeric, String, Text, and_, func, or_, select
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
    parse_int,
    parse_money,
    require_text,
    utcnow,
)
from models.billing import Charge, PaymentMethod, billed_request_id, charge_source, not_billed, period_bounds, period_of
from models.services_price import price_in_force
from models.workflow import Actor, Workflow, register_workflow


class SubscriptionStatus(LabeledEnum):
    registered = "registered"
    active = "active"
    stopped = "stopped"

    @classmethod
    def labels(cls):
        return {"registered": _l("待业户签名"), "active": _l("服务中"), "stopped": _l("已停止")}


class FeeKind(LabeledEnum):
    deposit = "deposit"
    prepayment = "prepayment"
    deposit_refund = "deposit_refund"
    prepayment_refund = "prepayment_refund"

    @classmethod
    def labels(cls):
        return {
            "deposit": _l("交押金"),
            "prepayment": _l("预交服务费"),
            "deposit_refund": _l("退押金"),
            "prepayment_refund": _l("退预交款"),
        }


class Settlement(LabeledEnum):
    cash = "cash"
    bill = "bill"
    prepaid = "prepaid"

    @classmethod
    def labels(cls):
        return {"cash": _l("现场收取现金"), "bill": _l("计入付款请求书"), "prepaid": _l("从预交款扣除")}


class Subscription(EstateOwned, AuditMixinNullable, Model):
    """One line of the 接受长期服务业户名单: owner, building, room, service, start, signature."""

    __tablename__ = "subscription"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owner.id"), nullable=False, index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), nullable=False, index=True)
    service_item_id: Mapped[int] = mapped_column(ForeignKey("service_item.id"), nullable=False, index=True)
    price_list_line_id: Mapped[int | None] = mapped_column(ForeignKey("price_list_line.id"))
    status: Mapped[str] = code_column(SubscriptionStatus, nullable=False, default="registered", index=True)
    start_on: Mapped[date] = mapped_column(Date, nullable=False, default=lambda: local_date(utcnow()))
    signed_by: Mapped[str | None] = mapped_column(String(40))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped_on: Mapped[date | None] = mapped_column(Date)
    stop_reason: Mapped[str | None] = mapped_column(String(300))
    note: Mapped[str | None] = mapped_column(String(300))
    owner = relationship("Owner", foreign_keys=[owner_id], lazy="joined")
    unit = relationship("Unit", foreign_keys=[unit_id], lazy="joined")
    service_item = relationship("ServiceItem", foreign_keys=[service_item_id], lazy="joined")
    price_line = relationship("PriceListLine", foreign_keys=[price_list_line_id], lazy="joined")
    fees = relationship("SubscriptionFee", back_populates="subscription", order_by="SubscriptionFee.id", lazy="selectin")

    def __repr__(self) -> str:
        return f"{self.owner.name if self.owner else ''} {self.service_item.name if self.service_item else ''}".strip()

    @property
    def status_label(self) -> str:
        return SubscriptionStatus.label_of(self.status)

    @property
    def building_name(self) -> str:
        return self.unit.building.name if self.unit and self.unit.building else ""

    @property
    def room(self) -> str:
        return self.unit.room if self.unit else ""

    @property
    def price(self) -> Decimal | None:
        return self.price_line.price if self.price_line else None

    @property
    def deposit_required(self) -> Decimal:
        return money(self.price_line.deposit if self.price_line else 0)

    @property
    def prepayment_required(self) -> Decimal:
        return money(self.price_line.prepayment if self.price_line else 0)

    def _fee_sum(self, kind: str) -> Decimal:
        return sum((money(f.amount) for f in self.fees if f.kind == kind), Decimal("0.00"))

    @property
    def deposit_held(self) -> Decimal:
        return self._fee_sum("deposit") - self._fee_sum("deposit_refund")

    @property
    def prepayment_paid(self) -> Decimal:
        return self._fee_sum("prepayment") - self._fee_sum("prepayment_refund")

    def prepayment_used(self, session) -> Decimal:
        return money(
            session.scalar(
                select(func.coalesce(func.sum(ServiceDelivery.fee), 0)).where(
                    ServiceDelivery.subscription_id == self.id, ServiceDelivery.settlement == "prepaid"
                )
            )
        )

    def prepayment_balance(self, session) -> Decimal:
        return self.prepayment_paid - self.prepayment_used(session)

    @property
    def deposit_status(self) -> str:
        required, held = self.deposit_required, self.deposit_held
        if held == 0 and self._fee_sum("deposit_refund"):
            return str(_l("已退"))
        if required == 0 and held == 0:
            return str(_l("无需"))
        if held >= required:
            return str(_l("已交 %(a)s", a=f"{held:.2f}"))
        return str(_l("未交清(应交 %(r)s,已交 %(h)s)", r=f"{required:.2f}", h=f"{held:.2f}"))

    @property
    def prepayment_status(self) -> str:
        required, paid = self.prepayment_required, self.prepayment_paid
        if required == 0 and paid == 0:
            return str(_l("无需"))
        if paid >= required:
            return str(_l("已交 %(a)s", a=f"{paid:.2f}"))
        return str(_l("未交清(应交 %(r)s,已交 %(h)s)", r=f"{required:.2f}", h=f"{paid:.2f}"))

    def derive_estate(self, session) -> None:
        from models.master import Owner

        if self.owner_id and (self.owner is None or self.owner.id != self.owner_id):
            self.owner = session.get(Owner, self.owner_id)
        if self.owner is not None:
            self.unit_id = self.owner.unit_id
            self.unit = self.owner.unit
            self.estate_id = self.owner.estate_id

    def validate(self, session) -> None:
        from models.services import ServiceItem

        if self.owner is None:
            raise ValidationError("owner_id", _l("请选择业户"))
        if self.service_item_id and (self.service_item is None or self.service_item.id != self.service_item_id):
            self.service_item = session.get(ServiceItem, self.service_item_id)
        if self.service_item is None:
            raise ValidationError("service_item_id", _l("请选择服务项目"))
        if not self.service_item.long_term:
            raise ValidationError("service_item_id", _l("「%(n)s」不是长期服务项目", n=self.service_item.name))
        if self.start_on is None:
            self.start_on = local_date(utcnow())
        if isinstance(self.start_on, datetime):
            self.start_on = local_date(self.start_on)
        self.status = self.status or "registered"
        if self.id is None:
            line = price_in_force(session, self.estate_id, self.service_item.id, self.start_on)
            self.price_list_line_id, self.price_line = line.id, line
            busy = session.scalar(
                select(Subscription.id).where(
                    Subscription.owner_id == self.owner.id,
                    Subscription.service_item_id == self.service_item.id,
                    Subscription.status != "stopped",
                )
            )
            if busy:
                raise ValidationError("service_item_id", _l("该业户已登记此项长期服务"))
        if self.note is not None and len(self.note) > 300:
            raise ValidationError("note", _l("不能超过 %(n)s 个字", n=300))

    def check_delete(self, session) -> None:
        if self.fees or session.scalar(select(ServiceDelivery.id).where(ServiceDelivery.subscription_id == self.id)):
            raise DomainError(_l("已有收费或服务记录的名单不能删除,请改为「停止服务」"))


class SubscriptionFee(EstateOwned, Model):
    """A deposit or prepayment (or its refund) registered by finance (便民 二.4(5))."""

    __tablename__ = "subscription_fee"
    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"), nullable=False, index=True)
    kind: Mapped[str] = code_column(FeeKind, nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    method: Mapped[str] = code_column(PaymentMethod, nullable=False)
    receipt_no: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    subscription = relationship("Subscription", back_populates="fees")
    registered_by = relationship("User", foreign_keys=[registered_by_id])

    def __repr__(self) -> str:
        return f"{FeeKind.label_of(self.kind)} {money(self.amount):.2f}"

    @property
    def kind_label(self) -> str:
        return FeeKind.label_of(self.kind)

    @property
    def method_label(self) -> str:
        return PaymentMethod.label_of(self.method)


subscription_flow = register_workflow(
    Workflow(object_type="subscription", permission_view="Subscription", status_labels=SubscriptionStatus.label_of)
)


@subscription_flow.add("confirm", ["registered"], "active", _l("业户签名确认"))
def _confirm(sub: Subscription, actor: Actor, now: datetime, session, signed_by=None, signed_at=None):
    """The owner signs the roster line (便民 二.4(4)); service starts from then."""
    sub.signed_by = require_text("signed_by", signed_by, 40, _l("请填写签名的业户姓名"))
    sub.signed_at = parse_dt("signed_at", signed_at) or now
    if sub.signed_at > now + timedelta(minutes=5):
        raise ValidationError("signed_at", _l("签名时间不能晚于现在"))
    return str(_l("%(who)s 签名确认", who=sub.signed_by))


@subscription_flow.add("stop", ["registered", "active"], "stopped", _l("停止服务"))
def _stop(sub: Subscription, actor: Actor, now: datetime, session, reason=None, stopped_on=None):
    """The owner asks to stop: the reason is asked and the roster amended (便民 二.4(13))."""
    sub.stop_reason = require_text("reason", reason, 300, _l("请填写业户停止服务的原因"))
    day = _date("stopped_on", stopped_on) or local_date(now)
    if day < sub.start_on:
        raise ValidationError("stopped_on", _l("停止日期不能早于开始日期 %(d)s", d=sub.start_on.isoformat()))
    sub.stopped_on = day
    return sub.stop_reason


@subscription_flow.add("register_fee", ["registered", "active", "stopped"], None, _l("登记押金/预交款"))
def _register_fee(sub: Subscription, actor: Actor, now: datetime, session, kind=None, amount=None, method=None,
                  receipt_no=None, paid_at=None):
    """Finance registers a deposit or prepayment, or refunds one; never more than is held."""
    kind = parse_choice("kind", kind, FeeKind)
    amount = parse_money("amount", amount, allow_zero=False)
    method = parse_choice("method", method, PaymentMethod)
    receipt_no = require_text("receipt_no", receipt_no if isinstance(receipt_no, str) else None, 40, _l("请填写收据号"))
    paid_at = parse_dt("paid_at", paid_at) or now
    if paid_at > now + timedelta(minutes=5):
        raise ValidationError("paid_at", _l("收款时间不能晚于现在"))
    if kind in ("deposit", "prepayment") and sub.status == "stopped":
        raise ValidationError("kind", _l("服务已停止,只能办理退款"))
    if kind == "deposit_refund" and amount > sub.deposit_held:
        raise ValidationError("amount", _l("退押金 %(a)s 元超过已交押金 %(h)s 元", a=f"{amount:.2f}", h=f"{sub.deposit_held:.2f}"))
    if kind == "prepayment_refund":
        balance = sub.prepayment_balance(session)
        if amount > balance:
            raise ValidationError("amount", _l("退款 %(a)s 元超过预交款余额 %(h)s 元", a=f"{amount:.2f}", h=f"{balance:.2f}"))
    if kind == "deposit" and sub.deposit_held + amount > max(sub.deposit_required, Decimal("0.00")):
        raise ValidationError(
            "amount", _l("押金应交 %(r)s 元,已交 %(h)s 元,本次多交了", r=f"{sub.deposit_required:.2f}", h=f"{sub.deposit_held:.2f}")
        )
    from models.billing import Payment

    if session.scalar(select(SubscriptionFee.id).where(SubscriptionFee.receipt_no == receipt_no)) or session.scalar(
        select(Payment.id).where(Payment.receipt_no == receipt_no)
    ):
        raise ValidationError("receipt_no", _l("收据号 %(no)s 已登记过,不能重复登记", no=receipt_no))
    fee = SubscriptionFee(subscription_id=sub.id, subscription=sub, estate_id=sub.estate_id, kind=kind, amount=amount,
                          method=method, receipt_no=receipt_no, paid_at=paid_at, registered_by_id=actor.user_id)
    session.add(fee)
    session.flush()
    return f"{FeeKind.label_of(kind)} {amount:.2f} 元(收据号 {receipt_no})"


def _date(field: str, value) -> date | None:
    from models.services_price import _parse_date

    return _parse_date(field, value)


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


# ---------------------------------------------------------------- cash handed to finance
class CashHandover(EstateOwned, AuditMixinNullable, Model):
    """Cash collected by service staff handed to finance (便民 二.4(8)); the difference is kept."""

    __tablename__ = "cash_handover"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), nullable=False, index=True)
    handed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    collected: Mapped[Decimal] = mapped_column(Money, nullable=False)
    handed_in: Mapped[Decimal] = mapped_column(Money, nullable=False)
    receipt_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    note: Mapped[str | None] = mapped_column(String(300))
    staff = relationship("Staff", foreign_keys=[staff_id], lazy="joined")
    received_by = relationship("User", foreign_keys=[received_by_id])
    deliveries = relationship("ServiceDelivery", back_populates="handover", foreign_keys="ServiceDelivery.handover_id")

    def __repr__(self) -> str:
        return f"{self.staff.name if self.staff else ''} {fmt_dt(self.handed_at)}"

    @property
    def difference(self) -> Decimal:
        """Handed in minus collected: negative is 短款, positive 长款."""
        return money(self.handed_in) - money(self.collected)

    @property
    def result_label(self) -> str:
        diff = self.difference
        if diff == 0:
            return str(_l("相符"))
        if diff < 0:
            return str(_l("短款 %(a)s", a=f"{-diff:.2f}"))
        return str(_l("长款 %(a)s", a=f"{diff:.2f}"))

    @property
    def period(self) -> str:
        return period_of(self.handed_at) if self.handed_at else ""

    @property
    def delivery_count(self) -> int:
        return len(self.deliveries)

    def validate(self, session) -> None:
        """On registering: the cash counted, every outstanding cash delivery of the staff member
        settled by it, and what they collected; afterwards only the note may change."""
        from models.base import current_user_id
        from models.master import Staff

        if self.note is not None and not isinstance(self.note, str):
            raise ValidationError("note", _l("备注必须是文字"))
        self.note = (self.note or "").strip()[:300] or None
        if self.id is not None:
            committed = session.execute(
                select(CashHandover.staff_id, CashHandover.handed_in, CashHandover.estate_id, CashHandover.receipt_no)
                .where(CashHandover.id == self.id)
            ).one()
            if (self.staff_id, money(self.handed_in), self.estate_id, self.receipt_no) != (
                committed[0], money(committed[1]), committed[2], committed[3]
            ):
                raise DomainError(_l("交款已登记,只能修改备注;金额有误请另行登记差额"))
            return
        now = utcnow()
        staff_id = parse_int("staff_id", self.staff_id if self.staff_id is not None else (self.staff.id if self.staff else None))
        staff = session.get(Staff, staff_id)
        if staff is None:
            raise ValidationError("staff_id", _l("员工不存在"))
        self.staff_id, self.staff = staff.id, staff
        if not self.estate_id:
            raise ValidationError("estate_id", _l("请选择所属小区/大厦"))
        self.handed_in = parse_money("handed_in", self.handed_in)
        self.handed_at = parse_dt("handed_at", self.handed_at) or now
        if self.handed_at > now + timedelta(minutes=5):
            raise ValidationError("handed_at", _l("交款时间不能晚于现在"))
        if self.receipt_no is not None and not isinstance(self.receipt_no, str):
            raise ValidationError("receipt_no", _l("收据号必须是文字"))
        self.receipt_no = (self.receipt_no or "").strip()[:40] or None
        if self.receipt_no and session.scalar(select(CashHandover.id).where(CashHandover.receipt_no == self.receipt_no)):
            raise ValidationError("receipt_no", _l("收据号 %(no)s 已登记过", no=self.receipt_no))
        deliveries = outstanding_cash(session, self.estate_id, staff.id, self.handed_at)
        if not deliveries and self.handed_in == 0:
            raise ValidationError("staff_id", _l("%(n)s 没有待交的现金", n=staff.name))
        self.collected = sum((d.collected for d in deliveries), Decimal("0.00"))
        self.deliveries = deliveries
        if self.received_by_id is None:
            self.received_by_id = current_user_id()


def outstanding_cash(session, estate_id: int, staff_id: int, until: datetime) -> list[ServiceDelivery]:
    """Cash deliveries of a staff member not yet handed in, up to a moment."""
    return list(
        session.scalars(
            select(ServiceDelivery)
            .where(
                ServiceDelivery.estate_id == estate_id,
                ServiceDelivery.staff_id == staff_id,
                ServiceDelivery.settlement == "cash",
                ServiceDelivery.handover_id.is_(None),
                ServiceDelivery.delivered_at <= until,
            )
            .order_by(ServiceDelivery.delivered_at)
        )
    )


def register_handover(session, actor: Actor, estate_id, staff_id, handed_in, receipt_no=None, handed_at=None,
                      note=None) -> CashHandover:
    """Finance counts the cash a staff member hands in (the rules are CashHandover.validate). The caller commits."""
    from app.scope import prepare_write

    handover = CashHandover(estate_id=parse_int("estate_id", estate_id), staff_id=staff_id, handed_in=handed_in,
                            receipt_no=receipt_no, handed_at=handed_at, note=note, received_by_id=actor.user_id)
    with session.no_autoflush:
        prepare_write(handover, session)
    session.add(handover)
    session.flush()
    return handover


def reconciliation(session, estate_ids: set[int] | None, period: str) -> list[dict]:
    """Per estate, staff member and month, all in Decimal:

    - opening: cash the staff member held at the start of the month (collected, not yet handed in);
    - collected: cash taken on deliveries during the month;
    - due: what the month's hand-ins settled (the deliveries they cover), handed_in: what was counted;
    - difference = handed_in − due (negative 短款, positive 长款);
    - closing = opening + collected − due: cash still held at the end of the month.
    """
    from models.base import TZ
    from models.master import Estate, Staff

    start, end = period_bounds(period)
    lo = datetime.combine(start, datetime.min.time(), tzinfo=TZ)
    hi = datetime.combine(end, datetime.min.time(), tzinfo=TZ)
    cash = (ServiceDelivery.settlement == "cash",)
    scope_d = (ServiceDelivery.estate_id.in_(estate_ids),) if estate_ids is not None else ()
    scope_h = (CashHandover.estate_id.in_(estate_ids),) if estate_ids is not None else ()
    keys = (ServiceDelivery.estate_id, ServiceDelivery.staff_id)

    def held_at(moment):
        """Cash collected before `moment` and not handed in before it."""
        handed_before = select(CashHandover.id).where(CashHandover.handed_at < moment)
        return (
            select(*keys, func.coalesce(func.sum(ServiceDelivery.fee), 0))
            .where(*cash, *scope_d, ServiceDelivery.delivered_at < moment,
                   or_(ServiceDelivery.handover_id.is_(None), ServiceDelivery.handover_id.not_in(handed_before)))
            .group_by(*keys)
        )

    collected_q = (
        select(*keys, func.count(ServiceDelivery.id), func.coalesce(func.sum(ServiceDelivery.fee), 0))
        .where(*cash, *scope_d, ServiceDelivery.delivered_at >= lo, ServiceDelivery.delivered_at < hi)
        .group_by(*keys)
    )
    handed_q = (
        select(CashHandover.estate_id, CashHandover.staff_id, func.count(CashHandover.id),
               func.coalesce(func.sum(CashHandover.collected), 0), func.coalesce(func.sum(CashHandover.handed_in), 0))
        .where(*scope_h, CashHandover.handed_at >= lo, CashHandover.handed_at < hi)
        .group_by(CashHandover.estate_id, CashHandover.staff_id)
    )
    zero = Decimal("0.00")
    rows: dict[tuple, dict] = {}

    def row(estate_id, staff_id):
        return rows.setdefault((estate_id, staff_id), {
            "estate_id": estate_id, "staff_id": staff_id, "period": period, "opening": zero, "deliveries": 0,
            "collected": zero, "handovers": 0, "due": zero, "handed_in": zero, "closing": zero,
        })

    for estate_id, staff_id, amount in session.execute(held_at(lo)):
        row(estate_id, staff_id)["opening"] = money(amount)
    for estate_id, staff_id, count, amount in session.execute(collected_q):
        r = row(estate_id, staff_id)
        r["deliveries"], r["collected"] = count, money(amount)
    for estate_id, staff_id, count, due, handed in session.execute(handed_q):
        r = row(estate_id, staff_id)
        r["handovers"], r["due"], r["handed_in"] = count, money(due), money(handed)
    for estate_id, staff_id, amount in session.execute(held_at(hi)):
        row(estate_id, staff_id)["closing"] = money(amount)
    names = dict(session.execute(select(Staff.id, Staff.name)).all())
    estates = dict(session.execute(select(Estate.id, Estate.name)).all())
    result = []
    for (estate_id, staff_id), r in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if not any((r["opening"], r["collected"], r["handovers"], r["closing"])):
            continue
        r["estate"] = estates.get(estate_id, "")
        r["staff"] = names.get(staff_id, str(_l("(未指定)")))
        r["difference"] = r["handed_in"] - r["due"]
        result.append(r)
    return result


# ---------------------------------------------------------------- falling subscriber counts
def active_count_clause(on: date):
    """Signed subscriptions in service on a day."""
    return and_(
        Subscription.signed_at.is_not(None),
        Subscription.start_on <= on,
        or_(Subscription.stopped_on.is_(None), Subscription.stopped_on > on),
    )


def subscriber_trend(session, estate_ids: set[int] | None, period: str) -> list[dict]:
    """Subscribers per estate and service at the end of the period against the end of the previous one;
    falling services are flagged for the 物业经理's review (便民 二.4(14)), with the stop reasons."""
    from models.master import Estate
    from models.services import ServiceItem

    start, end = period_bounds(period)
    last_day, prev_last_day = end - timedelta(days=1), start - timedelta(days=1)

    def counts(on: date):
        query = select(Subscription.estate_id, Subscription.service_item_id, func.count(Subscription.id)).where(
            active_count_clause(on)
        ).group_by(Subscription.estate_id, Subscription.service_item_id)
        if estate_ids is not None:
            query = query.where(Subscription.estate_id.in_(estate_ids))
        return {(e, s): n for e, s, n in session.execute(query)}

    now_counts, before = counts(last_day), counts(prev_last_day)
    stops_q = select(Subscription).where(Subscription.stopped_on >= start, Subscription.stopped_on < end)
    if estate_ids is not None:
        stops_q = stops_q.where(Subscription.estate_id.in_(estate_ids))
    reasons: dict[tuple, list[str]] = {}
    for sub in session.scalars(stops_q):
        reasons.setdefault((sub.estate_id, sub.service_item_id), []).append(f"{sub.owner.name}:{sub.stop_reason}")
    estates = dict(session.execute(select(Estate.id, Estate.name)).all())
    items = dict(session.execute(select(ServiceItem.id, ServiceItem.name)).all())
    rows = []
    for key in sorted(set(now_counts) | set(before) | set(reasons)):
        was, now = before.get(key, 0), now_counts.get(key, 0)
        rows.append({
            "estate_id": key[0], "estate": estates.get(key[0], ""), "service_item_id": key[1],
            "service": items.get(key[1], ""), "period": period, "previous": was, "current": now,
            "change": now - was, "falling": now < was, "stop_reasons": ";".join(reasons.get(key, [])),
        })
    rows.sort(key=lambda r: (not r["falling"], r["change"], r["estate"], r["service"]))
    return rows

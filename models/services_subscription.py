"""接受长期服务业户名单 (便民 二.4(4)–(9),(13)–(14)): subscriptions with the owner's signed
confirmation, deposits and prepayments registered by finance, stopping with a reason, and the
falling-subscriber report.

Next to it, loaded with it and re-exported here: deliveries at the announced price and their charges
on the monthly request (`models.services_delivery`); cash handed to finance and reconciled
(`models.services_cash`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, String, and_, func, or_, select
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
    local_date,
    money,
    parse_choice,
    parse_dt,
    parse_money,
    require_text,
    utcnow,
)
from models.billing import PaymentMethod, period_bounds
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


# deliveries (with their charge source) and cash hand-ins belong to the subscriptions' records
from models.services_cash import CashHandover, outstanding_cash, reconciliation, register_handover  # noqa: E402,F401
from models.services_delivery import ServiceDelivery, Settlement, delivery_charges  # noqa: E402,F401

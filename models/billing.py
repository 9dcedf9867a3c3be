"""Billing (SPEC §7; 接待 六.2–六.3): fee standards, the monthly 付款请求书 and payments.

Charges reach an owner only through a payment request. Each area that produces charges (paid
repair orders, convenience-service deliveries) registers a charge source; `issue_payment_requests`
collects every owner-signed, unbilled charge and writes one request per household. A charge is
linked to exactly one request line: `payment_request_line` holds a UNIQUE (source_type, source_id),
so the same repair order or delivery can never be billed twice, even by two racing runs.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    exists,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    TZ,
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    Money,
    UTCDateTime,
    ValidationError,
    amount_in_words,
    code_column,
    fmt_dt,
    fmt_money,
    local_date,
    money,
    parse_choice,
    parse_dt,
    parse_money,
    require_text,
    utcnow,
)
from models.task import close_stale_tasks, close_tasks, ensure_task
from models.workflow import Actor, Workflow, register_workflow

logger = logging.getLogger(__name__)

ISSUE_DAY = 15  # 每月15日将业户确认的收费款项填入《付款请求书》
DUE_DAY = 20  # 请其于20日前付费
MIN_DAYS_TO_PAY = 5
COLLECTOR_ROLE = "接待员"  # 逾期由业务员上门收款


# ---------------------------------------------------------------- periods
def period_of(day: date | datetime) -> str:
    """The calendar month of a date (a datetime is read in Asia/Shanghai): "2026-11"."""
    if isinstance(day, datetime):
        day = local_date(day)
    return f"{day.year:04d}-{day.month:02d}"


def shift_period(period: str, months: int) -> str:
    year, month = (int(p) for p in period.split("-"))
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def period_bounds(period: str) -> tuple[date, date]:
    """First day of the period and first day of the next one."""
    year, month = (int(p) for p in period.split("-"))
    start = date(year, month, 1)
    nyear, nmonth = (int(p) for p in shift_period(period, 1).split("-"))
    return start, date(nyear, nmonth, 1)


def billing_cycle(now: datetime) -> tuple[date, str]:
    """The billing day in force at `now` and the period it bills.

    From the 15th (Asia/Shanghai) the month's own billing day applies and bills the previous
    month; before the 15th the previous month's billing day still applies. Requests issued on
    15 Dec bill "2026-11"; a run as of 14 Dec is the 15 Nov cycle (period "2026-10").
    """
    today = local_date(now)
    month = period_of(today) if today.day >= ISSUE_DAY else shift_period(period_of(today), -1)
    year, mon = (int(p) for p in month.split("-"))
    return date(year, mon, ISSUE_DAY), shift_period(month, -1)


def due_date(billing_day: date, issued_on: date) -> date:
    """Due on the 20th of the billing month, and never less than 5 days after a late issue."""
    return max(date(billing_day.year, billing_day.month, DUE_DAY), issued_on + timedelta(days=MIN_DAYS_TO_PAY))


# ---------------------------------------------------------------- fee standard
class FeeStandard(EstateOwned, AuditMixinNullable, Model):
    """维修收费标准: what an item of paid work costs; company-wide unless an estate is named."""

    __tablename__ = "fee_standard"
    estate_shared = True
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    category: Mapped[str | None] = mapped_column(String(30))
    unit: Mapped[str] = mapped_column(String(20), nullable=False)
    labour_price: Mapped[Decimal] = mapped_column(Money, nullable=False)
    material_note: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    def __repr__(self) -> str:
        price = _l("%(price)s 元/%(unit)s", price=fmt_money(self.labour_price), unit=self.unit)
        return f"{self.name}({price})"

    @property
    def category_label(self) -> str:
        from models.repair_codes import RepairCategory

        return RepairCategory.label_of(self.category)

    def validate(self, session) -> None:
        self.name = require_text("name", self.name, 80, _l("请填写收费项目"))
        self.unit = require_text("unit", self.unit, 20, _l("请填写计价单位,如 次、米、个"))
        self.labour_price = parse_money("labour_price", self.labour_price)
        if self.category not in (None, ""):
            from models.repair_codes import RepairCategory

            self.category = parse_choice("category", self.category, RepairCategory)
        else:
            self.category = None
        if self.active is None:
            self.active = True
        dup = session.scalar(
            select(FeeStandard.id).where(
                FeeStandard.name == self.name,
                FeeStandard.estate_id.is_(None) if self.estate_id is None else FeeStandard.estate_id == self.estate_id,
                FeeStandard.id != (self.id or 0),
            )
        )
        if dup:
            raise ValidationError("name", _l("已有同名的收费项目"))


# ---------------------------------------------------------------- payment request
class RequestStatus(LabeledEnum):
    issued = "issued"
    partly_paid = "partly_paid"
    paid = "paid"
    overdue = "overdue"
    collecting = "collecting"

    @classmethod
    def labels(cls):
        return {
            "issued": _l("待付款"),
            "partly_paid": _l("部分付款"),
            "paid": _l("已付清"),
            "overdue": _l("已逾期"),
            "collecting": _l("上门收款中"),
        }


OPEN_STATUSES = ("issued", "partly_paid", "overdue", "collecting")


class PaymentMethod(LabeledEnum):
    cash = "cash"
    transfer = "transfer"
    wechat = "wechat"
    alipay = "alipay"

    @classmethod
    def labels(cls):
        return {"cash": _l("现金"), "transfer": _l("转账"), "wechat": _l("微信"), "alipay": _l("支付宝")}


class PaymentStatus(LabeledEnum):
    registered = "registered"
    reversed = "reversed"
    reversal = "reversal"

    @classmethod
    def labels(cls):
        return {"registered": _l("已登记"), "reversed": _l("已冲红"), "reversal": _l("冲红记录")}


class PaymentRequest(EstateOwned, AuditMixinNullable, Model):
    """付款请求书: one per household and period, with its lines, total and total in capitals."""

    __tablename__ = "payment_request"
    __table_args__ = (UniqueConstraint("unit_id", "period", name="uq_payment_request_unit_period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), nullable=False, index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owner.id"), index=True)
    period: Mapped[str] = mapped_column(String(7), nullable=False, index=True)
    issued_on: Mapped[date] = mapped_column(Date, nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    total: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal("0.00"))
    paid_amount: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal("0.00"))
    status: Mapped[str] = code_column(RequestStatus, nullable=False, default="issued", index=True)
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    unit = relationship("Unit", foreign_keys=[unit_id], lazy="joined")
    owner = relationship("Owner", foreign_keys=[owner_id], lazy="joined")
    collector = relationship("Staff", foreign_keys=[collector_id])
    line_items = relationship(
        "PaymentRequestLine", back_populates="payment_request", order_by="PaymentRequestLine.id", lazy="selectin"
    )
    payments = relationship("Payment", back_populates="payment_request", order_by="Payment.id", lazy="selectin")

    def __repr__(self) -> str:
        return f"{self.number} {self.unit or ''}"

    @property
    def status_label(self) -> str:
        return RequestStatus.label_of(self.status)

    @property
    def balance(self) -> Decimal:
        return money(self.total or 0) - money(self.paid_amount or 0)

    @property
    def total_in_words(self) -> str:
        return amount_in_words(self.total or 0)

    @property
    def payer(self) -> str:
        if self.owner is not None:
            return self.owner.company or self.owner.name
        return ""

    @property
    def lines_text(self) -> str:
        return ";".join(f"{line.description} {money(line.amount):.2f}" for line in self.line_items)

    @property
    def lines(self) -> list[dict]:
        """The lines as the API answers them (amounts as strings with two places)."""
        return [line.to_api() for line in self.line_items]

    @property
    def overdue_days(self) -> int:
        if self.status not in ("overdue", "collecting"):
            return 0
        return max((local_date(utcnow()) - self.due_on).days, 0)


class PaymentRequestLine(EstateOwned, Model):
    """One billed charge; the UNIQUE (source_type, source_id) makes double billing impossible."""

    __tablename__ = "payment_request_line"
    __table_args__ = (UniqueConstraint("source_type", "source_id", name="uq_payment_request_line_source"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    payment_request_id: Mapped[int] = mapped_column(ForeignKey("payment_request.id"), nullable=False, index=True)
    source_type: Mapped[str] = mapped_column(String(30), nullable=False)
    source_id: Mapped[int] = mapped_column(Integer, nullable=False)
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    occurred_on: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(200), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    payment_request = relationship("PaymentRequest", back_populates="line_items")

    def __repr__(self) -> str:
        return f"{self.description} {fmt_money(self.amount)}"

    @property
    def source_label(self) -> str:
        return str(SOURCE_LABELS.get(self.source_type, self.source_type))

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "source_type": self.source_type,
            "source_id": self.source_id,
            "period": self.period,
            "occurred_on": self.occurred_on.isoformat() if self.occurred_on else None,
            "description": self.description,
            "detail": self.detail,
            "amount": f"{money(self.amount):.2f}",
        }


class Payment(EstateOwned, AuditMixinNullable, Model):
    """A payment registered by finance (财务内勤) against a payment request.

    A payment registered by mistake is never edited or deleted: it is reversed (冲红), which marks it
    `reversed` and writes a counter-entry (`reversal`, the negative amount, `reverses_id` pointing at
    it, the reason in `note`). Every sum of `amount` therefore nets to what was really received; the
    UNIQUE `reverses_id` makes a second reversal of the same payment impossible."""

    __tablename__ = "payment"
    id: Mapped[int] = mapped_column(primary_key=True)
    payment_request_id: Mapped[int] = mapped_column(ForeignKey("payment_request.id"), nullable=False, index=True)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    method: Mapped[str] = code_column(PaymentMethod, nullable=False)
    receipt_no: Mapped[str | None] = mapped_column(String(40), unique=True)  # empty on a counter-entry
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    note: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = code_column(PaymentStatus, nullable=False, default="registered", index=True)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), unique=True)
    payment_request = relationship("PaymentRequest", back_populates="payments", lazy="joined")
    registered_by = relationship("User", foreign_keys=[registered_by_id])
    reverses = relationship("Payment", remote_side=[id], back_populates="reversal", foreign_keys=[reverses_id])
    reversal = relationship("Payment", back_populates="reverses", uselist=False, foreign_keys=[reverses_id])

    def __repr__(self) -> str:
        return f"{self.receipt_label} {fmt_money(self.amount)}"

    @property
    def method_label(self) -> str:
        return PaymentMethod.label_of(self.method)

    @property
    def status_label(self) -> str:
        return PaymentStatus.label_of(self.status)

    @property
    def receipt_label(self) -> str:
        """The receipt number; a counter-entry names the receipt it cancels (冲红 XJ-0001)."""
        if self.receipt_no:
            return self.receipt_no
        original = self.reverses.receipt_no if self.reverses is not None else ""
        return str(_l("冲红 %(no)s", no=original or ""))

    @property
    def reversal_id(self) -> int | None:
        return self.reversal.id if self.reversal is not None else None

    @property
    def period(self) -> str | None:
        return self.payment_request.period if self.payment_request else None


# ---------------------------------------------------------------- the payment request's moves
payment_request_flow = register_workflow(
    Workflow(object_type="payment_request", permission_view="PaymentRequest", status_labels=RequestStatus.label_of)
)


def _lock_request(session, request: PaymentRequest) -> None:
    """Serialise payments of one request (row lock on PostgreSQL; SQLite serialises writers)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(PaymentRequest.id).where(PaymentRequest.id == request.id).with_for_update())
    session.refresh(request)


@payment_request_flow.add("pay", OPEN_STATUSES + ("paid",), None, _l("登记收款"))
def _pay(request: PaymentRequest, actor: Actor, now: datetime, session, amount=None, method=None, receipt_no=None,
         paid_at=None, note=None):
    """Finance registers money received: never more than the balance, each receipt once."""
    amount = parse_money("amount", amount, allow_zero=False)
    method = parse_choice("method", method, PaymentMethod)
    if receipt_no is not None and not isinstance(receipt_no, str):
        receipt_no = str(receipt_no) if isinstance(receipt_no, int) and not isinstance(receipt_no, bool) else None
    receipt_no = require_text("receipt_no", receipt_no, 40, _l("请填写收据号"))
    if note is not None and not isinstance(note, str):
        raise ValidationError("note", _l("备注必须是文字"))
    paid_at = parse_dt("paid_at", paid_at) or now
    if paid_at > now + timedelta(minutes=5):
        raise ValidationError("paid_at", _l("收款时间不能晚于现在"))
    _lock_request(session, request)
    balance = request.balance
    if balance <= 0:
        raise ValidationError("amount", _l("该付款请求书已付清,不能再收款"))
    if amount > balance:
        raise ValidationError(
            "amount", _l("收款金额 %(a)s 元超过未付余额 %(b)s 元", a=f"{amount:.2f}", b=f"{balance:.2f}")
        )
    if session.scalar(select(Payment.id).where(Payment.receipt_no == receipt_no)):
        raise ValidationError("receipt_no", _l("收据号 %(no)s 已登记过,不能重复登记", no=receipt_no))
    payment = Payment(
        payment_request_id=request.id,
        payment_request=request,
        estate_id=request.estate_id,
        amount=amount,
        method=method,
        receipt_no=receipt_no,
        paid_at=paid_at,
        registered_by_id=actor.user_id,
        note=(note or "").strip()[:200] or None,
    )
    session.add(payment)
    session.flush()
    request.paid_amount = money(
        session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.payment_request_id == request.id))
    )
    request.last_payment = payment  # the caller (the payment API) answers with it
    if request.balance == 0:
        close_tasks(session, "payment_overdue", "payment_request", request.id, now, str(_l("已付清")))
        target = "paid"
    elif request.status == "issued":
        target = "partly_paid"
    elif request.status == "overdue":
        target = "collecting"  # money is coming in on an overdue request: collection under way
    else:
        target = request.status
    text = _l(
        "收款 %(a)s 元(%(m)s,收据号 %(no)s),未付余额 %(b)s 元",
        a=f"{amount:.2f}",
        m=PaymentMethod.label_of(method),
        no=receipt_no,
        b=f"{request.balance:.2f}",
    )
    return str(text), target


@payment_request_flow.add("overdue", ("issued", "partly_paid"), "overdue", _l("逾期"))
def _overdue(request: PaymentRequest, actor: Actor, now: datetime, session):
    if local_date(now) <= request.due_on:
        raise ValidationError("due_on", _l("付款期限 %(d)s 尚未过去", d=fmt_dt(request.due_on)))
    return str(_l("%(d)s 前未付清,转为逾期", d=fmt_dt(request.due_on)))


@payment_request_flow.add("collect", ("overdue",), "collecting", _l("上门收款"))
def _collect(request: PaymentRequest, actor: Actor, now: datetime, session, note=None):
    """A clerk takes the collection on: the task becomes theirs."""
    if note is not None and not isinstance(note, str):
        raise ValidationError("note", _l("备注必须是文字"))
    if actor.staff is not None:
        request.collector_id = actor.staff_id
        task, _created = ensure_task(
            session, "payment_overdue", "payment_request", request.id, collection_title(request),
            estate_id=request.estate_id, role_name=COLLECTOR_ROLE, due_at=collection_due(now), now=now,
        )
        task.assignee_id = actor.staff_id
    return (note or "").strip()[:200] or None


def register_payment(session, request: PaymentRequest, actor: Actor, now: datetime | None = None, **params) -> Payment:
    """Register a payment through the request's `pay` move (state, right, event log); returns the payment."""
    payment_request_flow.apply(session, request, "pay", actor, now, params)
    return request.last_payment


# logged by the payment's `reverse` move (the right is `can_reverse` on Payment), never applied directly
payment_request_flow.add("reverse_payment", (), None, _l("冲红收款"))(lambda *a, **k: None)


def status_after_reversal(request: PaymentRequest, now: datetime) -> str:
    """What a request is once a payment is taken back: paid, or open as the due date says."""
    if request.balance <= 0:
        return "paid"
    if local_date(now) > request.due_on:
        return "collecting" if request.collector_id is not None else "overdue"
    return "partly_paid" if money(request.paid_amount or 0) > 0 else "issued"


payment_flow = register_workflow(Workflow(object_type="payment", permission_view="Payment", status_labels=PaymentStatus.label_of))


@payment_flow.add("reverse", ("registered",), "reversed", _l("冲红"))
def _reverse(payment: Payment, actor: Actor, now: datetime, session, reason=None):
    """冲红: a counter-entry of the negative amount, the request's paid amount and state put back."""
    reason = require_text("reason", reason, 200, _l("请填写冲红原因"))
    request = payment.payment_request
    _lock_request(session, request)
    before = request.status
    counter = Payment(
        payment_request_id=request.id,
        payment_request=request,
        estate_id=payment.estate_id,
        amount=-money(payment.amount),
        method=payment.method,
        receipt_no=None,
        paid_at=now,
        registered_by_id=actor.user_id,
        note=reason,
        status=PaymentStatus.reversal.value,
        reverses_id=payment.id,
    )
    session.add(counter)
    session.flush()
    request.paid_amount = money(
        session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.payment_request_id == request.id))
    )
    request.status = status_after_reversal(request, now)
    if request.status in ("overdue", "collecting"):
        task, created = ensure_task(
            session, "payment_overdue", "payment_request", request.id, collection_title(request),
            estate_id=request.estate_id, assignee_id=request.collector_id, role_name=COLLECTOR_ROLE,
            due_at=collection_due(now), now=now,
        )
        if not created:
            task.title = collection_title(request)[:200]
    text = str(
        _l(
            "冲红收据 %(no)s 的收款 %(a)s 元,原因:%(r)s;未付余额 %(b)s 元",
            no=payment.receipt_no, a=f"{money(payment.amount):.2f}", r=reason, b=f"{request.balance:.2f}",
        )
    )
    event = payment_request_flow.log(session, request, "reverse_payment", actor, now, note=text,
                                     params={"payment_id": payment.id, "reason": reason})
    event.from_status = before
    payment.reversal = counter
    return text


def reverse_payment(session, payment: Payment, actor: Actor, reason, now: datetime | None = None):
    """Reverse a payment through its `reverse` move (state, right, event log); returns the counter-entry."""
    payment_flow.apply(session, payment, "reverse", actor, now, {"reason": reason})
    return payment.reversal


# ---------------------------------------------------------------- charges
SOURCE_LABELS: dict[str, object] = {
    "repair_order": _l("有偿维修"),
    "service_delivery": _l("便民服务"),
}


@dataclass
class Charge:
    """An owner-signed amount owed by a household, from any area."""

    source_type: str
    source_id: int
    estate_id: int
    unit_id: int
    owner_id: int | None
    period: str
    description: str
    amount: Decimal
    occurred_on: date | None = None
    detail: str | None = None


# source_type -> fn(session, up_to_period) -> iterable of unbilled Charges of that period or before
CHARGE_SOURCES: dict[str, Callable[..., Iterable[Charge]]] = {}
# modules that register charge sources; a missing module (an area not built yet) is skipped
CHARGE_MODULES = ["models.services_subscription", "models.repair"]


def charge_source(source_type: str, label=None):
    def register(fn):
        CHARGE_SOURCES[source_type] = fn
        if label is not None:
            SOURCE_LABELS[source_type] = label
        return fn

    return register


def load_charge_sources() -> dict[str, Callable]:
    for module in CHARGE_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return CHARGE_SOURCES


def not_billed(source_type: str, id_column):
    """SQL condition: the source row has no payment request line yet."""
    return ~exists().where(PaymentRequestLine.source_type == source_type, PaymentRequestLine.source_id == id_column)


def billed_request_id(session, source_type: str, source_id: int) -> int | None:
    """The payment request a charge was billed on (None while unbilled)."""
    return session.scalar(
        select(PaymentRequestLine.payment_request_id).where(
            PaymentRequestLine.source_type == source_type, PaymentRequestLine.source_id == source_id
        )
    )


@charge_source("repair_order", _l("有偿维修"))
def repair_charges(session, up_to_period: str) -> Iterable[Charge]:
    """Paid repair orders, owner-signed, not cancelled or rejected (接待 六.2)."""
    try:
        repair = importlib.import_module("models.repair")
    except ModuleNotFoundError:
        return []
    order_cls = repair.RepairOrder
    from sqlalchemy.orm import lazyload, selectinload

    # only the order's own columns and its material lines are read: no joined relations
    query = select(order_cls).options(lazyload("*"), selectinload(order_cls.materials)).where(
        order_cls.paid.is_(True),
        order_cls.owner_signed_at.is_not(None),
        order_cls.status.not_in(("cancelled", "rejected", "reject_pending")),
        order_cls.period <= up_to_period,
        not_billed("repair_order", order_cls.id),
    )
    charges = []
    for order in session.scalars(query):
        total = money(order.total or 0)
        if total <= 0 or order.unit_id is None:
            continue
        lines = order.billable_lines() if hasattr(order, "billable_lines") else []
        detail = ";".join(f"{d} {money(a):.2f}" for d, a in lines) or None
        problem = (getattr(order, "problem", "") or "").strip()
        charges.append(
            Charge(
                source_type="repair_order",
                source_id=order.id,
                estate_id=order.estate_id,
                unit_id=order.unit_id,
                owner_id=order.owner_id,
                period=order.period,
                description=f"{_l('有偿维修')} {getattr(order, 'number', order.id)} {problem}"[:200].strip(),
                amount=total,
                occurred_on=local_date(order.owner_signed_at),
                detail=detail,
            )
        )
    return charges


def unbilled_charges(session, up_to_period: str) -> list[Charge]:
    charges: list[Charge] = []
    for fn in load_charge_sources().values():
        charges.extend(fn(session, up_to_period))
    return charges


def next_number(session, period: str) -> str:
    return f"{number_prefix(period)}{last_sequence(session, period) + 1:04d}"


def number_prefix(period: str) -> str:
    return f"FK-{period.replace('-', '')}-"


def last_sequence(session, period: str) -> int:
    """The highest sequence of the period's numbers (FK-202611-10000 comes after FK-202611-9999)."""
    prefix = number_prefix(period)
    last = session.scalar(
        select(PaymentRequest.number)
        .where(PaymentRequest.number.like(prefix + "%"))
        .order_by(func.length(PaymentRequest.number).desc(), PaymentRequest.number.desc())
        .limit(1)
    )
    return int(last.rsplit("-", 1)[1]) if last else 0


def issue_payment_requests(session, now: datetime) -> dict:
    """Issue the month's requests: one per household with all its unbilled charges up to the period.

    Charges of earlier periods that were signed after their billing day are caught up here.
    A household that already has a request for the period is left alone (its new charges wait
    for next month), so running again bills nothing twice.

    Set-based: the charges are read once, the requests written with one multi-row INSERT, their
    lines with another (and the requests' history with a third), however many households there are.
    """
    from sqlalchemy import insert

    from models.history import record_created

    billing_day, period = billing_cycle(now)
    issued_on = local_date(now)
    due_on = due_date(billing_day, issued_on)
    by_unit: dict[int, list[Charge]] = {}
    for charge in unbilled_charges(session, period):
        if charge.amount > 0:
            by_unit.setdefault(charge.unit_id, []).append(charge)
    have = set(session.scalars(select(PaymentRequest.unit_id).where(PaymentRequest.period == period)))
    skipped = len(set(by_unit) & have)
    units = [u for u in sorted(by_unit) if u not in have]
    seq = last_sequence(session, period)
    prefix = number_prefix(period)
    requests, charges_of = [], []
    for unit_id in units:
        charges = sorted(by_unit[unit_id], key=lambda c: (c.occurred_on or date.min, c.source_type, c.source_id))
        seq += 1
        requests.append(
            {
                "number": f"{prefix}{seq:04d}",
                "estate_id": charges[0].estate_id,
                "unit_id": unit_id,
                "owner_id": next((c.owner_id for c in charges if c.owner_id), None),
                "period": period,
                "issued_on": issued_on,
                "due_on": due_on,
                "issued_at": now,
                "status": "issued",
                "paid_amount": Decimal("0.00"),
                "total": sum((money(c.amount) for c in charges), Decimal("0.00")),
            }
        )
        charges_of.append(charges)
    lines = []
    if requests:
        # one executemany, then the new ids read back by household (unique per period); a RETURNING
        # in parameter order would make SQLite insert row by row
        session.execute(insert(PaymentRequest), requests)
        id_of = dict(session.execute(select(PaymentRequest.unit_id, PaymentRequest.id).where(PaymentRequest.period == period)).all())
        for request, charges in zip(requests, charges_of, strict=True):
            request_id = request["id"] = id_of[request["unit_id"]]
            lines.extend(
                {
                    "payment_request_id": request_id,
                    "estate_id": request["estate_id"],
                    "source_type": charge.source_type,
                    "source_id": charge.source_id,
                    "period": charge.period,
                    "occurred_on": charge.occurred_on,
                    "description": charge.description[:200],
                    "detail": charge.detail,
                    "amount": money(charge.amount),
                }
                for charge in charges
            )
        # the table, not the entity: the ORM would split the rows into runs by which keys are None
        session.execute(insert(PaymentRequestLine.__table__), lines)
        record_created(session, PaymentRequest, requests, labels=[r["number"] for r in requests])
    total = sum((r["total"] for r in requests), Decimal("0.00"))
    logger.info("payment requests %s: %s issued, %s lines", period, len(requests), len(lines))
    return {
        "period": period,
        "issued_on": issued_on.isoformat(),
        "due_on": due_on.isoformat(),
        "issued": len(requests),
        "lines": len(lines),
        "total": f"{total:.2f}",
        "households_waiting": skipped,
    }


def collection_title(request: PaymentRequest) -> str:
    return str(
        _l("上门收款:%(no)s %(unit)s 未付 %(b)s 元", no=request.number, unit=request.unit or "", b=f"{request.balance:.2f}")
    )


def collection_due(now: datetime) -> datetime:
    """Collect within the month: the last day of the month at 18:00 (at least 3 days away)."""
    today = local_date(now)
    start_next = period_bounds(period_of(today))[1]
    due = datetime.combine(start_next - timedelta(days=1), datetime.min.time().replace(hour=18), tzinfo=TZ)
    return max(due, datetime.combine(today + timedelta(days=3), datetime.min.time().replace(hour=18), tzinfo=TZ))


def mark_overdue_payments(session, now: datetime) -> dict:
    """Requests still unpaid after their due day become overdue, each with a 上门收款 task for a clerk."""
    today = local_date(now)
    actor = Actor.system_actor()
    marked = created = 0
    late = session.scalars(
        select(PaymentRequest).where(PaymentRequest.status.in_(("issued", "partly_paid")), PaymentRequest.due_on < today)
    ).all()
    for request in late:
        payment_request_flow.apply(session, request, "overdue", actor, now)
        marked += 1
    open_ids = set()
    for request in session.scalars(select(PaymentRequest).where(PaymentRequest.status.in_(("overdue", "collecting")))):
        open_ids.add(request.id)
        _task, new = ensure_task(
            session,
            "payment_overdue",
            "payment_request",
            request.id,
            collection_title(request),
            estate_id=request.estate_id,
            assignee_id=request.collector_id,
            role_name=COLLECTOR_ROLE,
            due_at=collection_due(now),
            detail=str(
                _l(
                    "%(payer)s 的付款请求书 %(no)s(%(period)s)应于 %(due)s 前付清,合计 %(t)s 元,已付 %(p)s 元。",
                    payer=request.payer,
                    no=request.number,
                    period=request.period,
                    due=fmt_dt(request.due_on),
                    t=f"{request.total:.2f}",
                    p=f"{request.paid_amount:.2f}",
                )
            ),
            now=now,
        )
        created += int(new)
    closed = close_stale_tasks(session, "payment_overdue", "payment_request", open_ids, now)
    return {"overdue": marked, "tasks_created": created, "tasks_closed": closed, "outstanding": len(open_ids)}


# ---------------------------------------------------------------- accounts
def accounts(session, estate_ids: set[int] | None, period_from: str | None = None, period_to: str | None = None) -> list[dict]:
    """What is owed and collected per estate and period (billing-period basis, plus cash received in the month)."""
    from models.master import Estate

    query = (
        select(
            PaymentRequest.estate_id,
            PaymentRequest.period,
            func.count(PaymentRequest.id),
            func.coalesce(func.sum(PaymentRequest.total), 0),
            func.coalesce(func.sum(PaymentRequest.paid_amount), 0),
        )
        .group_by(PaymentRequest.estate_id, PaymentRequest.period)
        .order_by(PaymentRequest.period.desc(), PaymentRequest.estate_id)
    )
    overdue_q = (
        select(
            PaymentRequest.estate_id,
            PaymentRequest.period,
            func.count(PaymentRequest.id),
            func.coalesce(func.sum(PaymentRequest.total - PaymentRequest.paid_amount), 0),
        )
        .where(PaymentRequest.status.in_(("overdue", "collecting")))
        .group_by(PaymentRequest.estate_id, PaymentRequest.period)
    )
    if estate_ids is not None:
        query = query.where(PaymentRequest.estate_id.in_(estate_ids))
        overdue_q = overdue_q.where(PaymentRequest.estate_id.in_(estate_ids))
    if period_from:
        query = query.where(PaymentRequest.period >= period_from)
    if period_to:
        query = query.where(PaymentRequest.period <= period_to)
    overdue = {(e, p): (n, money(a)) for e, p, n, a in session.execute(overdue_q)}
    names = dict(session.execute(select(Estate.id, Estate.name)).all())
    rows = []
    for estate_id, period, count, billed, collected in session.execute(query):
        billed, collected = money(billed), money(collected)
        od_count, od_amount = overdue.get((estate_id, period), (0, Decimal("0.00")))
        rows.append(
            {
                "estate_id": estate_id,
                "estate": names.get(estate_id, ""),
                "period": period,
                "requests": count,
                "billed": billed,
                "collected": collected,
                "outstanding": billed - collected,
                "overdue_count": od_count,
                "overdue_amount": od_amount,
                "rate": (collected / billed * 100).quantize(Decimal("0.1")) if billed else None,
                "received_in_month": received_in_month(session, estate_id, period),
            }
        )
    return rows


def received_in_month(session, estate_id: int, period: str) -> Decimal:
    """Cash-basis: payments received during the calendar month, whatever period they settle."""
    start, end = period_bounds(period)
    start_dt = datetime.combine(start, datetime.min.time(), tzinfo=TZ)
    end_dt = datetime.combine(end, datetime.min.time(), tzinfo=TZ)
    return money(
        session.scalar(
            select(func.coalesce(func.sum(Payment.amount), 0)).where(
                Payment.estate_id == estate_id, Payment.paid_at >= start_dt, Payment.paid_at < end_dt
            )
        )
    )

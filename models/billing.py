"""Billing (SPEC §7; 接待 六.2–六.3): fee standards, the monthly 付款请求书 and payments.

Charges reach an owner only through a payment request. Each area that produces charges (paid
repair orders, convenience-service deliveries) registers a charge source; `issue_payment_requests`
collects every owner-signed, unbilled charge and writes one request per household. A charge is
linked to exactly one request line: `payment_request_line` holds a UNIQUE (source_type, source_id),
so the same repair order or delivery can never be billed twice, even by two racing runs.

Here: billing periods, the fee standard, and the records (request, line, payment). Next to it, loaded
with it and re-exported here: the charge sources and the monthly issue (`models.billing_issue`);
the request's moves, payments and their reversal, overdue collection and the accounts
(`models.billing_payments`).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    Money,
    UTCDateTime,
    ValidationError,
    amount_in_words,
    code_column,
    fmt_money,
    local_date,
    money,
    parse_choice,
    parse_money,
    require_text,
    utcnow,
)

logger = logging.getLogger(__name__)

ISSUE_DAY = 15  # 每月15日将业户确认的收费款项填入《付款请求书》
DUE_DAY = 20  # 请其于20日前付费
MIN_DAYS_TO_PAY = 5


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


# what each kind of charge is called on a request line (a charge source adds its own)
SOURCE_LABELS: dict[str, object] = {
    "repair_order": _l("有偿维修"),
    "service_delivery": _l("便民服务"),
}


# the charge sources and the moves register themselves as they load
from models.billing_issue import (  # noqa: E402,F401
    Charge,
    billed_request_id,
    charge_source,
    issue_payment_requests,
    not_billed,
    unbilled_charges,
)
from models.billing_payments import (  # noqa: E402,F401
    accounts,
    mark_overdue_payments,
    payment_flow,
    payment_request_flow,
    received_in_month,
    register_payment,
    reverse_payment,
)

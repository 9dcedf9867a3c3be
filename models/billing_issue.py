"""The monthly 付款请求书: charge sources, the areas' owner-signed amounts not yet billed
(`charge_source`; paid repair orders here, deliveries in `models.services_delivery`), the
request numbers, and `issue_payment_requests`, which bills them once per household and period."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select

from models.base import local_date, money
from models.billing import SOURCE_LABELS, PaymentRequest, PaymentRequestLine, billing_cycle, due_date

logger = logging.getLogger(__name__)


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
CHARGE_MODULES = ["models.services_delivery", "models.repair"]


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

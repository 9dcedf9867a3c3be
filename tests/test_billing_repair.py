"""Paid repair orders reach the owner only through the monthly payment request (接待 六.2–六.3)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

pytest.importorskip("models.repair")

from jobs import run_job  # noqa: E402
from models.billing import PaymentRequest, billed_request_id  # noqa: E402
from tests.billing_support import at  # noqa: E402
from tests.test_repair_support import PATHS, build_world, move, register, step_params  # noqa: E402


def order_in(session, w, state, now, paid):
    """An order brought to `state` by the real moves; paid work is quoted and agreed before it starts."""
    order = register(session, w, now=now, commit=False, paid=paid)
    for i, name in enumerate(PATHS[state]):
        who, params = step_params(w, name)
        if name == "start" and paid:
            params = {"quoted_amount": "55.50", "owner_consent": True}
        move(session, order, name, w.actor(who), now + timedelta(seconds=i + 1), commit=False, **params)
    session.commit()
    assert order.status == state
    return order


def test_paid_owner_signed_orders_are_billed_once_in_their_period(session, make):
    w = build_world(make, session)
    signed = order_in(session, w, "completed", now=at("2026-11-10T10:00"), paid=True)
    order_in(session, w, "completed", now=at("2026-11-11T10:00"), paid=False)  # free work: never billed
    order_in(session, w, "awaiting_acceptance", now=at("2026-11-12T10:00"), paid=True)  # not signed by the owner yet
    order_in(session, w, "cancelled", now=at("2026-11-13T10:00"), paid=True)
    # recorded in the last 2 days of November: it belongs to December (维修单 一.7)
    late = order_in(session, w, "returned", now=at("2026-11-29T10:00"), paid=True)
    assert (signed.period, late.period) == ("2026-11", "2026-12")
    assert signed.total == Decimal("55.50")

    first = run_job(session, "payment_requests", at("2026-12-15T08:00"))
    assert (first["issued"], first["lines"], first["total"]) == (1, 1, "55.50")
    request = session.scalar(select(PaymentRequest))
    (line,) = request.lines
    assert (line["source_type"], line["source_id"], line["amount"]) == ("repair_order", signed.id, "55.50")
    assert signed.number in line["description"] and "阀芯" in (line["detail"] or "")
    assert request.total_in_words == "伍拾伍元伍角"
    assert billed_request_id(session, "repair_order", signed.id) == request.id
    assert billed_request_id(session, "repair_order", late.id) is None

    assert run_job(session, "payment_requests", at("2026-12-15T08:00"))["lines"] == 0
    january = run_job(session, "payment_requests", at("2027-01-15T08:00"))
    assert (january["period"], january["lines"], january["total"]) == ("2026-12", 1, "55.50")
    assert billed_request_id(session, "repair_order", late.id) is not None

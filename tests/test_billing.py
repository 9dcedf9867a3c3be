"""付款请求书 and payments without HTTP: the two jobs at their day boundaries, run twice; partial
payments; refused payments that change nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from jobs import run_job
from models.base import PermissionDenied, ValidationError
from models.billing import (
    Payment,
    PaymentRequest,
    PaymentRequestLine,
    billing_cycle,
    due_date,
    payment_request_flow,
    register_payment,
)
from models.task import Task
from models.workflow import Actor
from tests.billing_support import announced_list, at, deliver, household, item, quick_passwords  # noqa: F401  (quick_passwords: autouse)


@pytest.fixture()
def shop(make, session):
    """An estate with two households, a paid service on an announced list, and a finance clerk."""
    estate = make.estate("锦绣花园")
    service = item(session)
    green = item(session, name="家庭绿化服务", price="60.00", cost="52.00", unit="次", long_term=False)
    announced_list(session, estate, {service: "35.00", green: "60.00"})
    a = household(make, estate, "101", "王芳", "13912345678")
    b = household(make, estate, "102", "李雷", "13800001111")
    finance = make.user("财务内勤", estates=[estate], username="cw")
    return {"estate": estate, "service": service, "green": green, "a": a, "b": b, "finance": Actor(user=finance)}


def requests(session):
    return session.scalars(select(PaymentRequest).order_by(PaymentRequest.id)).all()


def test_billing_cycle_follows_the_15th_in_shanghai_time():
    assert billing_cycle(at("2026-12-15T08:00")) == (date(2026, 12, 15), "2026-11")
    assert billing_cycle(at("2026-12-15T00:00")) == (date(2026, 12, 15), "2026-11")
    assert billing_cycle(at("2026-12-14T23:59")) == (date(2026, 11, 15), "2026-10")
    # 16:00 UTC on the 14th is already midnight of the 15th in Shanghai
    assert billing_cycle(at("2026-12-14T16:00+00:00"))[1] == "2026-11"
    assert billing_cycle(at("2026-12-14T15:59+00:00"))[1] == "2026-10"
    assert billing_cycle(at("2027-01-15T08:00")) == (date(2027, 1, 15), "2026-12")
    assert due_date(date(2026, 12, 15), date(2026, 12, 15)) == date(2026, 12, 20)
    # issued late: still five days to pay
    assert due_date(date(2026, 12, 15), date(2026, 12, 19)) == date(2026, 12, 24)


def test_job_on_the_15th_issues_one_request_per_household_and_bills_nothing_twice(session, shop):
    deliver(session, shop["a"], shop["service"], "2026-11-03T10:00", quantity="2")
    deliver(session, shop["a"], shop["green"], "2026-11-20T15:00")
    deliver(session, shop["b"], shop["service"], "2026-11-28T09:00", quantity="3")

    first = run_job(session, "payment_requests", at("2026-12-15T08:00"))
    assert first["outcome"] == "ok" and first["period"] == "2026-11"
    assert (first["issued"], first["lines"], first["total"]) == (2, 3, "235.00")
    a_req, b_req = requests(session)
    assert a_req.unit_id == shop["a"].unit_id and a_req.owner_id == shop["a"].id
    assert a_req.total == Decimal("130.00") and a_req.total_in_words == "壹佰叁拾元整"
    assert [line["amount"] for line in a_req.lines] == ["70.00", "60.00"]
    assert a_req.issued_on == date(2026, 12, 15) and a_req.due_on == date(2026, 12, 20)
    assert a_req.status == "issued" and a_req.number == "FK-202611-0001"
    assert b_req.total == Decimal("105.00") and b_req.total_in_words == "壹佰零伍元整"

    again = run_job(session, "payment_requests", at("2026-12-15T08:00"))
    assert (again["issued"], again["lines"]) == (0, 0)
    later = run_job(session, "payment_requests", at("2026-12-28T10:00"))
    assert later["issued"] == 0
    assert session.scalar(select(func.count(PaymentRequestLine.id))) == 3


def test_the_month_boundary_is_midnight_in_shanghai(session, shop):
    last_minute = deliver(session, shop["a"], shop["service"], "2026-11-30T23:59")
    first_minute = deliver(session, shop["b"], shop["service"], "2026-12-01T00:00")
    assert (last_minute.period, first_minute.period) == ("2026-11", "2026-12")

    summary = run_job(session, "payment_requests", at("2026-12-15T08:00"))
    assert summary["issued"] == 1
    assert [r.unit_id for r in requests(session)] == [shop["a"].unit_id]
    summary = run_job(session, "payment_requests", at("2027-01-15T08:00"))
    assert summary["period"] == "2026-12" and summary["issued"] == 1
    assert requests(session)[1].unit_id == shop["b"].unit_id


def test_before_the_15th_the_previous_cycle_is_in_force(session, shop):
    deliver(session, shop["a"], shop["service"], "2026-11-10T10:00")
    early = run_job(session, "payment_requests", at("2026-12-14T23:59"))
    assert early["period"] == "2026-10" and early["issued"] == 0
    on_time = run_job(session, "payment_requests", at("2026-12-15T00:00"))
    assert on_time["period"] == "2026-11" and on_time["issued"] == 1


def test_a_charge_signed_after_its_billing_day_waits_for_the_next_request(session, shop):
    deliver(session, shop["a"], shop["service"], "2026-11-10T10:00")
    run_job(session, "payment_requests", at("2026-12-15T08:00"))
    late = deliver(session, shop["a"], shop["green"], "2026-11-29T10:00", signed=False)
    from models.base import utcnow

    late.owner_signed_by, late.owner_signed_at = "王芳", utcnow()
    session.commit()
    # the household already has its November request: nothing more this month
    assert run_job(session, "payment_requests", at("2026-12-16T08:00"))["issued"] == 0
    january = run_job(session, "payment_requests", at("2027-01-15T08:00"))
    assert january["issued"] == 1
    req = requests(session)[1]
    assert req.period == "2026-12" and [line["period"] for line in req.lines] == ["2026-11"]


def test_unsigned_and_cash_deliveries_are_not_billed(session, make, shop):
    staff = make.user("物业管理员", estates=[shop["estate"]], username="gly").staff
    deliver(session, shop["a"], shop["service"], "2026-11-10T10:00", settlement="cash", signed=False, staff=staff)
    waiting = deliver(session, shop["b"], shop["service"], "2026-11-10T10:00", signed=False)
    assert waiting.owner_signed_at is None
    assert run_job(session, "payment_requests", at("2026-12-15T08:00"))["issued"] == 0


def test_the_same_charge_can_never_sit_on_two_requests(session, shop):
    delivery = deliver(session, shop["a"], shop["service"], "2026-11-10T10:00")
    run_job(session, "payment_requests", at("2026-12-15T08:00"))
    req = requests(session)[0]
    session.add(PaymentRequestLine(payment_request_id=req.id, estate_id=req.estate_id, source_type="service_delivery",
                                   source_id=delivery.id, period="2026-11", description="重复", amount=Decimal("35.00")))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_overdue_job_at_the_day_boundary_gives_a_clerk_a_collection_task(session, shop):
    deliver(session, shop["a"], shop["service"], "2026-11-10T10:00", quantity="2")
    deliver(session, shop["b"], shop["service"], "2026-11-11T10:00")
    run_job(session, "payment_requests", at("2026-12-15T08:00"))
    a_req, b_req = requests(session)
    register_payment(session, b_req, shop["finance"], at("2026-12-18T10:00"), amount="35.00", method="cash", receipt_no="R1")
    session.commit()

    still_due = run_job(session, "overdue_payments", at("2026-12-20T23:59"))
    assert still_due["overdue"] == 0
    assert session.scalar(select(func.count(Task.id))) == 0

    late = run_job(session, "overdue_payments", at("2026-12-21T00:00"))
    assert (late["overdue"], late["tasks_created"]) == (1, 1)
    session.refresh(a_req)
    session.refresh(b_req)
    assert a_req.status == "overdue" and b_req.status == "paid"
    task = session.scalar(select(Task))
    assert (task.kind, task.object_type, task.object_id) == ("payment_overdue", "payment_request", a_req.id)
    assert task.role_name == "接待员" and task.estate_id == shop["estate"].id and "上门收款" in task.title

    again = run_job(session, "overdue_payments", at("2026-12-21T08:00"))
    assert (again["overdue"], again["tasks_created"]) == (0, 0)
    assert session.scalar(select(func.count(Task.id))) == 1


def test_partial_payments_and_the_collection_path(session, make, shop):
    deliver(session, shop["a"], shop["service"], "2026-11-10T10:00", quantity="3")
    run_job(session, "payment_requests", at("2026-12-15T08:00"))
    req = requests(session)[0]
    assert req.total == Decimal("105.00")

    register_payment(session, req, shop["finance"], at("2026-12-16T09:00"), amount="40.50", method="wechat", receipt_no="W-1")
    session.commit()
    assert (req.status, req.paid_amount, req.balance) == ("partly_paid", Decimal("40.50"), Decimal("64.50"))

    run_job(session, "overdue_payments", at("2026-12-21T08:00"))
    session.refresh(req)
    assert req.status == "overdue"
    clerk = make.user("接待员", estates=[shop["estate"]], username="jd")
    payment_request_flow.apply(session, req, "collect", Actor(user=clerk), at("2026-12-21T09:00"), {"note": "周六上门"})
    session.commit()
    task = session.scalar(select(Task).where(Task.kind == "payment_overdue"))
    assert req.status == "collecting" and task.assignee_id == clerk.staff.id

    register_payment(session, req, shop["finance"], at("2026-12-23T10:00"), amount="30", method="cash", receipt_no="C-1")
    session.commit()
    assert req.status == "collecting" and req.balance == Decimal("34.50")
    register_payment(session, req, shop["finance"], at("2026-12-23T10:05"), amount="34.50", method="cash", receipt_no="C-2")
    session.commit()
    assert (req.status, req.paid_amount, req.balance) == ("paid", Decimal("105.00"), Decimal("0.00"))
    session.refresh(task)
    assert task.done_at is not None
    events = [e.transition for e in payment_request_flow.events(session, req.id)]
    assert events == ["pay", "overdue", "collect", "pay", "pay"]


def test_a_part_paid_after_the_due_day_puts_the_request_in_collection(session, shop):
    deliver(session, shop["a"], shop["service"], "2026-11-10T10:00", quantity="2")
    run_job(session, "payment_requests", at("2026-12-15T08:00"))
    run_job(session, "overdue_payments", at("2026-12-21T08:00"))
    req = requests(session)[0]
    assert req.status == "overdue"
    register_payment(session, req, shop["finance"], at("2026-12-22T09:00"), amount="20", method="transfer", receipt_no="T-1")
    session.commit()
    assert (req.status, req.balance) == ("collecting", Decimal("50.00"))
    # the collection task stays open until the request is paid
    assert session.scalar(select(func.count(Task.id)).where(Task.done_at.is_(None))) == 1
    register_payment(session, req, shop["finance"], at("2026-12-23T09:00"), amount="50", method="cash", receipt_no="C-9")
    session.commit()
    assert req.status == "paid"
    assert session.scalar(select(func.count(Task.id)).where(Task.done_at.is_(None))) == 0


BAD_PAYMENTS = [
    ({"amount": "35.01", "method": "cash", "receipt_no": "X1"}, "amount"),
    ({"amount": "-5", "method": "cash", "receipt_no": "X1"}, "amount"),
    ({"amount": "0", "method": "cash", "receipt_no": "X1"}, "amount"),
    ({"amount": "abc", "method": "cash", "receipt_no": "X1"}, "amount"),
    ({"amount": "1.005", "method": "cash", "receipt_no": "X1"}, "amount"),
    ({"amount": 10.5, "method": "bitcoin", "receipt_no": "X1"}, "method"),
    ({"amount": "10", "method": "cash", "receipt_no": " "}, "receipt_no"),
    ({"amount": "10", "method": "cash", "receipt_no": "R-OLD"}, "receipt_no"),
    ({"amount": "10", "method": "cash", "receipt_no": "X2", "paid_at": "2027-06-01T10:00:00+08:00"}, "paid_at"),
]


def test_bad_payments_are_refused_with_the_field_named_and_change_nothing(session, shop):
    deliver(session, shop["a"], shop["service"], "2026-11-10T10:00", quantity="2")
    run_job(session, "payment_requests", at("2026-12-15T08:00"))
    req = requests(session)[0]
    register_payment(session, req, shop["finance"], at("2026-12-16T09:00"), amount="35", method="cash", receipt_no="R-OLD")
    session.commit()
    for params, field in BAD_PAYMENTS:
        with pytest.raises(ValidationError) as err:
            register_payment(session, req, shop["finance"], at("2026-12-16T10:00"), **params)
        session.rollback()
        assert err.value.field == field and err.value.message, params
        session.refresh(req)
        assert (req.status, req.paid_amount) == ("partly_paid", Decimal("35.00"))
    assert session.scalar(select(func.count(Payment.id))) == 1


def test_a_paid_request_takes_no_more_money(session, shop):
    deliver(session, shop["a"], shop["service"], "2026-11-10T10:00")
    run_job(session, "payment_requests", at("2026-12-15T08:00"))
    req = requests(session)[0]
    register_payment(session, req, shop["finance"], at("2026-12-16T09:00"), amount="35.00", method="alipay", receipt_no="A1")
    session.commit()
    with pytest.raises(ValidationError) as err:
        register_payment(session, req, shop["finance"], at("2026-12-16T10:00"), amount="0.01", method="cash", receipt_no="A2")
    assert "已付清" in err.value.message
    session.rollback()
    assert session.scalar(select(func.count(Payment.id))) == 1


def test_only_finance_registers_payments(session, make, shop):
    deliver(session, shop["a"], shop["service"], "2026-11-10T10:00")
    run_job(session, "payment_requests", at("2026-12-15T08:00"))
    req = requests(session)[0]
    for role in ("接待员", "物业经理", "公司经理"):
        user = make.user(role, estates=[shop["estate"]])
        with pytest.raises(PermissionDenied):
            register_payment(session, req, Actor(user=user), at("2026-12-16T09:00"), amount="1", method="cash", receipt_no="N")
        session.rollback()
    assert session.scalar(select(func.count(Payment.id))) == 0

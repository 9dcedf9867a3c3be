"""冲红 (payment reversal): the rules without HTTP, the screens, the REST move, and every sum of payments
(the request, the accounts, the collection-rate KPI, the exports) counting a reversal once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jobs import run_job
from models.base import PermissionDenied, ValidationError
from models.billing import (
    Payment,
    PaymentRequest,
    accounts,
    payment_flow,
    payment_request_flow,
    received_in_month,
    register_payment,
    reverse_payment,
)
from models.task import Task
from models.workflow import Actor, Event, TransitionRefused
from tests.billing_support import announced_list, at, deliver, household, item, quick_passwords  # noqa: F401  (quick_passwords: autouse)
from tests.conftest import api_token, login


@pytest.fixture()
def billed(make, session):
    """A November request of 105.00 for 王芳 (due 20 Dec), a finance clerk, a reception clerk."""
    estate = make.estate("锦绣花园")
    service = item(session)
    announced_list(session, estate, {service: "35.00"})
    owner = household(make, estate, "101", "王芳", "13912345678")
    deliver(session, owner, service, "2026-11-10T10:00", quantity="3")
    run_job(session, "payment_requests", at("2026-12-15T08:00"))
    finance = make.user("财务内勤", estates=[estate], username="cw")
    clerk = make.user("接待员", estates=[estate], username="jd")
    req = session.scalars(select(PaymentRequest)).one()
    return {"estate": estate, "request": req, "finance": Actor(user=finance), "clerk": Actor(user=clerk)}


def pay(session, billed, amount, receipt, when="2026-12-16T09:00", method="cash"):
    payment = register_payment(session, billed["request"], billed["finance"], at(when), amount=amount, method=method, receipt_no=receipt)
    session.commit()
    return payment


def reverse(session, billed, payment, when="2026-12-17T10:00", reason="金额录错"):
    counter = reverse_payment(session, payment, billed["finance"], reason, at(when))
    session.commit()
    return counter


# ---------------------------------------------------------------- rules
def test_reversing_the_whole_payment_puts_the_request_back_and_keeps_both_entries(session, billed):
    req = billed["request"]
    paid = pay(session, billed, "105.00", "XJ-0001")
    assert (req.status, req.paid_amount) == ("paid", Decimal("105.00"))

    counter = reverse(session, billed, paid)
    session.refresh(req)
    assert (req.status, req.paid_amount, req.balance) == ("issued", Decimal("0.00"), Decimal("105.00"))
    assert paid.status == "reversed" and paid.amount == Decimal("105.00") and paid.receipt_no == "XJ-0001"
    assert counter.status == "reversal" and counter.amount == Decimal("-105.00") and counter.reverses_id == paid.id
    assert counter.note == "金额录错" and counter.receipt_no is None and counter.receipt_label == "冲红 XJ-0001"
    assert counter.method == "cash" and counter.registered_by_id == billed["finance"].user_id
    assert paid.reversal_id == counter.id
    assert [p.id for p in req.payments] == [paid.id, counter.id]
    # the payment's own log and the request's log both say it
    (event,) = payment_flow.events(session, paid.id)
    assert (event.transition, event.from_status, event.to_status) == ("reverse", "registered", "reversed")
    last = payment_request_flow.events(session, req.id)[-1]
    assert (last.transition, last.from_status, last.to_status) == ("reverse_payment", "paid", "issued")
    assert "XJ-0001" in last.note and "金额录错" in last.note and last.user_id == billed["finance"].user_id


def test_part_of_the_money_taken_back_leaves_the_request_partly_paid(session, billed):
    req = billed["request"]
    pay(session, billed, "55.00", "WX-1", method="wechat")
    duplicate = pay(session, billed, "50.00", "WX-2", method="wechat")
    assert req.status == "paid"
    reverse(session, billed, duplicate, reason="重复登记")
    session.refresh(req)
    assert (req.status, req.paid_amount, req.balance) == ("partly_paid", Decimal("55.00"), Decimal("50.00"))
    # the money can be registered again (a new receipt; the reversed one stays void)
    with pytest.raises(ValidationError) as err:
        register_payment(session, req, billed["finance"], at("2026-12-18T09:00"), amount="50", method="cash", receipt_no="WX-2")
    assert err.value.field == "receipt_no"
    session.rollback()
    pay(session, billed, "50.00", "XJ-3", when="2026-12-18T09:00")
    session.refresh(req)
    assert (req.status, req.paid_amount) == ("paid", Decimal("105.00"))


def test_after_the_due_day_a_reversal_makes_the_request_overdue_with_a_collection_task(session, billed):
    req = billed["request"]
    paid = pay(session, billed, "105.00", "XJ-0001")
    reverse(session, billed, paid, when="2026-12-21T09:00", reason="录错业户")
    session.refresh(req)
    assert req.status == "overdue" and req.balance == Decimal("105.00")
    task = session.scalars(select(Task).where(Task.kind == "payment_overdue", Task.object_id == req.id, Task.done_at.is_(None))).one()
    assert task.role_name == "接待员" and "105.00" in task.title
    # the monthly job keeps the one task
    run_job(session, "overdue_payments", at("2026-12-21T08:30"))
    assert session.query(Task).filter(Task.kind == "payment_overdue", Task.done_at.is_(None)).count() == 1


def test_on_a_request_in_collection_the_collector_keeps_the_task(session, make, billed):
    req = billed["request"]
    run_job(session, "overdue_payments", at("2026-12-21T08:00"))
    payment_request_flow.apply(session, req, "collect", billed["clerk"], at("2026-12-21T09:00"), {})
    session.commit()
    paid = pay(session, billed, "105.00", "XJ-0001", when="2026-12-22T10:00")
    assert req.status == "paid"
    assert session.query(Task).filter(Task.kind == "payment_overdue", Task.done_at.is_(None)).count() == 0
    reverse(session, billed, paid, when="2026-12-22T11:00")
    session.refresh(req)
    assert req.status == "collecting"
    task = session.scalars(select(Task).where(Task.kind == "payment_overdue", Task.done_at.is_(None))).one()
    assert task.assignee_id == billed["clerk"].staff_id


def test_a_payment_is_reversed_once_and_a_counter_entry_never(session, billed):
    paid = pay(session, billed, "105.00", "XJ-0001")
    counter = reverse(session, billed, paid)
    with pytest.raises(TransitionRefused) as err:
        reverse_payment(session, paid, billed["finance"], "再冲一次", at("2026-12-17T11:00"))
    assert err.value.status == 409 and "已冲红" in err.value.message
    session.rollback()
    with pytest.raises(TransitionRefused) as err:
        reverse_payment(session, counter, billed["finance"], "冲红记录再冲", at("2026-12-17T11:00"))
    assert "冲红记录" in err.value.message
    session.rollback()
    assert session.query(Payment).count() == 2
    # the database holds the rule too: one counter-entry per payment
    session.add(Payment(payment_request_id=paid.payment_request_id, estate_id=paid.estate_id, amount=Decimal("-105.00"),
                        method="cash", status="reversal", reverses_id=paid.id))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


@pytest.mark.parametrize("reason", [None, "", "   ", 12, ["x"], "长" * 201])
def test_a_reason_is_required_and_a_refusal_changes_nothing(session, billed, reason):
    req = billed["request"]
    paid = pay(session, billed, "105.00", "XJ-0001")
    with pytest.raises(ValidationError) as err:
        reverse_payment(session, paid, billed["finance"], reason, at("2026-12-17T10:00"))
    assert err.value.field == "reason"
    session.rollback()
    session.refresh(req)
    assert (req.status, req.paid_amount, paid.status) == ("paid", Decimal("105.00"), "registered")
    assert session.query(Payment).count() == 1


def test_only_finance_reverses(session, make, billed):
    paid = pay(session, billed, "105.00", "XJ-0001")
    for role in ("接待员", "物业经理", "公司经理"):
        user = make.user(role, estates=[billed["estate"]], username=f"u{len(role)}{role}")
        with pytest.raises(PermissionDenied):
            reverse_payment(session, paid, Actor(user=user), "无权", at("2026-12-17T10:00"))
        session.rollback()
    assert paid.status == "registered"


def test_sums_count_a_reversal_once(session, billed):
    """Billing-period basis (the request, the accounts, the KPI) and cash basis (received in the month)."""
    from models.kpi import _collection_rate

    req = billed["request"]
    estate_id = billed["estate"].id
    first = pay(session, billed, "105.00", "XJ-0001", when="2026-12-16T09:00")
    reverse(session, billed, first, when="2027-01-05T10:00", reason="重复收据")
    pay(session, billed, "60.00", "XJ-0002", when="2027-01-05T10:30")
    session.refresh(req)
    # past the due day the reversal made it overdue; money coming in again put it in collection
    assert (req.status, req.paid_amount) == ("collecting", Decimal("60.00"))
    (row,) = accounts(session, {estate_id})
    assert (row["billed"], row["collected"], row["outstanding"]) == (Decimal("105.00"), Decimal("60.00"), Decimal("45.00"))
    assert row["overdue_count"] == 1 and row["overdue_amount"] == Decimal("45.00")
    # December keeps what was received then; January shows the reversal and the new payment
    assert received_in_month(session, estate_id, "2026-12") == Decimal("105.00")
    assert received_in_month(session, estate_id, "2027-01") == Decimal("-45.00")
    rate, note = _collection_rate(session, estate_id, at("2027-01-06T09:00"))
    assert round(rate, 1) == Decimal("57.1") and "60.00" in note and "105.00" in note


def test_the_payments_export_lists_the_reversal_as_a_negative_row(session, billed, tmp_path):
    from models.billing_exports import export_payments

    paid = pay(session, billed, "105.00", "XJ-0001")
    reverse(session, billed, paid, reason="金额录错")
    pay(session, billed, "100.00", "XJ-0002", when="2026-12-17T11:00")
    path = tmp_path / "payments.xlsx"
    export_payments(session, "2026-12", str(path))
    sheet = load_workbook(path).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    header = next(r for r in rows if "金额(元)" in r)
    amount_col, receipt_col, status_col = header.index("金额(元)"), header.index("收据号"), header.index("状态")
    body = [r for r in rows[rows.index(header) + 1:] if r[receipt_col]]
    assert [(r[receipt_col], r[status_col]) for r in body] == [("XJ-0001", "已冲红"), ("冲红 XJ-0001", "冲红记录"), ("XJ-0002", "已登记")]
    assert [Decimal(str(r[amount_col])) for r in body] == [Decimal("105"), Decimal("-105"), Decimal("100")]
    total = rows[-1][amount_col]
    assert Decimal(str(total)) == Decimal("100")


# ---------------------------------------------------------------- REST
def test_rest_reverse_answers_the_payment_and_refuses_twice_in_chinese(client, session, billed):
    h = api_token(client, "cw")
    rid = billed["request"].id
    r = client.post("/api/v1/payment/", json={"payment_request_id": rid, "amount": "105.00", "method": "cash", "receipt_no": "XJ-0001"},
                    headers=h)
    pid = r.json["id"]
    r = client.post(f"/api/v1/payment/{pid}/reverse", json={}, headers=h)
    assert r.status_code == 422 and "reason" in r.json["message"], r.json
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(r.json["message"]["reason"]))
    r = client.post(f"/api/v1/payment/{pid}/reverse", json={"reason": "重复登记"}, headers=h)
    assert r.status_code == 200, r.json
    result = r.json["result"]
    assert result["status"] == "reversed" and result["amount"] == "105.00" and result["reversal_id"]
    counter = client.get(f"/api/v1/payment/{result['reversal_id']}", headers=h).json["result"]
    assert (counter["amount"], counter["status"], counter["reverses_id"], counter["note"]) == ("-105.00", "reversal", pid, "重复登记")
    shown = client.get(f"/api/v1/payment_request/{rid}", headers=h).json["result"]
    assert (shown["status"], shown["paid_amount"], shown["balance"]) == ("issued", "0.00", "105.00")
    r = client.post(f"/api/v1/payment/{pid}/reverse", json={"reason": "再冲一次"}, headers=h)
    assert r.status_code == 409 and "已冲红" in str(r.json["message"]), r.json
    events = client.get(f"/api/v1/payment/{pid}/events", headers=h).json["result"]
    assert [(e["transition"], e["transition_label"], e["to_status"]) for e in events] == [("reverse", "冲红", "reversed")]
    request_events = client.get(f"/api/v1/payment_request/{rid}/events", headers=h).json["result"]
    assert request_events[-1]["transition_label"] == "冲红收款" and request_events[-1]["to_status"] == "issued"
    listed = client.get("/api/v1/payment/?q=(filters:!((col:status,opr:eq,value:reversal)))", headers=h).json
    assert listed["count"] == 1 and listed["result"][0]["amount"] == "-105.00"


def test_rest_reverse_is_finance_only_and_estate_scoped(client, session, make, billed):
    paid = pay(session, billed, "105.00", "XJ-0001")
    other = make.estate("东方大厦")
    make.user("财务内勤", estates=[other], username="cw2")
    r = client.post(f"/api/v1/payment/{paid.id}/reverse", json={"reason": "x"}, headers=api_token(client, "jd"))
    assert r.status_code == 403
    r = client.post(f"/api/v1/payment/{paid.id}/reverse", json={"reason": "x"}, headers=api_token(client, "cw2"))
    assert r.status_code == 404
    session.refresh(paid)
    assert paid.status == "registered"


# ---------------------------------------------------------------- screens
def test_screen_reverse_with_a_reason_and_both_entries_on_the_request(client, session, billed):
    paid = pay(session, billed, "105.00", "XJ-0001")
    rid = billed["request"].id
    assert login(client, "cw").status_code == 302
    page = client.get(f"/paymentrequestview/show/{rid}").get_data(as_text=True)
    assert f"/paymentview/do/reverse/{paid.id}" in page and "冲红" in page
    form = client.get(f"/paymentview/do/reverse/{paid.id}").get_data(as_text=True)
    assert "冲红原因" in form and "XJ-0001" in form
    refused = client.post(f"/paymentview/do/reverse/{paid.id}", data={"reason": "", "row_version": paid.version})
    assert refused.status_code == 200 and "请填写冲红原因" in refused.get_data(as_text=True)
    done = client.post(f"/paymentview/do/reverse/{paid.id}", data={"reason": "录错业户", "row_version": paid.version})
    assert done.status_code == 302 and f"/paymentview/show/{paid.id}" in done.location
    shown = client.get(f"/paymentview/show/{paid.id}").get_data(as_text=True)
    assert "已冲红" in shown and "冲红 XJ-0001" in shown and "录错业户" in shown
    page = client.get(f"/paymentrequestview/show/{rid}").get_data(as_text=True)
    assert "-105.00" in page and "已冲红" in page and "冲红记录" in page and "待付款" in page
    assert f"/paymentview/do/reverse/{paid.id}" not in page
    listed = client.get("/paymentview/list/").get_data(as_text=True)
    assert "冲红 XJ-0001" in listed and "-105.00" in listed
    session.refresh(paid)
    again = client.post(f"/paymentview/do/reverse/{paid.id}", data={"reason": "再冲", "row_version": paid.version})
    assert again.status_code == 200 and "当前状态为「已冲红」" in again.get_data(as_text=True)
    assert session.query(Payment).count() == 2
    assert session.scalars(select(Event).where(Event.object_type == "payment").order_by(Event.id)).all()[0].note


def test_screen_reverse_is_not_offered_to_reception(client, session, billed):
    paid = pay(session, billed, "105.00", "XJ-0001")
    assert login(client, "jd").status_code == 302
    page = client.get(f"/paymentrequestview/show/{billed['request'].id}").get_data(as_text=True)
    assert "XJ-0001" in page and f"/paymentview/do/reverse/{paid.id}" not in page
    client.post(f"/paymentview/do/reverse/{paid.id}", data={"reason": "x"})
    session.refresh(paid)
    assert paid.status == "registered"

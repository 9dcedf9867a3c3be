"""Billing through the REST API and the CLI: paying, refusals, who may, filters, exports."""

from __future__ import annotations

import json

import pytest
from openpyxl import load_workbook

from jobs import run_job
from tests.billing_support import announced_list, at, deliver, household, item, quick_passwords  # noqa: F401  (quick_passwords: autouse)
from tests.conftest import api_token


@pytest.fixture()
def billed(client, make, session):
    """A November request of 105.00 for 王芳 in 锦绣花园; a finance clerk and a reception clerk."""
    estate = make.estate("锦绣花园")
    service = item(session)
    announced_list(session, estate, {service: "35.00"})
    owner = household(make, estate, "101", "王芳", "13912345678")
    deliver(session, owner, service, "2026-11-10T10:00", quantity="3")
    run_job(session, "payment_requests", at("2026-12-15T08:00"))
    make.user("财务内勤", estates=[estate], username="cw")
    make.user("接待员", estates=[estate], username="jd")
    request_id = client.get("/api/v1/payment_request/", headers=api_token(client, "cw")).json["ids"][0]
    return {"estate": estate, "owner": owner, "request_id": request_id}


def test_finance_pays_in_parts_and_the_request_follows(client, billed):
    h = api_token(client, "cw")
    rid = billed["request_id"]
    shown = client.get(f"/api/v1/payment_request/{rid}", headers=h).json["result"]
    assert shown["id"] == rid and shown["estate_id"] == billed["estate"].id and shown["owner_id"] == billed["owner"].id
    assert (shown["period"], shown["issued_on"], shown["due_on"]) == ("2026-11", "2026-12-15", "2026-12-20")
    assert (shown["total"], shown["total_in_words"], shown["status"]) == ("105.00", "壹佰零伍元整", "issued")
    assert shown["lines"][0]["amount"] == "105.00" and shown["lines"][0]["source_type"] == "service_delivery"

    r = client.post("/api/v1/payment/", json={"payment_request_id": rid, "amount": "55.00", "method": "wechat",
                                              "receipt_no": "WX-0001"}, headers=h)
    assert r.status_code == 201, r.json
    assert r.json["result"]["amount"] == "55.00" and r.json["result"]["payment_request_id"] == rid
    shown = client.get(f"/api/v1/payment_request/{rid}", headers=h).json["result"]
    assert (shown["status"], shown["paid_amount"], shown["balance"]) == ("partly_paid", "55.00", "50.00")

    r = client.post("/api/v1/payment/", json={"payment_request_id": rid, "amount": 50, "method": "cash",
                                              "receipt_no": "XJ-0002"}, headers=h)
    assert r.status_code == 201, r.json
    assert client.get(f"/api/v1/payment_request/{rid}", headers=h).json["result"]["status"] == "paid"
    listed = client.get(f"/api/v1/payment/?q=(filters:!((col:payment_request_id,opr:eq,value:{rid})))", headers=h).json
    assert listed["count"] == 2 and {p["amount"] for p in listed["result"]} == {"55.00", "50.00"}
    events = client.get(f"/api/v1/payment_request/{rid}/events", headers=h).json["result"]
    assert [e["to_status"] for e in events] == ["partly_paid", "paid"]


BAD_BODIES = [
    ({"amount": "105.01", "method": "cash", "receipt_no": "A"}, 422, "amount"),
    ({"amount": "-1", "method": "cash", "receipt_no": "A"}, 422, "amount"),
    ({"amount": "1e3", "method": "cash", "receipt_no": "A"}, 422, "amount"),
    ({"amount": True, "method": "cash", "receipt_no": "A"}, 422, "amount"),
    ({"amount": "10", "method": "credit", "receipt_no": "A"}, 422, "method"),
    ({"amount": "10", "method": "cash"}, 422, "receipt_no"),
    ({"amount": "10", "method": "cash", "receipt_no": ["A"]}, 422, "receipt_no"),
    ({"amount": "10", "method": "cash", "receipt_no": "A", "paid_at": "yesterday"}, 422, "paid_at"),
    ({"amount": "10", "method": "cash", "receipt_no": "A", "status": "paid"}, 400, "status"),
]


def test_bad_payment_bodies_are_refused_in_chinese_and_save_nothing(client, billed):
    h = api_token(client, "cw")
    rid = billed["request_id"]
    for body, status, field in BAD_BODIES:
        r = client.post("/api/v1/payment/", json={"payment_request_id": rid, **body}, headers=h)
        assert r.status_code == status, (body, r.json)
        message = r.json["message"][field][0]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in message), message
    assert client.get("/api/v1/payment/", headers=h).json["count"] == 0
    assert client.get(f"/api/v1/payment_request/{rid}", headers=h).json["result"]["status"] == "issued"


def test_hostile_payment_requests_never_500(client, billed):
    h = api_token(client, "cw")
    for body in ([], "x", {"payment_request_id": 2**70, "amount": "1", "method": "cash", "receipt_no": "A"},
                 {"payment_request_id": "abc", "amount": "1", "method": "cash", "receipt_no": "A"},
                 {"payment_request_id": 99999, "amount": "1", "method": "cash", "receipt_no": "A"}):
        r = client.post("/api/v1/payment/", json=body, headers=h)
        assert r.status_code in (400, 422), (body, r.status_code)
    r = client.post("/api/v1/payment/", data="{oops", headers=h | {"Content-Type": "application/json"})
    assert r.status_code == 400
    assert client.put("/api/v1/payment/1", json={"amount": "1"}, headers=h).status_code in (404, 405)
    assert client.delete("/api/v1/payment/1", headers=h).status_code in (404, 405)


def test_only_finance_may_pay_and_only_in_their_estates(client, make, billed):
    body = {"payment_request_id": billed["request_id"], "amount": "10", "method": "cash", "receipt_no": "A"}
    assert client.post("/api/v1/payment/", json=body).status_code == 401
    assert client.post("/api/v1/payment/", json=body, headers=api_token(client, "jd")).status_code == 403
    make.user("公司经理", username="boss")
    assert client.post("/api/v1/payment/", json=body, headers=api_token(client, "boss")).status_code == 403
    other = make.estate("国贸中心大厦")
    make.user("财务内勤", estates=[other], username="cw2")
    h2 = api_token(client, "cw2")
    r = client.post("/api/v1/payment/", json=body, headers=h2)
    assert r.status_code == 422 and "payment_request_id" in r.json["message"]
    assert client.get(f"/api/v1/payment_request/{billed['request_id']}", headers=h2).status_code == 404
    make.user("系统管理员", username="admin2")
    assert client.post("/api/v1/payment/", json=body, headers=api_token(client, "admin2")).status_code == 201


def test_lists_filter_on_period_status_and_estate(client, billed):
    h = api_token(client, "cw")
    base = "/api/v1/payment_request/?q=(filters:!((col:{c},opr:eq,value:{v})))"
    assert client.get(base.format(c="period", v="'2026-11'"), headers=h).json["count"] == 1
    assert client.get(base.format(c="period", v="'2026-10'"), headers=h).json["count"] == 0
    assert client.get(base.format(c="status", v="issued"), headers=h).json["count"] == 1
    assert client.get(base.format(c="estate_id", v=billed["estate"].id), headers=h).json["count"] == 1
    assert client.get(base.format(c="owner_id", v=billed["owner"].id), headers=h).json["count"] == 1


def test_collect_is_a_clerks_move_after_the_due_day(client, session, billed):
    rid = billed["request_id"]
    h = api_token(client, "jd")
    r = client.post(f"/api/v1/payment_request/{rid}/collect", json={}, headers=h)
    assert r.status_code == 409 and "待付款" in r.json["message"]
    run_job(session, "overdue_payments", at("2026-12-21T08:00"))
    r = client.post(f"/api/v1/payment_request/{rid}/collect", json={"note": "周六上门"}, headers=h)
    assert r.status_code == 200 and r.json["result"]["status"] == "collecting"
    r = client.post(f"/api/v1/payment_request/{rid}/pay", json={"amount": "1", "method": "cash", "receipt_no": "Z"}, headers=h)
    assert r.status_code == 403
    tasks = client.get("/api/v1/task/?q=(filters:!((col:kind,opr:eq,value:payment_overdue)))", headers=h).json
    assert tasks["count"] == 1 and tasks["result"][0]["object_id"] == rid


def test_jobs_once_and_export_through_the_cli(app, session, billed, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["jobs", "once", "payment_requests", "--at", "2026-12-15T08:00:00+08:00"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["period"] == "2026-11" and summary["issued"] == 0  # already issued by the fixture
    result = runner.invoke(args=["jobs", "once", "overdue_payments", "--at", "2026-12-21T08:00:00+08:00"])
    assert json.loads(result.output.strip().splitlines()[-1])["overdue"] == 1

    path = tmp_path / "fk.xlsx"
    result = runner.invoke(args=["export", "payment_requests", "--period", "2026-11", "-o", str(path)])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[2]
    assert "请求书编号" in header and "合计大写" in header
    data = rows[3]
    assert data[header.index("付款人")] == "王芳" and data[header.index("合计(元)")] == 105
    assert data[header.index("状态")] == "已逾期"

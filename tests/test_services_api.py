"""Convenience services through the REST API: the roster, finance's deposits, deliveries at the announced price."""

from __future__ import annotations

import pytest

from tests.billing_support import announced_list, household, item, quick_passwords  # noqa: F401  (quick_passwords: autouse)
from tests.conftest import api_token


@pytest.fixture()
def office(client, make, session):
    estate = make.estate("锦绣花园")
    hourly = item(session)
    bike = item(session, name="自行车保管", price="10.00", cost="9.00", unit="月", deposit="20.00", category="vehicle")
    washing = item(session, name="汽车清洗", price="25.00", cost="22.00", unit="次", long_term=False, category="vehicle")
    announced_list(session, estate, {hourly: "35.00", bike: "10.00"})
    owner = household(make, estate, "101", "王芳")
    gly = make.user("物业管理员", estates=[estate], username="gly")
    make.user("财务内勤", estates=[estate], username="cw")
    return {"estate": estate, "hourly": hourly, "bike": bike, "washing": washing, "owner": owner, "staff": gly.staff}


def test_roster_deposit_and_deliveries_through_the_api(client, office):
    h = api_token(client, "gly")
    r = client.post("/api/v1/subscription/", json={"owner_id": office["owner"].id, "service_item_id": office["bike"].id,
                                                     "start_on": "2026-03-01"}, headers=h)
    assert r.status_code == 201, r.json
    sid = r.json["id"]
    sub = r.json["result"]
    assert (sub["estate_id"], sub["unit_id"], sub["status"], sub["price"], sub["deposit_required"]) == (
        office["estate"].id, office["owner"].unit_id, "registered", "10.00", "20.00")
    assert client.post(f"/api/v1/subscription/{sid}/confirm", json={}, headers=h).status_code == 422
    r = client.post(f"/api/v1/subscription/{sid}/confirm", json={"signed_by": "王芳"}, headers=h)
    assert r.status_code == 200 and r.json["result"]["status"] == "active"

    delivery = {"subscription_id": sid, "settlement": "cash", "staff_id": office["staff"].id, "quantity": "1"}
    r = client.post("/api/v1/service_delivery/", json=delivery, headers=h)
    assert r.status_code == 422 and "押金" in r.json["message"]["subscription_id"][0]
    fee = {"kind": "deposit", "amount": "20.00", "method": "cash", "receipt_no": "YJ-1"}
    assert client.post(f"/api/v1/subscription/{sid}/register_fee", json=fee, headers=h).status_code == 403
    r = client.post(f"/api/v1/subscription/{sid}/register_fee", json=fee, headers=api_token(client, "cw"))
    assert r.status_code == 200 and r.json["result"]["deposit_held"] == "20.00"

    r = client.post("/api/v1/service_delivery/", json=delivery | {"unit_price": "1.00"}, headers=h)
    assert r.status_code in (400, 422) and r.json["message"]["unit_price"] == ["未知字段"]
    r = client.post("/api/v1/service_delivery/", json=delivery | {"quantity": "2"}, headers=h)
    assert r.status_code == 201, r.json
    got = r.json["result"]
    assert (got["unit_price"], got["fee"], got["owner_id"], got["service_item_id"]) == (
        "10.00", "20.00", office["owner"].id, office["bike"].id)
    for bad, field in [({"quantity": "-1"}, "quantity"), ({"quantity": "abc"}, "quantity"), ({"settlement": "credit"}, "settlement")]:
        r = client.post("/api/v1/service_delivery/", json=delivery | bad, headers=h)
        assert r.status_code == 422 and field in r.json["message"], (bad, r.json)
    listed = client.get(f"/api/v1/service_delivery/?q=(filters:!((col:subscription_id,opr:eq,value:{sid})))", headers=h).json
    assert listed["count"] == 1

    assert client.post(f"/api/v1/subscription/{sid}/stop", json={}, headers=h).status_code == 422
    r = client.post(f"/api/v1/subscription/{sid}/stop", json={"reason": "自行车已卖掉"}, headers=h)
    assert r.status_code == 200 and r.json["result"]["status"] == "stopped"
    assert client.post(f"/api/v1/subscription/{sid}/stop", json={"reason": "x"}, headers=h).status_code == 409
    stopped = client.get("/api/v1/subscription/?q=(filters:!((col:status,opr:eq,value:stopped)))", headers=h).json
    assert stopped["ids"] == [sid]


def test_a_service_not_on_the_announced_list_is_never_charged(client, office):
    h = api_token(client, "gly")
    body = {"owner_id": office["owner"].id, "service_item_id": office["washing"].id, "settlement": "bill",
            "owner_signed_by": "王芳"}
    r = client.post("/api/v1/service_delivery/", json=body, headers=h)
    assert r.status_code == 422 and "不在已公告" in r.json["message"]["service_item_id"][0]
    r = client.post("/api/v1/subscription/", json={"owner_id": office["owner"].id, "service_item_id": office["washing"].id},
                    headers=h)
    assert r.status_code == 422 and "service_item_id" in r.json["message"]
    assert client.get("/api/v1/service_delivery/", headers=h).json["count"] == 0


def test_catalogue_through_the_api(client, make, office):
    make.user("物业经理", estates=[office["estate"]], username="jl")
    h = api_token(client, "jl")
    mine = {"estate_id": office["estate"].id}
    r = client.post("/api/v1/service_item/", json={"name": "家电维修安装", "kind": "paid", "category": "home_repair",
                                                    "unit": "次", "price": "50.00", "cost": "44.00"}, headers=h)
    assert r.status_code == 403  # company-wide items are the company's
    r = client.post("/api/v1/service_item/", json=mine | {"name": "家电维修安装", "kind": "paid", "category": "home_repair",
                                                           "unit": "次", "price": "40.00", "cost": "44.00"}, headers=h)
    assert r.status_code == 422 and "低于成本" in r.json["message"]["price"][0]
    r = client.post("/api/v1/service_item/", json=mine | {"name": "家电维修安装", "kind": "paid", "category": "home_repair",
                                                           "unit": "次", "price": "五十", "cost": "44.00"}, headers=h)
    assert r.status_code == 422 and r.json["message"]["price"] == ["必须是数字"]
    r = client.post("/api/v1/service_item/", json=mine | {"name": "家电维修安装", "kind": "paid", "category": "home_repair",
                                                           "unit": "次", "price": "50.00", "cost": "44.00"}, headers=h)
    assert r.status_code == 201 and r.json["result"]["price"] == "50.00" and r.json["result"]["kind"] == "paid"
    paid = client.get("/api/v1/service_item/?q=(filters:!((col:kind,opr:eq,value:paid)))", headers=h).json
    assert paid["count"] == 4
    assert client.post("/api/v1/service_item/", json={"name": "x", "kind": "free", "category": "info"},
                       headers=api_token(client, "gly")).status_code == 403

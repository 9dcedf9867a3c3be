"""便民服务项目及价格表: every move and who may make it, 保本微利, only announced prices are charged,
the January reminder."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from jobs import run_job
from models.base import DomainError, PermissionDenied, ValidationError
from models.services_price import PriceList, PriceListLine, add_line, price_in_force, price_list_flow
from models.system import Setting
from models.task import Task
from models.workflow import Actor, TransitionRefused
from tests.billing_support import announced_list, at, deliver, household, item, quick_passwords  # noqa: F401  (quick_passwords: autouse)
from tests.conftest import api_token


@pytest.fixture()
def office(make, session):
    estate = make.estate("锦绣花园")
    people = {
        role: Actor(user=make.user(role, estates=[estate], username=name))
        for role, name in [("物业经理", "jl"), ("公司经理", "boss"), ("物业管理员", "gly"), ("接待员", "jd"), ("财务内勤", "cw")]
    }
    service = item(session)
    gas = item(session, name="代购代送煤气", price="15.00", cost="13.00", unit="瓶", prepayment="150.00", category="agency")
    return {"estate": estate, "people": people, "service": service, "gas": gas}


def draft(session, office, prices=None):
    manager = office["people"]["物业经理"]
    price_list = PriceList(estate_id=office["estate"].id, year=2026, status="draft", drafted_by_id=manager.user_id)
    session.add(price_list)
    session.flush()
    for obj, price in (prices or {office["service"]: "35.00", office["gas"]: "15.00"}).items():
        add_line(session, price_list, obj.id, price)
    session.commit()
    return price_list


def move(session, price_list, name, actor, when="2026-01-05T10:00", **params):
    event = price_list_flow.apply(session, price_list, name, actor, at(when), params)
    session.commit()
    return event


def test_the_whole_path_and_who_may_take_each_step(session, office):
    p = office["people"]
    price_list = draft(session, office)

    for role in ("物业管理员", "接待员", "公司经理", "财务内勤"):
        with pytest.raises(PermissionDenied):
            move(session, price_list, "submit", p[role])
        session.rollback()
    move(session, price_list, "submit", p["物业经理"])
    assert price_list.status == "submitted" and price_list.submitted_by_id == p["物业经理"].user_id

    for role in ("物业经理", "物业管理员", "财务内勤"):
        with pytest.raises(PermissionDenied):
            move(session, price_list, "approve", p[role])
        session.rollback()
    with pytest.raises(TransitionRefused):
        move(session, price_list, "announce", p["物业管理员"], method="office")
    session.rollback()
    with pytest.raises(ValidationError) as err:
        move(session, price_list, "reject", p["公司经理"], reason="  ")
    assert err.value.field == "reason"
    session.rollback()
    move(session, price_list, "reject", p["公司经理"], reason="钟点工价格请再核实成本")
    assert price_list.status == "rejected" and price_list.decision_note == "钟点工价格请再核实成本"

    with pytest.raises(PermissionDenied):
        move(session, price_list, "revise", p["物业管理员"])
    session.rollback()
    move(session, price_list, "revise", p["物业经理"])
    move(session, price_list, "submit", p["物业经理"], when="2026-01-06T10:00")
    move(session, price_list, "approve", p["公司经理"], when="2026-01-07T10:00", note="同意")
    assert price_list.status == "approved"

    with pytest.raises(PermissionDenied):
        move(session, price_list, "announce", p["物业经理"], method="office")
    session.rollback()
    with pytest.raises(ValidationError) as err:
        move(session, price_list, "announce", p["物业管理员"], method="radio")
    assert err.value.field == "method"
    session.rollback()
    with pytest.raises(ValidationError) as err:
        move(session, price_list, "announce", p["物业管理员"], method="office", announced_on="2026-01-02")
    assert err.value.field == "announced_on"  # before the approval
    session.rollback()
    move(session, price_list, "announce", p["物业管理员"], when="2026-01-08T09:00", method="garden", announced_on="2026-01-08")
    assert (price_list.status, price_list.announce_method, price_list.announced_on) == ("announced", "garden", date(2026, 1, 8))
    events = [e.transition for e in price_list_flow.events(session, price_list.id)]
    assert events == ["submit", "reject", "revise", "submit", "approve", "announce"]


def test_a_company_manager_cannot_approve_their_own_list(session, make, office):
    both = Actor(user=make.user(["物业经理", "公司经理"], estates=[office["estate"]], username="both"))
    price_list = draft(session, office)
    price_list.drafted_by_id = both.user_id
    session.commit()
    move(session, price_list, "submit", both)
    with pytest.raises(PermissionDenied) as err:
        move(session, price_list, "approve", both)
    assert "自己" in err.value.message
    session.rollback()
    with pytest.raises(PermissionDenied):
        move(session, price_list, "reject", both, reason="x")
    session.rollback()
    admin = Actor(user=make.user("系统管理员", username="root"))
    with pytest.raises(PermissionDenied) as err:
        move(session, price_list, "approve", admin)
    assert "公司经理" in err.value.message
    session.rollback()
    move(session, price_list, "approve", office["people"]["公司经理"])
    assert price_list.status == "approved"


def test_baoben_weili_price_not_below_cost_and_margin_within_the_setting(session, office):
    price_list = PriceList(estate_id=office["estate"].id, year=2026, status="draft")
    session.add(price_list)
    session.commit()
    with pytest.raises(ValidationError) as err:
        add_line(session, price_list, office["service"].id, "29.99")  # cost 30.00
    assert err.value.field == "price" and "低于成本" in err.value.message
    session.rollback()
    with pytest.raises(ValidationError) as err:
        add_line(session, price_list, office["service"].id, "36.01")  # 20.03% over cost, limit 20%
    assert "利润率" in err.value.message and "36.00" in err.value.message
    session.rollback()
    line = add_line(session, price_list, office["service"].id, "36.00")
    assert line.margin == Decimal("20.0")
    session.commit()
    # a tighter limit set by the administrator: the list can no longer be submitted
    session.add(Setting(key="price_margin_limit", value="0.10"))
    session.commit()
    with pytest.raises(ValidationError) as err:
        move(session, price_list, "submit", office["people"]["物业经理"])
    assert err.value.field == "lines" and "钟点工" in err.value.message
    session.rollback()
    assert price_list.status == "draft"
    with pytest.raises(ValidationError):
        add_line(session, price_list, office["gas"].id, "-1")
    session.rollback()
    free = item(session, name="信息查询", kind="free", category="info", price="0", cost="0", unit=None, long_term=False)
    with pytest.raises(ValidationError) as err:
        add_line(session, price_list, free.id, "0")
    assert "无偿" in err.value.message


def test_lines_are_frozen_once_submitted(session, office):
    price_list = draft(session, office)
    move(session, price_list, "submit", office["people"]["物业经理"])
    line = price_list.line_items[0]
    line.price = Decimal("31.00")
    with pytest.raises(DomainError):
        line.validate(session)
    session.rollback()
    with pytest.raises(DomainError):
        add_line(session, price_list, item(session, name="家教服务", price="80", cost="70").id, "80")
    session.rollback()


def test_only_an_announced_list_prices_are_charged(session, make, office):
    owner = household(make, office["estate"], "101", "王芳")
    price_list = draft(session, office, {office["service"]: "33.00"})
    with pytest.raises(ValidationError) as err:
        deliver(session, owner, office["service"], "2026-03-01T10:00")
    assert err.value.field == "service_item_id" and "已公告" in err.value.message
    session.rollback()
    move(session, price_list, "submit", office["people"]["物业经理"])
    move(session, price_list, "approve", office["people"]["公司经理"], when="2026-01-06T10:00")
    with pytest.raises(ValidationError):  # approved, not yet announced
        deliver(session, owner, office["service"], "2026-03-01T10:00")
    session.rollback()
    move(session, price_list, "announce", office["people"]["物业管理员"], when="2026-01-08T09:00", method="office",
         announced_on="2026-01-08")
    with pytest.raises(ValidationError):  # before the notice went up
        deliver(session, owner, office["service"], "2026-01-07T10:00")
    session.rollback()
    delivery = deliver(session, owner, office["service"], "2026-03-01T10:00", quantity="2")
    assert (delivery.unit_price, delivery.fee) == (Decimal("33.00"), Decimal("66.00"))
    with pytest.raises(ValidationError) as err:
        deliver(session, owner, office["gas"], "2026-03-01T10:00")
    assert "不在已公告" in err.value.message
    session.rollback()
    assert price_in_force(session, office["estate"].id, office["service"].id, date(2026, 12, 31)).price == Decimal("33.00")


def test_price_list_through_the_api(client, session, office):
    estate = office["estate"]
    h = api_token(client, "jl")
    bad = {"estate_id": estate.id, "year": 2026, "lines": [
        {"service_item_id": office["service"].id, "price": "35.00"},
        {"service_item_id": office["gas"].id, "price": "12.00"},
    ]}
    r = client.post("/api/v1/price_list/", json=bad, headers=h)
    assert r.status_code == 422 and "低于成本" in r.json["message"]["price"][0] and "第 2 项" in r.json["message"]["price"][0]
    assert session.scalar(select(func.count(PriceList.id))) == 0
    for body in ([], {"estate_id": estate.id, "year": "明年"}, {"estate_id": estate.id, "year": 2026, "lines": "x"},
                 {"estate_id": estate.id, "year": 2026, "status": "announced"}):
        assert client.post("/api/v1/price_list/", json=body, headers=h).status_code in (400, 422), body
    draft_2025 = client.post("/api/v1/price_list/", json={"estate_id": estate.id, "year": 2025}, headers=h).json["id"]
    r = client.post("/api/v1/price_list_line/", json={"price_list_id": draft_2025, "service_item_id": office["gas"].id,
                                                       "price": "15.50"}, headers=h)
    assert r.status_code == 201 and (r.json["result"]["cost"], r.json["result"]["prepayment"]) == ("13.00", "150.00")
    r = client.post("/api/v1/price_list_line/", json={"price_list_id": draft_2025, "service_item_id": office["service"].id,
                                                       "price": "29"}, headers=h)
    assert r.status_code == 422 and "低于成本" in r.json["message"]["price"][0]
    good = {"estate_id": estate.id, "year": 2026, "basis": "业户需求", "lines": [
        {"service_item_id": office["service"].id, "price": "35.00"},
        {"service_item_id": office["gas"].id, "price": "15", "prepayment": "150.00"},
    ]}
    r = client.post("/api/v1/price_list/", json=good, headers=h)
    assert r.status_code == 201, r.json
    pid = r.json["id"]
    assert r.json["result"]["status"] == "draft" and r.json["result"]["estate_id"] == estate.id
    assert [line["price"] for line in r.json["result"]["lines"]] == ["35.00", "15.00"]
    assert client.post("/api/v1/price_list/", json=good, headers=h).status_code == 422  # one per estate and year

    assert client.post(f"/api/v1/price_list/{pid}/approve", json={}, headers=h).status_code == 403
    assert client.post(f"/api/v1/price_list/{pid}/submit", json={}, headers=api_token(client, "gly")).status_code == 403
    r = client.post(f"/api/v1/price_list/{pid}/submit", json={}, headers=h)
    assert r.status_code == 200 and r.json["result"]["status"] == "submitted"
    r = client.post("/api/v1/price_list_line/", json={"price_list_id": pid, "service_item_id": office["service"].id,
                                                       "price": "34"}, headers=h)
    assert r.status_code == 409 and "不能修改" in str(r.json["message"])
    hb = api_token(client, "boss")
    assert client.post(f"/api/v1/price_list/{pid}/announce", json={"method": "office"}, headers=hb).status_code in (403, 409)
    r = client.post(f"/api/v1/price_list/{pid}/approve", json={"note": "同意"}, headers=hb)
    assert r.status_code == 200 and r.json["result"]["status"] == "approved"
    assert client.post(f"/api/v1/price_list/{pid}/approve", json={}, headers=hb).status_code == 409
    hg = api_token(client, "gly")
    r = client.post(f"/api/v1/price_list/{pid}/announce", json={"method": "garden"}, headers=hg)
    assert r.status_code == 200 and r.json["result"]["status"] == "announced" and r.json["result"]["announce_method"] == "garden"
    listed = client.get(f"/api/v1/price_list/?q=(filters:!((col:status,opr:eq,value:announced),(col:estate_id,opr:eq,value:{estate.id})))", headers=hg).json
    assert listed["ids"] == [pid]
    # the printable notice
    from tests.conftest import login

    login(client, "gly")
    page = client.get(f"/pricelistview/print/{pid}").get_data(as_text=True)
    assert "便民服务项目及价格表" in page and "代购代送煤气" in page and "在花园宣传栏内张贴" in page


def test_january_reminder_starts_each_draft_with_a_task_for_the_manager(session, make, office):
    other = make.estate("国贸中心大厦")
    last_year = announced_list(session, office["estate"], {office["service"]: "34.00"}, year=2026)
    assert last_year.status == "announced"

    first = run_job(session, "price_list_reminder", at("2027-01-02T08:00"))
    assert (first["outcome"], first["year"], first["drafts_created"], first["tasks_created"]) == ("ok", 2027, 2, 2)
    drafts = {p.estate_id: p for p in session.scalars(select(PriceList).where(PriceList.year == 2027))}
    assert set(drafts) == {office["estate"].id, other.id}
    # started from last year's list where there is one, else from the catalogue's paid items
    assert [(line.service_item.name, line.price) for line in drafts[office["estate"].id].line_items] == [("钟点工(家务清洁)", Decimal("34.00"))]
    assert {line.service_item.name for line in drafts[other.id].line_items} == {"钟点工(家务清洁)", "代购代送煤气"}
    tasks = session.scalars(select(Task).where(Task.kind == "price_list_draft").order_by(Task.estate_id)).all()
    assert [(t.role_name, t.object_type) for t in tasks] == [("物业经理", "price_list")] * 2
    assert "访问业户记录总结" in tasks[0].detail and "业户请求记录总结" in tasks[0].detail

    again = run_job(session, "price_list_reminder", at("2027-01-02T08:00"))
    assert (again["drafts_created"], again["tasks_created"]) == (0, 0)
    # submitting closes the manager's task
    move(session, drafts[office["estate"].id], "submit", office["people"]["物业经理"], when="2027-01-10T10:00")
    assert session.scalar(select(func.count(Task.id)).where(Task.done_at.is_(None))) == 1
    assert session.scalar(select(func.count(PriceListLine.id))) == 4

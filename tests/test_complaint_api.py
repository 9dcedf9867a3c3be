"""Complaints through the REST API and the screens: create, filter, transitions, errors, roles, estates."""

from datetime import timedelta

import time_machine

from models.base import utcnow
from tests.conftest import api_token, login


def setup_people(make):
    estate = make.estate("锦绣花园", households=2000)
    owner = make.owner(estate=estate, name="王芳", phone="13912345678")
    make.user("接待员", estates=[estate], username="clerk")
    make.user("物业经理", estates=[estate], username="manager")
    return estate, owner


def post(client, h, **body):
    return client.post("/api/v1/complaint/", json=body, headers=h)


def test_clerk_takes_a_complaint_and_the_manager_answers_escalates_and_closes_it(client, make):
    estate, owner = setup_people(make)
    clerk, manager = api_token(client, "clerk"), api_token(client, "manager")
    r = post(client, clerk, estate_id=estate.id, owner_id=owner.id, channel="phone", category="noise", content="楼上装修到夜里十一点")
    assert r.status_code == 201, r.json
    cid, c = r.json["id"], r.json["result"]
    assert c["status"] == "received" and c["unit_id"] == owner.unit_id and c["complainant"] == "王芳"
    assert c["phone"] == "13912345678" and c["number"].startswith("TS-")
    assert c["reply_due_at"].endswith("+00:00")
    from datetime import datetime

    received = datetime.fromisoformat(c["received_at"])
    assert datetime.fromisoformat(c["reply_due_at"]) - received == timedelta(hours=24)

    listed = client.get(f"/api/v1/complaint/?q=(filters:!((col:status,opr:eq,value:received),(col:estate_id,opr:eq,value:{estate.id})))", headers=clerk).json
    assert listed["count"] == 1 and listed["result"][0]["id"] == cid and listed["result"][0]["estate_id"] == estate.id

    # the clerk may not answer: that is the head's or manager's
    assert client.post(f"/api/v1/complaint/{cid}/reply", json={"reply": "好"}, headers=clerk).status_code == 403
    r = client.post(f"/api/v1/complaint/{cid}/escalate", json={"to": "leadership", "note": "装修户不配合"}, headers=clerk)
    assert r.status_code == 200 and r.json["result"]["status"] == "processing" and r.json["result"]["escalated_to"] == "leadership"
    r = client.post(f"/api/v1/complaint/{cid}/reply", json={"reply": "已约谈装修户,限定施工时间"}, headers=manager)
    assert r.status_code == 200 and r.json["result"]["status"] == "replied"

    r = client.post(f"/api/v1/complaint/{cid}/close", json={"valid": True, "satisfaction": "satisfied"}, headers=manager)
    assert r.status_code == 409 and "回访" in r.json["message"]
    revisits = client.get(f"/api/v1/revisit/?q=(filters:!((col:complaint_id,opr:eq,value:{cid})))", headers=clerk).json
    assert revisits["count"] == 1 and revisits["result"][0]["object_type"] == "complaint"
    rid = revisits["result"][0]["id"]
    r = client.post(f"/api/v1/revisit/{rid}/record", json={"method": "phone", "satisfaction": "satisfied"}, headers=clerk)
    assert r.status_code == 200, r.json
    assert client.get(f"/api/v1/complaint/{cid}", headers=clerk).json["result"]["status"] == "revisited"

    r = client.post(f"/api/v1/complaint/{cid}/close", json={"satisfaction": "satisfied"}, headers=manager)
    assert r.status_code == 422 and "valid" in r.json["message"]
    assert client.get(f"/api/v1/complaint/{cid}", headers=clerk).json["result"]["status"] == "revisited"
    r = client.post(f"/api/v1/complaint/{cid}/close", json={"valid": False}, headers=manager)
    assert r.status_code == 200 and r.json["result"]["status"] == "closed" and r.json["result"]["valid"] is False
    assert r.json["result"]["satisfaction"] == "satisfied"
    events = client.get(f"/api/v1/complaint/{cid}/events", headers=clerk).json["result"]
    assert [e["transition"] for e in events] == ["escalate", "reply", "revisit_done", "close"]


def test_bad_complaint_bodies_are_refused_in_chinese_naming_the_field(client, make):
    estate, owner = setup_people(make)
    h = api_token(client, "clerk")
    cases = [
        ({"estate_id": estate.id, "channel": "fax", "category": "noise", "content": "x"}, "channel"),
        ({"estate_id": estate.id, "channel": "phone", "category": "weather", "content": "x"}, "category"),
        ({"estate_id": estate.id, "channel": "phone", "category": "noise"}, "content"),
        ({"estate_id": estate.id, "channel": "phone", "category": "noise", "content": "x", "status": "closed"}, "status"),
        ({"estate_id": estate.id, "channel": "phone", "category": "noise", "content": "x", "received_at": "昨天"}, "received_at"),
        ({"estate_id": estate.id, "channel": "phone", "category": "noise", "content": "x", "received_at": (utcnow() + timedelta(days=1)).isoformat()}, "received_at"),
        ({"estate_id": estate.id, "channel": "phone", "category": "noise", "content": "x", "unit_id": 2**70}, "unit_id"),
        ({"estate_id": "abc", "channel": "phone", "category": "noise", "content": "x"}, "estate_id"),
        ({"estate_id": estate.id, "channel": "phone", "category": "noise", "content": "x", "phone": "12345"}, "phone"),
        ({"channel": "phone", "category": "noise", "content": "x"}, "estate_id"),
    ]
    for body, field in cases:
        r = post(client, h, **body)
        assert r.status_code == 422, (body, r.status_code, r.get_data(as_text=True))
        assert field in r.json["message"], (body, r.json)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in str(r.json["message"][field])), r.json
    for raw in ("[]", '"text"', "{not json"):
        r = client.post("/api/v1/complaint/", data=raw, headers=h | {"Content-Type": "application/json"})
        assert r.status_code == 400, raw
    assert client.get("/api/v1/complaint/", headers=h).json["count"] == 0


def test_transition_bodies_that_make_no_sense_change_nothing(client, make):
    estate, owner = setup_people(make)
    clerk, manager = api_token(client, "clerk"), api_token(client, "manager")
    cid = post(client, clerk, estate_id=estate.id, channel="phone", category="fee", content="收费不透明").json["id"]
    for body in ({"reply": ""}, {"reply": 5}, {"reply": "好", "valid": True}, {"reply": "好", "revisit_due_at": "2020-01-01T00:00:00+08:00"}):
        r = client.post(f"/api/v1/complaint/{cid}/reply", json=body, headers=manager)
        assert r.status_code in (400, 422), (body, r.status_code)
    assert client.post(f"/api/v1/complaint/{cid}/escalate", json={"to": "mayor"}, headers=clerk).status_code == 422
    assert client.post(f"/api/v1/complaint/{cid}/fly", json={}, headers=clerk).status_code == 404
    c = client.get(f"/api/v1/complaint/{cid}", headers=clerk).json["result"]
    assert c["status"] == "received" and c["reply"] is None


def test_a_clerk_sees_only_the_complaints_of_their_estates(client, make):
    estate, owner = setup_people(make)
    other = make.estate("国贸中心大厦")
    make.user("接待员", estates=[other], username="clerk2")
    h1, h2 = api_token(client, "clerk"), api_token(client, "clerk2")
    cid = post(client, h1, estate_id=estate.id, channel="phone", category="noise", content="噪音").json["id"]
    assert client.get(f"/api/v1/complaint/{cid}", headers=h2).status_code == 404
    assert client.get("/api/v1/complaint/", headers=h2).json["count"] == 0
    assert client.post(f"/api/v1/complaint/{cid}/escalate", json={"to": "leadership"}, headers=h2).status_code == 404
    r = post(client, h2, estate_id=estate.id, channel="phone", category="noise", content="越权")
    assert r.status_code == 403
    r = post(client, h1, estate_id=estate.id, owner_id=make.owner(estate=other, phone="13800000001").id, channel="phone", category="noise", content="x")
    assert r.status_code == 422 and "owner_id" in r.json["message"]


def test_reply_overdue_task_via_job_at_a_moment(client, make, app):
    from jobs import run_job

    estate, owner = setup_people(make)
    h = api_token(client, "clerk")
    cid = post(client, h, estate_id=estate.id, channel="phone", category="noise", content="噪音").json["id"]
    from app.extensions import db

    with time_machine.travel(utcnow() + timedelta(hours=25), tick=False):
        at = utcnow()
    assert run_job(db.session, "overdue_scan", at)["complaint_reply_overdue"] == 1
    assert run_job(db.session, "overdue_scan", at)["complaint_reply_overdue"] == 0
    manager = api_token(client, "manager")
    tasks = client.get(f"/api/v1/task/?q=(filters:!((col:kind,opr:eq,value:complaint_reply_overdue),(col:object_id,opr:eq,value:{cid})))", headers=manager).json
    assert tasks["count"] == 1 and tasks["result"][0]["object_type"] == "complaint"


def test_complaint_screens_in_chinese(client, make):
    estate, owner = setup_people(make)
    login(client, "clerk")
    page = client.get("/complaintview/add")
    assert page.status_code == 200 and "投诉内容" in page.get_data(as_text=True)
    r = client.post(
        "/complaintview/add",
        data={"estate": str(estate.id), "channel": "phone", "category": "cleaning", "content": "楼道垃圾没人清运", "owner": str(owner.id)},
        follow_redirects=True,
    )
    assert r.status_code == 200
    listing = client.get("/complaintview/list/").get_data(as_text=True)
    assert "楼道垃圾没人清运" in listing and "保洁卫生" in listing and "受理" in listing
    from sqlalchemy import select

    from app.extensions import db
    from models.complaint import Complaint

    c = db.session.scalar(select(Complaint))
    page = client.get(f"/complaintview/show/{c.id}").get_data(as_text=True)
    assert c.number in page and "答复期限" in page
    form = client.get(f"/complaintview/do/escalate/{c.id}").get_data(as_text=True)
    assert "公司领导" in form and "部门负责人" in form
    r = client.post(f"/complaintview/do/escalate/{c.id}", data={"to": "leadership", "note": "需要公司协调"}, follow_redirects=True)
    assert "已完成 1 条" in r.get_data(as_text=True)
    db.session.refresh(c)
    assert c.status == "processing"
    # the clerk cannot answer: the page says so and nothing changes
    r = client.post(f"/complaintview/do/reply/{c.id}", data={"reply": "好"}, follow_redirects=True)
    assert "没有「答复」的权限" in r.get_data(as_text=True)


def test_a_complaint_about_something_broken_becomes_a_repair_order_linked_both_ways(client, make):
    estate, owner = setup_people(make)
    h = api_token(client, "clerk")
    cid = post(client, h, estate_id=estate.id, owner_id=owner.id, channel="phone", category="facility", content="楼道灯坏了一周没人修").json["id"]
    r = client.post(f"/api/v1/complaint/{cid}/spawn_repair", json={"category": "sky"}, headers=h)
    assert r.status_code == 422 and "category" in r.json["message"]
    r = client.post(f"/api/v1/complaint/{cid}/spawn_repair", json={"category": "plumbing_electric"}, headers=h)
    assert r.status_code == 200, r.json
    order_id = r.json["result"]["spawned_order_id"]
    assert order_id and r.json["result"]["status"] == "received"
    order = client.get(f"/api/v1/repair_order/{order_id}", headers=h).json["result"]
    assert order["source"] == "complaint" and order["estate_id"] == estate.id and order["problem"] == "楼道灯坏了一周没人修"
    from app.extensions import db
    from models.repair import RepairOrder

    assert (db.session.get(RepairOrder, order_id).origin_type, db.session.get(RepairOrder, order_id).origin_id) == ("complaint", cid)
    r = client.post(f"/api/v1/complaint/{cid}/spawn_repair", json={"category": "plumbing_electric"}, headers=h)
    assert r.status_code == 409 and "已经转过维修单" in r.json["message"]

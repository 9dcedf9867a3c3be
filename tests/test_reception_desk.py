"""接待台 through the test client: find the household, see what is open, save a call or visit with
its repair order or complaint in one go (nothing half-saved), and the one-click follow-ups."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models.reception import CallRecord, VisitRecord
from models.reception_common import installed_model
from models.workflow import Actor
from tests.conftest import api_token, login


def needs(module: str, name: str):
    if installed_model(module, name) is None:
        pytest.skip(f"{module} is not installed")


@pytest.fixture()
def desk(make):
    estate = make.estate("锦绣花园")
    b3 = make.building(estate, "3号楼")
    wang = make.owner(unit=make.unit(b3, "502"), name="王芳", phone="13912345678")
    make.owner(unit=make.unit(b3, "601"), name="李雷", phone="13800001111")
    make.owner(unit=make.unit(make.building(estate, "13号楼"), "502"), name="韩梅", phone="13700002222")
    other = make.estate("国贸中心")
    make.owner(estate=other, name="王强", phone="13912349999")
    make.user("接待员", estates=[estate], username="clerk")
    return estate, wang


def lookup(client, q):
    r = client.get("/reception/desk/lookup", query_string={"q": q})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.json


def test_lookup_by_part_of_phone_room_or_name_within_the_clerks_estates(client, desk):
    login(client, "clerk")
    found = lookup(client, "1234")
    assert [o["name"] for o in found["results"]] == ["王芳"]  # 王强 (13912349999) is in another estate
    assert found["results"][0]["unit"] == "3号楼-502" and found["results"][0]["estate"] == "锦绣花园"
    assert {o["name"] for o in lookup(client, "3-502")["results"]} == {"王芳"}  # building 3, not 13
    assert {o["name"] for o in lookup(client, "502")["results"]} == {"王芳", "韩梅"}
    assert [o["name"] for o in lookup(client, "李")["results"]] == ["李雷"]
    # LIKE wildcards are taken literally
    assert lookup(client, "%")["results"] == [] and lookup(client, "_")["results"] == []
    none = lookup(client, "13600000000")
    assert none["results"] == [] and "没有找到" in none["message"] and "13600000000" in none["message"]


def test_lookup_answers_at_most_ten(client, make, desk):
    estate, _wang = desk
    building = make.building(estate, "8号楼")
    for i in range(15):
        make.owner(unit=make.unit(building, f"{1100 + i}"), name=f"业主{i}", phone=f"135000000{i:02d}")
    login(client, "clerk")
    assert len(lookup(client, "13500")["results"]) == 10


def test_desk_is_for_front_desk_roles_only(client, make, desk):
    make.user("维修人员", estates=[desk[0]], username="worker")
    login(client, "worker")
    assert client.get("/reception/desk/").status_code in (302, 403)
    assert client.get("/reception/desk/lookup?q=139").status_code == 403
    assert client.post("/reception/desk/record", json={}).status_code == 403


def test_desk_page_shows_phrasebook_and_the_reception_rule(client, desk):
    login(client, "clerk")
    page = client.get("/reception/desk/").get_data(as_text=True)
    assert "员工日常用语" in page and "请进!请坐!请用茶!" in page
    assert "365 天 24 小时的报修接待制度" in page
    assert "reception_desk.js" in page and "http" not in page.split("reception_desk.js")[0].rsplit("<script", 1)[-1]


def test_call_with_a_message_is_saved_and_the_colleague_gets_it(client, session, make, desk):
    estate, wang = desk
    colleague = make.user("处主任", estates=[estate], username="head")
    login(client, "clerk")
    r = client.post(
        "/reception/desk/record",
        json={"kind": "call", "estate_id": estate.id, "owner_id": wang.id, "unit_id": wang.unit_id, "name": "王芳",
              "phone": "13912345678", "category": "consult", "text": "找处主任约时间看现场", "for_staff_id": colleague.staff.id},
    )
    assert r.status_code == 201, r.json
    assert r.json["message_sent"] == colleague.staff.name
    call = session.get(CallRecord, r.json["record"]["id"])
    assert call.message_task_id and call.for_staff_id == colleague.staff.id


def test_visit_not_handled_on_the_spot_is_handed_over_from_the_desk(client, session, make, desk):
    estate, wang = desk
    dept = make.department("业户服务部", kind="service", estate=estate)
    login(client, "clerk")
    r = client.post(
        "/reception/desk/record",
        json={"kind": "visit", "estate_id": estate.id, "owner_id": wang.id, "name": "王芳", "category": "complaint",
              "text": "楼上装修噪音", "handled_on_spot": False, "department_id": dept.id},
    )
    assert r.status_code == 201, r.json
    visit = session.get(VisitRecord, r.json["record"]["id"])
    assert visit.status == "handed_over" and visit.department_id == dept.id


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "visit", "name": "王芳", "category": "consult", "handled_on_spot": True}, "text"),
        ({"kind": "call", "name": "王芳", "phone": "12345", "category": "consult", "text": "x"}, "phone"),
        ({"kind": "call", "name": "王芳", "phone": "13912345678", "category": "consult", "text": "x", "status": "done"}, "status"),
        ({"kind": "fax", "text": "x"}, "kind"),
    ],
)
def test_desk_errors_name_the_desk_field_and_save_nothing(client, session, desk, body, field):
    login(client, "clerk")
    r = client.post("/reception/desk/record", json={"estate_id": desk[0].id, **body})
    assert r.status_code == 422 and r.json["field"] == field, r.json
    assert session.scalar(select(func.count(CallRecord.id))) + session.scalar(select(func.count(VisitRecord.id))) == 0


# ---------------------------------------------------------------- with the repair and complaint areas
def test_call_and_its_repair_order_are_saved_together_and_linked_both_ways(client, session, make, desk):
    needs("models.repair", "RepairOrder")
    from models.repair import RepairOrder

    estate, wang = desk
    login(client, "clerk")
    r = client.post(
        "/reception/desk/record",
        json={"kind": "call", "estate_id": estate.id, "owner_id": wang.id, "unit_id": wang.unit_id, "name": "王芳",
              "phone": "13912345678", "category": "repair", "text": "卫生间顶棚渗水", "follow_up": "repair",
              "repair": {"category": "leak", "urgency": "normal", "paid": False}},
    )
    assert r.status_code == 201, r.json
    call = session.get(CallRecord, r.json["record"]["id"])
    order = session.get(RepairOrder, r.json["follow_up"]["id"])
    assert call.repair_order_id == order.id
    assert (order.origin_type, order.origin_id, order.source) == ("call_record", call.id, "hotline")
    assert (order.owner_id, order.unit_id, order.contact_phone, order.problem) == (wang.id, wang.unit_id, "13912345678", "卫生间顶棚渗水")
    assert r.json["follow_up"]["label"] == order.number

    household = client.get(f"/reception/desk/household/{wang.id}").json
    assert [o["number"] for o in household["repair_orders"]] == [order.number]
    assert household["recent"][0]["type"] == "call_record"


def test_a_bad_repair_order_leaves_no_call_behind(client, session, desk):
    needs("models.repair", "RepairOrder")
    estate, wang = desk
    login(client, "clerk")
    r = client.post(
        "/reception/desk/record",
        json={"kind": "call", "estate_id": estate.id, "owner_id": wang.id, "name": "王芳", "phone": "13912345678",
              "category": "repair", "text": "漏水", "follow_up": "repair", "repair": {"category": "magic", "urgency": "normal"}},
    )
    assert r.status_code == 422 and r.json["field"] == "repair.category", r.json
    assert session.scalar(select(func.count(CallRecord.id))) == 0
    r = client.post(
        "/reception/desk/record",
        json={"kind": "call", "estate_id": estate.id, "owner_id": wang.id, "name": "王芳", "phone": "13912345678",
              "category": "repair", "text": "电梯困人", "follow_up": "repair", "repair": {"category": "elevator", "urgency": "emergency"}},
    )
    assert r.status_code == 422 and r.json["field"] == "repair.emergency_reason"
    assert session.scalar(select(func.count(CallRecord.id))) == 0


def test_household_shows_open_complaints_and_unpaid_requests(client, session, desk):
    needs("models.complaint", "Complaint")
    needs("models.billing", "PaymentRequest")
    from models.billing import PaymentRequest
    from models.complaint import register_complaint

    estate, wang = desk
    register_complaint(session, Actor.system_actor(), None, estate_id=estate.id, owner_id=wang.id, channel="phone",
                       category="cleaning", content="楼道无人打扫")
    session.add(PaymentRequest(number="FK-202611-0001", unit_id=wang.unit_id, owner_id=wang.id, estate_id=estate.id, period="2026-11",
                               issued_on=date(2026, 11, 15), due_on=date(2026, 11, 20), total=Decimal("120.50"), paid_amount=Decimal("20.00"),
                               status="overdue"))
    session.add(PaymentRequest(number="FK-202610-0001", unit_id=wang.unit_id, owner_id=wang.id, estate_id=estate.id, period="2026-10",
                               issued_on=date(2026, 10, 15), due_on=date(2026, 10, 20), total=Decimal("80.00"), paid_amount=Decimal("80.00"),
                               status="paid"))
    session.commit()
    login(client, "clerk")
    household = client.get(f"/reception/desk/household/{wang.id}").json
    assert [c["content"] for c in household["complaints"]] == ["楼道无人打扫"]
    assert [(p["number"], p["balance"], p["status_label"]) for p in household["payment_requests"]] == [("FK-202611-0001", "100.50", "已逾期")]
    assert client.get(f"/reception/desk/household/{999999}").status_code == 404


def test_one_click_follow_ups_from_a_visit_page_and_the_api(client, session, make, desk):
    needs("models.repair", "RepairOrder")
    needs("models.complaint", "Complaint")
    from models.complaint import Complaint
    from models.repair import RepairOrder

    estate, wang = desk
    visit = VisitRecord.register(
        session, Actor.system_actor(), None,
        {"estate_id": estate.id, "owner_id": wang.id, "visitor_name": "王芳", "reason": "楼道灯不亮,保洁也不到位",
         "category": "complaint", "handled_on_spot": True},
    )
    session.commit()
    login(client, "clerk")
    page = client.get(f"/visitrecordview/show/{visit.id}").get_data(as_text=True)
    assert "登记维修单" in page and "登记投诉" in page
    form = client.get(f"/visitrecordview/follow_up/{visit.id}/repair").get_data(as_text=True)
    assert "楼道灯不亮" in form  # the visit's text is filled in
    r = client.post(f"/visitrecordview/follow_up/{visit.id}/repair",
                    data={"problem": "楼道灯不亮", "category": "plumbing_electric", "kind": "repair", "urgency": "normal", "location": "3号楼 5 层楼道"})
    assert r.status_code == 302, r.get_data(as_text=True)
    session.expire_all()
    order = session.get(RepairOrder, session.get(VisitRecord, visit.id).repair_order_id)
    assert order.source == "window" and order.origin_type == "visit_record" and order.origin_id == visit.id
    page = client.get(f"/visitrecordview/show/{visit.id}").get_data(as_text=True)
    assert order.number in page and "登记维修单" not in page.split('id="record-links"')[0].split("record-followups")[-1]

    h = api_token(client, "clerk")
    r = client.post(f"/api/v1/visit_record/{visit.id}/register_complaint", json={"category": "cleaning"}, headers=h)
    assert r.status_code == 201, r.json
    complaint = session.get(Complaint, r.json["created"]["id"])
    assert r.json["result"]["complaint_id"] == complaint.id
    assert (complaint.channel, complaint.source_type, complaint.source_id, complaint.owner_id) == ("visit", "visit_record", visit.id, wang.id)
    again = client.post(f"/api/v1/visit_record/{visit.id}/register_complaint", json={"category": "cleaning"}, headers=h)
    assert again.status_code == 409
    bad = client.post(f"/api/v1/visit_record/{visit.id}/register_repair", json={"colour": "red"}, headers=h)
    assert bad.status_code == 409  # already has its order


def test_follow_ups_can_name_where_they_came_from(session, desk):
    from models.reception_desk import ORIGIN_ENDPOINTS, origin_label

    estate, wang = desk
    call = CallRecord.register(session, Actor.system_actor(), None, {"estate_id": estate.id, "owner_id": wang.id, "content": "漏水",
                                                                    "category": "repair", "called_at": "2026-11-16T13:05:00+08:00"})
    session.commit()
    assert origin_label(session, "call_record", call.id) == "来电记录 2026-11-16 13:05 王芳"
    assert ORIGIN_ENDPOINTS["call_record"] == "CallRecordView.show"
    assert origin_label(session, "complaint", 1) is None and origin_label(session, "visit_record", 999) is None

"""The reception screens through the test client: add forms, transition pages, the printed 接待记录表."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models.reception import CallRecord, VisitRecord
from models.reception_contact import OwnerVisit
from models.reception_forum import Forum
from models.survey import SurveyCampaign
from models.task import Task
from tests.conftest import login


@pytest.fixture()
def place(make):
    estate = make.estate("锦绣花园")
    unit = make.unit(make.building(estate, "3号楼"), "502")
    owner = make.owner(unit=unit, name="王芳", phone="13912345678")
    make.user("接待员", estates=[estate], username="clerk")
    return estate, unit, owner


def test_clerk_adds_a_walk_in_hands_it_over_and_prints_the_day(client, session, make, place, csrf):
    estate, unit, owner = place
    head = make.user("处主任", estates=[estate], username="head")
    dept = make.department("业户服务部", kind="service", estate=estate)
    dept.head_id = head.staff.id
    session.commit()
    login(client, "clerk", csrf_on=True)

    def token(url):
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(url).get_data(as_text=True)).group(1)

    r = client.post(
        "/visitrecordview/add",
        data={"csrf_token": token("/visitrecordview/add"), "estate": estate.id, "unit": unit.id, "owner": owner.id, "visitor_name": "",
              "category": "complaint", "reason": "楼上装修噪音大", "visited_at": "2026-11-28 10:00"},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    visit = session.scalar(select(VisitRecord))
    assert visit.visitor_name == "王芳" and visit.status == "pending" and visit.received_by_id is not None
    assert visit.visited_at.isoformat() == "2026-11-28T02:00:00+00:00"  # typed as Shanghai time

    page = client.get(f"/visitrecordview/show/{visit.id}").get_data(as_text=True)
    assert "移交部门负责人" in page and "填写处理结果" not in page  # only the moves this state allows
    form = client.get(f"/visitrecordview/do/hand_over/{visit.id}").get_data(as_text=True)
    assert "负责人:" in form
    token_value = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    r = client.post(f"/visitrecordview/do/hand_over/{visit.id}", data={"csrf_token": token_value, "department_id": dept.id, "note": ""})
    assert r.status_code == 302
    session.expire_all()
    assert session.get(VisitRecord, visit.id).status == "handed_over"
    assert session.scalar(select(Task).where(Task.kind == "walkin_handover")).assignee_id == head.staff.id

    printed = client.get("/visitrecordview/print/?start=2026-11-28&end=2026-11-28").get_data(as_text=True)
    assert "接待记录表" in printed and "楼上装修噪音大" in printed and "2026-11-28 10:00" in printed and "移交 业户服务部" in printed
    assert "该期间没有来访记录" in client.get("/visitrecordview/print/?start=2026-11-27").get_data(as_text=True)


def test_add_form_errors_stay_on_the_form_in_chinese(client, session, place):
    estate, _unit, _owner = place
    login(client, "clerk")
    r = client.post("/visitrecordview/add", data={"estate": estate.id, "visitor_name": "", "category": "consult", "reason": "咨询"})
    assert r.status_code == 200 and "请填写来访人姓名" in r.get_data(as_text=True)
    r = client.post("/visitrecordview/add", data={"estate": estate.id, "visitor_name": "赵", "category": "consult", "reason": "咨询",
                                                  "visited_at": "明天"})
    assert r.status_code == 200 and "时间格式不正确" in r.get_data(as_text=True)
    r = client.post("/callrecordview/add", data={"estate": estate.id, "caller_name": "赵", "phone": "12345", "category": "consult", "content": "x"})
    assert r.status_code == 200 and "电话号码格式不正确" in r.get_data(as_text=True)
    assert session.scalar(select(VisitRecord)) is None and session.scalar(select(CallRecord)) is None


def test_call_form_fills_the_caller_from_the_owner(client, session, place):
    estate, _unit, owner = place
    login(client, "clerk")
    r = client.post("/callrecordview/add", data={"estate": estate.id, "owner": owner.id, "category": "consult", "content": "问停水时间"})
    assert r.status_code == 302
    call = session.scalar(select(CallRecord))
    assert (call.caller_name, call.phone, call.unit_id) == ("王芳", "13912345678", owner.unit_id)


def test_owner_visit_forum_and_survey_forms(client, session, make, place):
    estate, _unit, owner = place
    manager = make.user("物业经理", estates=[estate], username="mgr")
    login(client, "mgr")
    r = client.post("/ownervisitview/add", data={"estate": estate.id, "owner": owner.id, "opinions": "电梯慢", "reply_needed": "y"})
    assert r.status_code == 302, r.get_data(as_text=True)
    visit = session.scalar(select(OwnerVisit))
    assert visit.staff_id == manager.staff.id and visit.status == "awaiting_reply"

    r = client.post("/forumview/add", data={"estate": estate.id, "held_at": "2026-11-20 19:00", "topic": "停车座谈", "mode": "invited"})
    assert r.status_code == 302
    forum = session.scalar(select(Forum))
    assert forum.status == "planned"
    assert client.post(f"/forumview/do/hold/{forum.id}", data={"minutes": "纪要", "participant_count": "10"}).status_code == 302
    r = client.post(f"/forumview/do/add_action/{forum.id}", data={"content": "增设充电桩", "assignee_id": str(manager.staff.id), "due_at": ""})
    assert r.status_code == 302
    assert "增设充电桩" in client.get(f"/forumview/show/{forum.id}").get_data(as_text=True)

    r = client.post("/surveyview/add", data={"estate": estate.id, "period": "2026", "title": "", "areas": "维修、保洁"})
    assert r.status_code == 302, r.get_data(as_text=True)
    survey = session.scalar(select(SurveyCampaign))
    assert survey.area_list == ["维修", "保洁"] and survey.title == "业主(住户)意见征询表 2026"
    assert "维修、保洁" in client.get(f"/surveyview/show/{survey.id}").get_data(as_text=True)


def test_managers_see_the_month_end_check_and_clerks_do_not(client, make, place):
    login(client, "clerk")
    assert client.get("/managervisitmonthview/list/").status_code in (302, 403)
    make.user("物业经理", estates=[place[0]], username="mgr")
    client.get("/logout/")
    login(client, "mgr")
    assert "物业经理走访考核" in client.get("/managervisitmonthview/list/").get_data(as_text=True)


def test_month_end_checks_are_shown_only_for_managers_of_the_users_estates(client, session, make, place):
    from models.reception_contact import check_manager_visits
    from tests.test_reception_contact import at

    estate = place[0]
    other = make.estate("国贸中心")
    make.user("物业经理", estates=[estate], username="mgr")
    make.user("物业经理", estates=[other], username="elsewhere")
    check_manager_visits(session, at("2026-10-31T20:00"))
    session.commit()
    login(client, "mgr")
    page = client.get("/managervisitmonthview/list/").get_data(as_text=True)
    assert "员工mgr" in page and "员工elsewhere" not in page

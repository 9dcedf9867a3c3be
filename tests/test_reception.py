"""来访记录 and 来电记录: the same-day handover rule, the head's decision, messages and bad input."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from models.base import TZ, as_utc
from models.reception import CallRecord, VisitRecord, late_walkins, scan_walkins, visit_flow
from models.task import Task, task_flow
from models.workflow import Actor, TransitionRefused
from tests.conftest import api_token

SH = TZ


def at(text: str) -> datetime:
    """A wall-clock time in Shanghai as an aware UTC datetime."""
    return as_utc(datetime.fromisoformat(text).replace(tzinfo=SH))


@pytest.fixture()
def desk(make):
    estate = make.estate("锦绣花园")
    unit = make.unit(make.building(estate, "3号楼"), "502")
    owner = make.owner(unit=unit, name="王芳", phone="13912345678")
    clerk = make.user("接待员", estates=[estate], username="clerk")
    return estate, unit, owner, clerk


def new_visit(session, estate, owner, clerk, when, on_spot=False, reason="楼上装修噪音大,中午也在施工"):
    visit = VisitRecord.register(
        session,
        Actor(user=clerk),
        when,
        {"estate_id": estate.id, "owner_id": owner.id, "visitor_name": owner.name, "reason": reason,
         "category": "complaint", "handled_on_spot": on_spot, "visited_at": when.isoformat()},
    )
    session.commit()
    return visit


def walkin_tasks(session, visit_id=None):
    query = select(Task).where(Task.kind == "walkin_not_handed_over", Task.done_at.is_(None))
    if visit_id is not None:
        query = query.where(Task.object_id == visit_id)
    return session.scalars(query).all()


# ---------------------------------------------------------------- the same-day rule
def test_walkin_not_handed_over_is_flagged_after_local_midnight_not_utc_midnight(session, desk):
    estate, _unit, owner, clerk = desk
    late_evening = new_visit(session, estate, owner, clerk, at("2026-11-10T23:50"))
    # 00:30 Shanghai is still the previous day in UTC (16:30): a UTC clock would call it "yesterday"
    early_morning = new_visit(session, estate, owner, clerk, at("2026-11-11T00:30"))

    scan_walkins(session, at("2026-11-10T23:59"))
    assert walkin_tasks(session) == []

    # one minute past Shanghai midnight is 16:01 UTC of the same UTC date as the visit
    summary = scan_walkins(session, at("2026-11-11T00:01"))
    session.commit()
    tasks = walkin_tasks(session)
    assert [t.object_id for t in tasks] == [late_evening.id]
    assert summary["walkin_not_handed_over"] == 1
    assert tasks[0].assignee_id == clerk.staff.id  # the clerk who received the visitor
    assert tasks[0].due_at == at("2026-11-11T00:00")

    # the visit made at 00:30 has the whole of the 11th to be handed over
    scan_walkins(session, at("2026-11-11T23:30"))
    assert [t.object_id for t in walkin_tasks(session)] == [late_evening.id]
    assert early_morning not in late_walkins(session, at("2026-11-11T23:30"))

    # running the scan again creates nothing more
    again = scan_walkins(session, at("2026-11-11T23:31"))
    assert again["walkin_not_handed_over"] == 0
    assert len(walkin_tasks(session)) == 1


def test_handing_over_late_closes_the_flag_and_marks_the_record_late(session, make, desk):
    estate, _unit, owner, clerk = desk
    head = make.user("处主任", estates=[estate], username="head")
    dept = make.department("业户服务部", kind="service", estate=estate)
    dept.head_id = head.staff.id
    session.commit()
    visit = new_visit(session, estate, owner, clerk, at("2026-11-10T16:00"))
    scan_walkins(session, at("2026-11-11T08:00"))
    assert len(walkin_tasks(session, visit.id)) == 1

    event = visit_flow.apply(session, visit, "hand_over", Actor(user=clerk), at("2026-11-11T09:00"), {"department_id": dept.id})
    session.commit()
    assert visit.status == "handed_over"
    assert "未在来访当天移交" in event.note
    assert visit.handover_late()
    assert walkin_tasks(session, visit.id) == []
    handover = session.scalar(select(Task).where(Task.kind == "walkin_handover", Task.object_id == visit.id))
    assert handover.assignee_id == head.staff.id and handover.done_at is None


def test_same_day_handover_is_on_time_and_never_flagged(session, make, desk):
    estate, _unit, owner, clerk = desk
    dept = make.department("业户服务部", kind="service", estate=estate)
    visit = new_visit(session, estate, owner, clerk, at("2026-11-10T09:00"))
    visit_flow.apply(session, visit, "hand_over", Actor(user=clerk), at("2026-11-10T17:00"), {"department_id": dept.id})
    session.commit()
    assert not visit.handover_late()
    scan_walkins(session, at("2026-11-12T08:00"))
    assert walkin_tasks(session) == []
    # no head on the department: the 管理处主任 role decides
    task = session.scalar(select(Task).where(Task.kind == "walkin_handover", Task.object_id == visit.id))
    assert task.assignee_id is None and task.role_name == "管理处主任"


def test_handled_on_spot_is_never_flagged_and_cannot_be_handed_over(session, desk):
    estate, _unit, owner, clerk = desk
    visit = new_visit(session, estate, owner, clerk, at("2026-11-10T10:00"), on_spot=True, reason="咨询装修手续")
    assert visit.status == "handled"
    scan_walkins(session, at("2026-11-12T10:00"))
    assert walkin_tasks(session) == []
    with pytest.raises(TransitionRefused):
        visit_flow.apply(session, visit, "hand_over", Actor(user=clerk), at("2026-11-10T11:00"), {"department_id": 1})


def test_head_decides_assigns_and_outcome_is_written_back(session, make, desk):
    estate, _unit, owner, clerk = desk
    head = make.user("处主任", estates=[estate], username="head")
    other_head = make.user("处主任", estates=[estate], username="otherhead")
    worker = make.user("维修人员", estates=[estate], username="worker")
    dept = make.department("业户服务部", kind="service", estate=estate)
    dept.head_id = head.staff.id
    session.commit()
    visit = new_visit(session, estate, owner, clerk, at("2026-11-10T10:00"))
    visit_flow.apply(session, visit, "hand_over", Actor(user=clerk), at("2026-11-10T11:00"), {"department_id": dept.id})
    session.commit()

    from models.base import PermissionDenied

    with pytest.raises(PermissionDenied):  # the head of another department may not decide
        visit_flow.apply(session, visit, "decide", Actor(user=other_head), at("2026-11-10T12:00"), {"decision": "x"})
    session.rollback()
    visit_flow.apply(
        session, visit, "decide", Actor(user=head), at("2026-11-10T12:00"),
        {"decision": "联系楼上业主协调施工时间", "assignee_id": worker.staff.id},
    )
    session.commit()
    assert visit.status == "assigned" and visit.assignee_id == worker.staff.id
    task = session.scalar(select(Task).where(Task.kind == "walkin_handover", Task.object_id == visit.id, Task.done_at.is_(None)))
    assert task.assignee_id == worker.staff.id

    visit_flow.apply(session, visit, "resolve", Actor(user=clerk), at("2026-11-11T10:00"), {"outcome": "已协调,午休时间停止施工"})
    session.commit()
    assert visit.status == "resolved" and visit.outcome == "已协调,午休时间停止施工"
    assert "结果:已协调" in visit.handling_text
    assert session.scalar(select(func.count(Task.id)).where(Task.object_id == visit.id, Task.done_at.is_(None))) == 0


# ---------------------------------------------------------------- REST: visits
def test_visit_record_api_creates_lists_filters_and_hands_over(client, session, make, desk):
    estate, unit, owner, _clerk = desk
    dept = make.department("业户服务部", kind="service", estate=estate)
    h = api_token(client, "clerk")
    r = client.post(
        "/api/v1/visit_record/",
        json={"estate_id": estate.id, "unit_id": unit.id, "owner_id": owner.id, "visitor_name": "王芳", "reason": "门禁卡失灵",
              "category": "consult", "handled_on_spot": False},
        headers=h,
    )
    assert r.status_code == 201, r.json
    visit_id = r.json["id"]
    result = r.json["result"]
    assert result["estate_id"] == estate.id and result["owner_id"] == owner.id and result["status"] == "pending"
    assert result["visited_at"].endswith("+00:00")

    listed = client.get(f"/api/v1/visit_record/?q=(filters:!((col:status,opr:eq,value:pending),(col:estate_id,opr:eq,value:{estate.id})))", headers=h).json
    assert listed["count"] == 1 and listed["result"][0]["id"] == visit_id

    r = client.post(f"/api/v1/visit_record/{visit_id}/hand_over", json={"department_id": dept.id}, headers=h)
    assert r.status_code == 200, r.json
    assert r.json["result"]["status"] == "handed_over" and r.json["result"]["department_id"] == dept.id
    r = client.post(f"/api/v1/visit_record/{visit_id}/hand_over", json={"department_id": dept.id}, headers=h)
    assert r.status_code == 409 and "已移交部门" in r.json["message"]
    # a clerk may not decide for the head
    r = client.post(f"/api/v1/visit_record/{visit_id}/decide", json={"decision": "x"}, headers=h)
    assert r.status_code == 403
    events = client.get(f"/api/v1/visit_record/{visit_id}/events", headers=h).json["result"]
    assert [e["transition"] for e in events] == ["hand_over"]


@pytest.mark.parametrize(
    "body, field, text",
    [
        ({"visitor_name": "王芳", "category": "consult", "handled_on_spot": True}, "reason", "请填写"),
        ({"visitor_name": "王芳", "reason": "  ", "category": "consult", "handled_on_spot": True}, "reason", "来访事由"),
        ({"visitor_name": "王芳", "reason": "x", "category": "chat", "handled_on_spot": True}, "category", "取值不正确"),
        ({"visitor_name": "王芳", "reason": "x", "category": "consult", "handled_on_spot": "maybe"}, "handled_on_spot", "是"),
        ({"visitor_name": "王芳", "reason": "x", "category": "consult", "handled_on_spot": True, "visited_at": "yesterday"}, "visited_at", "时间格式"),
        ({"visitor_name": "王芳", "reason": "x", "category": "consult", "handled_on_spot": True, "visited_at": "2099-01-01T10:00:00+08:00"}, "visited_at", "不能晚于现在"),
        ({"visitor_name": "王芳", "reason": "x", "category": "consult", "handled_on_spot": True, "status": "resolved"}, "status", "不能提交"),
        ({"visitor_name": "王芳", "reason": "x", "category": "consult", "handled_on_spot": True, "unit_id": 2**70}, "unit_id", "编号"),
        ({"visitor_name": "王芳", "reason": "x", "category": "consult", "handled_on_spot": True, "visitor_phone": "12345"}, "visitor_phone", "电话号码格式不正确"),
    ],
)
def test_bad_visit_input_is_refused_in_chinese_and_nothing_is_saved(client, session, desk, body, field, text):
    estate = desk[0]
    h = api_token(client, "clerk")
    r = client.post("/api/v1/visit_record/", json={"estate_id": estate.id, **body}, headers=h)
    assert r.status_code == 422, r.json
    assert field in r.json["message"] and text in r.json["message"][field][0]
    assert session.scalar(select(func.count(VisitRecord.id))) == 0


def test_visit_api_never_500_on_hostile_bodies(client, session, desk):
    h = api_token(client, "clerk")
    for body in ([], "text", 5, {"estate_id": "abc"}, {"estate_id": None, "reason": []}):
        r = client.post("/api/v1/visit_record/", json=body, headers=h)
        assert r.status_code in (400, 422), (body, r.status_code)
    r = client.post("/api/v1/visit_record/", data="{bad", headers=h | {"Content-Type": "application/json"})
    assert r.status_code == 400
    r = client.post("/api/v1/visit_record/1/hand_over", data="[1]", headers=h | {"Content-Type": "application/json"})
    assert r.status_code in (400, 404)
    assert session.scalar(select(func.count(VisitRecord.id))) == 0


def test_visit_in_another_estate_is_forbidden_and_invisible(client, session, make, desk):
    estate, _unit, owner, clerk = desk
    other = make.estate("国贸中心")
    other_owner = make.owner(estate=other, name="李雷", phone="13800001111")
    theirs = new_visit(session, other, other_owner, clerk, at("2026-11-10T10:00"))
    h = api_token(client, "clerk")
    r = client.post(
        "/api/v1/visit_record/",
        json={"estate_id": other.id, "visitor_name": "李雷", "reason": "咨询", "category": "consult", "handled_on_spot": True},
        headers=h,
    )
    assert r.status_code == 403
    # an owner of the other estate named on this estate's record is refused too
    r = client.post(
        "/api/v1/visit_record/",
        json={"estate_id": estate.id, "owner_id": other_owner.id, "visitor_name": "李雷", "reason": "咨询", "category": "consult", "handled_on_spot": True},
        headers=h,
    )
    assert r.status_code == 422 and {"owner_id", "unit_id"} & set(r.json["message"])
    assert client.get(f"/api/v1/visit_record/{theirs.id}", headers=h).status_code == 404


def test_visit_record_can_be_corrected_but_not_its_state(client, session, desk):
    estate, _unit, owner, clerk = desk
    visit = new_visit(session, estate, owner, clerk, at("2026-11-10T10:00"))
    h = api_token(client, "clerk")
    r = client.put(f"/api/v1/visit_record/{visit.id}", json={"reason": "楼上装修噪音"}, headers=h)
    assert r.status_code == 200 and r.json["result"]["reason"] == "楼上装修噪音"
    r = client.put(f"/api/v1/visit_record/{visit.id}", json={"handled_on_spot": True}, headers=h)
    assert r.status_code == 422 and "handled_on_spot" in r.json["message"]
    r = client.put(f"/api/v1/visit_record/{visit.id}", json={"reason": ""}, headers=h)
    assert r.status_code == 422
    session.expire_all()
    assert session.get(VisitRecord, visit.id).reason == "楼上装修噪音"


# ---------------------------------------------------------------- calls and messages
def test_message_for_absent_colleague_is_a_task_they_acknowledge(client, session, make, desk):
    estate, _unit, owner, _clerk = desk
    colleague = make.user("维修人员", estates=[estate], username="wang")
    h = api_token(client, "clerk")
    r = client.post(
        "/api/v1/call_record/",
        json={"estate_id": estate.id, "caller_name": "王芳", "phone": "13912345678", "content": "找王师傅约明天改线路",
              "category": "consult", "for_staff_id": colleague.staff.id},
        headers=h,
    )
    assert r.status_code == 201, r.json
    call = r.json["result"]
    assert call["for_staff_id"] == colleague.staff.id and call["message_read_at"] is None
    assert call["owner_id"] == owner.id  # the caller's phone is a known household

    hw = api_token(client, "wang")
    tasks = client.get("/api/v1/task/?q=(filters:!((col:kind,opr:eq,value:message)))", headers=hw).json["result"]
    assert len(tasks) == 1
    task = tasks[0]
    assert task["object_type"] == "call_record" and task["object_id"] == r.json["id"]
    assert task["assignee_id"] == colleague.staff.id and "找王师傅" in task["title"]

    # the clerk cannot mark the colleague's message read
    assert client.post(f"/api/v1/task/{task['id']}/done", json={}, headers=h).status_code in (403, 404)
    r2 = client.post(f"/api/v1/task/{task['id']}/done", json={"note": "已回电"}, headers=hw)
    assert r2.status_code == 200, r2.json
    call = client.get(f"/api/v1/call_record/{r.json['id']}", headers=h).json["result"]
    assert call["message_read_at"] is not None
    assert client.post(f"/api/v1/task/{task['id']}/done", json={}, headers=hw).status_code == 409


def test_message_rules_without_http(session, make, desk):
    estate, _unit, _owner, clerk = desk
    colleague = make.user("处主任", estates=[estate], username="head")
    outsider = make.user("处主任", estates=[make.estate("别的小区")], username="outsider")
    call = CallRecord.register(
        session, Actor(user=clerk), at("2026-11-10T10:00"),
        {"estate_id": estate.id, "caller_name": "赵先生", "phone": "021-62345678", "content": "请回电", "category": "other",
         "for_staff_id": colleague.staff.id, "called_at": "2026-11-10T10:00:00+08:00"},
    )
    session.commit()
    task = session.get(Task, call.message_task_id)
    assert task.kind == "message" and task.assignee_id == colleague.staff.id
    assert call.message_status == "未阅"
    task_flow.apply(session, task, "done", Actor(user=colleague), at("2026-11-10T11:00"))
    session.commit()
    assert call.message_read_at == at("2026-11-10T11:00") and call.message_status == "已阅"

    from models.base import ValidationError

    with pytest.raises(ValidationError) as err:
        CallRecord.register(
            session, Actor(user=clerk), at("2026-11-10T10:00"),
            {"estate_id": estate.id, "caller_name": "赵先生", "phone": "13800000000", "content": "请回电", "category": "other",
             "for_staff_id": outsider.staff.id},
        )
    assert err.value.field == "for_staff_id" and "不负责该小区" in err.value.message
    session.rollback()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"caller_name": "赵", "phone": "12345", "content": "x", "category": "other"}, "phone"),
        ({"caller_name": "赵", "content": "x", "category": "other"}, "phone"),
        ({"caller_name": "赵", "phone": "13800000000", "category": "other"}, "content"),
        ({"caller_name": "赵", "phone": "13800000000", "content": "x", "category": "other", "for_staff_id": 999999}, "for_staff_id"),
        ({"caller_name": "赵", "phone": "13800000000", "content": "x", "category": "other", "owner_id": 999999}, "owner_id"),
    ],
)
def test_bad_call_input_names_the_field(client, session, desk, body, field):
    h = api_token(client, "clerk")
    r = client.post("/api/v1/call_record/", json={"estate_id": desk[0].id, **body}, headers=h)
    assert r.status_code == 422, r.json
    assert field in r.json["message"]
    assert session.scalar(select(func.count(CallRecord.id))) == 0
    assert session.scalar(select(func.count(Task.id))) == 0


def test_message_for_a_colleague_without_estates_reaches_them(client, session, make, desk):
    estate, _unit, owner, _clerk = desk
    staff = make.user("维修人员", username="roaming").staff  # works for no estate in particular
    h = api_token(client, "clerk")
    r = client.post(
        "/api/v1/call_record/",
        json={"estate_id": estate.id, "owner_id": owner.id, "content": "请回电约维修", "category": "repair", "for_staff_id": staff.id},
        headers=h,
    )
    assert r.status_code == 201, r.json
    assert r.json["result"]["caller_name"] == "王芳" and r.json["result"]["phone"] == "13912345678"
    hr = api_token(client, "roaming")
    tasks = client.get("/api/v1/task/?q=(filters:!((col:kind,opr:eq,value:message)))", headers=hr).json["result"]
    assert len(tasks) == 1
    assert client.post(f"/api/v1/task/{tasks[0]['id']}/done", json={}, headers=hr).status_code == 200


def test_visitor_name_comes_from_the_owner(client, desk):
    estate, _unit, owner, _clerk = desk
    h = api_token(client, "clerk")
    r = client.post(
        "/api/v1/visit_record/",
        json={"estate_id": estate.id, "owner_id": owner.id, "reason": "咨询车位", "category": "consult", "handled_on_spot": True},
        headers=h,
    )
    assert r.status_code == 201 and r.json["result"]["visitor_name"] == "王芳" and r.json["result"]["unit_id"] == owner.unit_id
    r = client.post("/api/v1/visit_record/", json={"estate_id": estate.id, "reason": "咨询", "category": "consult", "handled_on_spot": True}, headers=h)
    assert r.status_code == 422 and "请填写来访人姓名" in r.json["message"]["visitor_name"][0]

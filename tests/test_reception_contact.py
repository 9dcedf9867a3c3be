"""走访记录, the 物业经理's 3 visits a month, and 业户座谈会 with action items as tasks."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine
from sqlalchemy import func, select

from jobs import run_job
from models.base import TZ, as_utc
from models.reception_contact import (
    ManagerVisitMonth,
    OwnerVisit,
    check_manager_visits,
    owner_visit_flow,
    scan_overdue_replies,
)
from models.reception_forum import Forum, ForumAction
from models.task import Task
from models.workflow import Actor
from tests.conftest import api_token


def at(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text).replace(tzinfo=TZ))


@pytest.fixture()
def estate(make):
    return make.estate("锦绣花园")


def visit(session, estate, staff, when, owner=None, reply=False):
    v = OwnerVisit.register(
        session, Actor.system_actor(), when,
        {"estate_id": estate.id, "staff_id": staff.id, "visited_at": when.isoformat(), "opinions": "电梯高峰期等候时间长",
         "suggestions": "建议高峰期开放货梯", "reply_needed": reply, **({"owner_id": owner.id} if owner else {})},
    )
    session.commit()
    return v


def open_short_tasks(session):
    return session.scalars(select(Task).where(Task.kind == "manager_visits_short", Task.done_at.is_(None))).all()


# ---------------------------------------------------------------- 3 visits a month
@time_machine.travel(datetime(2026, 12, 1, 8, 0, tzinfo=TZ), tick=False)
def test_managers_with_fewer_than_three_visits_in_the_month_are_flagged(session, make, estate):
    zhang = make.user("物业经理", estates=[estate], username="zhang").staff
    li = make.user("物业经理", estates=[estate], username="li").staff
    clerk = make.user("接待员", estates=[estate], username="clerk").staff
    for day in ("2026-11-03T10:00", "2026-11-12T15:00", "2026-11-30T23:30"):  # 23:30 local on the 30th is November
        visit(session, estate, li, at(day))
    visit(session, estate, zhang, at("2026-11-05T10:00"))
    visit(session, estate, zhang, at("2026-10-31T23:59"))  # October in Shanghai (15:59 UTC)
    visit(session, estate, zhang, at("2026-12-01T00:10"))  # December in Shanghai, still 30 Nov in UTC
    for _ in range(3):
        visit(session, estate, clerk, at("2026-11-06T10:00"))  # only 物业经理 are measured

    summary = run_job(session, "manager_visits", at("2026-11-30T20:00"))
    assert summary["outcome"] == "ok" and summary["managers"] == 2 and summary["short"] == 1
    tasks = open_short_tasks(session)
    assert [t.assignee_id for t in tasks] == [zhang.id]
    assert "2026-11 走访业户 1 次" in tasks[0].title
    rows = {r.staff_id: r for r in session.scalars(select(ManagerVisitMonth).where(ManagerVisitMonth.period == "2026-11"))}
    assert rows[zhang.id].visits == 1 and rows[zhang.id].short
    assert rows[li.id].visits == 3 and not rows[li.id].short

    # idempotent: a second run flags nobody twice
    again = run_job(session, "manager_visits", at("2026-11-30T21:00"))
    assert again["tasks_created"] == 0 and len(open_short_tasks(session)) == 1
    assert session.scalar(select(func.count(ManagerVisitMonth.id))) == 2

    # catching up closes the flag
    visit(session, estate, zhang, at("2026-11-30T21:10"))
    visit(session, estate, zhang, at("2026-11-30T21:40"))
    result = check_manager_visits(session, at("2026-11-30T22:00"))
    session.commit()
    assert result["short"] == 0 and result["tasks_closed"] == 1
    assert open_short_tasks(session) == []


def test_each_month_is_checked_on_its_own(session, make, estate):
    zhang = make.user("物业经理", estates=[estate], username="zhang").staff
    check_manager_visits(session, at("2026-10-31T20:00"))
    check_manager_visits(session, at("2026-11-30T20:00"))
    session.commit()
    titles = sorted(t.title for t in open_short_tasks(session))
    assert len(titles) == 2 and titles[0].startswith("2026-10") and titles[1].startswith("2026-11")
    assert all(t.assignee_id == zhang.id for t in open_short_tasks(session))


def test_inactive_managers_are_not_measured(session, make, estate):
    gone = make.user("物业经理", estates=[estate], username="gone").staff
    gone.active = False
    session.commit()
    assert check_manager_visits(session, at("2026-11-30T20:00"))["managers"] == 0


# ---------------------------------------------------------------- owner visits and replies
def test_visit_that_owes_a_reply_is_answered_through_a_revisit(session, make, estate):
    manager = make.user("物业经理", estates=[estate], username="zhang")
    owner = make.owner(unit=make.unit(make.building(estate)), name="王芳")
    v = visit(session, estate, manager.staff, at("2026-11-05T10:00"), owner=owner, reply=True)
    assert v.status == "awaiting_reply" and v.interviewee == "王芳"
    assert v.reply_due_at == at("2026-11-12T10:00")  # a week unless set
    due = session.scalar(select(Task).where(Task.kind == "revisit_due", Task.object_type == "owner_visit"))
    assert due.assignee_id == manager.staff.id and due.due_at == v.reply_due_at

    # past the due time the overdue scan turns it into an overdue revisit
    assert scan_overdue_replies(session, at("2026-11-13T09:00"))["owner_visit_reply_overdue"] == 1
    session.commit()
    assert session.scalar(select(Task).where(Task.kind == "revisit_overdue", Task.object_id == v.id, Task.done_at.is_(None)))

    owner_visit_flow.apply(
        session, v, "reply", Actor(user=manager), at("2026-11-13T10:00"),
        {"reply": "已安排高峰期开放货梯", "method": "phone", "satisfaction": "satisfied"},
    )
    session.commit()
    assert v.status == "replied" and v.replied_by_id == manager.staff.id
    assert session.scalar(select(func.count(Task.id)).where(Task.object_type == "owner_visit", Task.done_at.is_(None))) == 0
    assert scan_overdue_replies(session, at("2026-11-14T09:00"))["owner_visit_reply_overdue"] == 0


def test_owner_visit_api_and_bad_input(client, session, make, estate):
    manager = make.user("物业经理", estates=[estate], username="zhang")
    h = api_token(client, "zhang")
    r = client.post("/api/v1/owner_visit/", json={"estate_id": estate.id, "opinions": "绿化带有狗粪", "reply_needed": True}, headers=h)
    assert r.status_code == 201, r.json
    assert r.json["result"]["staff_id"] == manager.staff.id  # the visitor is the one who records it
    assert r.json["result"]["status"] == "awaiting_reply"
    r2 = client.post(f"/api/v1/owner_visit/{r.json['id']}/reply", json={"reply": "已清理", "method": "fax"}, headers=h)
    assert r2.status_code == 422 and "method" in r2.json["message"]
    r2 = client.post(f"/api/v1/owner_visit/{r.json['id']}/reply", json={"reply": "已清理并设置宠物便袋箱", "method": "visit"}, headers=h)
    assert r2.status_code == 200 and r2.json["result"]["status"] == "replied"
    assert client.post(f"/api/v1/owner_visit/{r.json['id']}/reply", json={"reply": "x", "method": "visit"}, headers=h).status_code == 409

    for body, field in (
        ({"estate_id": estate.id, "reply_needed": False}, "opinions"),
        ({"estate_id": estate.id, "opinions": "x"}, "reply_needed"),
        ({"estate_id": estate.id, "opinions": "x", "reply_needed": True, "reply_due_at": "2020-01-01T00:00:00+08:00"}, "reply_due_at"),
    ):
        r = client.post("/api/v1/owner_visit/", json=body, headers=h)
        assert r.status_code == 422 and field in r.json["message"], (body, r.json)
    listed = client.get(f"/api/v1/owner_visit/?q=(filters:!((col:staff_id,opr:eq,value:{manager.staff.id})))", headers=h).json
    assert listed["count"] == 1 and listed["result"][0]["estate_id"] == estate.id


# ---------------------------------------------------------------- forums
def test_forum_recorded_with_action_items_gives_each_person_a_task(client, session, make, estate):
    make.user("物业经理", estates=[estate], username="zhang")
    officer = make.user("物业管理员", estates=[estate], username="officer")
    h = api_token(client, "zhang")
    r = client.post(
        "/api/v1/forum/",
        json={"estate_id": estate.id, "held_at": "2026-11-20T19:00:00+08:00", "topic": "停车管理座谈", "mode": "voluntary",
              "participants": "业主代表 8 人", "participant_count": 8, "minutes": "业主反映晚间乱停车",
              "actions": [{"content": "夜间增加车辆巡查", "assignee_id": officer.staff.id, "due_at": "2099-12-31T18:00:00+08:00"}]},
        headers=h,
    )
    assert r.status_code == 201, r.json
    forum = r.json["result"]
    assert forum["status"] == "held" and forum["estate_id"] == estate.id
    action = session.scalar(select(ForumAction).where(ForumAction.forum_id == r.json["id"]))
    task = session.get(Task, action.task_id)
    assert task.kind == "meeting_action" and task.assignee_id == officer.staff.id

    ho = api_token(client, "officer")
    assert client.post(f"/api/v1/task/{task.id}/done", json={"note": "已安排"}, headers=ho).status_code == 200
    session.expire_all()
    assert session.get(ForumAction, action.id).done_at is not None

    # a planned forum: minutes later, then action items
    r = client.post("/api/v1/forum/", json={"estate_id": estate.id, "held_at": "2026-11-25T19:00:00+08:00", "topic": "年度座谈"}, headers=h)
    assert r.status_code == 201 and r.json["result"]["status"] == "planned"
    fid = r.json["id"]
    bad = client.post(f"/api/v1/forum/{fid}/add_action", json={"content": "x", "assignee_id": officer.staff.id}, headers=h)
    assert bad.status_code == 409
    assert client.post(f"/api/v1/forum/{fid}/hold", json={"minutes": ""}, headers=h).status_code == 422
    assert client.post(f"/api/v1/forum/{fid}/hold", json={"minutes": "讨论年度服务计划", "participant_count": 12}, headers=h).status_code == 200
    r = client.post(f"/api/v1/forum/{fid}/add_action", json={"content": "公布年度计划", "assignee_id": 999999}, headers=h)
    assert r.status_code == 422 and "assignee_id" in r.json["message"]


def test_forum_bad_input_saves_nothing(client, session, make, estate):
    make.user("物业经理", estates=[estate], username="zhang")
    h = api_token(client, "zhang")
    for body, field in (
        ({"estate_id": estate.id, "held_at": "2026-11-20T19:00:00+08:00"}, "topic"),
        ({"estate_id": estate.id, "topic": "x"}, "held_at"),
        ({"estate_id": estate.id, "held_at": "2026-11-20T19:00:00+08:00", "topic": "x", "mode": "secret"}, "mode"),
        ({"estate_id": estate.id, "held_at": "2026-11-20T19:00:00+08:00", "topic": "x", "minutes": "纪要",
          "actions": [{"content": "做", "assignee_id": None}]}, "assignee_id"),
    ):
        r = client.post("/api/v1/forum/", json=body, headers=h)
        assert r.status_code == 422 and field in r.json["message"], (body, r.json)
    assert session.scalar(select(func.count(Forum.id))) == 0
    assert session.scalar(select(func.count(Task.id))) == 0


def test_repair_order_page_links_back_to_the_call_it_came_from(app, session, make, client):
    """Linked both ways: the order registered from a call names and links the call on its page."""
    from tests.conftest import api_token, login

    estate = make.estate("锦绣花园")
    owner = make.owner(unit=make.unit(make.building(estate, "3号楼"), "502"), name="王宁", phone="13911112222")
    make.user("接待员", estates=[estate], username="desk")
    h = api_token(client, "desk")
    call = client.post(
        "/api/v1/call_record/",
        json={"estate_id": estate.id, "caller_name": "王宁", "phone": "13911112222", "unit_id": owner.unit_id, "content": "厨房水管漏水", "category": "repair"},
        headers=h,
    )
    assert call.status_code == 201, call.json
    call_id = call.json["id"]
    registered = client.post(f"/api/v1/call_record/{call_id}/register_repair", json={"category": "plumbing_electric"}, headers=h)
    assert registered.status_code in (200, 201), registered.json
    from sqlalchemy import select

    from models.repair import RepairOrder

    order = session.scalar(select(RepairOrder).where(RepairOrder.origin_type == "call_record", RepairOrder.origin_id == call_id))
    assert order is not None
    login(client, "desk")
    page = client.get(f"/repairorderview/show/{order.id}").get_data(as_text=True)
    assert 'id="order-origin"' in page and f"/callrecordview/show/{call_id}" in page and "来电记录" in page

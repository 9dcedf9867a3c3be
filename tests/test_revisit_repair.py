"""Repair orders followed up (SPEC §5): the plan on completion, after-rain revisits, the 12-hour
rectification notice, re-done work and the move to 已回访 — with time passed explicitly."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from jobs import run_job
from models.base import TZ, ValidationError
from models.rectification import Rectification, open_after_rain
from models.repair import RepairOrder, repair_flow
from models.revisit import RainDay, Revisit, revisit_flow, revisit_rate
from models.task import Task
from models.workflow import Actor

SYSTEM = Actor.system_actor()
H, D = timedelta(hours=1), timedelta(days=1)
# Tuesday 2026-12-01 08:00 in Shanghai
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=TZ).astimezone(UTC)


def order_done(session, make, category="plumbing_electric", urgency="normal", returned=True, estate=None, at=T0):
    """An order registered at `at`, completed 2 h later, signed off and (by default) returned."""
    estate = estate or make.estate()
    owner = make.owner(estate=estate)
    dept = make.department(estate=estate)
    fields = dict(estate_id=estate.id, unit_id=owner.unit_id, owner_id=owner.id, problem="卫生间顶棚渗水", category=category, urgency=urgency)
    if urgency == "emergency":
        fields["emergency_reason"] = "water"
    order = RepairOrder.register(session, SYSTEM, at, **fields)
    repair_flow.apply(session, order, "dispatch", SYSTEM, at + 0.1 * H, {"department_id": dept.id})
    if order.status == "dispatched":
        repair_flow.apply(session, order, "accept", SYSTEM, at + 0.2 * H)
    repair_flow.apply(session, order, "start", SYSTEM, at + 0.5 * H)
    repair_flow.apply(session, order, "complete", SYSTEM, at + 2 * H, {"cause": "防水层老化", "work_hours": "1.5"})
    repair_flow.apply(session, order, "sign_off", SYSTEM, at + 2.2 * H, {"signed_by": owner.name})
    if returned:
        repair_flow.apply(session, order, "return", SYSTEM, at + 3 * H)
    session.commit()
    return order


def plan(session, order):
    rows = session.scalars(select(Revisit).where(Revisit.repair_order_id == order.id).order_by(Revisit.round, Revisit.due_at)).all()
    return [(r.kind, r.not_before, r.due_at) for r in rows], rows


def record(session, revisit, at, **params):
    revisit_flow.apply(session, revisit, "record", SYSTEM, at, {"method": "phone", "satisfaction": "satisfied", **params})
    session.commit()


def test_completing_an_order_creates_its_plan_from_the_completion_time(session, make):
    order = order_done(session, make, category="safety", returned=False)
    done = T0 + 2 * H
    assert order.completed_at == done
    assert plan(session, order)[0] == [("R1", done, done + 2 * D)]
    (revisit,) = plan(session, order)[1]
    assert revisit.estate_id == order.estate_id and revisit.contact_phone == "13812345678" and order.number in revisit.subject


def test_emergency_order_gets_two_revisits_and_is_revisited_once_both_are_done(session, make):
    order = order_done(session, make, category="plumbing_electric", urgency="emergency")
    done = T0 + 2 * H
    windows, (r1, r2) = plan(session, order)
    assert windows == [("R1", done, done + 24 * H), ("R2", done + 2 * D, done + 3 * D)]
    # recording R2 before its window opens is refused and nothing is saved
    with pytest.raises(ValidationError) as err:
        revisit_flow.apply(session, r2, "record", SYSTEM, done + D, {"method": "phone", "satisfaction": "satisfied"})
    assert err.value.field == "done_at" and "还没到回访时间" in err.value.message
    session.rollback()
    assert session.get(Revisit, r2.id).status == "pending"
    record(session, r1, done + 3 * H)
    assert order.status == "returned"
    record(session, r2, done + 2 * D + H)
    assert order.status == "revisited" and order.revisited_at == done + 2 * D + H


def test_emergency_leak_follows_the_union_of_the_rules_and_waits_for_rain(session, make):
    order = order_done(session, make, category="leak", urgency="emergency")
    done = T0 + 2 * H
    windows, (r1, r2) = plan(session, order)
    assert windows == [("R1", done, done + 24 * H), ("R2", done + 2 * D, done + 3 * D)]
    record(session, r1, done + H)
    record(session, r2, done + 2 * D + H)
    assert order.status == "returned"  # the after-rain revisit is still owed
    # 2026-12-05 it rains; the hourly plan job run twice opens one after-rain revisit
    session.add(RainDay(date=date(2026, 12, 5), estate_id=order.estate_id))
    session.commit()
    at = datetime(2026, 12, 5, 18, 0, tzinfo=TZ)
    assert run_job(session, "revisit_plan", at)["after_rain"] == 1
    assert run_job(session, "revisit_plan", at)["after_rain"] == 0
    windows, rows = plan(session, order)
    rain_midnight = datetime(2026, 12, 5, tzinfo=TZ).astimezone(UTC)
    assert windows[-1] == ("after_rain", rain_midnight, rain_midnight + 2 * D)
    record(session, rows[-1], at)
    assert order.status == "revisited"


def test_rain_day_for_all_estates_opens_after_rain_revisits_at_once(session, make):
    a = order_done(session, make, category="leak")
    b = order_done(session, make, category="leak")
    ordinary = order_done(session, make, category="civil")
    session.add(RainDay(date=date(2026, 11, 30), estate_id=None))  # before completion: not the next rain
    session.add(RainDay(date=date(2026, 12, 2), estate_id=None))
    session.flush()
    assert open_after_rain(session, datetime(2026, 12, 2, 20, 0, tzinfo=TZ)) == 2
    assert open_after_rain(session, datetime(2026, 12, 2, 20, 0, tzinfo=TZ)) == 0
    for order in (a, b):
        assert sorted(k for k, _, _ in plan(session, order)[0]) == ["R1", "after_rain"]
    assert [k for k, _, _ in plan(session, ordinary)[0]] == ["R1"]


def test_a_problem_needs_a_written_notice_within_12_hours(session, make):
    order = order_done(session, make, category="plumbing_electric")
    (r1,) = plan(session, order)[1]
    found = T0 + 10 * H
    record(session, r1, found, satisfaction="dissatisfied", problem="水龙头仍然滴水")
    rect = session.scalar(select(Rectification).where(Rectification.repair_order_id == order.id))
    assert (rect.status, rect.due_at, rect.problem) == ("pending", found + 12 * H, "水龙头仍然滴水")
    assert order.status == "rectifying"
    assert run_job(session, "overdue_scan", found + 11 * H)["rectification_overdue"] == 0
    assert run_job(session, "overdue_scan", found + 13 * H)["rectification_overdue"] == 1
    assert run_job(session, "overdue_scan", found + 13 * H)["rectification_overdue"] == 0
    task = session.scalar(select(Task).where(Task.kind == "rectification_overdue", Task.done_at.is_(None)))
    assert task.role_name == "总值班员" and task.object_id == rect.id

    from models.rectification import rectification_flow

    with pytest.raises(ValidationError) as err:
        rectification_flow.apply(session, rect, "issue", SYSTEM, found + 14 * H, {"notice": " "})
    assert err.value.field == "notice"
    session.rollback()
    rectification_flow.apply(session, rect, "issue", SYSTEM, found + 14 * H, {"notice": "请于今日内更换阀芯"})
    session.commit()
    assert (rect.status, order.status, order.rectify_notice, rect.issued_on_time) == ("issued", "rectifying", "请于今日内更换阀芯", False)
    assert session.scalar(select(Task).where(Task.kind == "rectification_overdue", Task.done_at.is_(None))) is None

    # the re-done work is completed again and gets its own revisit
    redo = found + 20 * H
    repair_flow.apply(session, order, "complete", SYSTEM, redo, {"cause": "更换阀芯", "work_hours": "0.5"})
    windows, rows = plan(session, order)
    assert windows[-1] == ("R1", redo, redo + 7 * D) and rows[-1].round == 2
    assert rect.status == "reworked"
    repair_flow.apply(session, order, "sign_off", SYSTEM, redo + H, {"signed_by": "张三"})
    repair_flow.apply(session, order, "return", SYSTEM, redo + 2 * H)
    session.commit()
    assert order.status == "returned"
    record(session, rows[-1], redo + D)
    assert rect.status == "closed" and order.status == "revisited"


def test_notice_written_with_the_revisit_sends_the_order_to_rectifying_at_once(session, make):
    order = order_done(session, make, category="doors_windows")
    (r1,) = plan(session, order)[1]
    record(session, r1, T0 + 5 * H, satisfaction="dissatisfied", problem="窗扇关不严", notice="请调整合页并更换密封条")
    rect = session.scalar(select(Rectification).where(Rectification.repair_order_id == order.id))
    assert (rect.status, rect.issued_on_time, order.status) == ("issued", True, "rectifying")
    with pytest.raises(ValidationError) as err:
        revisit_flow.apply(session, Revisit(status="pending", not_before=T0, due_at=T0 + D, kind="R1", object_type="x", object_id=1), "record", SYSTEM, T0 + H, {"method": "phone", "satisfaction": "satisfied", "notice": "无问题也写通知"})
    assert err.value.field == "notice"


def test_rectify_applied_on_the_order_itself_records_the_notice(session, make):
    order = order_done(session, make, category="civil")
    repair_flow.apply(session, order, "rectify", SYSTEM, T0 + 6 * H, {"notice": "业主来电反映墙面开裂,重新批灰"})
    session.commit()
    rect = session.scalar(select(Rectification).where(Rectification.repair_order_id == order.id))
    assert (rect.status, rect.notice, order.status) == ("issued", "业主来电反映墙面开裂,重新批灰", "rectifying")


def test_problem_found_before_the_order_is_back_waits_for_its_return(session, make):
    order = order_done(session, make, category="appliance", returned=False)
    (r1,) = plan(session, order)[1]
    record(session, r1, T0 + 4 * H, satisfaction="dissatisfied", problem="热水器仍不点火")
    rect = session.scalar(select(Rectification).where(Rectification.repair_order_id == order.id))
    assert (rect.status, order.status) == ("pending", "completed")
    repair_flow.apply(session, order, "return", SYSTEM, T0 + 5 * H)
    session.commit()
    assert order.status == "rectifying" and "热水器仍不点火" in order.rectify_notice


def test_revisit_tasks_and_the_revisit_rate(session, make):
    order = order_done(session, make, category="other")
    (r1,) = plan(session, order)[1]
    done = T0 + 2 * H
    first = run_job(session, "overdue_scan", done + H)
    assert first["revisit_due"] == 1 and first["revisit_overdue"] == 0
    assert run_job(session, "overdue_scan", done + H)["revisit_due"] == 0
    late = run_job(session, "overdue_scan", done + 8 * D)
    assert late["revisit_overdue"] == 1
    open_kinds = sorted(t.kind for t in session.scalars(select(Task).where(Task.object_type == "revisit", Task.done_at.is_(None))))
    assert open_kinds == ["revisit_overdue"]
    kpi = revisit_rate(session, order.estate_id, 2026, 12, now=done + 8 * D)
    assert (kpi.numerator, kpi.denominator, kpi.met) == (0, 1, False)
    record(session, r1, done + 8 * D + H)
    assert session.scalar(select(Task).where(Task.object_type == "revisit", Task.done_at.is_(None))) is None
    assert r1.on_time is False and r1.state_label == "已回访(超期)"

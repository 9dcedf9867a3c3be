"""Rules of the 维修单 without HTTP: the period rule at month ends, numbering, deadlines with time
travel, paid work and its totals, urge cool-down, merge, transfer and registration checks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from models.base import TZ, PermissionDenied, ValidationError
from models.repair import RepairAssignment, RepairOrder, period_bounds, period_of, repair_flow
from models.repair_purchase import PurchaseRequisition, requisition_flow
from models.task import Task
from models.workflow import Actor, TransitionRefused
from tests.test_repair_support import World, build_world, move, order_in, register

SH = TZ


@pytest.fixture()
def world(make, session) -> World:
    return build_world(make, session)


def at(*args) -> datetime:
    """A Shanghai wall-clock time."""
    return datetime(*args, tzinfo=SH)


# ---------------------------------------------------------------- 维修单 一.7: the period
PERIODS = [
    (at(2026, 11, 1, 0, 0), "2026-11"),
    (at(2026, 11, 28, 23, 59), "2026-11"),
    (at(2026, 11, 29, 0, 0), "2026-12"),  # November has 30 days: the 29th and 30th belong to December
    (at(2026, 11, 30, 18, 0), "2026-12"),
    (at(2026, 12, 29, 23, 59), "2026-12"),
    (at(2026, 12, 30, 0, 0), "2027-01"),  # the year turns
    (at(2026, 12, 31, 23, 59), "2027-01"),
    (at(2027, 1, 29, 12, 0), "2027-01"),
    (at(2027, 1, 30, 0, 0), "2027-02"),
    (at(2027, 2, 26, 23, 59), "2027-02"),  # February 2027 has 28 days
    (at(2027, 2, 27, 0, 0), "2027-03"),
    (at(2027, 2, 28, 9, 0), "2027-03"),
    (at(2028, 2, 27, 23, 59), "2028-02"),  # 2028 is a leap year: 28th and 29th are the last two days
    (at(2028, 2, 28, 0, 0), "2028-03"),
    (at(2028, 2, 29, 9, 0), "2028-03"),
    (at(2028, 3, 1, 0, 0), "2028-03"),
    (datetime(2026, 11, 28, 15, 59, 59, tzinfo=UTC), "2026-11"),  # 23:59:59 in Shanghai
    (datetime(2026, 11, 28, 16, 0, 0, tzinfo=UTC), "2026-12"),  # 16:00 UTC is midnight of the 29th in Shanghai
    (datetime(2027, 2, 26, 16, 0, 0, tzinfo=UTC), "2027-03"),
]


@pytest.mark.parametrize("moment,period", PERIODS, ids=[f"{m.isoformat()}" for m, _ in PERIODS])
def test_period_rule(moment, period):
    assert period_of(moment) == period
    start, end = period_bounds(period)
    assert start <= moment < end


def test_recording_near_midnight_utc_gets_the_next_period_and_its_numbers(session, world):
    first = register(session, world, now=datetime(2026, 11, 28, 15, 59, tzinfo=UTC))
    second = register(session, world, now=datetime(2026, 11, 28, 16, 1, tzinfo=UTC))
    third = register(session, world, now=datetime(2026, 11, 29, 2, 0, tzinfo=UTC))
    assert (first.period, first.number) == ("2026-11", "WX-202611-0001")
    assert (second.period, second.number) == ("2026-12", "WX-202612-0001")
    assert third.number == "WX-202612-0002"


def test_numbers_run_across_estates_and_back_dated_orders_take_their_periods_next(session, world, make):
    other = make.estate("乙小区")
    other_unit = make.unit(make.building(other, "1号楼"), "101")
    now = at(2026, 12, 10, 9, 0)
    a = register(session, world, now=now)
    b = register(session, world, now=now, unit_id=other_unit.id, owner_id=None, contact_phone="13800001111", actor=world.actor("admin"))
    late = register(session, world, now=now, actor=world.actor("duty"), recorded_at=at(2026, 11, 20, 22, 0).isoformat(),
                    urgency="emergency", emergency_reason="water")
    assert [a.number, b.number] == ["WX-202612-0001", "WX-202612-0002"]
    assert late.number == "WX-202611-0001" and late.backdated


def test_two_clerks_saving_at_the_same_moment_get_different_numbers(app, world, session):
    from app.extensions import db

    ids = {"unit_id": world.unit.id, "owner_id": world.owner.id}
    clerk_id = world.clerk.id
    barrier = threading.Barrier(4)
    numbers, errors = [], []

    def save():
        with app.app_context():
            try:
                user = db.session.get(type(world.clerk), clerk_id)
                barrier.wait()
                order = RepairOrder.register(db.session, Actor(user=user), None, problem="同时登记", category="other", **ids)
                db.session.commit()
                numbers.append(order.number)
            except Exception as exc:  # noqa: BLE001  (reported below)
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(numbers)) == 4 and sorted(int(n[-4:]) for n in numbers) == [1, 2, 3, 4]


# ---------------------------------------------------------------- deadlines: pure functions of the order and now
def test_deadlines_are_pure_functions_of_the_row():
    t = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    order = RepairOrder(status="dispatched", pickup_due_at=t + timedelta(hours=2), return_due_at=t + timedelta(days=3), dispatched_at=t)
    assert not order.pickup_overdue(t + timedelta(hours=2))
    assert order.pickup_overdue(t + timedelta(hours=2, seconds=1))
    order.status = "accepted"
    assert not order.pickup_overdue(t + timedelta(days=1))
    assert order.return_overdue(t + timedelta(days=3, minutes=1))
    order.paused_since = t + timedelta(days=2)
    assert not order.return_overdue(t + timedelta(days=9))
    assert order.return_due(t + timedelta(days=5)) == t + timedelta(days=6)
    order.status = "returned"
    order.paused_since = None
    assert order.overdue_kinds(t + timedelta(days=30)) == []


def test_pick_up_and_return_clocks_with_time_travel(session, world):
    start = at(2026, 12, 7, 9, 0)
    with time_machine.travel(start, tick=False):
        order = register(session, world)
        move(session, order, "dispatch", world.actor("duty"), department_id=world.section.id)
        assert order.pickup_due_at == start + timedelta(hours=2)
    with time_machine.travel(start + timedelta(hours=1, minutes=59), tick=False):
        assert order.overdue_kinds(datetime.now(UTC)) == []
    with time_machine.travel(start + timedelta(hours=2, minutes=1), tick=False):
        assert order.overdue_kinds(datetime.now(UTC)) == ["not_picked_up"]
        move(session, order, "accept", world.actor("head"), assignee_id=world.worker.staff.id)
        assert "超过取单期限" in repair_flow.events(session, order.id)[-1].note
    with time_machine.travel(start + timedelta(days=3), tick=False):
        assert not order.return_overdue(datetime.now(UTC))
    with time_machine.travel(start + timedelta(days=3, minutes=1), tick=False):
        now = datetime.now(UTC)
        assert order.return_overdue(now) and not order.material_report_overdue(now)
    with time_machine.travel(start + timedelta(days=3, hours=2, minutes=2), tick=False):  # 3 days after the pick-up
        assert order.overdue_kinds(datetime.now(UTC)) == ["not_returned", "material_not_reported"]


def test_the_pick_up_limit_is_a_setting(session, world):
    from models.system import Setting

    session.add(Setting(key="pickup_hours", value="4"))
    session.commit()
    order = register(session, world)
    move(session, order, "dispatch", world.actor("duty"), department_id=world.section.id)
    assert order.pickup_due_at == order.dispatched_at + timedelta(hours=4)


def test_objective_delay_moves_or_stops_the_return_clock(session, world):
    t = at(2026, 12, 7, 9, 0)
    order = order_in(session, world, "in_progress", now=t)
    new_due = at(2026, 12, 20, 18, 0)
    move(session, order, "report_delay", world.actor("head"), t + timedelta(days=1), kind="objective", reason="等待业主回国开门",
         new_due_at=new_due.isoformat())
    assert order.return_due_at == new_due and order.delay_kind == "objective"
    assert not order.return_overdue(at(2026, 12, 20, 17, 59)) and order.return_overdue(at(2026, 12, 20, 18, 1))
    move(session, order, "report_delay", world.actor("duty"), t + timedelta(days=2), kind="objective", reason="业主要求暂缓,时间未定")
    assert order.return_due_at is None and not order.return_overdue(t + timedelta(days=60))
    with pytest.raises(ValidationError) as err:
        repair_flow.apply(session, order, "report_delay", world.actor("head"), t + timedelta(days=3),
                          {"kind": "objective", "reason": "x", "new_due_at": (t + timedelta(days=1)).isoformat()})
    assert err.value.field == "new_due_at"
    session.rollback()


def test_material_shortage_files_a_requisition_and_pauses_the_clock(session, world):
    t = at(2026, 12, 7, 9, 0)
    order = order_in(session, world, "in_progress", now=t)
    due = order.return_due_at
    move(session, order, "report_delay", world.actor("head"), t + timedelta(days=2), kind="material", reason="缺 DN25 球阀",
         items=[{"name": "球阀", "spec": "DN25", "quantity": "2", "unit": "个"}])
    req = session.scalar(select(PurchaseRequisition).where(PurchaseRequisition.repair_order_id == order.id))
    assert req.number.startswith("QG-202612-") and req.items_text == "球阀 DN25 × 2个" and req.due_at == t + timedelta(days=5)
    assert order.paused_since == t + timedelta(days=2) and not order.material_reported_late
    task = session.scalar(select(Task).where(Task.kind == "requisition", Task.object_id == req.id))
    assert task.role_name == "采购员" and task.done_at is None
    assert not order.return_overdue(t + timedelta(days=10))  # waiting for material
    requisition_flow.apply(session, req, "buy", world.actor("purchaser"), t + timedelta(days=6), {"note": "五金城购得"})
    session.commit()
    assert order.paused_since is None and order.return_due_at == due + timedelta(days=4)
    assert not order.return_overdue(due + timedelta(days=4)) and order.return_overdue(due + timedelta(days=4, minutes=1))
    session.refresh(task)
    assert task.done_at is not None


def test_material_reported_after_three_days_is_flagged_late(session, world):
    t = at(2026, 12, 7, 9, 0)
    order = order_in(session, world, "in_progress", now=t)
    move(session, order, "report_delay", world.actor("head"), t + timedelta(days=4), kind="material", reason="缺配件")
    assert order.material_reported_late
    assert "超过接单后 3 天才上报缺料" in repair_flow.events(session, order.id)[-1].note


def test_purchaser_cannot_buy_reports_and_the_managers_are_told(session, world):
    t = at(2026, 12, 7, 9, 0)
    order = order_in(session, world, "in_progress", now=t)
    move(session, order, "report_delay", world.actor("head"), t + timedelta(hours=5), kind="material", reason="缺进口压缩机")
    req = order.requisitions[0]
    with pytest.raises(PermissionDenied):
        requisition_flow.apply(session, req, "report_unavailable", world.actor("worker"), t, {"reason": "x"})
    session.rollback()
    requisition_flow.apply(session, req, "report_unavailable", world.actor("purchaser"), t + timedelta(days=3), {"reason": "厂家停产,需另选型号"})
    session.commit()
    notices = session.scalars(select(Task).where(Task.kind == "message", Task.object_id == req.id, Task.done_at.is_(None))).all()
    told = {(n.role_name, n.assignee_id) for n in notices}
    assert told == {("供应处主任", None), ("工程部经理", None), ("大厦管理部经理", None), (None, world.head.staff.id)}
    assert order.paused_since is not None  # still waiting for material


# ---------------------------------------------------------------- paid work
def test_paid_work_needs_a_quote_and_the_owners_consent_before_starting(session, world):
    from models.billing import FeeStandard

    fee = FeeStandard(name="更换水龙头", unit="个", labour_price=Decimal("30.00"), active=True)
    session.add(fee)
    session.commit()
    order = order_in(session, world, "accepted", paid=True)
    worker = world.actor("worker")
    for params, field in [({}, "quoted_amount"), ({"quoted_amount": "60"}, "owner_consent"), ({"quoted_amount": "-1", "owner_consent": True}, "quoted_amount"),
                          ({"fee_standard_id": 9999, "owner_consent": True}, "fee_standard_id"),
                          ({"fee_standard_id": fee.id, "fee_quantity": "0", "owner_consent": True}, "fee_quantity")]:
        with pytest.raises(ValidationError) as err:
            repair_flow.apply(session, order, "start", worker, params=params)
        assert err.value.field == field, params
        session.rollback()
    move(session, order, "start", worker, fee_standard_id=fee.id, fee_quantity="2", owner_consent=True)
    assert order.quoted_amount == Decimal("60.00") and order.owner_consent and order.fee_standard_id == fee.id
    move(session, order, "complete", worker, cause="龙头损坏", work_hours="1", materials=[
        {"name": "水龙头", "provider": "company", "spec": "单冷", "quantity": "2", "unit_price": "31.73"},
        {"name": "软管", "provider": "owner", "quantity": "1"},
    ])
    assert order.service_fee == Decimal("60.00")  # the quote when no fee is written
    assert order.material_total == Decimal("63.46") and order.total == Decimal("123.46")
    assert order.total_in_words == "壹佰贰拾叁元肆角陆分"
    assert [amount for _d, amount in order.billable_lines()] == [Decimal("60.00"), Decimal("63.46")]
    assert sum(amount for _d, amount in order.billable_lines()) == order.total


def test_free_work_bills_nothing(session, world):
    order = order_in(session, world, "completed", paid=False)
    assert order.total == Decimal("55.50") and order.billable_lines() == []


def test_completion_before_start_is_refused(session, world):
    order = order_in(session, world, "in_progress")
    with pytest.raises(ValidationError) as err:
        repair_flow.apply(session, order, "complete", world.actor("worker"),
                          params={"cause": "x", "work_hours": "1", "completed_at": (order.started_at - timedelta(minutes=1)).isoformat()})
    assert err.value.field == "completed_at" and "不能早于开工时间" in err.value.message


def test_rectification_round_adds_its_materials_and_needs_a_new_acceptance(session, world):
    order = order_in(session, world, "rectifying")
    move(session, order, "complete", world.actor("worker"), cause="重新打胶", work_hours="0.5", service_fee="0",
         materials=[{"name": "玻璃胶", "provider": "company", "quantity": "1", "unit_price": "8"}])
    assert order.status == "awaiting_acceptance" and [m.round for m in order.materials] == [1, 2]
    assert order.total == Decimal("63.50") and "整改:重新打胶" in order.cause
    move(session, order, "sign_off", world.actor("clerk"), signed_by="王芳", satisfied=True)
    move(session, order, "return", world.actor("duty"))
    assert order.status == "returned"


# ---------------------------------------------------------------- beyond the handbook
def test_urge_has_a_cool_down_and_reaches_the_worker(session, world):
    t = at(2026, 12, 7, 9, 0)
    order = order_in(session, world, "accepted", now=t)
    move(session, order, "urge", world.actor("clerk"), t + timedelta(hours=1), by="业主王芳", note="家里一直漏水")
    with pytest.raises(TransitionRefused) as refused:
        repair_flow.apply(session, order, "urge", world.actor("clerk"), t + timedelta(hours=1, minutes=5))
    assert "10 分钟内只能催单一次" in refused.value.message and "5 分钟后再催" in refused.value.message
    session.rollback()
    move(session, order, "urge", world.actor("clerk"), t + timedelta(hours=1, minutes=10))
    assert order.urge_count == 2
    task = session.scalar(select(Task).where(Task.kind == "message", Task.object_type == "repair_order", Task.object_id == order.id))
    assert task.assignee_id == world.worker.staff.id and "第 2 次" in task.title


def test_duplicate_report_is_merged_into_the_open_order(session, world):
    kept = order_in(session, world, "accepted")
    dup = register(session, world, problem="楼上邻居也报:1202 漏水", contact_phone="13800002222", owner_id=None)
    move(session, dup, "merge", world.actor("clerk"), into_id=kept.id)
    assert dup.status == "cancelled" and dup.merged_into_id == kept.id and kept.number in dup.cancel_reason
    assert dup.number in kept.note
    assert repair_flow.events(session, kept.id)[-1].transition == "merged"
    with pytest.raises(ValidationError):
        repair_flow.apply(session, register(session, world), "merge", world.actor("clerk"), params={"into_id": dup.id})


def test_transfer_to_another_section_starts_its_pick_up_and_ends_the_assignment(session, world):
    order = order_in(session, world, "in_progress")
    move(session, order, "transfer", world.actor("head"), department_id=world.other_section.id, reason="是空调冷凝水管,不是水管")
    assert order.status == "dispatched" and order.department_id == world.other_section.id and order.assignee_id is None
    assert order.transfer_count == 1 and order.pickup_due_at is not None and order.started_at is None
    history = session.scalars(select(RepairAssignment).where(RepairAssignment.repair_order_id == order.id)).all()
    assert [(h.staff_id, h.end_reason) for h in history] == [(world.worker.staff.id, "transferred")]
    move(session, order, "accept", world.actor("other_head"), assignee_id=world.other_worker.staff.id)
    assert order.assignee_id == world.other_worker.staff.id


def test_assignee_must_belong_to_the_section_and_the_estate(session, world, make):
    order = order_in(session, world, "accepted")
    for who in ("other_worker", "clerk"):
        with pytest.raises(ValidationError) as err:
            repair_flow.apply(session, order, "assign", world.actor("head"), params={"assignee_id": getattr(world, who).staff.id})
        assert err.value.field == "assignee_id"
        session.rollback()


REGISTER_CASES = [
    ({"owner_id": None, "unit_id": None, "location": None, "estate_id": None}, "estate_id"),
    ({"owner_id": None, "unit_id": None}, "location"),  # estate given below, no unit, no location
    ({"contact_phone": "1381234"}, "contact_phone"),
    ({"urgency": "normal", "emergency_reason": "elevator"}, "emergency_reason"),
    ({"source": "carrier_pigeon"}, "source"),
    ({"appointment_at": "2020-01-01T09:00:00+08:00"}, "appointment_at"),
]


@pytest.mark.parametrize("over,field", REGISTER_CASES, ids=[f for _, f in REGISTER_CASES])
def test_registration_refuses_bad_input(session, world, over, field):
    values = {"estate_id": world.estate.id} | over
    with pytest.raises(ValidationError) as err:
        register(session, world, **values)
    assert err.value.field == field
    session.rollback()
    assert session.scalar(select(RepairOrder.id)) is None


def test_owner_of_another_unit_is_refused(session, world, make):
    other_unit = make.unit(make.building(world.estate, "5号楼"), "501")
    with pytest.raises(ValidationError) as err:
        register(session, world, unit_id=other_unit.id)
    assert err.value.field == "owner_id"


def test_public_area_order_and_synonyms(session, world):
    order = register(session, world, owner_id=None, unit_id=None, estate_id=world.estate.id, location="3号楼大堂", contact_name="保安李师傅",
                     contact_phone="021-58881234", source="巡查", category="安全设施")
    assert (order.source, order.category, order.address) == ("patrol", "safety", "锦绣花园 3号楼大堂")


# ---------------------------------------------------------------- figures
def test_on_time_return_rate_and_staff_statistics(session, world):
    from models.repair_reports import on_time_return_rate, staff_statistics

    t = at(2026, 12, 1, 9, 0)
    on_time = order_in(session, world, "completed", now=t)
    late = order_in(session, world, "completed", now=t)
    move(session, on_time, "return", world.actor("duty"), t + timedelta(days=1))
    move(session, late, "return", world.actor("duty"), t + timedelta(days=4))
    moved = order_in(session, world, "accepted", now=t)
    move(session, moved, "transfer", world.actor("head"), t + timedelta(hours=3), department_id=world.other_section.id, reason="属空调")
    assert on_time_return_rate(session, world.estate.id, t + timedelta(days=5)) == Decimal("50.0")
    assert on_time_return_rate(session, world.estate.id, t + timedelta(days=60)) is None  # nothing returned in the last 30 days
    [row] = [r for r in staff_statistics(session, "2026-12", {world.estate.id}) if r["staff_id"] == world.worker.staff.id]
    assert (row["assigned"], row["transferred"], row["done"], row["on_time"], row["signed"], row["satisfaction"]) == (3, 1, 2, 1, 2, "100.0%")
    assert staff_statistics(session, "2026-11", {world.estate.id}) == []

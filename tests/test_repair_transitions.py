"""The 维修单 state machine (SPEC §4/§11) without HTTP: every allowed move from every state, every
refused one (409 with the Chinese reason, nothing changed), and who may make each move."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.base import PermissionDenied, ValidationError
from models.repair import RepairOrder, RepairStatus, repair_flow
from models.task import Task
from models.workflow import Actor, Event, TransitionRefused
from tests.test_repair_support import PATHS, World, build_world, move, order_in, register, step_params

MOVES = [
    "dispatch", "accept", "assign", "transfer", "start", "report_delay", "complete", "sign_off", "return",
    "reject", "approve_reject", "urge", "merge", "cancel", "revisit_done", "rectify", "close",
]
# SPEC §4: the states each move starts from, and where it leads (None: the state stays)
TABLE = {
    "dispatch": (["registered"], "dispatched"),
    "accept": (["dispatched"], "accepted"),
    "assign": (["dispatched", "accepted", "in_progress", "rectifying"], None),
    "transfer": (["dispatched", "accepted", "in_progress"], "dispatched"),
    "start": (["accepted"], "in_progress"),
    "report_delay": (["in_progress", "rectifying"], None),
    "complete": (["in_progress", "rectifying"], "awaiting_acceptance"),
    "sign_off": (["awaiting_acceptance"], "completed"),
    "return": (["completed"], "returned"),
    "reject": (["dispatched", "accepted"], "reject_pending"),
    "approve_reject": (["reject_pending"], "rejected"),
    "urge": (["registered", "dispatched", "accepted", "in_progress", "rectifying"], None),
    "merge": (["registered", "dispatched", "accepted"], "cancelled"),
    "cancel": (["registered", "dispatched", "accepted", "in_progress", "reject_pending"], "cancelled"),
    "revisit_done": (["returned"], "revisited"),
    "rectify": (["revisited", "returned"], "rectifying"),
    "close": (["revisited"], "closed"),
}
STATES = list(PATHS)


@pytest.fixture()
def world(make, session) -> World:
    return build_world(make, session)

ALLOWED = [(m, s) for m in MOVES for s in TABLE[m][0]]
REFUSED = {s: [m for m in MOVES if s not in TABLE[m][0]] for s in STATES}


def test_the_table_is_the_workflows_table():
    for name, (sources, _target) in TABLE.items():
        assert sorted(repair_flow.transitions[name].sources) == sorted(sources), name
    assert set(STATES) == {s.value for s in RepairStatus}


def params_for(session, w: World, name: str, order: RepairOrder) -> dict:
    _who, params = step_params(w, name)
    if name == "merge":
        params = {"into_id": register(session, w, problem="同一漏水,另一位家人来电").id}
    if name == "assign" and order.assignee_id == w.worker2.staff.id:
        params = {"assignee_id": w.worker.staff.id}
    return params


@pytest.mark.parametrize("name,state", ALLOWED, ids=[f"{m}-from-{s}" for m, s in ALLOWED])
def test_every_allowed_move(session, world, name, state):
    order = order_in(session, world, state)
    before = len(repair_flow.events(session, order.id))
    event = move(session, order, name, Actor.system_actor(), **params_for(session, world, name, order))
    target = TABLE[name][1] or state
    if name == "transfer" and state == "dispatched":
        target = "dispatched"
    assert order.status == target
    assert event.from_status == state and event.to_status == target
    assert len(repair_flow.events(session, order.id)) == before + 1


@pytest.mark.parametrize("state", STATES)
def test_every_refused_move_answers_409_and_changes_nothing(session, world, state):
    order = order_in(session, world, state)
    events = len(repair_flow.events(session, order.id))
    version = order.version
    for name in REFUSED[state]:
        with pytest.raises(TransitionRefused) as refused:
            repair_flow.apply(session, order, name, Actor.system_actor(), params=params_for(session, world, name, order))
        assert refused.value.status == 409
        label = RepairStatus.label_of(state)
        assert f"当前状态为「{label}」,不能执行「{repair_flow.transitions[name].label}」" == refused.value.message
        session.rollback()
    session.refresh(order)
    assert order.status == state and order.version == version
    assert len(repair_flow.events(session, order.id)) == events


def test_emergency_is_dispatched_straight_to_work_without_pick_up(session, world):
    order = register(session, world, actor=world.actor("duty"), urgency="emergency", emergency_reason="电梯困人", category="elevator", problem="3号楼电梯困人")
    assert order.emergency_reason == "elevator"
    move(session, order, "dispatch", world.actor("duty"), department_id=world.section.id, assignee_id=world.worker.staff.id)
    assert order.status == "accepted"
    assert order.pickup_due_at is None and order.picked_up_at == order.dispatched_at
    with pytest.raises(TransitionRefused):
        repair_flow.apply(session, order, "accept", world.actor("head"))


def test_a_reject_the_manager_does_not_sign_goes_back(session, world):
    order = order_in(session, world, "accepted")
    move(session, order, "reject", world.actor("head"), reason="需要业主先清空吊顶")
    task = session.scalar(select(Task).where(Task.kind == "reject_approval", Task.object_id == order.id))
    assert task.role_name == "工程部经理" and task.done_at is None
    with pytest.raises(ValidationError) as err:
        repair_flow.apply(session, order, "approve_reject", world.actor("manager"), params={"approved": False})
    assert err.value.field == "opinion"
    session.rollback()
    move(session, order, "approve_reject", world.actor("manager"), approved=False, opinion="可以先做能做的部分")
    assert order.status == "accepted"
    session.refresh(task)
    assert task.done_at is not None


def test_commercial_building_rejects_are_signed_by_the_building_manager(session, make):
    from tests.test_repair_support import build_world

    w = build_world(make, session, kind="commercial")
    order = order_in(session, w, "dispatched")
    move(session, order, "reject", w.actor("head"), reason="属租户设备")
    task = session.scalar(select(Task).where(Task.kind == "reject_approval", Task.object_id == order.id))
    assert task.role_name == "大厦管理部经理"
    move(session, order, "approve_reject", w.actor("building_manager"))
    assert order.status == "rejected"


# ---------------------------------------------------------------- who may move
ROLE_CASES = {
    # (move, state): (roles that may, roles that may not)
    ("dispatch", "registered"): (["clerk", "duty"], ["worker", "head", "purchaser"]),
    ("accept", "dispatched"): (["head"], ["other_head", "worker", "clerk"]),  # other_head: another section
    ("assign", "accepted"): (["head"], ["other_head", "worker"]),
    ("transfer", "accepted"): (["head", "duty"], ["other_head", "worker"]),
    ("report_delay", "in_progress"): (["head", "duty"], ["worker", "clerk"]),
    ("start", "accepted"): (["worker"], ["worker2", "other_worker", "head"]),  # worker2: not their order
    ("complete", "in_progress"): (["worker"], ["worker2", "clerk", "finance"]),
    ("sign_off", "awaiting_acceptance"): (["worker", "clerk"], ["worker2"]),
    ("return", "completed"): (["duty", "clerk"], ["worker"]),
    ("reject", "dispatched"): (["head"], ["worker", "clerk"]),
    ("approve_reject", "reject_pending"): (["manager", "building_manager"], ["head", "duty"]),
    ("urge", "dispatched"): (["clerk"], ["worker"]),
    ("merge", "registered"): (["clerk"], ["head"]),
    ("cancel", "registered"): (["clerk"], ["worker"]),
    ("revisit_done", "returned"): (["duty"], ["clerk", "worker"]),
    ("rectify", "revisited"): (["duty"], ["worker"]),
    ("close", "revisited"): (["duty"], ["worker"]),
}


@pytest.mark.parametrize("name,state", list(ROLE_CASES), ids=[f"{m}-from-{s}" for m, s in ROLE_CASES])
def test_who_may_make_each_move(session, world, name, state):
    allowed, refused = ROLE_CASES[(name, state)]
    order = order_in(session, world, state)
    for who in refused:
        params = {"assignee_id": world.worker2.staff.id} if name == "assign" else params_for(session, world, name, order)
        with pytest.raises(PermissionDenied) as denied:
            repair_flow.apply(session, order, name, world.actor(who), params=params)
        assert denied.value.status == 403, who
        session.rollback()
        session.refresh(order)
        assert order.status == state
    for i, who in enumerate(allowed):
        target = order if i == 0 else order_in(session, world, state)
        params = {"assignee_id": world.worker2.staff.id} if name == "assign" else params_for(session, world, name, target)
        move(session, target, name, world.actor(who), **params)
        assert target.status == (TABLE[name][1] or state), who


def test_repair_staff_cannot_register_payments_or_touch_billing(app, world):
    """接待 六.2: repair staff never take money — their role has no right on any payment concept."""
    sm = app.appbuilder.sm
    role = sm.find_role("维修人员")
    grants = {(pv.permission.name, pv.view_menu.name) for pv in role.permissions}
    assert not [g for g in grants if "payment" in g[1].lower() and g[0] != "menu_access"]
    assert ("can_complete", "RepairOrder") in grants and ("can_dispatch", "RepairOrder") not in grants


def test_an_unassigned_order_is_taken_by_the_worker_of_its_section_who_starts_it(session, world):
    order = register(session, world)
    move(session, order, "dispatch", world.actor("duty"), department_id=world.section.id)
    move(session, order, "accept", world.actor("head"))
    with pytest.raises(PermissionDenied) as denied:
        repair_flow.apply(session, order, "start", world.actor("other_worker"))  # another section's worker
    assert "还没有指派维修人员" in denied.value.message
    session.rollback()
    move(session, order, "start", world.actor("worker"))
    assert order.status == "in_progress" and order.assignee_id == world.worker.staff.id
    with pytest.raises(PermissionDenied):
        repair_flow.apply(session, order, "complete", world.actor("worker2"), params={"cause": "x", "work_hours": "1"})


def test_every_move_is_logged_with_who_and_when(session, world):
    order = order_in(session, world, "returned")
    events = session.scalars(select(Event).where(Event.object_type == "repair_order", Event.object_id == order.id).order_by(Event.id)).all()
    assert [e.transition for e in events] == ["register", "dispatch", "accept", "start", "complete", "sign_off", "return"]
    assert events[1].user_id == world.duty.id and events[3].user_id == world.worker.id
    assert events[4].note.startswith("合计 55.50 元(伍拾伍元伍角)")

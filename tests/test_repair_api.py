"""The 维修单 through the REST API (SPEC §11): create, every move, read-back shapes, filters, and
hostile input answered 400/422/409/403 with the field named — never 500, never half-saved."""

from __future__ import annotations

import pytest

from models.repair import RepairOrder
from tests.conftest import api_token
from tests.test_repair_support import World, build_world

API = "/api/v1/repair_order/"


@pytest.fixture()
def world(make, session) -> World:
    return build_world(make, session)


def headers(client, world: World, who: str) -> dict:
    getattr(world, who)  # the login exists
    return api_token(client, getattr(world, who).username)


def body(world: World, **over) -> dict:
    data = {
        "estate_id": world.estate.id,
        "unit_id": world.unit.id,
        "owner_id": world.owner.id,
        "contact_phone": "13912345678",
        "problem": "厨房下水道堵塞",
        "category": "plumbing_electric",
        "urgency": "normal",
        "paid": True,
        "source": "hotline",
    }
    data.update(over)
    return data


def post(client, h, path, json=None):
    return client.post(path, json=json if json is not None else {}, headers=h)


def test_full_lifecycle_through_the_api(client, world, session):
    clerk, duty, head, worker = (headers(client, world, w) for w in ("clerk", "duty", "head", "worker"))
    r = post(client, clerk, API, body(world))
    assert r.status_code == 201, r.json
    oid = r.json["id"]
    created = r.json["result"]
    assert created["number"].startswith("WX-") and created["status"] == "registered"
    assert created["estate_id"] == world.estate.id and created["unit_id"] == world.unit.id and created["owner_id"] == world.owner.id
    assert created["total"] == "0.00" and created["total_in_words"] == "零元整"
    assert created["recorded_at"].endswith("+00:00")

    r = post(client, duty, f"{API}{oid}/dispatch", {"department_id": world.section.id, "assignee_id": world.worker.staff.id})
    assert r.status_code == 200, r.json
    assert r.json["result"]["status"] == "dispatched" and r.json["result"]["dispatched_at"]
    assert post(client, head, f"{API}{oid}/accept").json["result"]["status"] == "accepted"
    r = post(client, worker, f"{API}{oid}/start", {"quoted_amount": "80.00", "owner_consent": True})
    assert r.status_code == 200, r.json
    r = post(client, worker, f"{API}{oid}/complete", {
        "cause": "下水管油污堵塞,业主使用不当", "work_hours": 2, "service_fee": "80.00",
        "materials": [
            {"name": "疏通剂", "provider": "company", "spec": "500ml", "quantity": "2", "unit_price": "12.50"},
            {"name": "管件", "provider": "owner", "spec": "DN50", "quantity": 1, "unit_price": "0"},
        ],
    })
    assert r.status_code == 200, r.json
    result = r.json["result"]
    assert result["status"] == "awaiting_acceptance"
    assert result["total"] == "105.00" and result["total_in_words"] == "壹佰零伍元整"
    assert [m["amount"] for m in result["material_lines"]] == ["25.00", "0.00"]
    assert post(client, clerk, f"{API}{oid}/sign_off", {"signed_by": "王芳", "satisfied": True}).json["result"]["status"] == "completed"
    assert post(client, duty, f"{API}{oid}/return").json["result"]["status"] == "returned"

    events = client.get(f"{API}{oid}/events", headers=duty).json["result"]
    assert [e["transition"] for e in events] == ["register", "dispatch", "accept", "start", "complete", "sign_off", "return"]
    assert events[1]["transition_label"] == "派单" and events[1]["to_status"] == "dispatched"
    order = session.get(RepairOrder, oid)
    assert order.billable_lines() == [(f"{order.number} 维修服务费", order.service_fee), (f"{order.number} 材料:疏通剂 500ml × 2", order.material_total)]


def test_list_is_filterable_on_keys_status_kind_and_period(client, world):
    clerk = headers(client, world, "clerk")
    first = post(client, clerk, API, body(world)).json
    post(client, clerk, API, body(world, kind="service", problem="代换灯泡"))
    period = first["result"]["period"]
    for col, value, n in [("status", "registered", 2), ("kind", "service", 1), ("period", period, 2), ("estate_id", world.estate.id, 2),
                          ("owner_id", world.owner.id, 2), ("unit_id", world.unit.id, 2), ("category", "plumbing_electric", 2)]:
        v = f"'{value}'" if isinstance(value, str) else value
        r = client.get(f"{API}?q=(filters:!((col:{col},opr:eq,value:{v})))", headers=clerk)
        assert r.status_code == 200, r.json
        assert r.json["count"] == n, (col, r.json)
        row = r.json["result"][0]
        assert {"id", "estate_id", "unit_id", "owner_id", "department_id", "assignee_id", "number", "period"} <= set(row)


BAD_CREATE = [
    ({"category": "plumbing"}, "category"),
    ({"urgency": "emergency"}, "emergency_reason"),
    ({"urgency": "emergency", "emergency_reason": "灯泡坏了"}, "emergency_reason"),
    ({"contact_phone": "12345"}, "contact_phone"),
    ({"problem": "   "}, "problem"),
    ({"paid": "maybe"}, "paid"),
    ({"unit_id": 999999}, "unit_id"),
    ({"unit_id": "abc"}, "unit_id"),
    ({"owner_id": 2**70}, "owner_id"),
    ({"appointment_at": "明天上午"}, "appointment_at"),
    ({"recorded_at": "2020-01-01T08:00:00+08:00"}, "recorded_at"),  # a clerk may not back-date
    ({"recorded_at": "2099-01-01T08:00:00+08:00"}, "recorded_at"),
    ({"status": "completed"}, "status"),
    ({"total": "1.00"}, "total"),
]


def test_bad_create_bodies_name_the_field_and_save_nothing(client, world):
    clerk = headers(client, world, "clerk")
    for over, field in BAD_CREATE:
        r = post(client, clerk, API, body(world, **over))
        assert r.status_code == 422, (over, r.json)
        assert field in r.json["message"], (over, r.json)
    assert client.get(API, headers=clerk).json["count"] == 0


def test_malformed_bodies_are_400(client, world):
    clerk = headers(client, world, "clerk")
    for raw in ["{not json", "[]", '"text"']:
        r = client.post(API, data=raw, headers=clerk | {"Content-Type": "application/json"})
        assert r.status_code == 400, (raw, r.status_code)
    order = post(client, clerk, API, body(world)).json["id"]
    duty = headers(client, world, "duty")
    r = client.post(f"{API}{order}/dispatch", data="[1, 2]", headers=duty | {"Content-Type": "application/json"})
    assert r.status_code == 400
    r = post(client, duty, f"{API}{order}/dispatch", {"department_id": world.section.id, "colour": "red"})
    assert r.status_code == 400 and "colour" in str(r.json["message"])


def test_bad_completion_input_names_the_field_and_changes_nothing(client, world, session):
    from tests.test_repair_support import order_in

    order = order_in(session, world, "in_progress")
    worker = headers(client, world, "worker")
    ok = {"cause": "阀芯老化", "work_hours": "1", "service_fee": "20", "materials": []}
    cases = [
        ({"materials": [{"name": "阀芯", "quantity": "-1", "unit_price": "5"}]}, "materials[0].quantity"),
        ({"materials": [{"name": "阀芯", "quantity": "两个", "unit_price": "5"}]}, "materials[0].quantity"),
        ({"materials": [{"name": "阀芯", "quantity": "1", "unit_price": "-5"}]}, "materials[0].unit_price"),
        ({"materials": [{"name": "阀芯", "quantity": "1", "unit_price": "abc"}]}, "materials[0].unit_price"),
        ({"materials": [{"name": "", "quantity": "1", "unit_price": "5"}]}, "materials[0].name"),
        ({"materials": [{"name": "阀芯", "provider": "neighbour", "quantity": "1", "unit_price": "5"}]}, "materials[0].provider"),
        ({"materials": "阀芯 1 个"}, "materials"),
        ({"service_fee": "-20"}, "service_fee"),
        ({"work_hours": "一小时"}, "work_hours"),
        ({"completed_at": "2000-01-01T08:00:00+08:00"}, "completed_at"),  # before the start
        ({"completed_at": "2099-01-01T08:00:00+08:00"}, "completed_at"),
        ({"cause": ""}, "cause"),
    ]
    for over, field in cases:
        r = post(client, worker, f"{API}{order.id}/complete", ok | over)
        assert r.status_code == 422, (over, r.status_code, r.json)
        assert field in r.json["message"], (over, r.json)
    session.expire_all()
    fresh = session.get(RepairOrder, order.id)
    assert fresh.status == "in_progress" and fresh.materials == [] and fresh.completed_at is None


def test_refused_move_is_409_with_the_chinese_reason(client, world):
    clerk = headers(client, world, "clerk")
    oid = post(client, clerk, API, body(world)).json["id"]
    r = post(client, headers(client, world, "duty"), f"{API}{oid}/return")
    assert r.status_code == 409
    assert r.json["message"] == "当前状态为「登记」,不能执行「回单」"
    assert post(client, clerk, f"{API}{oid}/fly").status_code == 404


def test_forbidden_move_is_403_and_worker_only_touches_own_orders(client, world, session):
    from tests.test_repair_support import order_in

    order = order_in(session, world, "accepted")
    assert post(client, headers(client, world, "worker"), f"{API}{order.id}/dispatch").status_code in (403, 409)
    r = post(client, headers(client, world, "worker2"), f"{API}{order.id}/start")
    assert r.status_code == 403 and "只能处理派给自己的维修单" in r.json["message"]
    assert post(client, headers(client, world, "worker"), f"{API}{order.id}/start").status_code == 200
    assert client.delete(f"{API}{order.id}", headers=headers(client, world, "admin")).status_code in (403, 404, 405)


def test_transfer_to_a_section_of_another_estate_is_refused(client, world, session, make):
    from tests.test_repair_support import order_in

    other_estate = make.estate("别的小区")
    foreign = make.department("别的小区水电班", "section", estate=other_estate)
    order = order_in(session, world, "accepted")
    r = post(client, headers(client, world, "head"), f"{API}{order.id}/transfer", {"department_id": foreign.id, "reason": "转过去"})
    assert r.status_code == 422 and "department_id" in r.json["message"]
    assert "属于其他小区/大厦" in r.json["message"]["department_id"][0]
    session.refresh(order)
    assert order.department_id == world.section.id and order.status == "accepted"


def test_duty_room_back_dates_an_emergency_recorded_afterwards(client, world):
    duty = headers(client, world, "duty")
    r = post(client, duty, API, body(world, urgency="emergency", emergency_reason="flood_fire_crime", paid=False,
                                   problem="12楼水管爆裂跑水", recorded_at="2026-11-27T23:10:00+08:00"))
    assert r.status_code == 201, r.json
    result = r.json["result"]
    assert result["recorded_at"] == "2026-11-27T15:10:00+00:00" and result["backdated"] is True
    assert result["period"] == "2026-11"
    r = post(client, duty, f"{API}{r.json['id']}/dispatch", {"department_id": world.section.id, "dispatched_at": "2026-11-27T23:12:00+08:00"})
    assert r.status_code == 200 and r.json["result"]["status"] == "accepted"
    assert r.json["result"]["dispatched_at"] == "2026-11-27T15:12:00+00:00"


def test_other_estates_orders_are_invisible(client, world, make, session):
    other = make.estate("乙小区")
    stranger = make.user("接待员", estates=[other], username="clerk_b")
    clerk = headers(client, world, "clerk")
    oid = post(client, clerk, API, body(world)).json["id"]
    h = api_token(client, stranger.username)
    assert client.get(f"{API}{oid}", headers=h).status_code == 404
    assert client.get(API, headers=h).json["count"] == 0
    assert post(client, h, f"{API}{oid}/urge").status_code == 404
    assert post(client, h, API, body(world)).status_code == 403


HOSTILE = [
    {"session": 1}, {"actor": "admin"}, {"now": "2026-01-01"}, {"order": 5},
    {"department_id": {"id": 1}}, {"assignee_id": [1]}, {"kind": ["objective"], "reason": "x"}, {"reason": 123},
    {"new_due_at": "2026-13-01", "kind": "objective", "reason": "x"}, {"items": {"name": "阀"}, "kind": "material", "reason": "x"},
    {"materials": [None], "cause": "x", "work_hours": 1}, {"materials": [{"name": "阀", "quantity": "1e400", "unit_price": "1"}], "cause": "x", "work_hours": 1},
    {"materials": [{"name": "阀", "quantity": "NaN", "unit_price": "1"}], "cause": "x", "work_hours": 1},
    {"work_hours": True, "cause": "x"}, {"service_fee": "1e99", "cause": "x", "work_hours": 1}, {"signed_by": {"n": 1}},
    {"approved": "maybe"}, {"into_number": 5}, {"into_id": 2**80}, {"notice": None}, {"quoted_amount": "-0.01", "owner_consent": True},
    {"fee_standard_id": "x"}, {"started_at": 20260101}, {"note": ["x"]},
]


def test_hostile_move_bodies_never_500_and_change_nothing(client, world, session):
    """Each move from a state that allows it, with bodies that try every way to break it."""
    from tests.test_repair_support import order_in

    moves = {
        "registered": ["dispatch", "urge", "merge", "cancel"],
        "dispatched": ["accept", "transfer", "reject"],
        "accepted": ["assign", "start"],
        "in_progress": ["report_delay", "complete"],
        "awaiting_acceptance": ["sign_off"],
        "reject_pending": ["approve_reject"],
        "returned": ["rectify"],
    }
    orders = {s: order_in(session, world, s) for s in moves}
    versions = {s: o.version for s, o in orders.items()}
    admin = headers(client, world, "admin")
    for state, names in moves.items():
        for name in names:
            for body in HOSTILE:
                r = post(client, admin, f"{API}{orders[state].id}/{name}", body)
                assert r.status_code in (400, 403, 404, 409, 422), (state, name, body, r.status_code, r.get_data(as_text=True)[:300])
    session.expire_all()
    for state, order in orders.items():
        fresh = session.get(RepairOrder, order.id)
        assert (fresh.status, fresh.version) == (state, versions[state])

"""Demo 维修单: about sixty orders of the last ten weeks in every stage, for both demo estates.

Each order goes through the real moves as the demo logins would make them (the duty room
dispatches, the 水电处 head picks up, the repair worker starts and completes, reception records the
owner's acceptance); the sections without a demo login get staff records of their own and act
through the system. Run by `flask demo`; does nothing when orders exist.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select

from models.base import PermissionDenied, as_utc, local, utcnow
from models.master import Department, Owner, Staff
from models.repair import RepairOrder, repair_flow
from models.repair_purchase import requisition_flow
from models.workflow import Actor

logger = logging.getLogger(__name__)

SECTION_OF = {
    "plumbing_electric": "水电处",
    "leak": "水电处",
    "appliance": "水电处",
    "other": "水电处",
    "air_conditioning": "空调处",
    "elevator": "电梯处",
    "civil": "土建处",
    "doors_windows": "土建处",
    "safety": "土建处",
}

# category -> (problem, cause, [(material, spec, unit price)])
PROBLEMS = {
    "plumbing_electric": [
        ("厨房水龙头关不紧,一直滴水", "阀芯磨损老化", [("陶瓷阀芯", "DN15", "18.00")]),
        ("卫生间下水道堵塞,积水排不下去", "管道内毛发油污堆积", [("管道疏通剂", "500ml", "12.50")]),
        ("客厅插座没电,空开跳闸合不上", "插座进水短路", [("五孔插座", "10A", "15.00"), ("漏电开关", "C16", "45.00")]),
        ("阳台灯不亮", "灯座接触不良", [("LED 灯泡", "12W", "9.80")]),
        ("热水器进水阀漏水", "进水阀密封圈老化", [("三角阀", "DN15", "22.00"), ("生料带", "20m", "2.00")]),
    ],
    "leak": [
        ("卧室天花板渗水,墙角发霉", "楼上卫生间防水层破损", [("防水涂料", "JS 5kg", "68.00")]),
        ("外窗下沿雨天渗水", "窗框与墙体间打胶开裂", [("耐候密封胶", "300ml", "16.00")]),
    ],
    "air_conditioning": [
        ("空调不制冷,外机有异响", "冷媒不足,风扇电容损坏", [("R410A 冷媒", "1kg", "85.00"), ("风扇电容", "2.5μF", "20.00")]),
        ("空调内机滴水", "冷凝水管堵塞", [("冷凝水管", "Φ16 2m", "6.00")]),
    ],
    "elevator": [
        ("2 号电梯开关门异常,反复开合", "门机光幕故障", [("光幕", "双侧", "380.00")]),
        ("电梯按钮失灵,8 楼按不亮", "召唤按钮触点损坏", [("召唤按钮", "圆形", "65.00")]),
    ],
    "civil": [
        ("楼道墙面瓷砖空鼓脱落", "粘结砂浆老化", [("瓷砖胶", "20kg", "55.00")]),
        ("单元门口台阶石材松动", "基层沉降", [("水泥砂浆", "1:3 50kg", "30.00")]),
    ],
    "doors_windows": [
        ("入户门锁芯坏了,钥匙拧不动", "锁芯弹子磨损", [("C 级锁芯", "标准", "120.00")]),
        ("推拉窗滑轮脱轨,关不严", "滑轮老化", [("窗滑轮", "铜轴", "8.00")]),
    ],
    "safety": [
        ("消防通道应急灯不亮", "电池老化", [("应急灯电池", "3.6V", "25.00")]),
        ("楼梯扶手松动", "固定螺栓锈蚀", [("膨胀螺栓", "M8", "1.50")]),
    ],
    "appliance": [
        ("洗衣机脱水时剧烈晃动", "减震吊杆损坏", [("减震吊杆", "4 根", "60.00")]),
    ],
    "other": [
        ("信报箱门合页坏了", "合页锈断", [("不锈钢合页", "2 寸", "6.00")]),
    ],
}

EMERGENCIES = [
    ("elevator", "elevator", "3 号电梯困人,轿厢内两人"),
    ("water", "plumbing_electric", "进户水表后水管爆裂,屋内跑水"),
    ("outage", "plumbing_electric", "整层停电,走廊和各户都没电"),
    ("falling", "doors_windows", "12 楼外窗玻璃破裂,随时可能坠落"),
]

# (state, how many, oldest days ago, newest days ago)
PLAN = [
    ("returned", 24, 70, 6),
    ("completed", 5, 6, 2),
    ("awaiting_acceptance", 4, 3, 1),
    ("in_progress", 7, 5, 1),
    ("accepted", 4, 2, 0.3),
    ("dispatched", 5, 1, 0.05),
    ("registered", 4, 0.2, 0.01),
    ("reject_pending", 2, 3, 1),
    ("rejected", 1, 20, 15),
    ("cancelled", 2, 30, 4),
]
STEPS = {
    "registered": [],
    "dispatched": ["dispatch"],
    "accepted": ["dispatch", "accept"],
    "in_progress": ["dispatch", "accept", "start"],
    "awaiting_acceptance": ["dispatch", "accept", "start", "complete"],
    "completed": ["dispatch", "accept", "start", "complete", "sign_off"],
    "returned": ["dispatch", "accept", "start", "complete", "sign_off", "return"],
    "reject_pending": ["dispatch", "reject"],
    "rejected": ["dispatch", "reject", "approve_reject"],
    "cancelled": ["cancel"],
}


def _user(username: str):
    return current_app.appbuilder.sm.find_user(username=username)


def _actor(username: str) -> Actor:
    user = _user(username)
    return Actor(user=user) if user is not None else Actor.system_actor()


def _apply(flow, session, obj, name: str, actor: Actor, at, params: dict | None = None):
    """A move as the demo login when its role may, otherwise by the system in that person's name."""
    try:
        return flow.apply(session, obj, name, actor, at, params or {})
    except PermissionDenied:  # refused before anything changed: another section's order
        pass
    event = flow.apply(session, obj, name, Actor.system_actor(), at, params or {})
    event.user_id = actor.user_id
    return event


# the repair sections without a login in the shared demo get their own (处主任 and 维修人员)
SECTION_LOGINS = {"空调处": ("ktczr", "ktwx"), "电梯处": ("dtczr", "dtwx"), "土建处": ("tjczr", "tjwx")}


def _login(session, ctx, username: str, role: str, dept: Department, position: str) -> Staff:
    from app.demo import DEMO_PASSWORD

    sm = current_app.appbuilder.sm
    user = sm.find_user(username=username)
    if user is None:
        person = ctx["fake"].name()
        user = sm.add_user(username, person[1:], person[0], f"{username}@example.com", sm.find_role(role), DEMO_PASSWORD)
    staff = session.scalar(select(Staff).where(Staff.user_id == user.id))
    if staff is None:
        staff = Staff(name=f"{user.last_name}{user.first_name}", user_id=user.id, department_id=dept.id, position=position)
        staff.estates = list(ctx["estates"])
        session.add(staff)
        session.flush()
    return staff


def _sections(session, ctx) -> dict[str, tuple[Actor, Actor, Staff]]:
    """Each repair section's head and worker (as actors) and the worker's staff record."""
    result = {}
    for name in ("水电处", "空调处", "电梯处", "土建处"):
        dept = session.scalar(select(Department).where(Department.name == name))
        if dept is None:
            continue
        if name in SECTION_LOGINS:
            head_login, worker_login = SECTION_LOGINS[name]
            head = _login(session, ctx, head_login, "处主任", dept, "处主任")
            _login(session, ctx, worker_login, "维修人员", dept, "维修工")
            if dept.head_id is None:
                dept.head_id = head.id
        else:
            head_login, worker_login = "czr", "wxry"
        worker = _actor(worker_login)
        if worker.user is None:
            continue
        result[name] = (_actor(head_login), worker, worker.staff)
    session.flush()
    return result


def demo(session, ctx) -> None:
    if session.scalar(select(func.count(RepairOrder.id)).where(RepairOrder.origin_type.is_(None))):
        return  # already there (orders spawned from visits or complaints do not count)
    rnd, estates = ctx["random"], ctx["estates"]
    now = utcnow()
    sections = _sections(session, ctx)
    owners = {e.id: session.scalars(select(Owner).where(Owner.estate_id == e.id).order_by(Owner.id).limit(300)).all() for e in estates}
    duty, manager, buyer = (_actor(u) for u in ("zby", "gcbjl", "cgy"))
    clerks = {estates[0].id: _actor("jdy"), estates[-1].id: _actor("jdy2")}
    categories = list(PROBLEMS)
    made = []
    serial = 0
    for state, count, oldest, newest in PLAN:
        for i in range(count):
            serial += 1
            estate = estates[serial % len(estates)]
            owner = rnd.choice(owners[estate.id]) if owners[estate.id] else None
            category = categories[serial % len(categories)] if serial % 3 else "plumbing_electric"
            problem, cause, materials = rnd.choice(PROBLEMS[category])
            emergency = None
            if state in ("returned", "in_progress") and i < 2:
                emergency = EMERGENCIES[(serial // 2) % len(EMERGENCIES)]
                category, problem = emergency[1], emergency[2]
                _p, cause, materials = PROBLEMS[category][0]
            days_ago = oldest - (oldest - newest) * (i / max(count - 1, 1))
            recorded = local(now - timedelta(days=days_ago, minutes=rnd.randint(0, 50)))
            if not 8 <= recorded.hour < 20 and days_ago > 1:
                recorded = recorded.replace(hour=rnd.randint(8, 17))  # office hours, except the last day's calls
            recorded = as_utc(recorded)
            if recorded > now - timedelta(minutes=5):
                recorded = now - timedelta(minutes=rnd.randint(10, 60))
            clerk = clerks.get(estate.id) or duty
            fields = {
                "estate_id": estate.id,
                "unit_id": owner.unit_id if owner else None,
                "owner_id": owner.id if owner else None,
                "problem": problem,
                "category": category,
                "source": rnd.choice(["hotline", "hotline", "window", "visit"]),
                "paid": state in ("returned", "completed") and serial % 3 == 0,
            }
            if owner is None:
                fields["location"] = "公共区域"
                fields["contact_phone"] = "021-58881234"
            if emergency:
                fields.update(urgency="emergency", emergency_reason=emergency[0], source="hotline")
            actor = duty if emergency else clerk
            if emergency and i == 0 and state == "returned":
                fields["recorded_at"] = recorded  # 补办: the duty room records it after the night
                order = RepairOrder.register(session, duty, recorded + timedelta(hours=9), **fields)
            else:
                order = RepairOrder.register(session, actor, recorded, **fields)
            _walk(session, order, state, recorded, now, rnd, sections, materials, cause, duty, manager, clerk, i)
            made.append(order)
    _duplicate(session, made, duty, now, clerks)
    _material_waits(session, made, sections, buyer, now)
    session.flush()
    from models.repair_scan import scan_orders

    scan_orders(session, now)  # what is late shows at once, as after the first overdue scan
    logger.info("demo: %s repair orders", len(made))


def _walk(session, order, state, t, now, rnd, sections, materials, cause, duty, manager, clerk, i) -> None:
    head, worker, worker_staff = sections.get(SECTION_OF[order.category]) or sections["水电处"]
    # an emergency recorded afterwards (补办): everything is logged when it is recorded, with the times it happened
    logged = repair_flow.events(session, order.id)[0].at if order.backdated else None

    def when(moment):
        moment = min(moment, now)
        return max(moment, logged) if logged else moment

    def stated(key, moment):
        return {key: min(moment, now).isoformat()} if logged else {}

    slow = state == "dispatched" and i < 2
    for name in STEPS[state]:
        if name == "dispatch":
            t += timedelta(minutes=rnd.randint(5, 40) if not order.is_emergency else 3)
            params = {"department_id": worker_staff.department_id} | stated("dispatched_at", t)
            if (rnd.random() < 0.6 or order.is_emergency) and not slow:
                params["assignee_id"] = worker_staff.id
            _apply(repair_flow, session, order, "dispatch", duty, when(t), params)
        elif name == "accept":
            if order.status != "dispatched":
                continue  # an emergency went straight to work
            t += timedelta(minutes=rnd.randint(20, 100))
            _apply(repair_flow, session, order, "accept", head, when(t), {} if order.assignee_id else {"assignee_id": worker_staff.id})
        elif name == "start":
            t += timedelta(hours=rnd.choice([1, 2, 3, 20]) if not order.is_emergency else 0.3)
            params = {"quoted_amount": str(Decimal(rnd.choice([30, 50, 80, 120]))), "owner_consent": True} if order.paid else {}
            _apply(repair_flow, session, order, "start", worker, when(t), params | stated("started_at", t))
        elif name == "complete":
            t += timedelta(hours=rnd.choice([1, 1.5, 2, 3]))
            lines = [
                {"name": m, "provider": "company" if rnd.random() < 0.85 else "owner", "spec": spec, "quantity": str(rnd.choice([1, 1, 2])), "unit_price": price}
                for m, spec, price in materials
            ]
            params = {"cause": cause, "work_hours": str(rnd.choice(["0.5", "1", "1.5", "2", "3"])), "materials": lines,
                      "service_fee": str(order.quoted_amount) if order.paid and order.quoted_amount else "0"}
            _apply(repair_flow, session, order, "complete", worker, when(t), params | stated("completed_at", t))
        elif name == "sign_off":
            t += timedelta(minutes=10)
            params = {"signed_by": order.resident_name or "业户", "satisfied": rnd.random() > 0.1}
            _apply(repair_flow, session, order, "sign_off", worker if i % 2 else clerk, when(t), params | stated("signed_at", t))
        elif name == "return":
            t += timedelta(days=rnd.choice([0.5, 1, 1.5, 2, 4]))  # one in five comes back late
            _apply(repair_flow, session, order, "return", duty, when(t))
        elif name == "reject":
            t += timedelta(hours=1)
            _apply(repair_flow, session, order, "reject", head, when(t),
                   {"reason": "经现场查看属业主二次装修改动的管线,不在物业维修范围,建议业主自行找装修公司处理"})
        elif name == "approve_reject":
            t += timedelta(days=1)
            _apply(repair_flow, session, order, "approve_reject", manager, when(t), {"approved": True, "opinion": "同意退单,由业户服务部向业主解释"})
        elif name == "cancel":
            t += timedelta(hours=2)
            _apply(repair_flow, session, order, "cancel", clerk, when(t), {"reason": "业主来电:已自行修好,不需要上门"})


def _duplicate(session, made, duty, now, clerks) -> None:
    """A second caller reports the same leak: merged into the open order."""
    target = next((o for o in made if o.status in ("accepted", "dispatched") and o.unit_id), None)
    if target is None:
        return
    clerk = clerks.get(target.estate_id) or duty
    at = max(target.recorded_at + timedelta(minutes=30), now - timedelta(minutes=30))
    dup = RepairOrder.register(
        session, clerk, at, estate_id=target.estate_id, unit_id=target.unit_id, problem=f"楼下邻居反映:{target.problem}",
        category=target.category, source="hotline", contact_name="楼下住户", contact_phone="13761234567",
    )
    _apply(repair_flow, session, dup, "merge", clerk, at + timedelta(minutes=2), {"into_id": target.id})
    _apply(repair_flow, session, target, "urge", clerk, at + timedelta(minutes=3), {"by": "业主", "note": "家里还在漏,请尽快"})


def _material_waits(session, made, sections, buyer, now) -> None:
    """Two orders wait for material: one requisition still open, one the purchaser cannot buy."""
    working = [o for o in made if o.status == "in_progress" and not o.is_emergency][:3]
    for n, order in enumerate(working):
        head = (sections.get(SECTION_OF[order.category]) or sections["水电处"])[0]
        at = max(order.started_at + timedelta(hours=1), now - timedelta(days=1 + n))
        if at > now:
            at = now - timedelta(minutes=30)
        if n == 2:
            _apply(repair_flow, session, order, "report_delay", head, at, {"kind": "objective", "reason": "业主出差,约定下周一上门继续",
                                                                         "new_due_at": (now + timedelta(days=5)).isoformat()})
            continue
        _apply(repair_flow, session, order, "report_delay", head, at, {
            "kind": "material", "reason": "缺少配件,需请购",
            "items": [{"name": "球阀", "spec": "DN20", "quantity": "2", "unit": "个"}, {"name": "PPR 管", "spec": "Φ20", "quantity": "3", "unit": "米"}],
        })
        if n == 1 and order.requisitions:
            _apply(requisition_flow, session, order.requisitions[0], "report_unavailable", buyer, min(at + timedelta(hours=20), now),
                   {"reason": "本市供应商缺货,厂家发货约需 10 天"})

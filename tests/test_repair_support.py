"""Shared set-up for the repair tests: an estate with its people in their real roles, and orders
brought to any state through the real moves (no test here; imported by tests/test_repair_*.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from models.base import utcnow
from models.repair import RepairOrder, repair_flow
from models.workflow import Actor
from tests.conftest import PASSWORD

# who -> (role, department key, username)
PEOPLE = {
    "admin": ("系统管理员", None, "admin1"),
    "clerk": ("接待员", "service", "clerk"),
    "duty": ("总值班员", "duty", "duty"),
    "head": ("处主任", "section", "head"),
    "worker": ("维修人员", "section", "worker"),
    "worker2": ("维修人员", "section", "worker2"),
    "other_head": ("处主任", "other_section", "ac_head"),
    "other_worker": ("维修人员", "other_section", "ac_worker"),
    "manager": ("工程部经理", "engineering", "eng_manager"),
    "building_manager": ("大厦管理部经理", "engineering", "bldg_manager"),
    "purchaser": ("采购员", "supply", "buyer"),
    "supply_head": ("供应处主任", "supply", "supply_head"),
    "finance": ("财务内勤", None, "finance"),
}
_HASH: dict[str, str] = {}


def password_hash() -> str:
    """The test password hashed once (scrypt takes a quarter second per user)."""
    if "h" not in _HASH:
        from werkzeug.security import generate_password_hash

        _HASH["h"] = generate_password_hash(PASSWORD, method="scrypt")
    return _HASH["h"]


class World:
    """An estate with its departments; its people (real logins in real roles, staff of the estate)
    are created the first time a test asks for them."""

    def __init__(self, make, session, kind: str = "residential"):
        from models.master import Building, Department, Estate, Owner, Unit

        self.make = make
        self.session = session
        self.estate = Estate(name="锦绣花园" if kind == "residential" else "国贸中心大厦", kind=kind, households=320)
        session.add(self.estate)
        session.flush()
        building = Building(estate_id=self.estate.id, name="3号楼")
        session.add(building)
        session.flush()
        self.unit = Unit(building_id=building.id, building=building, estate_id=self.estate.id, room="1202")
        session.add(self.unit)
        session.flush()
        self.owner = Owner(unit_id=self.unit.id, unit=self.unit, estate_id=self.estate.id, name="王芳", phone="13912345678", kind="owner")
        session.add(self.owner)
        names = {
            "section": ("水电处", "section"),
            "other_section": ("空调处", "section"),
            "engineering": ("工程部", "engineering"),
            "supply": ("供应处", "supply"),
            "duty": ("总值班室", "duty"),
            "service": ("业户服务部", "service"),
        }
        self.departments = {key: Department(name=name, kind=dk) for key, (name, dk) in names.items()}
        session.add_all(self.departments.values())
        session.commit()
        self.section = self.departments["section"]
        self.other_section = self.departments["other_section"]
        self._users: dict = {}

    def __getattr__(self, name):
        if name.startswith("_") or name not in PEOPLE:
            raise AttributeError(name)
        if name not in self._users:
            self._users[name] = self._user(name)
        return self._users[name]

    def _user(self, who: str):
        from models.master import Staff

        role, dept_key, username = PEOPLE[who]
        sm = self.make.app.appbuilder.sm
        user = sm.add_user(username, "测试", username, f"{username}@example.com", sm.find_role(role), hashed_password=password_hash(), commit=False)
        assert user, username
        dept = self.departments.get(dept_key) if dept_key else None
        staff = Staff(name=f"员工{username}", user_id=user.id, department_id=dept.id if dept else None)
        staff.estates = [] if role == "系统管理员" else [self.estate]
        self.session.add(staff)
        self.session.flush()
        if who in ("head", "other_head"):
            dept.head_id = staff.id
        self.session.commit()
        user.staff = staff
        return user

    def actor(self, name: str) -> Actor:
        return Actor(user=getattr(self, name))


def build_world(make, session, kind: str = "residential") -> World:
    return World(make, session, kind)


def register(session, w: World, actor: Actor | None = None, now: datetime | None = None, commit: bool = True, **fields) -> RepairOrder:
    values = {
        "unit_id": w.unit.id,
        "owner_id": w.owner.id,
        "problem": "卫生间水龙头漏水",
        "category": "plumbing_electric",
        "source": "hotline",
    }
    values.update(fields)
    order = RepairOrder.register(session, actor or w.actor("clerk"), now or utcnow(), **values)
    if commit:
        session.commit()
    return order


def move(session, order: RepairOrder, name: str, actor: Actor, now: datetime | None = None, commit: bool = True, **params):
    event = repair_flow.apply(session, order, name, actor, now or utcnow(), params)
    if commit:
        session.commit()
    return event


COMPLETE = {"cause": "阀芯老化", "work_hours": "1.5", "service_fee": "30.00", "materials": [
    {"name": "水龙头阀芯", "provider": "company", "spec": "DN15", "quantity": "1", "unit_price": "25.50"},
]}

# state -> the moves (and their actors) that lead there from registered
PATHS = {
    "registered": [],
    "dispatched": ["dispatch"],
    "accepted": ["dispatch", "accept"],
    "in_progress": ["dispatch", "accept", "start"],
    "awaiting_acceptance": ["dispatch", "accept", "start", "complete"],
    "completed": ["dispatch", "accept", "start", "complete", "sign_off"],
    "returned": ["dispatch", "accept", "start", "complete", "sign_off", "return"],
    "revisited": ["dispatch", "accept", "start", "complete", "sign_off", "return", "revisit_done"],
    "closed": ["dispatch", "accept", "start", "complete", "sign_off", "return", "revisit_done", "close"],
    "rectifying": ["dispatch", "accept", "start", "complete", "sign_off", "return", "revisit_done", "rectify"],
    "reject_pending": ["dispatch", "reject"],
    "rejected": ["dispatch", "reject", "approve_reject"],
    "cancelled": ["cancel"],
}


def step_params(w: World, name: str) -> tuple[str, dict]:
    """The usual actor and body of each move."""
    return {
        "dispatch": ("duty", {"department_id": w.section.id, "assignee_id": w.worker.staff.id}),
        "accept": ("head", {}),
        "assign": ("head", {"assignee_id": w.worker2.staff.id}),
        "transfer": ("head", {"department_id": w.other_section.id, "reason": "属空调故障,转空调处"}),
        "start": ("worker", {"quoted_amount": "55.50", "owner_consent": True}),
        "report_delay": ("head", {"kind": "objective", "reason": "业主出差,约定下周上门"}),
        "complete": ("worker", dict(COMPLETE)),
        "sign_off": ("clerk", {"signed_by": "王芳", "satisfied": True}),
        "return": ("duty", {}),
        "reject": ("head", {"reason": "属业主自行装修造成,不在维修范围"}),
        "approve_reject": ("manager", {}),
        "urge": ("clerk", {"note": "业主来电催促"}),
        "cancel": ("clerk", {"reason": "业主已自行修好"}),
        "revisit_done": ("duty", {}),
        "rectify": ("duty", {"notice": "回访发现仍有渗水,请重新更换密封圈"}),
        "close": ("duty", {}),
        "merge": ("clerk", {}),
    }[name]


def order_in(session, w: World, state: str, now: datetime | None = None, **fields) -> RepairOrder:
    """A new order brought to `state` through the real moves, each by the role that does it."""
    now = now or utcnow()
    actors = {who: w.actor(who) for who in {step_params(w, n)[0] for n in PATHS[state]} | {"clerk"}}
    order = register(session, w, now=now, commit=False, **fields)
    for i, name in enumerate(PATHS[state]):
        who, params = step_params(w, name)
        move(session, order, name, actors[who], now + timedelta(seconds=i + 1), commit=False, **params)
    session.commit()
    assert order.status == state, (state, order.status)
    return order

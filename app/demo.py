"""`flask demo`: believable Chinese demo data and one login per handbook role."""

from __future__ import annotations

import importlib
import random
from decimal import Decimal

from faker import Faker
from flask import current_app
from sqlalchemy import select

from models.master import Building, Department, Estate, Owner, Staff, Unit

DEMO_PASSWORD = "wuye2026"
# Modules whose `demo(session, ctx)` adds their area's demo records (each handbook area adds its own).
DEMO_MODULES: list[str] = ["models.repair_demo", "models.billing_demo", "models.reception_demo", "models.followup_demo"]

DEPARTMENTS = [
    ("业户服务部", "service"),
    ("总值班室", "duty"),
    ("工程部", "engineering"),
    ("供应处", "supply"),
    ("财务部", "finance"),
    ("水电处", "section"),
    ("空调处", "section"),
    ("电梯处", "section"),
    ("土建处", "section"),
]

# username, role, name, department, estates ("all" or index list), position
LOGINS = [
    ("gsjl", "公司经理", "公司经理", None, "all", "公司经理"),
    ("wyjl", "物业经理", "物业经理", "业户服务部", [0], "物业经理"),
    ("glczr", "管理处主任", "管理处主任", "业户服务部", [0], "管理处主任"),
    ("wygly", "物业管理员", "物业管理员", "业户服务部", [0], "物业管理员"),
    ("jdy", "接待员", "接待员", "业户服务部", [0], "接待员"),
    ("jdy2", "接待员", "接待员", "业户服务部", [1], "接待员"),
    ("zby", "总值班员", "总值班员", "总值班室", "all", "总值班员"),
    ("czr", "处主任", "处主任", "水电处", "all", "处主任"),
    ("wxry", "维修人员", "维修人员", "水电处", "all", "维修工"),
    ("gcbjl", "工程部经理", "工程部经理", "工程部", "all", "工程部经理"),
    ("dsgljl", "大厦管理部经理", "大厦管理部经理", "工程部", "all", "大厦管理部经理"),
    ("cgy", "采购员", "采购员", "供应处", "all", "采购员"),
    ("gyczr", "供应处主任", "供应处主任", "供应处", "all", "供应处主任"),
    ("cwnq", "财务内勤", "财务内勤", "财务部", "all", "财务内勤"),
]


def make_demo(session, seed: int = 2026) -> dict[str, tuple[str, str]]:
    """Create the demo estates, people and logins; returns {role: (username, password)}. Safe to rerun."""
    fake = Faker("zh_CN")
    Faker.seed(seed)
    rnd = random.Random(seed)
    sm = current_app.appbuilder.sm

    estates = []
    for name, kind, address, shape in [
        ("锦绣花园", "residential", "上海市浦东新区锦绣路 1888 弄", ("号楼", 6, 15, 4)),
        ("国贸中心大厦", "commercial", "上海市静安区南京西路 1266 号", ("座", 2, 20, 4)),
    ]:
        estate = session.scalar(select(Estate).where(Estate.name == name))
        if estate is None:
            suffix, blocks, floors, per_floor = shape
            estate = Estate(name=name, kind=kind, address=address, complaint_phone_day="021-58881234", complaint_phone_night="021-58885678")
            session.add(estate)
            session.flush()
            for b in range(1, blocks + 1):
                bname = f"{b}{suffix}" if kind == "residential" else f"{'AB'[b - 1]}{suffix}"
                building = Building(estate_id=estate.id, name=bname, floors=floors)
                session.add(building)
                session.flush()
                for floor in range(1, floors + 1):
                    for door in range(1, per_floor + 1):
                        unit = Unit(building_id=building.id, building=building, estate_id=estate.id, room=f"{floor}{door:02d}", area=Decimal(rnd.choice([68, 89, 96, 120, 143, 180])))
                        session.add(unit)
                        session.flush()
                        company = fake.company() if kind == "commercial" else None
                        session.add(
                            Owner(
                                unit_id=unit.id,
                                unit=unit,
                                estate_id=estate.id,
                                name=fake.name(),
                                phone=fake.phone_number(),
                                kind="tenant" if rnd.random() < 0.15 else "owner",
                                company=company,
                            )
                        )
            estate.households = blocks * floors * per_floor
        estates.append(estate)
    session.flush()

    departments = {}
    for name, kind in DEPARTMENTS:
        dept = session.scalar(select(Department).where(Department.name == name))
        if dept is None:
            dept = Department(name=name, kind=kind, phone=fake.phone_number())
            session.add(dept)
            session.flush()
        departments[name] = dept
    for estate in estates:
        name = f"{estate.name}管理处"
        if session.scalar(select(Department).where(Department.name == name)) is None:
            session.add(Department(name=name, kind="management", estate_id=estate.id))
    session.commit()

    logins = {}
    for username, role_name, _title, dept_name, estate_idx, position in LOGINS:
        user = sm.find_user(username=username)
        person = fake.name()
        if user is None:
            role = sm.find_role(role_name)
            user = sm.add_user(username, person[1:], person[0], f"{username}@example.com", role, DEMO_PASSWORD)
        staff = session.scalar(select(Staff).where(Staff.user_id == user.id))
        if staff is None:
            staff = Staff(
                name=f"{user.last_name}{user.first_name}",
                phone=fake.phone_number(),
                user_id=user.id,
                department_id=departments[dept_name].id if dept_name else None,
                position=position,
            )
            staff.estates = estates if estate_idx == "all" else [estates[i] for i in estate_idx]
            session.add(staff)
            session.flush()
            if dept_name and departments[dept_name].head_id is None and role_name in ("处主任", "物业经理", "工程部经理", "供应处主任", "总值班员", "财务内勤"):
                departments[dept_name].head_id = staff.id
        logins.setdefault(role_name, (username, DEMO_PASSWORD))
    session.commit()

    ctx = {"estates": estates, "departments": departments, "fake": fake, "random": rnd}
    for module in DEMO_MODULES:
        importlib.import_module(module).demo(session, ctx)
        session.commit()
    return logins

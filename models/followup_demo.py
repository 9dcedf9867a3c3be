"""Demo data of 回访与投诉: rain days, complaints in every stage, revisits of returned repair orders,
the weekly statistics. Run by `flask demo` after the estates and people exist; safe to rerun."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from models.base import local, utcnow
from models.complaint import Complaint, build_week, complaint_flow, previous_week
from models.master import Owner, Unit
from models.rectification import ensure_plans, open_after_rain
from models.revisit import RainDay, Revisit, RevisitStatus, revisit_flow
from models.workflow import Actor

logger = logging.getLogger(__name__)

# (days ago, hour, estate index, channel, category, content, stage, escalate, valid, satisfaction)
COMPLAINTS = [
    (19, 9, 0, "phone", "noise", "楼上 1502 装修,晚上十点以后还在电钻施工,孩子无法休息,希望物业管一管。", "closed", None, True, "satisfied"),
    (17, 14, 0, "visit", "cleaning", "3号楼楼道垃圾两天没有清运,气味很大,保洁员说人手不够。", "closed", None, True, "basically_satisfied"),
    (15, 20, 1, "phone", "elevator", "A座 3 号电梯这周停了三次,上下班排队十几分钟,要求尽快彻底修好。", "closed", "leadership", True, "basically_satisfied"),
    (12, 10, 0, "letter", "fee", "物业费里的公共能耗分摊没有明细,要求公示计算方法。", "closed", None, False, "satisfied"),
    (9, 16, 0, "owner_visit", "security", "门岗对外来人员不登记就放行,前几天楼里有推销的人挨家敲门。", "revisited", "department_head", None, None),
    (6, 11, 1, "phone", "attitude", "前台接待人员接电话态度冷淡,问两句就挂断。", "replied", None, None, None),
    (4, 19, 0, "phone", "parking", "地下车库 B2 我的固定车位连续三天被外来车辆占用。", "replied", None, None, None),
    (2, 8, 0, "visit", "greening", "5号楼前绿化带杂草很多,蚊虫多,希望尽快修剪。", "processing", None, None, None),
    (1, 21, 1, "phone", "facility", "B座地下车库照明有一排灯不亮,晚上取车不安全。", "processing", "department_head", None, None),
    (0, 9, 0, "phone", "repair", "上周报修卫生间漏水,维修工来过一次,现在还在滴水。", "received", None, None, None),
    (0, 1, 0, "phone", "convenience", "约好的钟点工上午没来,也没有人通知我。", "received", None, None, None),
]
RAIN_DAYS_AGO = [(16, None, "中雨,全市"), (8, 0, "阵雨"), (3, None, "大雨,全市")]


def _office(t):
    """The next moment in office hours (08:30–20:00 Shanghai) at or after `t`."""
    at = local(t)
    if at.hour < 8 or (at.hour == 8 and at.minute < 30):
        at = at.replace(hour=8, minute=30 + at.minute % 30)
    elif at.hour >= 20:
        at = (at + timedelta(days=1)).replace(hour=9, minute=at.minute % 30)
    return at


def _actor(username: str) -> Actor:
    user = current_app.appbuilder.sm.find_user(username=username)
    return Actor(user=user) if user is not None else Actor.system_actor()


def _apply(session, flow, obj, name, actor, now, params):
    """A demo move: as the named user when the role allows it, else as the system."""
    if actor.user is not None and not actor.can(flow.transitions[name].permission_name, flow.permission_view):
        actor = Actor.system_actor()
    return flow.apply(session, obj, name, actor, now, params)


def _rain_days(session, estates, now) -> None:
    today = local(now).date()
    for days, estate_idx, note in RAIN_DAYS_AGO:
        day = today - timedelta(days=days)
        estate_id = estates[estate_idx].id if estate_idx is not None else None
        cond = RainDay.estate_id.is_(None) if estate_id is None else RainDay.estate_id == estate_id
        if session.scalar(select(RainDay.id).where(cond, RainDay.date == day)) is None:
            session.add(RainDay(date=day, estate_id=estate_id, note=note))
    session.flush()


def _owner_of(session, estate, rnd):
    ids = session.scalars(select(Owner.id).where(Owner.estate_id == estate.id).order_by(Owner.id).limit(200)).all()
    return session.get(Owner, rnd.choice(ids)) if ids else None


def _complaints(session, ctx, now) -> None:
    if session.scalar(select(func.count(Complaint.id))):
        return
    estates, departments, rnd = ctx["estates"], ctx["departments"], ctx["random"]
    clerk, manager, head = _actor("jdy"), _actor("wyjl"), _actor("glczr")
    dept_for = {
        "noise": "业户服务部", "cleaning": "业户服务部", "elevator": "电梯处", "fee": "财务部", "security": "业户服务部",
        "attitude": "业户服务部", "parking": "业户服务部", "greening": "业户服务部", "facility": "水电处", "repair": "水电处",
        "convenience": "业户服务部",
    }
    for days, hour, e_idx, channel, category, content, stage, escalate, valid, satisfaction in COMPLAINTS:
        estate = estates[e_idx]
        received = local(now).replace(hour=hour, minute=rnd.choice([5, 18, 32, 47]), second=0, microsecond=0) - timedelta(days=days)
        if received > now:
            received -= timedelta(days=1)
        owner = _owner_of(session, estate, rnd)
        complaint = Complaint(
            estate_id=estate.id, channel=channel, category=category, content=content, received_at=received,
            owner_id=owner.id if owner else None, unit_id=owner.unit_id if owner else None,
            created_by_fk=clerk.user_id, changed_by_fk=clerk.user_id,
        )
        complaint.owner = owner
        complaint.unit = session.get(Unit, owner.unit_id) if owner else None
        complaint.validate(session, now=now)
        session.add(complaint)
        session.flush()
        complaint_flow.log(session, complaint, "register", clerk, received, note="受理投诉")
        t = received
        if stage == "received":
            continue
        dept = departments.get(dept_for.get(category, "业户服务部"))
        if dept is not None:
            t += timedelta(minutes=25)
            _apply(session, complaint_flow, complaint, "assign", clerk, t, {"department_id": dept.id})
        if escalate:
            t += timedelta(hours=2)
            _apply(session, complaint_flow, complaint, "escalate", clerk, t, {"to": escalate, "note": "本部门协调不了,需要上级出面"})
        if stage == "processing":
            continue
        t = _office(t + timedelta(hours=rnd.choice([1, 2, 3, 5, 26])))
        reply = {
            "noise": "已约谈 1502 装修户,施工时间限定为 8:00-12:00、14:00-18:00,违规将暂停装修许可。",
            "cleaning": "已调整保洁排班,3号楼垃圾每日早晚各清运一次。",
            "elevator": "已请电梯维保单位更换 3 号梯主板,并增加每周巡检。",
            "fee": "公共能耗分摊办法已在管理处公告栏公示,并可到前台查阅明细。",
            "security": "已对门岗人员重新培训,外来人员一律登记并电话确认。",
            "attitude": "已对当事接待员批评教育,前台实行首问负责制。",
            "parking": "已联系占位车主挪车,B2 入口加强外来车辆登记。",
        }.get(category, "已安排处理,结果会及时告知。")
        _apply(session, complaint_flow, complaint, "reply", manager, t, {"reply": reply, "revisit_due_at": t + timedelta(days=2)})
        if stage == "replied":
            continue
        revisit = session.scalar(select(Revisit).where(Revisit.complaint_id == complaint.id, Revisit.status == RevisitStatus.pending.value))
        t = _office(t + timedelta(days=1))
        _apply(session, revisit_flow, revisit, "record", clerk, t, {"method": "phone", "satisfaction": satisfaction or "satisfied"})
        if stage == "revisited":
            continue
        t = _office(t + timedelta(hours=4))
        _apply(session, complaint_flow, complaint, "close", head, t, {"valid": valid, "satisfaction": satisfaction})
    session.flush()


def _order_revisits(session, now) -> None:
    """Record the revisits the duty room would have made by now: most satisfied, one with a problem."""
    if session.scalar(select(func.count(Revisit.id)).where(Revisit.object_type == "repair_order", Revisit.status == RevisitStatus.done.value)):
        return
    duty = _actor("zby")
    rows = session.scalars(
        select(Revisit)
        .where(Revisit.object_type == "repair_order", Revisit.status == RevisitStatus.pending.value, Revisit.not_before <= now)
        .order_by(Revisit.not_before)
    ).all()
    for i, revisit in enumerate(rows):
        if i % 4 == 3:
            continue  # some are still waiting for the duty room
        at = min(now, revisit.not_before + timedelta(hours=5))
        params = {"method": "phone", "satisfaction": "satisfied" if i % 3 else "basically_satisfied"}
        if i == 2:
            params = {"method": "phone", "satisfaction": "dissatisfied", "problem": "修好后第二天又开始滴水,地面一直是湿的"}
        try:
            _apply(session, revisit_flow, revisit, "record", duty, at, params)
        except Exception as exc:  # a demo revisit that does not fit the order's state is skipped
            logger.info("demo revisit %s skipped: %s", revisit.id, exc)
            session.rollback()
            return
    session.flush()


def demo(session, ctx) -> None:
    now = utcnow()
    _rain_days(session, ctx["estates"], now)
    ensure_plans(session, now)
    open_after_rain(session, now)
    _complaints(session, ctx, now)
    _order_revisits(session, now)
    for weeks_back in range(3, -1, -1):
        build_week(session, previous_week(now - timedelta(days=7 * weeks_back)), now)
    session.flush()

"""Demo data for the front desk: walk-ins, calls with messages, owner visits, a forum, surveys."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import func, select

from models.base import TZ, as_utc, local, utcnow
from models.master import Owner, Staff
from models.reception import CallRecord, VisitRecord, visit_flow
from models.reception_contact import OwnerVisit, owner_visit_flow
from models.reception_forum import Forum, forum_flow
from models.survey import DEFAULT_AREAS, SurveyCampaign, SurveyResponse
from models.task import Task, task_flow
from models.workflow import Actor

WALKINS = [
    ("consult", "咨询装修申请需要哪些手续,押金多少", True, "已告知装修申报流程并发放装修须知"),
    ("payment", "缴纳本月物业管理费和水电费", True, "已收费并开具收据"),
    ("repair", "卫生间下水不畅,要求派人疏通", True, "已登记报修,约定下午上门"),
    ("rent_sale", "有一套两居室想委托出租", True, "已登记房源,留下联系方式"),
    ("complaint", "楼上装修噪音大,中午也在施工", False, None),
    ("suggestion", "建议小区增设电动车充电桩", False, None),
    ("consult", "咨询车位租赁价格和办理手续", True, "已介绍车位租赁标准"),
    ("other", "领取快递柜取件码", True, "已协助查询"),
    ("complaint", "地下车库照明不足,晚上看不清", False, None),
    ("consult", "咨询门禁卡补办", True, "已办理补卡,收取工本费"),
]
CALLS = [
    ("repair", "厨房水龙头漏水,请安排维修"),
    ("consult", "询问停水通知的具体时间"),
    ("complaint", "楼道里堆放杂物无人清理"),
    ("payment", "询问本月付款请求书上的维修费明细"),
    ("repair", "空调不制冷,外机有异响"),
    ("consult", "找工程部王师傅,约改线路的时间"),
    ("suggestion", "建议周末增加保洁频次"),
    ("other", "询问小区活动室开放时间"),
    ("repair", "入户门锁芯坏了,打不开"),
    ("rent_sale", "想了解小区二手房挂牌情况"),
]
OPINIONS = [
    ("绿化带有狗粪无人清理", "建议设置宠物便袋箱", True),
    ("保安夜间巡逻次数少", "建议增加夜间巡逻", True),
    ("对维修服务比较满意", "无", False),
    ("电梯高峰期等候时间长", "建议高峰期开放货梯", True),
    ("无", "希望多组织亲子活动", False),
    ("收费窗口中午不开放不方便", "建议午间安排轮值", True),
]


def _at(now, rnd, days_ago: int, first_hour: int = 8, last_hour: int = 17):
    """A believable local time `days_ago` days before `now` (office hours by default), never in the future."""
    day = local(now).date() - timedelta(days=days_ago)
    moment = as_utc(datetime.combine(day, time(rnd.randint(first_hour, last_hour), rnd.choice([0, 5, 10, 20, 30, 40, 45, 50])), TZ))
    return min(moment, now - timedelta(minutes=30))


def _staff_of(username: str):
    from app.extensions import db

    user = current_app.appbuilder.sm.find_user(username=username)
    return db.session.scalar(select(Staff).where(Staff.user_id == user.id)) if user is not None else None


def demo(session, ctx) -> None:
    """Believable reception records for the last two months; does nothing when they exist."""
    if session.scalar(select(func.count(VisitRecord.id))):
        return
    rnd = ctx["random"]
    now = utcnow()
    system = Actor.system_actor()
    clerk = _staff_of("jdy") or _staff_of("admin")
    clerk2 = _staff_of("jdy2") or clerk
    manager = _staff_of("wyjl")
    head = _staff_of("czr")
    worker = _staff_of("wxry")
    admin_officer = _staff_of("wygly")
    service_dept = ctx["departments"].get("业户服务部")

    for e_index, estate in enumerate(ctx["estates"]):
        desk = clerk if e_index == 0 else clerk2
        owners = session.scalars(select(Owner).where(Owner.estate_id == estate.id).order_by(Owner.id).limit(80)).all()
        # walk-ins over the last 60 days
        for i in range(24):
            category, reason, on_spot, outcome = WALKINS[i % len(WALKINS)]
            owner = rnd.choice(owners)
            when = _at(now, rnd, rnd.randint(1, 60))
            visit = VisitRecord.register(
                session, system, now,
                {"estate_id": estate.id, "owner_id": owner.id, "visitor_name": owner.name, "reason": reason,
                 "category": category, "handled_on_spot": on_spot, "visited_at": when.isoformat(),
                 "outcome": outcome, "received_by_id": desk.id if desk else None},
            )
            if not on_spot and service_dept is not None:  # handed over the same day
                visit_flow.apply(session, visit, "hand_over", system, when + timedelta(hours=2), {"department_id": service_dept.id})
                if i % 3 != 1:
                    visit_flow.apply(session, visit, "decide", system, when + timedelta(hours=5),
                                     {"decision": "安排专人跟进并答复业户", "assignee_id": desk.id if desk else None})
                if i % 3 == 0:
                    visit_flow.apply(session, visit, "resolve", system, when + timedelta(days=1),
                                     {"outcome": "已与相关业户沟通,问题已解决"})
        # one walk-in from yesterday still waiting to be handed over (the overdue scan flags it)
        owner = owners[0]
        VisitRecord.register(
            session, system, now,
            {"estate_id": estate.id, "owner_id": owner.id, "visitor_name": owner.name, "reason": "阳台顶棚渗水,要求物业协调楼上业主",
             "category": "complaint", "handled_on_spot": False, "visited_at": _at(now, rnd, 1, 15, 16).isoformat(),
             "received_by_id": desk.id if desk else None},
        )
        # calls over the last 60 days, a few messages for absent colleagues
        for i in range(30):
            category, content = CALLS[i % len(CALLS)]
            owner = rnd.choice(owners)
            days = (0 if i < 10 else i * 2) if i % 10 in (5, 8) else rnd.randint(0, 60)  # the latest messages are unread
            called_at = _at(now, rnd, days, 7, 21 if i % 7 else 23)
            body = {"estate_id": estate.id, "owner_id": owner.id, "content": content, "category": category,
                    "called_at": called_at.isoformat(), "answered_by_id": desk.id if desk else None}
            if i % 10 == 5 and head is not None:
                body["for_staff_id"] = head.id
            elif i % 10 == 8 and worker is not None:
                body["for_staff_id"] = worker.id
            call = CallRecord.register(session, system, called_at, body)
            if call.message_task_id and called_at < now - timedelta(days=3):  # older messages have been read
                task_flow.apply(session, session.get(Task, call.message_task_id), "done", system, called_at + timedelta(hours=1),
                                {"note": "已回电"})

    # the 物业经理's owner visits: enough in past months, two so far this month
    if manager is not None:
        estate = ctx["estates"][0]
        owners = session.scalars(select(Owner).where(Owner.estate_id == estate.id).order_by(Owner.id).offset(100).limit(40)).all()
        days = [3, 9, 17, 34, 40, 47, 63, 70, 78]
        for n, day in enumerate(days):
            opinions, suggestions, needs_reply = OPINIONS[n % len(OPINIONS)]
            owner = owners[n]
            when = _at(now, rnd, day, 9, 16)
            if day < 28 and n >= 2:  # this month only two so far
                when = _at(now, rnd, 40 + n, 9, 16)
            visit = OwnerVisit.register(
                session, system, now,
                {"estate_id": estate.id, "staff_id": manager.id, "owner_id": owner.id, "visited_at": when.isoformat(),
                 "opinions": opinions, "suggestions": suggestions, "reply_needed": needs_reply},
            )
            if needs_reply and day > 30:
                owner_visit_flow.apply(session, visit, "reply", system, visit.visited_at + timedelta(days=2),
                                       {"reply": "已安排整改并电话告知业户", "method": "phone", "satisfaction": "satisfied",
                                        "replied_at": (visit.visited_at + timedelta(days=2)).isoformat()})

    # the month-end checks of the two months before (this month's runs on its last day)
    if manager is not None:
        from models.reception_contact import check_manager_visits

        first = local(now).date().replace(day=1)
        for back in (1, 2):
            month_end = first - timedelta(days=1) if back == 1 else (first - timedelta(days=1)).replace(day=1) - timedelta(days=1)
            check_manager_visits(session, as_utc(datetime.combine(month_end, time(20, 0), TZ)))

    # a forum held last month with action items, one planned
    estate = ctx["estates"][0]
    held = Forum.register(
        session, system, now,
        {"estate_id": estate.id, "held_at": _at(now, rnd, 25, 19, 19).isoformat(), "topic": "小区停车管理与电动车充电座谈",
         "venue": "会所二楼会议室", "mode": "invited", "host_id": manager.id if manager else None,
         "participants": "业委会代表 3 人、各楼栋业主代表 8 人", "participant_count": 11,
         "minutes": "1. 业主反映地面车位紧张,晚间乱停放严重;2. 建议增设电动车集中充电区;3. 物业介绍车位租赁和巡查安排。"},
    )
    for content, who in (("调研电动车充电桩选址并报价", manager), ("夜间增加地面车辆巡查,每周通报", admin_officer or manager)):
        if who is not None:
            forum_flow.apply(session, held, "add_action", system, now,
                             {"content": content, "assignee_id": who.id, "due_at": (now + timedelta(days=14)).isoformat()})
    Forum.register(
        session, system, now,
        {"estate_id": estate.id, "held_at": as_utc(datetime.combine(local(now).date() + timedelta(days=7), time(19, 0), TZ)).isoformat(),
         "topic": "年度物业服务意见征询座谈",
         "venue": "会所二楼会议室", "mode": "voluntary", "host_id": manager.id if manager else None},
    )

    # one-click follow-ups: the latest repair calls became repair orders, a noise complaint a complaint
    from models.reception_common import installed_model
    from models.reception_desk import register_complaint_from, register_repair_from

    estate = ctx["estates"][0]
    if installed_model("models.repair", "RepairOrder") is not None:
        calls = session.scalars(
            select(CallRecord).where(CallRecord.estate_id == estate.id, CallRecord.category == "repair").order_by(CallRecord.called_at.desc()).limit(2)
        ).all()
        for call, category in zip(calls, ("plumbing_electric", "doors_windows"), strict=False):
            register_repair_from(session, system, call.called_at, call, category=category, urgency="normal")
    if installed_model("models.complaint", "Complaint") is not None:
        walk_in = session.scalar(
            select(VisitRecord).where(VisitRecord.estate_id == estate.id, VisitRecord.category == "complaint", VisitRecord.status == "resolved")
            .order_by(VisitRecord.visited_at.desc()).limit(1)
        )
        if walk_in is not None:
            category = "noise" if "噪音" in walk_in.reason else "facility"
            register_complaint_from(session, system, walk_in.visited_at, walk_in, category=category)

    # surveys: this year, one per estate, with returned forms (maintenance and cleaning weakest)
    year = str(now.year)
    bias = {"客服接待": 4.3, "维修": 3.2, "保安": 4.0, "保洁": 3.5, "绿化": 4.1, "收费": 3.8}
    comments = ["维修上门不够及时", "保洁比以前好多了", "希望夜间保安多巡逻", "收费窗口服务态度好", "绿化修剪及时", None, None]
    for estate in ctx["estates"]:
        survey = SurveyCampaign.register(
            session, system, now, {"estate_id": estate.id, "period": year, "title": f"{year} 年业主(住户)意见征询表", "areas": list(DEFAULT_AREAS)}
        )
        owners = session.scalars(select(Owner).where(Owner.estate_id == estate.id).order_by(Owner.id).limit(30)).all()
        for owner in owners:
            scores = {area: max(1, min(5, round(rnd.gauss(mean, 0.8)))) for area, mean in bias.items()}
            SurveyResponse.register(
                session, system, now,
                {"survey_id": survey.id, "owner_id": owner.id, "scores": scores, "comments": rnd.choice(comments),
                 "submitted_at": _at(now, rnd, rnd.randint(1, 20)).isoformat()},
            )
    session.flush()

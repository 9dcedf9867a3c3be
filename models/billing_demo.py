"""Demo data of 收费管理 and 便民服务: fee standards, the catalogue and 信息查询 directory, venues and
bookings, an announced price list per estate, subscriptions with deposits, prepayments, deliveries
and cash hand-ins, the month's payment requests with payments and overdue ones, today's sign-ins.
Run by `flask demo` after the estates and people exist; safe to rerun."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select

from app.scope import prepare_write
from models.base import TZ, local, local_date, utcnow
from models.billing import (
    FeeStandard,
    PaymentRequest,
    billing_cycle,
    issue_payment_requests,
    mark_overdue_payments,
    payment_request_flow,
)
from models.master import Owner, Staff
from models.services import DirectoryEntry, ServiceItem, Venue, VenueBooking
from models.services_attendance import sign_in, sign_out, today_record
from models.services_price import PriceList, add_line, price_list_flow
from models.services_subscription import ServiceDelivery, Subscription, register_handover, subscription_flow
from models.workflow import Actor

logger = logging.getLogger(__name__)

FEES = [  # name, category, unit, labour price, material note
    ("更换水龙头", "plumbing_electric", "个", "20.00", "龙头由业主提供或按进价另计"),
    ("疏通下水道", "plumbing_electric", "次", "50.00", None),
    ("更换灯具/开关/插座", "plumbing_electric", "个", "15.00", "材料按进价另计"),
    ("室内线路检修", "plumbing_electric", "次", "40.00", None),
    ("空调清洗保养", "air_conditioning", "台", "80.00", None),
    ("空调加氟", "air_conditioning", "台", "120.00", "冷媒按实际用量另计"),
    ("门锁维修/更换", "doors_windows", "把", "30.00", "锁芯按进价另计"),
    ("窗户密封条更换", "doors_windows", "米", "8.00", None),
    ("卫生间渗漏检修", "leak", "处", "100.00", "防水材料另计"),
    ("墙面修补粉刷", "civil", "平方米", "25.00", "涂料另计"),
    ("家电故障检测", "appliance", "次", "30.00", None),
]

# name, kind, category, unit, price, cost, deposit, prepayment, long-term, description
ITEMS = [
    ("信息查询", "free", "info", None, "0", "0", "0", "0", False, "餐饮、家政、搬家、装饰、礼仪、交通票务、就业、培训、医院、保险、二手货单位信息"),
    ("紧急救援", "free", "rescue", None, "0", "0", "0", "0", False, "业户遇到紧急情况时协助联系 120、110、119 并到场协助"),
    ("装修图纸审核与推荐施工队", "free", "renovation_review", None, "0", "0", "0", "0", False, "协助审核装修图纸,推荐经评审合格的装修施工队"),
    ("居家常识介绍", "free", "health_education", None, "0", "0", "0", "0", False, "医疗卫生、防火等居家常识宣传"),
    ("图书杂志阅览室", "free", "reading_room", None, "0", "0", "0", "0", False, None),
    ("老年人活动室", "free", "elderly_room", None, "0", "0", "0", "0", False, None),
    ("代缴水电燃气费", "free", "agency_payment", None, "0", "0", "0", "0", False, "为业户代理交纳各种费用"),
    ("羽毛球、乒乓球、篮球场地", "free", "venue", None, "0", "0", "0", "0", False, "在前台预约"),
    ("公益活动", "free", "charity", None, "0", "0", "0", "0", False, "义务维修家电、健康普查、为孤寡老人和残疾人士做家务"),
    ("结婚典礼送祝贺鲜花", "free", "charity", None, "0", "0", "0", "0", False, None),
    ("便民箱", "free", "charity", None, "0", "0", "0", "0", False, "常用工具、打气筒、小推车"),
    ("钟点工(家务清洁)", "paid", "housekeeping", "小时", "35.00", "30.00", "0", "0", True, "家务、清洁、护理、照顾小孩或老人"),
    ("家教服务", "paid", "housekeeping", "小时", "80.00", "70.00", "0", "0", True, None),
    ("接送小孩入托上学", "paid", "housekeeping", "月", "300.00", "260.00", "0", "300.00", True, None),
    ("小学生中餐", "paid", "housekeeping", "月", "450.00", "400.00", "0", "0", True, None),
    ("家庭绿化服务", "paid", "housekeeping", "次", "60.00", "52.00", "0", "0", False, None),
    ("家庭病床护理", "paid", "medical", "次", "120.00", "105.00", "0", "0", True, "与正规医院联合,护理到家"),
    ("送医送药", "paid", "medical", "次", "20.00", "17.00", "0", "0", False, None),
    ("家电维修安装", "paid", "home_repair", "次", "50.00", "44.00", "0", "0", False, "电视、电脑、音响、洗衣机、空调机"),
    ("自行车保管", "paid", "vehicle", "月", "10.00", "9.00", "20.00", "0", True, None),
    ("汽车清洗", "paid", "vehicle", "次", "25.00", "22.00", "0", "0", False, None),
    ("代订车船机票", "paid", "ticketing", "次", "10.00", "9.00", "0", "0", False, None),
    ("网球场", "paid", "recreation", "小时", "40.00", "35.00", "0", "0", False, None),
    ("电脑基础知识培训班", "paid", "training", "期", "200.00", "180.00", "0", "0", False, None),
    ("代购代送煤气", "paid", "agency", "瓶", "15.00", "13.00", "0", "150.00", True, "便民 二.4(3)②"),
    ("代理申请安装电话、有线电视", "paid", "agency", "次", "30.00", "26.00", "0", "0", False, None),
    ("代理物业出租", "paid", "agency", "次", "200.00", "175.00", "0", "0", False, None),
]

DIRECTORY = [
    ("catering", "锦江饭店订餐部", "021-62581234", "陈经理", "浦东新区锦绣路 1200 号", "家宴、外卖、盒饭配送"),
    ("catering", "小杨生煎(锦绣店)", "021-58763311", None, "锦绣路 1866 号", "早点、外卖"),
    ("housekeeping", "好帮手家政服务公司", "021-58991122", "王女士", "浦东新区张杨路 88 号", "保姆、月嫂、钟点工"),
    ("moving", "大众搬场公司", "021-96516000", None, "静安区延安中路 50 号", "居民搬家、钢琴搬运"),
    ("decoration", "申城装饰工程有限公司", "021-51236688", "刘工", "浦东新区世纪大道 300 号", "家庭装修设计施工(经评审合格)"),
    ("etiquette", "喜来临礼仪庆典公司", "021-63214567", None, "黄浦区西藏中路 120 号", "婚礼策划、司仪、鲜花"),
    ("transport", "东方航空售票处", "021-95530", None, "延安西路 1100 号", "机票预订改签"),
    ("transport", "上海火车站售票咨询", "021-12306", None, "秣陵路 303 号", "火车票"),
    ("employment", "浦东新区就业促进中心", "021-58301234", None, "浦东新区合欢路 2 号", "招聘信息、失业登记"),
    ("training", "新东方学校(浦东)", "021-51088888", None, "浦东新区东方路 800 号", "英语、日语学习班"),
    ("training", "社区电脑培训学校", "021-58881111", "张老师", "锦绣花园会所二楼", "电脑基础、办公软件"),
    ("hospital", "上海市东方医院", "021-38804518", None, "浦东新区即墨路 150 号", "综合医院、急诊"),
    ("hospital", "锦绣社区卫生服务中心", "021-58886120", None, "锦绣路 1500 号", "家庭病床、预防接种"),
    ("insurance", "中国人民保险浦东支公司", "021-95518", None, "浦东新区浦东南路 999 号", "家庭财产险、车险"),
    ("second_hand", "浦东旧货调剂商店", "021-58792233", None, "浦东新区东昌路 66 号", "旧家具家电回收"),
]

VENUES = {  # estate index -> (name, kind, opens, closes, max hours, capacity, location)
    0: [
        ("羽毛球场", "badminton", time(7), time(21), 2, 8, "会所一楼"),
        ("乒乓球室", "table_tennis", time(8), time(21), 2, 8, "会所二楼"),
        ("篮球场", "basketball", time(7), time(20), 2, 20, "3号楼北侧"),
        ("图书杂志阅览室", "reading_room", time(9), time(20), 4, 30, "会所三楼"),
        ("老年人活动室", "elderly_room", time(8), time(18), 4, 40, "5号楼底层"),
    ],
    1: [
        ("乒乓球室", "table_tennis", time(9), time(21), 2, 8, "B座五楼"),
        ("阅览室", "reading_room", time(9), time(19), 4, 20, "A座三楼"),
    ],
}

# estate index, owner offset, item, start (month, day), stop (month, day, reason) or None
SUBSCRIPTIONS = [
    (0, 0, "钟点工(家务清洁)", (3, 1), None),
    (0, 1, "钟点工(家务清洁)", (4, 10), None),
    (0, 2, "钟点工(家务清洁)", (5, 6), (10, 20, "家里请了住家保姆")),
    (0, 3, "接送小孩入托上学", (2, 20), None),
    (0, 4, "接送小孩入托上学", (2, 25), (11, 5, "孩子转学到外区")),
    (0, 5, "小学生中餐", (3, 1), None),
    (0, 6, "家庭病床护理", (6, 1), None),
    (0, 7, "自行车保管", (4, 1), None),
    (0, 8, "自行车保管", (4, 3), None),
    (0, 9, "代购代送煤气", (3, 15), None),
    (0, 10, "代购代送煤气", (5, 15), (11, 2, "家中已改用管道天然气")),
    (0, 11, "家教服务", (9, 1), None),
    (1, 0, "钟点工(家务清洁)", (5, 1), None),
    (1, 1, "代购代送煤气", (6, 1), None),
]


def _actor(username: str) -> Actor:
    user = current_app.appbuilder.sm.find_user(username=username)
    return Actor(user=user) if user is not None else Actor.system_actor()


def _apply(session, flow, obj, name, actor, now, params=None):
    """A demo move: as the named user when the role allows it, else as the system."""
    if actor.user is not None and not actor.can(flow.transitions[name].permission_name, flow.permission_view):
        actor = Actor.system_actor()
    return flow.apply(session, obj, name, actor, now, params or {})


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


def _catalogue(session) -> dict[str, ServiceItem]:
    for name, category, unit, price, note in FEES:
        if session.scalar(select(FeeStandard.id).where(FeeStandard.name == name)) is None:
            session.add(FeeStandard(name=name, category=category, unit=unit, labour_price=Decimal(price), material_note=note))
    items = {}
    for name, kind, category, unit, price, cost, deposit, prepay, long_term, text in ITEMS:
        item = session.scalar(select(ServiceItem).where(ServiceItem.name == name, ServiceItem.estate_id.is_(None)))
        if item is None:
            item = ServiceItem(name=name, kind=kind, category=category, unit=unit, price=Decimal(price), cost=Decimal(cost),
                               deposit=Decimal(deposit), prepayment=Decimal(prepay), long_term=long_term, description=text)
            prepare_write(item, session)
            session.add(item)
        items[name] = item
    for category, name, phone, contact, address, business in DIRECTORY:
        if session.scalar(select(DirectoryEntry.id).where(DirectoryEntry.name == name)) is None:
            entry = DirectoryEntry(category=category, name=name, phone=phone, contact=contact, address=address,
                                   business=business, hours="9:00–18:00")
            prepare_write(entry, session)
            session.add(entry)
    session.flush()
    return items


def _price_lists(session, estates, year: int) -> None:
    manager, boss, clerk = _actor("wyjl"), _actor("gsjl"), _actor("wygly")
    for index, estate in enumerate(estates):
        years = [year - 1, year] if index == 0 else [year]
        for y in years:
            if session.scalar(select(PriceList.id).where(PriceList.estate_id == estate.id, PriceList.year == y)):
                continue
            price_list = PriceList(estate_id=estate.id, year=y, status="draft", drafted_by_id=manager.user_id,
                                   basis=f"根据 {y - 1} 年度访问业户记录总结和业户请求记录总结:业户对钟点工、接送小孩、代送煤气需求较多。")
            session.add(price_list)
            session.flush()
            for name, kind, *_rest in ITEMS:
                if kind != "paid" or (index == 1 and name in ("接送小孩入托上学", "小学生中餐", "网球场")):
                    continue
                item = session.scalar(select(ServiceItem).where(ServiceItem.name == name))
                # last year's prices were a little lower
                price = item.price if y == year else (item.price * Decimal("0.95")).quantize(Decimal("0.01"))
                add_line(session, price_list, item.id, str(max(price, item.cost)))
            jan = date(y, 1, 1)
            _apply(session, price_list_flow, price_list, "submit", manager, _at(jan + timedelta(days=3), 10))
            _apply(session, price_list_flow, price_list, "approve", boss, _at(jan + timedelta(days=6), 15), {"note": "同意"})
            _apply(session, price_list_flow, price_list, "announce", clerk, _at(jan + timedelta(days=8), 9),
                   {"method": "office" if index == 0 else "garden", "announced_on": (jan + timedelta(days=8)).isoformat()})
    session.flush()


def _venues(session, estates, now: datetime, fake) -> None:
    for index, rows in VENUES.items():
        if index >= len(estates):
            continue
        estate = estates[index]
        for name, kind, opens, closes, max_hours, capacity, location in rows:
            if session.scalar(select(Venue.id).where(Venue.estate_id == estate.id, Venue.name == name)) is None:
                session.add(Venue(estate_id=estate.id, name=name, kind=kind, opens=opens, closes=closes,
                                  max_hours=max_hours, capacity=capacity, location=location))
    session.flush()
    if session.scalar(select(func.count(VenueBooking.id))):
        return
    today = local_date(now)
    venues = session.scalars(select(Venue).where(Venue.estate_id == estates[0].id).order_by(Venue.id)).all()
    owners = session.scalars(select(Owner).where(Owner.estate_id == estates[0].id).order_by(Owner.id).limit(6)).all()
    for i, (venue, owner) in enumerate(zip(venues[:4], owners, strict=False)):
        day = today + timedelta(days=1 + i % 3)
        start = max(venue.opens.hour, 9) + i
        booking = VenueBooking(venue_id=venue.id, venue=venue, owner_id=owner.id, booker_name=owner.name, phone=owner.phone,
                               starts_at=_at(day, start), ends_at=_at(day, start + 1), people=4, purpose="业户活动")
        prepare_write(booking, session)
        session.add(booking)
    session.flush()


def _subscriptions(session, estates, now: datetime) -> bool:
    """Subscriptions, fees, deliveries and a hand-in; False when they already exist."""
    if session.scalar(select(func.count(Subscription.id))):
        return False
    year = local_date(now).year
    clerk, finance = _actor("wygly"), _actor("cwnq")
    workers = [clerk.staff, _actor("jdy2").staff or clerk.staff]
    for e_index, offset, item_name, (sm, sd), stop in SUBSCRIPTIONS:
        if e_index >= len(estates):
            continue
        estate = estates[e_index]
        worker = workers[e_index]
        owner = session.scalars(select(Owner).where(Owner.estate_id == estate.id).order_by(Owner.id).offset(offset).limit(1)).first()
        item = session.scalar(select(ServiceItem).where(ServiceItem.name == item_name))
        start = date(year, sm, sd)
        if owner is None or start > local_date(now):
            continue
        sub = Subscription(owner_id=owner.id, owner=owner, service_item_id=item.id, service_item=item, start_on=start)
        prepare_write(sub, session)
        session.add(sub)
        session.flush()
        _apply(session, subscription_flow, sub, "confirm", clerk, _at(start, 10), {"signed_by": owner.name})
        line = sub.price_line
        receipt = 1000 + sub.id * 10
        if line.deposit:
            _apply(session, subscription_flow, sub, "register_fee", finance, _at(start, 11),
                   {"kind": "deposit", "amount": str(line.deposit), "method": "cash", "receipt_no": f"YJ{year}{receipt}"})
        if line.prepayment:
            _apply(session, subscription_flow, sub, "register_fee", finance, _at(start, 11),
                   {"kind": "prepayment", "amount": str(line.prepayment * 2), "method": "wechat",
                    "receipt_no": f"YF{year}{receipt + 1}"})
        _deliveries(session, sub, worker, now, stop)
        if stop is not None:
            stopped_on = date(year, stop[0], stop[1])
            if stopped_on <= local_date(now):
                _apply(session, subscription_flow, sub, "stop", clerk, _at(stopped_on, 16),
                       {"reason": stop[2], "stopped_on": stopped_on.isoformat()})
    # one-off services billed on the owner's request
    worker = workers[0]
    owners = session.scalars(select(Owner).where(Owner.estate_id == estates[0].id).order_by(Owner.id).offset(20).limit(4)).all()
    last_month = (local_date(now).replace(day=1) - timedelta(days=1)).replace(day=12)
    for i, owner in enumerate(owners):
        item = session.scalar(select(ServiceItem).where(ServiceItem.name == ("家电维修安装" if i % 2 == 0 else "家庭绿化服务")))
        delivery = ServiceDelivery(owner_id=owner.id, service_item_id=item.id, delivered_at=_at(last_month - timedelta(days=20), 14 + i),
                                   quantity=Decimal(1 + i % 2), settlement="bill", owner_signed_by=owner.name, staff_id=worker.id if worker else None)
        prepare_write(delivery, session)
        session.add(delivery)
    session.flush()
    if worker is not None:
        # last month's cash handed in a few days after the month's end (one short by 5 yuan)
        month_start = local_date(now).replace(day=1)
        handed_at = _at(month_start + timedelta(days=2), 17)
        pending = session.scalar(select(func.coalesce(func.sum(ServiceDelivery.fee), 0)).where(
            ServiceDelivery.staff_id == worker.id, ServiceDelivery.settlement == "cash", ServiceDelivery.estate_id == estates[0].id,
            ServiceDelivery.delivered_at <= handed_at))
        if pending:
            register_handover(session, finance, estates[0].id, worker.id, str(Decimal(pending) - Decimal("5.00")),
                              receipt_no=f"JK{year}{month_start.month:02d}01", handed_at=handed_at, note="短款 5 元,已说明原因")
    return True


def _deliveries(session, sub: Subscription, worker: Staff | None, now: datetime, stop) -> None:
    """A few months of service: cash for hourly work, prepayment for the school run and gas, bills otherwise."""
    today = local_date(now)
    start = max(sub.start_on, today - timedelta(days=75))
    stop_day = date(today.year, stop[0], stop[1]) if stop else None
    settlement = {"钟点工(家务清洁)": "cash", "家教服务": "cash", "接送小孩入托上学": "prepaid", "代购代送煤气": "prepaid"}.get(
        sub.service_item.name, "bill")
    monthly = sub.service_item.unit == "月"
    step = 30 if monthly else 9
    day = start + timedelta(days=2)
    while day < today and (stop_day is None or day < stop_day):
        qty = Decimal(1) if monthly or settlement == "prepaid" else Decimal(2 + day.day % 3)
        if settlement == "prepaid" and sub.prepayment_balance(session) < sub.price_line.price * qty:
            settlement_now = "bill"
        else:
            settlement_now = settlement
        delivery = ServiceDelivery(subscription_id=sub.id, subscription=sub, delivered_at=_at(day, 9 + day.day % 8),
                                   quantity=qty, settlement=settlement_now, staff_id=worker.id if worker else None,
                                   owner_signed_by=sub.owner.name if settlement_now == "bill" else None)
        prepare_write(delivery, session)
        session.add(delivery)
        session.flush()
        day += timedelta(days=step)


def _requests(session, now: datetime) -> None:
    """The month's payment requests; finance registers some payments; the rest go overdue."""
    billing_day, _period = billing_cycle(now)
    summary = issue_payment_requests(session, max(min(_at(billing_day, 8), now), now - timedelta(days=40)))
    logger.info("demo payment requests: %s", summary)
    finance, clerk = _actor("cwnq"), _actor("jdy")
    requests = session.scalars(select(PaymentRequest).where(PaymentRequest.period == summary["period"]).order_by(PaymentRequest.id)).all()
    issued = local(_at(requests[0].issued_on, 9)) if requests else now
    methods = ["wechat", "cash", "alipay", "transfer"]
    for i, request in enumerate(requests):
        if request.payments or i % 4 == 3:
            continue
        paid_at = min(issued + timedelta(days=1 + i % 4, hours=i % 5), now)
        amount = request.balance if i % 4 != 2 else (request.balance / 2).quantize(Decimal("0.01"))
        _apply(session, payment_request_flow, request, "pay", finance, paid_at,
               {"amount": str(amount), "method": methods[i % 4], "receipt_no": f"SK{request.number[3:]}-{i + 1:02d}"})
    mark_overdue_payments(session, now)
    late = session.scalars(select(PaymentRequest).where(PaymentRequest.status == "overdue").order_by(PaymentRequest.id)).first()
    if late is not None and clerk.user is not None:
        _apply(session, payment_request_flow, late, "collect", clerk, now, {"note": "已电话预约周六上午上门"})


def _attendance(session, now: datetime) -> None:
    today = local_date(now)
    for username, plan, out in [("wygly", "钟点工派工、代送煤气 3 户", True), ("jdy", "前台值班", False)]:
        staff = _actor(username).staff
        if staff is None or today_record(session, staff.id, now) is not None:
            continue
        at = min(_at(today, 8, 20), now)
        sign_in(session, staff, at, None if len(staff.estate_ids) == 1 else sorted(staff.estate_ids)[0], plan)
        if out and now > _at(today, 17, 10):
            sign_out(session, staff, _at(today, 17, 10), "已完成")


def demo(session, ctx) -> None:
    estates = ctx["estates"]
    now = utcnow()
    _catalogue(session)
    session.commit()
    _price_lists(session, estates, local_date(now).year)
    session.commit()
    _venues(session, estates, now, ctx.get("fake"))
    session.commit()
    if _subscriptions(session, estates, now):
        session.commit()
        _requests(session, now)
        session.commit()
    _attendance(session, now)
    session.commit()

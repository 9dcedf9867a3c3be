"""Convenience services: catalogue, 信息查询, venue bookings, subscriptions with deposits and prepayments,
deliveries, cash hand-ins reconciled in Decimal, the falling-subscriber report, staff sign-in."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import func, select

from app.scope import prepare_write
from models.base import DomainError, PermissionDenied, ValidationError
from models.services import DirectoryEntry, ServiceItem, Venue, VenueBooking, booking_flow
from models.services_attendance import daily_sheet, sign_in, sign_out
from models.services_subscription import (
    CashHandover,
    ServiceDelivery,
    Subscription,
    reconciliation,
    register_handover,
    subscriber_trend,
    subscription_flow,
)
from models.workflow import Actor
from tests.billing_support import announced_list, at, deliver, household, item, quick_passwords  # noqa: F401  (quick_passwords: autouse)
from tests.conftest import api_token, login


@pytest.fixture()
def office(make, session):
    estate = make.estate("锦绣花园")
    dept = make.department("业户服务部", kind="service")
    people = {role: Actor(user=make.user(role, estates=[estate], username=name, department=dept))
              for role, name in [("物业管理员", "gly"), ("财务内勤", "cw"), ("接待员", "jd")]}
    hourly = item(session)
    bike = item(session, name="自行车保管", price="10.00", cost="9.00", unit="月", deposit="20.00", category="vehicle")
    gas = item(session, name="代购代送煤气", price="15.00", cost="13.00", unit="瓶", prepayment="150.00", category="agency")
    announced_list(session, estate, {hourly: "35.00", bike: "10.00", gas: "15.00"})
    return {"estate": estate, "people": people, "hourly": hourly, "bike": bike, "gas": gas}


def subscribe(session, office, owner, service, start="2026-03-01", sign=True):
    sub = Subscription(owner_id=owner.id, service_item_id=service.id, start_on=date.fromisoformat(start))
    prepare_write(sub, session)
    session.add(sub)
    session.commit()
    if sign:
        subscription_flow.apply(session, sub, "confirm", office["people"]["物业管理员"], at(start + "T10:00"), {"signed_by": owner.name})
        session.commit()
    return sub


def test_catalogue_rules(session):
    with pytest.raises(ValidationError) as err:
        item(session, name="免费家电维修", kind="free", category="charity", price="10.00", cost="0")
    assert "无偿" in err.value.message
    session.rollback()
    with pytest.raises(ValidationError) as err:
        item(session, name="洗车", price="20.00", cost="22.00", category="vehicle", unit="次")
    assert err.value.field == "price" and "低于成本" in err.value.message
    session.rollback()
    with pytest.raises(ValidationError) as err:
        item(session, name="洗车", category="cooking", unit="次")
    assert err.value.field == "category"
    session.rollback()
    item(session, name="洗车", price="25.00", cost="22.00", category="vehicle", unit="次")
    with pytest.raises(ValidationError):
        item(session, name="洗车", price="25.00", cost="22.00", category="vehicle", unit="次")
    session.rollback()
    assert session.scalar(select(func.count(ServiceItem.id))) == 1


def test_clerk_searches_the_directory_but_cannot_change_it(client, session, make):
    estate = make.estate("锦绣花园")
    for category, name, phone, business in [
        ("moving", "大众搬场公司", "021-96516000", "居民搬家、钢琴搬运"),
        ("hospital", "上海市东方医院", "021-38804518", "综合医院、急诊"),
        ("housekeeping", "好帮手家政", "13812345678", "保姆、月嫂、钟点工"),
    ]:
        entry = DirectoryEntry(category=category, name=name, phone=phone, business=business)
        prepare_write(entry, session)
        session.add(entry)
    session.commit()
    with pytest.raises(ValidationError) as err:
        prepare_write(DirectoryEntry(category="catering", name="无联系方式饭店"), session)
    assert err.value.field == "phone"
    make.user("接待员", estates=[estate], username="jd")
    login(client, "jd")
    page = client.get("/directoryentryview/list/?_flt_0_name=钢琴").get_data(as_text=True)
    assert "大众搬场公司" in page and "东方医院" not in page
    page = client.get("/directoryentryview/list/?_flt_0_category=hospital").get_data(as_text=True)
    assert "东方医院" in page and "大众搬场" not in page
    h = api_token(client, "jd")
    listed = client.get("/api/v1/directory_entry/?q=(filters:!((col:category,opr:eq,value:housekeeping)))", headers=h).json
    assert [e["name"] for e in listed["result"]] == ["好帮手家政"]
    r = client.post("/api/v1/directory_entry/", json={"category": "catering", "name": "x", "phone": "021-62581234"}, headers=h)
    assert r.status_code == 403


def test_venue_bookings_do_not_overlap_and_keep_to_opening_hours(session, make):
    estate = make.estate("锦绣花园")
    owner = household(make, estate, "101", "王芳")
    venue = Venue(estate_id=estate.id, name="羽毛球场", kind="badminton")
    prepare_write(venue, session)
    session.add(venue)
    session.commit()

    def book(start, end, who="王芳"):
        booking = VenueBooking(venue_id=venue.id, owner_id=owner.id, booker_name=who, starts_at=at(start), ends_at=at(end))
        prepare_write(booking, session)
        session.add(booking)
        session.commit()
        return booking

    with time_machine.travel(at("2026-12-01T09:00"), tick=False):
        first = book("2026-12-05T09:00", "2026-12-05T11:00")
        assert first.estate_id == estate.id and first.phone == owner.phone
        for start, end, field in [
            ("2026-12-05T10:00", "2026-12-05T11:30", "starts_at"),  # overlaps
            ("2026-12-05T06:00", "2026-12-05T07:00", "starts_at"),  # before 08:00
            ("2026-12-05T20:00", "2026-12-05T22:00", "starts_at"),  # after 21:00
            ("2026-12-05T12:00", "2026-12-05T11:00", "ends_at"),
            ("2026-12-05T12:00", "2026-12-05T15:30", "ends_at"),  # longer than 2 hours
            ("2026-11-30T10:00", "2026-11-30T11:00", "starts_at"),  # in the past
        ]:
            with pytest.raises(ValidationError) as err:
                book(start, end)
            assert err.value.field == field, (start, end)
            session.rollback()
        book("2026-12-05T11:00", "2026-12-05T12:00", "李雷")  # right after: fine
        clerk = Actor(user=make.user("接待员", estates=[estate]))
        with pytest.raises(ValidationError):
            booking_flow.apply(session, first, "cancel", clerk, at("2026-12-01T09:00"), {})
        session.rollback()
        booking_flow.apply(session, first, "cancel", clerk, at("2026-12-01T09:00"), {"reason": "业户临时有事"})
        session.commit()
        again = book("2026-12-05T09:30", "2026-12-05T10:30", "赵敏")  # the cancelled slot is free again
        assert again.status == "booked"


def test_subscription_needs_an_announced_long_term_item_a_signature_and_the_deposit(session, make, office):
    owner = household(make, office["estate"], "101", "王芳")
    washing = item(session, name="汽车清洗", price="25.00", cost="22.00", unit="次", long_term=False, category="vehicle")
    with pytest.raises(ValidationError) as err:
        subscribe(session, office, owner, washing)
    assert "不是长期服务" in err.value.message
    session.rollback()
    tutor = item(session, name="家教服务", price="80.00", cost="70.00")
    with pytest.raises(ValidationError) as err:
        subscribe(session, office, owner, tutor)
    assert "不在已公告" in err.value.message
    session.rollback()

    sub = subscribe(session, office, owner, office["bike"], sign=False)
    assert (sub.status, sub.deposit_required) == ("registered", Decimal("20.00"))
    with pytest.raises(ValidationError):
        subscribe(session, office, owner, office["bike"])  # already on the roster
    session.rollback()
    with pytest.raises(ValidationError):
        deliver(session, None, None, "2026-03-05T10:00", subscription=sub)  # not signed yet
    session.rollback()
    subscription_flow.apply(session, sub, "confirm", office["people"]["物业管理员"], at("2026-03-01T10:00"), {"signed_by": "王芳"})
    session.commit()
    with pytest.raises(ValidationError) as err:
        deliver(session, None, None, "2026-03-05T10:00", subscription=sub)
    assert "押金" in err.value.message
    session.rollback()

    with pytest.raises(PermissionDenied):  # deposits are registered by finance only
        subscription_flow.apply(session, sub, "register_fee", office["people"]["物业管理员"], at("2026-03-02T10:00"),
                                {"kind": "deposit", "amount": "20", "method": "cash", "receipt_no": "YJ1"})
    session.rollback()
    finance = office["people"]["财务内勤"]
    with pytest.raises(ValidationError) as err:
        subscription_flow.apply(session, sub, "register_fee", finance, at("2026-03-02T10:00"),
                                {"kind": "deposit", "amount": "25", "method": "cash", "receipt_no": "YJ1"})
    assert err.value.field == "amount"
    session.rollback()
    subscription_flow.apply(session, sub, "register_fee", finance, at("2026-03-02T10:00"),
                            {"kind": "deposit", "amount": "20", "method": "cash", "receipt_no": "YJ1"})
    session.commit()
    assert sub.deposit_held == Decimal("20.00") and "已交" in sub.deposit_status
    staff = office["people"]["物业管理员"].staff
    delivery = deliver(session, None, None, "2026-03-31T18:00", subscription=sub, settlement="cash", signed=False, staff=staff)
    assert (delivery.owner_id, delivery.fee) == (owner.id, Decimal("10.00"))

    with pytest.raises(ValidationError):
        subscription_flow.apply(session, sub, "stop", office["people"]["物业管理员"], at("2026-10-01T10:00"), {})
    session.rollback()
    subscription_flow.apply(session, sub, "stop", office["people"]["物业管理员"], at("2026-10-01T10:00"),
                            {"reason": "自行车已卖掉"})
    session.commit()
    assert (sub.status, sub.stopped_on) == ("stopped", date(2026, 10, 1))
    with pytest.raises(ValidationError):
        subscription_flow.apply(session, sub, "register_fee", finance, at("2026-10-02T10:00"),
                                {"kind": "deposit_refund", "amount": "20.01", "method": "cash", "receipt_no": "TK1"})
    session.rollback()
    subscription_flow.apply(session, sub, "register_fee", finance, at("2026-10-02T10:00"),
                            {"kind": "deposit_refund", "amount": "20", "method": "cash", "receipt_no": "TK1"})
    session.commit()
    assert sub.deposit_held == Decimal("0.00") and sub.deposit_status == "已退"


def test_prepaid_deliveries_draw_on_the_prepayment(session, make, office):
    owner = household(make, office["estate"], "101", "王芳")
    sub = subscribe(session, office, owner, office["gas"])
    subscription_flow.apply(session, sub, "register_fee", office["people"]["财务内勤"], at("2026-03-02T10:00"),
                            {"kind": "prepayment", "amount": "40", "method": "wechat", "receipt_no": "YF1"})
    session.commit()
    deliver(session, None, None, "2026-03-05T10:00", subscription=sub, settlement="prepaid", quantity="2", signed=False)
    assert sub.prepayment_balance(session) == Decimal("10.00")
    with pytest.raises(ValidationError) as err:
        deliver(session, None, None, "2026-03-06T10:00", subscription=sub, settlement="prepaid", signed=False)
    assert err.value.field == "settlement" and "10.00" in err.value.message
    session.rollback()
    assert session.scalar(select(func.count(ServiceDelivery.id))) == 1


def test_cash_handed_to_finance_is_reconciled_in_decimal(session, make, office):
    owner = household(make, office["estate"], "101", "王芳")
    other = household(make, office["estate"], "102", "李雷", "13800001111")
    staff = office["people"]["物业管理员"].staff
    sub = subscribe(session, office, owner, office["hourly"])
    deliver(session, None, None, "2026-11-03T10:00", subscription=sub, settlement="cash", quantity="2", signed=False, staff=staff)
    deliver(session, None, None, "2026-11-10T10:00", subscription=sub, settlement="cash", quantity="1.5", signed=False, staff=staff)
    deliver(session, other, office["gas"], "2026-11-12T10:00", settlement="cash", quantity="3", signed=False, staff=staff)
    late = deliver(session, other, office["gas"], "2026-11-20T10:00", settlement="cash", signed=False, staff=staff)
    # 70.00 + 52.50 + 45.00 collected by the 15th's hand-in, 15.00 after it
    finance = office["people"]["财务内勤"]
    with pytest.raises(ValidationError) as err:
        register_handover(session, finance, office["estate"].id, staff.id, "-1", handed_at=at("2026-11-15T17:00"))
    assert err.value.field == "handed_in"
    session.rollback()
    handover = register_handover(session, finance, office["estate"].id, staff.id, "162.50", receipt_no="JK-1",
                                 handed_at=at("2026-11-15T17:00"))
    session.commit()
    assert (handover.collected, handover.handed_in, handover.difference) == (Decimal("167.50"), Decimal("162.50"), Decimal("-5.00"))
    assert handover.result_label == "短款 5.00" and handover.delivery_count == 3
    assert late.handover_id is None

    # money handed in is settled: those deliveries can no longer be changed or deleted
    settled = session.scalar(select(ServiceDelivery).where(ServiceDelivery.handover_id == handover.id))
    settled.quantity = Decimal("1")
    with pytest.raises(DomainError):
        prepare_write(settled, session)
    session.rollback()
    with pytest.raises(DomainError):
        settled.check_delete(session)

    second = register_handover(session, finance, office["estate"].id, staff.id, Decimal("20.00"), handed_at=at("2026-11-28T17:00"))
    session.commit()
    assert (second.collected, second.difference, second.result_label) == (Decimal("15.00"), Decimal("5.00"), "长款 5.00")
    with pytest.raises(ValidationError):  # nothing left to hand in, nothing handed in
        register_handover(session, finance, office["estate"].id, staff.id, "0", handed_at=at("2026-11-29T17:00"))
    session.rollback()

    (row,) = reconciliation(session, None, "2026-11")
    assert (row["opening"], row["deliveries"], row["collected"]) == (Decimal("0.00"), 4, Decimal("182.50"))
    assert (row["handovers"], row["due"], row["handed_in"]) == (2, Decimal("182.50"), Decimal("182.50"))
    assert (row["difference"], row["closing"]) == (Decimal("0.00"), Decimal("0.00"))
    assert session.scalar(select(func.count(CashHandover.id))) == 2


def test_cash_still_held_carries_over_to_the_next_month(session, make, office):
    owner = household(make, office["estate"], "101", "王芳")
    staff = office["people"]["物业管理员"].staff
    deliver(session, owner, office["gas"], "2026-10-30T10:00", settlement="cash", quantity="2", signed=False, staff=staff)
    deliver(session, owner, office["gas"], "2026-11-05T10:00", settlement="cash", quantity="1", signed=False, staff=staff)
    deliver(session, owner, office["hourly"], "2026-11-25T10:00", settlement="cash", quantity="2", signed=False, staff=staff)
    register_handover(session, office["people"]["财务内勤"], office["estate"].id, staff.id, "40.00",
                      handed_at=at("2026-11-10T17:00"))
    session.commit()
    (october,) = reconciliation(session, {office["estate"].id}, "2026-10")
    assert (october["collected"], october["handed_in"], october["closing"]) == (Decimal("30.00"), Decimal("0.00"), Decimal("30.00"))
    (november,) = reconciliation(session, {office["estate"].id}, "2026-11")
    # 30.00 held + 85.00 collected − 45.00 settled = 70.00 still held; handed in 40.00 against 45.00 due
    assert (november["opening"], november["collected"], november["due"]) == (Decimal("30.00"), Decimal("85.00"), Decimal("45.00"))
    assert (november["handed_in"], november["difference"], november["closing"]) == (Decimal("40.00"), Decimal("-5.00"), Decimal("70.00"))
    assert november["opening"] + november["collected"] - november["due"] == november["closing"]


def test_handover_through_the_api_and_who_may(client, session, make, office):
    owner = household(make, office["estate"], "101", "王芳")
    staff = office["people"]["物业管理员"].staff
    deliver(session, owner, office["gas"], "2026-11-12T10:00", settlement="cash", quantity="3", signed=False, staff=staff)
    body = {"estate_id": office["estate"].id, "staff_id": staff.id, "handed_in": "45.00", "receipt_no": "JK-9"}
    assert client.post("/api/v1/cash_handover/", json=body, headers=api_token(client, "gly")).status_code == 403
    h = api_token(client, "cw")
    r = client.post("/api/v1/cash_handover/", json=body | {"handed_in": "四十五"}, headers=h)
    assert r.status_code == 422 and r.json["message"]["handed_in"] == ["必须是数字"]
    r = client.post("/api/v1/cash_handover/", json=body, headers=h)
    assert r.status_code == 201, r.json
    assert (r.json["result"]["collected"], r.json["result"]["difference"]) == ("45.00", "0.00")


def test_falling_subscriber_counts_are_reported_with_the_reasons(session, make, office):
    owners = [household(make, office["estate"], f"10{i}", f"业户{i}", f"1381234567{i}") for i in range(4)]
    subs = [subscribe(session, office, o, office["hourly"], start="2026-08-01") for o in owners[:3]]
    subscribe(session, office, owners[3], office["gas"], start="2026-09-10")
    for sub, day, reason in [(subs[0], "2026-10-12", "请了住家保姆"), (subs[1], "2026-10-25", "搬走了")]:
        subscription_flow.apply(session, sub, "stop", office["people"]["物业管理员"], at(day + "T10:00"),
                                {"reason": reason, "stopped_on": day})
    session.commit()
    rows = subscriber_trend(session, None, "2026-10")
    first = rows[0]
    assert (first["service"], first["previous"], first["current"], first["falling"]) == ("钟点工(家务清洁)", 3, 1, True)
    assert "请了住家保姆" in first["stop_reasons"] and "搬走了" in first["stop_reasons"]
    gas = next(r for r in rows if r["service"] == "代购代送煤气")
    assert (gas["previous"], gas["current"], gas["falling"]) == (1, 1, False)


def test_staff_report_and_sign_in_once_a_day(session, make, office):
    gly = office["people"]["物业管理员"].staff
    jd = office["people"]["接待员"].staff
    record = sign_in(session, gly, at("2026-11-30T08:20"), plan="3号楼钟点工")
    session.commit()
    assert record.work_date == date(2026, 11, 30) and record.estate_id == office["estate"].id
    with pytest.raises(ValidationError):
        sign_in(session, gly, at("2026-11-30T09:00"))
    session.rollback()
    with pytest.raises(ValidationError):
        sign_out(session, jd, at("2026-11-30T17:00"))
    session.rollback()
    sign_out(session, gly, at("2026-11-30T17:35"), "完成")
    session.commit()
    with pytest.raises(ValidationError):
        sign_out(session, gly, at("2026-11-30T18:00"))
    session.rollback()
    # the next day (Shanghai midnight) is a new record
    sign_in(session, gly, at("2026-12-01T00:05"))
    session.commit()
    sheet = {r["staff"]: r for r in daily_sheet(session, office["estate"].id, date(2026, 11, 30))}
    assert sheet[gly.name]["signed_in"] == "08:20" and sheet[gly.name]["signed_out"] == "17:35"
    assert sheet[gly.name]["hours"] == "9:15"
    assert sheet[jd.name]["state"] == "未报到"


def test_screens_answer_in_chinese(client, session, make, office):
    owner = household(make, office["estate"], "101", "王芳")
    sub = subscribe(session, office, owner, office["hourly"])
    make.user("系统管理员", username="root")
    login(client, "root")
    for url, text in [
        ("/serviceitemview/list/", "便民服务项目一览表"),
        ("/pricelistview/list/", "便民服务项目及价格表"),
        ("/subscriptionview/list/", "接受长期服务业户名单"),
        (f"/subscriptionview/show/{sub.id}", "押金与预交服务费"),
        (f"/subscriptionview/sign_sheet/?estate_id={office['estate'].id}", "业户签名"),
        ("/servicedeliveryview/list/", "便民服务记录"),
        ("/cashhandoverview/list/", "现金交款登记"),
        ("/services/reconciliation/?period=2026-11", "便民服务现金对账"),
        ("/services/trend/?period=2026-11", "长期服务户数变化"),
        ("/venuebookingview/list/", "场地预约"),
        ("/venueview/add", "开放时间"),
        ("/attendanceview/list/", "签到签退记录"),
        ("/attendanceview/sign/", "报到"),
        ("/attendanceview/sheet/", "员工签到表"),
        ("/paymentrequestview/list/", "付款请求书"),
        ("/paymentview/list/", "收款记录"),
        ("/billing/accounts/", "收费台账"),
        ("/feestandardview/list/", "维修收费标准"),
    ]:
        r = client.get(url)
        assert r.status_code == 200, url
        assert text in r.get_data(as_text=True), url
    assert client.get("/paymentview/add").status_code == 404

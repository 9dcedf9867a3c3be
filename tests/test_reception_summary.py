"""访问业户记录总结 and 业户请求记录总结: counts by category, the most frequent, month by month."""

from __future__ import annotations

from datetime import datetime

import openpyxl
import pytest
import time_machine

from models.base import TZ, as_utc
from models.reception import CallRecord, VisitRecord
from models.reception_common import installed_model
from models.reception_contact import OwnerVisit, owner_visit_flow
from models.reception_forum import Forum
from models.reception_summary import (
    export_request_summary,
    export_visit_summary,
    request_summary,
    request_summary_text,
    visit_summary,
    visit_summary_text,
)
from models.workflow import Actor
from tests.conftest import login

SYSTEM = Actor.system_actor()


def at(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text).replace(tzinfo=TZ))


@pytest.fixture()
def january_2027():
    """The summaries are drafted in January for the year before."""
    with time_machine.travel(datetime(2027, 1, 5, 9, 0, tzinfo=TZ), tick=False):
        yield


@pytest.fixture()
def year_of_records(session, make, january_2027):
    """2026 in 锦绣花园 (and one record in another estate that must not be counted)."""
    estate, other = make.estate("锦绣花园"), make.estate("国贸中心")
    unit = make.unit(make.building(estate, "1号楼"), "101")
    owner = make.owner(unit=unit, name="王芳", phone="13912345678")
    stranger = make.owner(estate=other, name="李雷", phone="13800001111")
    manager = make.user("物业经理", estates=[estate], username="zhang")

    def call(when, category, content, who=owner, estate_id=estate.id):
        CallRecord.register(session, SYSTEM, at(when), {"estate_id": estate_id, "owner_id": who.id, "content": content,
                                                        "category": category, "called_at": at(when).isoformat()})

    def walk_in(when, category, reason, on_spot=True):
        VisitRecord.register(session, SYSTEM, at(when), {"estate_id": estate.id, "owner_id": owner.id, "visitor_name": "王芳", "reason": reason,
                                                         "category": category, "handled_on_spot": on_spot, "visited_at": at(when).isoformat()})

    call("2026-01-31T23:30", "repair", "厨房漏水")  # still January in Shanghai (15:30 UTC)
    call("2026-02-01T00:15", "consult", "停水时间")  # February in Shanghai, January in UTC
    call("2026-02-10T10:00", "consult", "装修手续")
    call("2026-03-05T10:00", "payment", "付款请求书明细")
    call("2025-12-31T23:50", "consult", "去年的事")  # not 2026
    call("2026-12-31T23:50", "rent_sale", "出租委托")  # 2026 in Shanghai, 2026 in UTC too
    call("2026-05-01T10:00", "consult", "别的小区", who=stranger, estate_id=other.id)
    walk_in("2026-02-11T09:00", "consult", "车位租赁")
    walk_in("2026-04-11T09:00", "complaint", "楼上噪音", on_spot=False)
    v1 = OwnerVisit.register(session, SYSTEM, at("2026-03-01T10:00"), {"estate_id": estate.id, "staff_id": manager.staff.id, "owner_id": owner.id,
                                                                         "visited_at": at("2026-03-01T10:00").isoformat(), "opinions": "电梯等候时间长",
                                                                         "suggestions": "高峰期开放货梯", "reply_needed": True})
    OwnerVisit.register(session, SYSTEM, at("2026-03-15T10:00"), {"estate_id": estate.id, "staff_id": manager.staff.id, "unit_id": unit.id,
                                                                   "visited_at": at("2026-03-15T10:00").isoformat(), "opinions": "无", "reply_needed": False})
    owner_visit_flow.apply(session, v1, "reply", SYSTEM, at("2026-03-03T10:00"), {"reply": "已开放货梯", "method": "phone",
                                                                                  "satisfaction": "satisfied", "replied_at": at("2026-03-03T10:00").isoformat()})
    Forum.register(session, SYSTEM, at("2026-06-01T19:00"), {"estate_id": estate.id, "held_at": at("2026-06-01T19:00").isoformat(), "topic": "停车座谈",
                                                              "participant_count": 12, "minutes": "纪要"})
    session.commit()
    return estate, other, owner


def test_visit_summary_counts_visits_opinions_and_contacts_by_local_month(session, year_of_records):
    estate, _other, _owner = year_of_records
    s = visit_summary(session, 2026, estate.id)
    totals = dict(s.totals)
    assert s.title == "访问业户记录总结" and s.estate_name == "锦绣花园"
    assert totals["走访业户(次)"] == 2 and totals["走访覆盖户数"] == 1
    assert totals["收集意见"] == 1 and totals["收集建议"] == 1  # "无" is not an opinion
    assert totals["需答复 / 已答复"] == "1 / 1" and totals["答复率"] == "100.0%"
    assert totals["来访接待(次)"] == 2 and totals["当场处理率"] == "50.0%"
    assert totals["来电接待(次)"] == 5 and totals["业户座谈会(次)"] == 1 and totals["座谈会参加人数"] == 12
    months = dict(s.by_month)
    assert s.month_columns == ["走访", "来访", "来电", "座谈会"]
    assert months["1月"] == [0, 0, 1, 0] and months["2月"] == [0, 1, 2, 0] and months["3月"] == [2, 0, 1, 0]
    assert months["12月"] == [0, 0, 1, 0] and months["6月"][3] == 1
    assert ("来电", "咨询", 2) in s.by_category and ("来访", "投诉", 1) in s.by_category
    assert s.top[0] == ("咨询", 3)
    assert ("03-01 1号楼-101", "电梯等候时间长") in s.notes
    text = visit_summary_text(session, estate.id, 2026)
    assert "走访业户 2 次" in text and "来电 5 次" in text and "咨询 3" in text


def test_request_summary_and_exports(session, year_of_records, tmp_path):
    estate, other, _owner = year_of_records
    s = request_summary(session, 2026, estate.id)
    totals = dict(s.totals)
    assert totals["来电(次)"] == 5 and totals["来访(次)"] == 2
    months = dict(s.by_month)
    idx = s.month_columns.index("来电")
    assert [months[m][idx] for m in ("1月", "2月", "3月", "12月")] == [1, 2, 1, 1]
    assert ("咨询(来电)", 2) in s.top
    text = request_summary_text(session, estate.id, 2026)
    assert text.startswith("2026 年") and "来电(次) 5" in text
    everywhere = request_summary(session, 2026)
    assert dict(everywhere.totals)["来电(次)"] == 6 and everywhere.estate_name == "全部小区/大厦"

    path = tmp_path / "visits.xlsx"
    export_visit_summary(session, "2026", str(path), estate_id=estate.id)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[:3] == ["访问业户记录总结", "按类别统计", "逐月统计"]
    assert book["访问业户记录总结"]["A3"].value == "项目"
    assert export_request_summary(session, "2026-05", str(tmp_path / "requests.xlsx"), estate_id=estate.id) > 0


def test_complaints_count_as_requests(session, make, year_of_records):
    if installed_model("models.complaint", "Complaint") is None:
        pytest.skip("投诉 area not installed")
    from models.complaint import register_complaint

    estate, _other, owner = year_of_records
    register_complaint(session, SYSTEM, at("2026-07-01T10:00"), estate_id=estate.id, owner_id=owner.id, channel="phone",
                       category="cleaning", content="楼道无人打扫", received_at=at("2026-07-01T10:00"))
    session.commit()
    s = request_summary(session, 2026, estate.id)
    assert dict(s.totals)["投诉(件)"] == 1
    assert ("投诉", "保洁卫生", 1) in s.by_category
    assert dict(s.by_month)["7月"][s.month_columns.index("投诉")] == 1


def test_summary_screen_print_and_xlsx(client, make, year_of_records):
    estate, other, _owner = year_of_records
    make.user("物业经理", estates=[estate], username="manager2")
    login(client, "manager2")
    page = client.get(f"/reception/summary/?kind=visit&year=2026&estate_id={estate.id}").get_data(as_text=True)
    assert "2026 年访问业户记录总结" in page and "走访业户(次)" in page
    printed = client.get(f"/reception/summary/print/?kind=request&year=2026&estate_id={estate.id}").get_data(as_text=True)
    assert "业户请求记录总结" in printed and "锦绣花园" in printed and "window.print()" in printed
    assert client.get(f"/reception/summary/?kind=visit&year=2026&estate_id={other.id}").status_code == 404  # not their estate
    r = client.get(f"/reception/summary/xlsx/?kind=request&year=2026&estate_id={estate.id}")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")

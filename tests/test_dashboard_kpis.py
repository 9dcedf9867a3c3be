"""Each handbook KPI on the tiles: the figure from the area's records, its target, red when missed, and
the list behind it that a click opens."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from models.base import local, utcnow
from models.kpi import month_start, year_start
from tests.conftest import login


def tile(page: str, name: str) -> dict:
    match = re.search(
        r'<a class="kpi-tile kpi-(\w+)"\s*(?:href="([^"]*)")?\s*data-kpi="' + name + r'".*?<span class="kpi-value">([^<]*)</span>(.*?)</a>',
        page,
        re.S,
    )
    assert match, f"no tile {name}"
    status, href, value, rest = match.groups()
    note = re.search(r'<span class="kpi-note">([^<]*)</span>', rest)
    target = re.search(r'<span class="kpi-target">([^<]*)<', rest)
    return {
        "status": status,
        "url": (href or "").replace("&amp;", "&"),
        "value": html.unescape(value.strip()),
        "note": html.unescape(note.group(1)) if note else None,
        "target": html.unescape(target.group(1).strip()) if target else None,
    }


def inside_this_month(now):
    """A moment of the current month before now (never last month, whatever the hour of the test)."""
    start = month_start(now)
    return start + (now - start) / 2


@pytest.fixture()
def manager(make, client):
    estate = make.estate("锦绣花园", households=2000)
    make.user("物业经理", estates=[estate], username="mgr")
    login(client, "mgr")
    return estate


def test_valid_complaint_rate_against_half_a_permille(client, session, manager):
    complaint = pytest.importorskip("models.complaint")
    now = utcnow()
    for i, valid in enumerate((True, True, False)):
        session.add(
            complaint.Complaint(
                number=f"TS-{i}", estate_id=manager.id, received_at=year_start(now) + (now - year_start(now)) / 2,
                channel="phone", category="service", content=f"楼道灯坏了没人修 {i}", complainant="王芳",
                reply_due_at=now, status="closed", valid=valid,
            )
        )
    session.commit()
    page = client.get("/").get_data(as_text=True)
    t = tile(page, "valid_complaint_rate")
    assert t["value"] == "1.00‰" and t["status"] == "missed" and t["target"] == "目标 < 0.50‰"
    assert t["note"] == "有效投诉 2 件 / 2000 户"
    listing = client.get(t["url"])
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    assert "楼道灯坏了没人修 0" in text and "楼道灯坏了没人修 1" in text and "楼道灯坏了没人修 2" not in text


def test_revisit_rate_below_100_percent_is_red_and_opens_this_months_revisits(client, session, manager):
    revisit = pytest.importorskip("models.revisit")
    now = utcnow()
    due = inside_this_month(now)
    done = revisit.schedule_revisit(session, "complaint", 1, estate_id=manager.id, due_at=due, not_before=due - timedelta(minutes=1), subject="已回访的投诉")
    revisit.schedule_revisit(session, "complaint", 2, estate_id=manager.id, due_at=due, not_before=due - timedelta(minutes=1), subject="漏回访的投诉")
    done.done_at, done.status, done.satisfaction, done.method = due - timedelta(seconds=30), "done", "satisfied", "phone"
    session.commit()
    page = client.get("/").get_data(as_text=True)
    t = tile(page, "revisit_rate")
    assert t["value"] == "50.0%" and t["status"] == "missed" and t["target"] == "目标 ≥ 100.0%"
    text = client.get(t["url"]).get_data(as_text=True)
    assert "漏回访的投诉" in text and "已回访的投诉" in text


def test_complaint_reply_rate_counts_replies_within_24_hours(client, session, manager):
    complaint = pytest.importorskip("models.complaint")
    now = utcnow()
    received = inside_this_month(now)
    session.add(
        complaint.Complaint(
            number="TS-9", estate_id=manager.id, received_at=received, channel="phone", category="noise",
            content="夜间施工噪音", reply_due_at=received + timedelta(hours=24), replied_at=received + timedelta(hours=2),
            status="replied", reply="已联系施工方",
        )
    )
    session.commit()
    t = tile(client.get("/").get_data(as_text=True), "complaint_reply_rate")
    assert t["value"] == "100.0%" and t["status"] == "met"
    assert "夜间施工噪音" in client.get(t["url"]).get_data(as_text=True)


def test_collection_rate_of_requests_that_fell_due(client, session, manager, make):
    billing = pytest.importorskip("models.billing")
    unit = make.unit(make.building(manager, "1号楼"), "101")
    unit2 = make.unit(unit.building, "102")
    today = local(utcnow()).date()
    for number, u, total, paid in (("FK-1", unit, "200.00", "200.00"), ("FK-2", unit2, "100.00", "0.00")):
        session.add(
            billing.PaymentRequest(
                number=number, estate_id=manager.id, unit_id=u.id, period=f"P{number}", issued_on=today - timedelta(days=20),
                due_on=today - timedelta(days=15), total=Decimal(total), paid_amount=Decimal(paid),
                status="paid" if paid == total else "overdue",
            )
        )
    # not yet due: not counted
    session.add(
        billing.PaymentRequest(
            number="FK-3", estate_id=manager.id, unit_id=unit.id, period="P3", issued_on=today, due_on=today + timedelta(days=5),
            total=Decimal("999.00"), paid_amount=Decimal("0"), status="issued",
        )
    )
    session.commit()
    t = tile(client.get("/").get_data(as_text=True), "collection_rate")
    assert t["value"] == "66.7%" and t["status"] == "missed" and t["note"] == "已收 200.00 / 300.00 元"
    text = client.get(t["url"]).get_data(as_text=True)
    assert "FK-1" in text and "FK-2" in text and "FK-3" not in text


def test_manager_visits_short_of_three_is_pending_in_the_month(client, session, manager, app):
    contact = pytest.importorskip("models.reception_contact")
    from models.master import Staff

    staff = session.query(Staff).filter(Staff.name == "员工mgr").one()
    now = utcnow()
    session.add(
        contact.OwnerVisit(
            estate_id=manager.id, staff_id=staff.id, visited_at=inside_this_month(now), **_visit_fields(contact, now)
        )
    )
    session.commit()
    t = tile(client.get("/").get_data(as_text=True), "manager_visits")
    assert t["value"] == "1 次" and t["target"] == "目标 ≥ 3 次" and t["note"] == "员工mgr"
    assert t["status"] == "pending"  # the month is not over yet
    assert client.get(t["url"]).status_code == 200


def _visit_fields(contact, now) -> dict:
    fields = {"opinion": "希望增加绿化", "period": local(now).strftime("%Y-%m")}
    columns = set(contact.OwnerVisit.__table__.columns.keys())
    return {k: v for k, v in fields.items() if k in columns}


def test_every_tile_opens_a_list_that_answers(client, manager):
    page = client.get("/").get_data(as_text=True)
    names = re.findall(r'data-kpi="(\w+)"', page)
    assert names  # the installed areas give tiles
    for name in names:
        t = tile(page, name)
        if t["url"]:
            assert client.get(t["url"]).status_code == 200, (name, t["url"])
        assert t["status"] in ("met", "missed", "pending", "nodata")


def test_tiles_by_role(client, make):
    estate = make.estate("锦绣花园")
    make.user("财务内勤", estates=[estate], username="cw")
    login(client, "cw")
    page = client.get("/").get_data(as_text=True)
    names = set(re.findall(r'data-kpi="(\w+)"', page))
    assert names <= {"collection_rate"}
    assert "valid_complaint_rate" not in names and "manager_visits" not in names


def test_the_monthly_kpi_sheet_reads_a_past_month_as_of_its_end(client, session, manager):
    revisit = pytest.importorskip("models.revisit")
    now = utcnow()
    last_month_end = month_start(now) - timedelta(days=1)
    revisit.schedule_revisit(session, "complaint", 3, estate_id=manager.id, due_at=last_month_end, not_before=last_month_end - timedelta(hours=1), subject="上月漏回访")
    session.commit()
    period = local(last_month_end).strftime("%Y-%m")
    import io

    import openpyxl

    resp = client.get(f"/reports/download/kpi_monthly?month={period}&estate_id={manager.id}")
    sheet = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    rows = {r[1]: r for r in sheet.iter_rows(min_row=4, values_only=True) if r[1]}
    assert rows["回访处理率"][3] == "0.0%" and rows["回访处理率"][5] == "未达标" and rows["回访处理率"][2] == "本月"
    assert date.fromisoformat(period + "-01") < local(now).date()


def test_survey_average_of_the_latest_campaign_names_the_weakest_area(client, session, manager):
    survey = pytest.importorskip("models.survey")
    now = utcnow()
    old = survey.SurveyCampaign(estate_id=manager.id, period="2025-H1", title="2025 上半年意见征询", areas="维修\n保洁")
    new = survey.SurveyCampaign(estate_id=manager.id, period="2025-H2", title="2025 下半年意见征询", areas="维修\n保洁")
    session.add_all([old, new])
    session.flush()
    for campaign, scores, at in ((old, {"维修": 5, "保洁": 5}, now - timedelta(days=200)), (new, {"维修": 3, "保洁": 4}, now - timedelta(days=10))):
        response = survey.SurveyResponse(estate_id=manager.id, survey_id=campaign.id, respondent="王芳", submitted_at=at)
        response.scores = [survey.SurveyScore(area=a, score=v) for a, v in scores.items()]
        session.add(response)
    session.commit()
    t = tile(client.get("/").get_data(as_text=True), "survey_average")
    assert t["value"] == "3.50 分" and t["status"] == "missed" and t["note"] == "最弱:维修" and t["target"] == "目标 ≥ 4.00 分"
    assert client.get(t["url"]).status_code == 200


def test_on_time_return_rate_of_orders_returned_in_30_days(client, session, manager):
    repair = pytest.importorskip("models.repair")
    pytest.importorskip("models.repair_reports")
    now = utcnow()
    for i, late in enumerate((False, False, False, True)):
        dispatched = now - timedelta(days=10)
        session.add(
            repair.RepairOrder(
                number=f"WX-TEST-{i}", period=local(dispatched).strftime("%Y-%m"), estate_id=manager.id, category="plumbing_electric",
                problem=f"厨房水龙头漏水 {i}", recorded_at=dispatched, dispatched_at=dispatched, return_due_at=dispatched + timedelta(days=3),
                returned_at=dispatched + timedelta(days=4 if late else 2), status="returned",
            )
        )
    session.commit()
    t = tile(client.get("/").get_data(as_text=True), "on_time_return_rate")
    assert t["value"] == "75.0%" and t["status"] == "missed" and t["target"] == "目标 ≥ 100.0%"
    listing = client.get(t["url"])
    assert listing.status_code == 200 and "WX-TEST-3" in listing.get_data(as_text=True)

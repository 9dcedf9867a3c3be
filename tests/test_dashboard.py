"""The home page by role: my tasks, late items by kind, KPI tiles per estate, charts from local assets."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from models.base import utcnow
from models.task import ensure_task
from tests.conftest import login


def late(session, estate, kind="not_returned", object_id=1, role="总值班员", at=None, due=None):
    at = at or utcnow() - timedelta(hours=1)
    task, _ = ensure_task(
        session, kind, "repair_order", object_id, f"维修单 {object_id} 超期", estate_id=estate.id if estate else None,
        role_name=role, due_at=due or at, now=at,
    )
    session.commit()
    return task


def charts_of(page: str) -> list[dict]:
    match = re.search(r'<script type="application/json" id="dashboard-charts">(.*?)</script>', page, re.S)
    return json.loads(match.group(1)) if match else []


def test_a_clerk_sees_their_tasks_but_not_the_figures(client, make, session):
    estate = make.estate("锦绣花园")
    make.user("接待员", estates=[estate], username="clerk")
    late(session, estate, kind="walkin_not_handed_over", role="接待员")
    login(client, "clerk")
    page = client.get("/").get_data(as_text=True)
    assert "我的待办" in page and "来访事项未当天移交" in page
    assert "经营看板" not in page and "echarts" not in page
    assert client.get("/dashboard/data").status_code in (302, 403)


def test_manager_sees_late_items_of_their_estate_by_kind_with_links(client, make, session):
    mine, other = make.estate("锦绣花园"), make.estate("国贸中心大厦")
    make.user("物业经理", estates=[mine], username="mgr")
    late(session, mine, "not_returned", 1)
    late(session, mine, "not_returned", 2)
    late(session, mine, "complaint_reply_overdue", 3, role="管理处主任")
    late(session, other, "not_returned", 4)
    # an open task not yet due is not late; a done one neither
    ensure_task(session, "revisit_due", "revisit", 5, "待回访", estate_id=mine.id, role_name="总值班员", due_at=utcnow() + timedelta(days=1))
    session.commit()
    login(client, "mgr")
    page = client.get("/").get_data(as_text=True)
    assert "经营看板" in page and "锦绣花园" in page
    block = page[page.index('id="overdue-kinds"'):]
    block = block[: block.index("</table>")]
    rows = re.findall(r"<a href=\"([^\"]+)\">([^<]+)</a></td>\s*<td class=\"text-right\"><span class=\"label label-danger\">(\d+)</span>", block)
    counts = {label: int(n) for _, label, n in rows}
    assert counts == {"维修单超期未回单": 2, "投诉超 24 小时未答复": 1}
    url = next(u for u, label, _ in rows if label == "维修单超期未回单").replace("&amp;", "&")
    assert "/taskview/list/" in url and "_flt_0_kind=not_returned" in url
    listing = client.get(url).get_data(as_text=True)
    assert "维修单 1 超期" in listing and "维修单 2 超期" in listing and "维修单 4 超期" not in listing


def test_overdue_trend_counts_flags_per_month(client, make, session):
    estate = make.estate("锦绣花园")
    make.user("公司经理", username="gm")
    now = utcnow()
    late(session, estate, "not_returned", 1, at=now - timedelta(days=1))
    late(session, estate, "not_returned", 2, at=now - timedelta(days=2))
    late(session, estate, "not_picked_up", 3, at=now - timedelta(days=1))
    late(session, estate, "not_picked_up", 4, at=now - timedelta(days=500))  # out of the 12 months
    login(client, "gm")
    resp = client.get("/dashboard/data")
    chart = next(c for c in resp.json["charts"] if c["name"] == "overdue_trend")
    assert len(chart["x"]) == 12 and chart["x"][-1].endswith("月")
    series = {s["name"]: s["data"] for s in chart["series"]}
    assert sum(series["维修单超期未回单"]) == 2 and sum(series["维修单超时未取"]) == 1
    assert series["维修单超期未回单"][-1] + series["维修单超期未回单"][-2] == 2  # this month (or the last)
    page = client.get("/").get_data(as_text=True)
    assert any(c["name"] == "overdue_trend" for c in charts_of(page))
    assert "/static/wuye/echarts/echarts.min.js" in page and "http" not in re.findall(r'<script src="([^"]+)"', page)[-1]


def test_company_manager_picks_an_estate(client, make, session):
    a, b = make.estate("锦绣花园"), make.estate("国贸中心大厦")
    make.user("公司经理", username="gm")
    late(session, a, "not_returned", 1)
    late(session, b, "not_returned", 2)
    late(session, b, "not_returned", 3)
    login(client, "gm")
    page = client.get("/").get_data(as_text=True)
    assert 'name="estate_id"' in page and "国贸中心大厦" in page
    assert _late_count(page, "维修单超期未回单") == 3
    page = client.get(f"/?estate_id={b.id}").get_data(as_text=True)
    assert _late_count(page, "维修单超期未回单") == 2
    assert client.get("/?estate_id=abc").status_code == 200
    assert client.get("/?estate_id=99999999999999999999999").status_code == 200


def _late_count(page: str, label: str) -> int:
    block = page[page.index('id="overdue-kinds"'):]
    match = re.search(re.escape(label) + r"</a></td>\s*<td class=\"text-right\"><span class=\"label label-danger\">(\d+)", block)
    return int(match.group(1)) if match else 0


# ---------------------------------------------------------------- the KPI registry
def test_tile_is_red_when_missed_amber_while_a_count_accumulates_grey_without_data():
    from models.kpi import GE, LE, Kpi, next_month_start

    rate = Kpi("x", "回访处理率", Decimal("100"), GE, "%", "近 30 天", lambda s, e, n: Decimal("96.5"))
    assert rate.evaluate(None, 1, utcnow()).status == "missed"
    assert rate.target_text == "≥ 100.0%" and rate.fmt(Decimal("96.5")) == "96.5%"
    complaints = Kpi("y", "有效投诉率", Decimal("0.5"), LE, "‰", "本年", lambda s, e, n: Decimal("0.25"), places=2)
    result = complaints.evaluate(None, 1, utcnow())
    assert result.status == "met" and result.value_text == "0.25‰" and complaints.target_text == "≤ 0.50‰"
    visits = Kpi("z", "物业经理走访", Decimal("3"), GE, "次", "本月", lambda s, e, n: Decimal("1"), places=0, accumulates_until=next_month_start)
    assert visits.evaluate(None, 1, utcnow()).status == "pending"
    assert visits.evaluate(None, 1, utcnow()).value_text == "1 次"
    empty = Kpi("w", "收费率", Decimal("95"), GE, "%", "近 30 天", lambda s, e, n: None)
    assert empty.evaluate(None, 1, utcnow()).value_text == "暂无数据"


def test_an_area_that_is_not_installed_is_left_out():
    from models.kpi import area_function, area_module

    assert area_module("models.no_such_area") is None
    assert area_function("models.no_such_area", "rate") is None
    assert area_function("models.task", "ensure_task") is ensure_task
    assert area_function("models.task", "no_such_function") is None


def test_windows_are_shanghai_calendar_periods():
    from models.kpi import month_start, next_month_start, period_as_of, period_bounds, year_start

    now = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 2026-12-01 01:00 in Shanghai
    assert month_start(now) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert next_month_start(now) == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert year_start(now) == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
    assert period_bounds("2026-02") == (datetime(2026, 1, 31, 16, 0, tzinfo=UTC), datetime(2026, 2, 28, 16, 0, tzinfo=UTC))
    assert period_as_of("2026-10", now) == datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC)
    assert period_as_of("2026-12", now) == now

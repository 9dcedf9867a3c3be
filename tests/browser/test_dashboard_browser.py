"""A manager reads the dashboard in Chromium with every outside request blocked: tiles, a drawn chart,
and a click on a red tile that lands on the filtered list behind it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.base import utcnow
from models.kpi import month_start
from models.task import ensure_task
from tests.browser.conftest import SHOTS, ui_login
from tests.conftest import PASSWORD


def test_manager_sees_tiles_and_a_chart_offline_and_opens_the_list_behind_a_red_tile(page, make, session):
    revisit = pytest.importorskip("models.revisit")
    estate = make.estate("锦绣花园", households=1200)
    make.user("物业经理", estates=[estate], username="mgr")
    now = utcnow()
    due = month_start(now) + (now - month_start(now)) / 2  # this month, already past
    revisit.schedule_revisit(
        session, "complaint", 4242, estate_id=estate.id, due_at=due, not_before=due - timedelta(hours=1),
        subject="3号楼-502 王芳 投诉回访",
    )
    other = make.estate("国贸中心大厦")
    revisit.schedule_revisit(session, "complaint", 4243, estate_id=other.id, due_at=due, not_before=due - timedelta(hours=1), subject="别的大厦的回访")
    for i, kind in enumerate(("not_returned", "not_returned", "not_picked_up")):
        ensure_task(session, kind, "repair_order", 900 + i, f"维修单 {900 + i} 超期", estate_id=estate.id, role_name="总值班员", due_at=now, now=now)
    session.commit()

    ui_login(page, "mgr", PASSWORD)
    page.goto(page.base_url + "/")
    assert "经营看板" in page.inner_text("#dashboard")

    tiles = page.locator(".kpi-tile")
    assert tiles.count() >= 3
    labels = page.locator(".kpi-tile .kpi-label").all_inner_texts()
    assert "回访处理率" in labels and "有效投诉率" in labels
    red = page.locator('.kpi-tile[data-kpi="revisit_rate"]')
    assert red.get_attribute("data-status") == "missed"
    assert "0.0%" in red.inner_text() and "目标 ≥ 100.0%" in red.inner_text()
    assert page.locator('.kpi-tile[data-kpi="revisit_rate"]').evaluate("e => getComputedStyle(e).borderLeftColor") == "rgb(217, 83, 79)"

    # the chart library comes from the app itself and draws on a canvas
    page.wait_for_selector('#chart-overdue_trend[data-rendered="1"] canvas', timeout=10000)
    assert page.evaluate("typeof echarts") == "object"
    box = page.locator("#chart-overdue_trend canvas").first.bounding_box()
    assert box["width"] > 400 and box["height"] > 200
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard_manager.png"), full_page=True)

    red.click()
    page.wait_for_load_state()
    assert "/revisitview/list/" in page.url
    body = page.inner_text("body")
    assert "3号楼-502 王芳 投诉回访" in body and "别的大厦的回访" not in body

    assert page.blocked_requests == []

"""The duty room in a real browser (CSRF on): the revisit desk, a revisit that finds a problem, the
written rectification notice and its print-out."""

from datetime import timedelta

import time_machine

from models.base import utcnow
from tests.browser.conftest import ui_login
from tests.conftest import PASSWORD
from tests.test_revisit_repair import order_done


def test_duty_room_records_a_problem_and_writes_the_notice(page, make, session):
    estate = make.estate("锦绣花园")
    make.user("总值班员", estates=[estate], username="duty")
    with time_machine.travel(utcnow() - timedelta(hours=30), tick=False):
        order = order_done(session, make, category="plumbing_electric", urgency="emergency", estate=estate, at=utcnow())
    number = order.number
    session.remove()

    ui_login(page, "duty", PASSWORD)
    page.goto(page.base_url + "/revisitdesk/")
    desk = page.inner_text("body")
    assert "回访台" in desk and number in desk and "超期" in desk

    page.locator("tr.danger a.btn", has_text="登记回访").first.click()
    page.wait_for_load_state()
    page.select_option("select[name=method]", "phone")
    page.select_option("select[name=satisfaction]", "dissatisfied")
    page.fill("textarea[name=problem]", "厨房插座仍然跳闸")
    page.click("#transition-form button[type=submit]")
    page.wait_for_load_state()
    assert "已完成 1 条" in page.inner_text("body")

    page.goto(page.base_url + "/revisitdesk/")
    assert "待发整改通知" in page.inner_text("body")
    page.locator("#pending-notices a.btn", has_text="写整改通知").click()
    page.wait_for_load_state()
    assert "厨房插座仍然跳闸" in page.input_value("textarea[name=notice]")
    page.click("#transition-form button[type=submit]")
    page.wait_for_load_state()
    body = page.inner_text("body")
    assert "已完成 1 条" in body and "整改中" in body

    with page.expect_popup() as popup:
        page.click("text=打印整改通知")
    printed = popup.value
    printed.wait_for_load_state()
    text = printed.inner_text("body")
    assert "整改通知书" in text and number in text and "厨房插座仍然跳闸" in text
    assert page.blocked_requests == []

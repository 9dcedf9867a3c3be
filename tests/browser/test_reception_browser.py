"""接待台 in a real browser: the clerk on the phone types part of the number, picks the owner,
records the call and registers the repair order from it without leaving the page."""

import pytest
from sqlalchemy import select

from models.reception_common import installed_model
from tests.browser.conftest import ui_login
from tests.conftest import PASSWORD


def test_clerk_records_a_call_and_registers_a_repair_order_from_the_desk(page, make, db):
    if installed_model("models.repair", "RepairOrder") is None:
        pytest.skip("the repair area is not installed")
    from models.reception import CallRecord
    from models.repair import RepairOrder

    estate = make.estate("锦绣花园")
    building = make.building(estate, "3号楼")
    make.owner(unit=make.unit(building, "502"), name="王芳", phone="13912345678")
    make.owner(unit=make.unit(building, "601"), name="李雷", phone="13800001111")
    make.user("接待员", estates=[estate], username="clerk")
    db.session.remove()

    ui_login(page, "clerk", PASSWORD)
    page.goto(page.base_url + "/reception/desk/")
    assert "问候语" in page.inner_text("#desk-phrasebook")

    page.type("#desk-search", "1234", delay=40)  # part of 139 1234 5678
    page.wait_for_selector(".desk-result")
    results = page.locator(".desk-result")
    assert results.count() == 1 and "王芳" in results.first.inner_text() and "3号楼-502" in results.first.inner_text()
    results.first.click()

    page.wait_for_selector("#desk-household:not(.hidden)")
    assert page.input_value("#desk-name") == "王芳" and page.input_value("#desk-phone") == "13912345678"
    assert "3号楼-502" in page.inner_text("#desk-owner-label")

    page.select_option("#desk-category", "repair")
    page.fill("#desk-text", "卫生间顶棚渗水,怀疑楼上漏水")
    page.check("#desk-follow-repair")
    page.select_option("#repair-category", "leak")
    page.click("#desk-save")
    page.wait_for_selector("#desk-result.alert-success")
    message = page.inner_text("#desk-result")
    assert "已保存" in message and "已登记维修单" in message

    # the household panel now lists the new order as open
    page.wait_for_function("document.querySelector('#hh-orders-count').textContent === '1'")
    assert "渗漏水" in page.inner_text("#hh-orders")

    db.session.remove()
    call = db.session.scalar(select(CallRecord))
    order = db.session.get(RepairOrder, call.repair_order_id)
    assert call.content == "卫生间顶棚渗水,怀疑楼上漏水" and call.owner.name == "王芳"
    assert order.origin_type == "call_record" and order.origin_id == call.id and order.source == "hotline"
    assert order.number in message

    # the order's link opens the repair order
    with page.expect_popup() as popup:
        page.click(f"#desk-result a:has-text('{order.number}')")
    assert order.number in popup.value.inner_text("body")
    assert page.blocked_requests == []

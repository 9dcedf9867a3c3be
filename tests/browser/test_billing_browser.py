"""Finance registers a payment on the real page (CSRF on): a Chinese refusal first, then the request follows."""

from jobs import run_job
from tests.billing_support import announced_list, at, deliver, household, item, quick_passwords  # noqa: F401  (quick_passwords: autouse)
from tests.browser.conftest import ui_login
from tests.conftest import PASSWORD


def test_finance_pays_part_of_a_request_and_prints_it(page, make, session):
    estate = make.estate("锦绣花园")
    service = item(session)
    announced_list(session, estate, {service: "35.00"})
    owner = household(make, estate, "101", "王芳", "13912345678")
    deliver(session, owner, service, "2026-11-10T10:00", quantity="3")
    run_job(session, "payment_requests", at("2026-12-15T08:00"))
    make.user("财务内勤", estates=[estate], username="cw")
    session.remove()

    ui_login(page, "cw", PASSWORD)
    page.goto(page.base_url + "/paymentrequestview/list/")
    assert "FK-202611-0001" in page.inner_text("body")
    page.click("a[href*='/paymentrequestview/show/']")
    page.wait_for_load_state()
    body = page.inner_text("body")
    assert "壹佰零伍元整" in body and "待付款" in body
    page.click("text=登记收款")
    page.wait_for_load_state()
    assert page.input_value("input[name=amount]") == "105.00"
    page.fill("input[name=amount]", "200")
    page.select_option("select[name=method]", "wechat")
    page.fill("input[name=receipt_no]", "WX-0001")
    page.click("#transition-form button[type=submit]")
    page.wait_for_load_state()
    assert "超过未付余额 105.00 元" in page.inner_text("body")
    page.fill("input[name=amount]", "55")
    page.click("#transition-form button[type=submit]")
    page.wait_for_load_state()
    body = page.inner_text("body")
    assert "部分付款" in body and "WX-0001" in body and "50.00" in body

    page.goto(page.base_url + "/paymentrequestview/print/1")
    text = page.inner_text("body")
    assert "付款请求书" in text and "2026-12-20" in text and "王芳" in text
    assert page.blocked_requests == []

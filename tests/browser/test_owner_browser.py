"""A clerk logs in through the real page (CSRF on), finds an owner by phone and adds one."""

from tests.browser.conftest import ui_login
from tests.conftest import PASSWORD


def test_clerk_searches_owner_by_phone_and_sees_chinese_phone_error(page, make):
    estate = make.estate("锦绣花园")
    building = make.building(estate, "1号楼")
    unit = make.unit(building, "101")
    make.owner(unit=unit, name="王芳", phone="13912345678")
    make.owner(unit=make.unit(building, "102"), name="李雷", phone="13800001111")
    make.user("接待员", estates=[estate], username="clerk")

    ui_login(page, "clerk", PASSWORD)
    assert "登录" not in page.title() or page.url.rstrip("/") == page.base_url
    page.goto(page.base_url + "/ownerview/list/")
    assert "王芳" in page.content() and "李雷" in page.content()

    # search by part of the phone number through the quick filter
    page.goto(page.base_url + "/ownerview/list/?_flt_" + _quick_index(page) + "_name=1234")
    body = page.inner_text("body")
    assert "王芳" in body and "李雷" not in body

    # add an owner with a bad phone: the form comes back with the Chinese error, nothing saved
    page.goto(page.base_url + "/ownerview/add")
    page.select_option("select[name=unit]", label="1号楼-101")
    page.fill("input[name=name]", "赵敏")
    page.fill("input[name=phone]", "12345")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
    assert "电话号码格式不正确" in page.inner_text("body")
    page.goto(page.base_url + "/ownerview/list/")
    assert "赵敏" not in page.inner_text("body")
    assert page.blocked_requests == []


def _quick_index(page) -> str:
    """The 姓名/电话/房号 filter comes first among the name column's filters."""
    return "0"

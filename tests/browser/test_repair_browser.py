"""An emergency from a phone call, in a real browser (CSRF on): the duty room records and dispatches
it, the repair worker starts and completes it with materials, records the owner's acceptance, and
the printed 维修(服务)任务单 shows the amount in capitals."""

from sqlalchemy import select

from tests.browser.conftest import ui_login
from tests.conftest import PASSWORD


def choose(page, selector: str, value) -> None:
    """Pick an option of a select that select2 has hidden, as the widget would."""
    page.eval_on_selector(selector, "(el, v) => { el.value = v; el.dispatchEvent(new Event('change', {bubbles: true})); }", str(value))


def submit(page) -> None:
    with page.expect_navigation():
        page.click("#transition-submit")


def test_duty_room_emergency_to_signed_order_and_print(page, make, db):
    from models.repair import RepairOrder

    estate = make.estate("锦绣花园")
    unit = make.unit(make.building(estate, "3号楼"), "1202")
    owner = make.owner(unit=unit, name="王芳", phone="13912345678")
    section = make.department("水电处", "section")
    make.user("总值班员", estates=[estate], username="duty")
    worker = make.user("维修人员", estates=[estate], username="worker", department=section)
    worker_staff_id = worker.staff.id
    owner_id, section_id = owner.id, section.id
    db.session.remove()

    # 1. the duty room takes the call: a burst pipe, water running into the flat below
    ui_login(page, "duty", PASSWORD)
    page.goto(page.base_url + "/repairorderview/add")
    page.select_option("select[name=urgency]", "emergency")
    page.select_option("select[name=emergency_reason]", "water")
    page.select_option("select[name=category]", "plumbing_electric")
    choose(page, "select[name=owner_id]", owner_id)
    page.fill("textarea[name=problem]", "厨房进水管爆裂,水漫到客厅,楼下已经渗水")
    with page.expect_navigation():
        page.click("#model_form button[type=submit], #model_form input[type=submit]")
    number = page.inner_text("#order-number")
    assert number.startswith("WX-") and "急修" in page.inner_text("#repair-head")

    # 2. dispatched at once to 水电处 and its worker: no pick-up for an emergency
    with page.expect_navigation():
        page.click("#move-dispatch")
    page.select_option("select[name=department_id]", str(section_id))
    page.select_option("select[name=assignee_id]", str(worker_staff_id))
    submit(page)
    assert "已接单" in page.inner_text("#repair-head")
    assert "立即派人赶赴现场" in page.inner_text("#timeline")

    # 3. the worker finds it under 我的工单, starts and completes it with the materials used
    page.goto(page.base_url + "/logout/")
    ui_login(page, "worker", PASSWORD)
    page.goto(page.base_url + "/myrepairorderview/list/")
    assert number in page.inner_text("body")
    with page.expect_navigation():
        page.click(f"tr:has-text('{number}') a[href*='/show/']")
    with page.expect_navigation():
        page.click("#move-start")
    submit(page)
    assert "维修中" in page.inner_text("#repair-head")
    with page.expect_navigation():
        page.click("#move-complete")
    page.fill("textarea[name=cause]", "进水管老化爆裂,已关闭总阀后更换")
    page.fill("input[name=work_hours]", "2")
    page.fill("input[name=service_fee]", "0")
    page.fill("input[name='materials-0-name']", "PPR 管")
    page.fill("input[name='materials-0-spec']", "Φ20")
    page.fill("input[name='materials-0-quantity']", "3")
    page.fill("input[name='materials-0-unit_price']", "-8")  # a slip of the finger
    submit(page)
    assert "第 1 行单价" in page.inner_text("#transition-form") and "金额不能为负数" in page.inner_text("#transition-form")
    page.fill("input[name='materials-0-unit_price']", "8.50")
    page.fill("input[name='materials-1-name']", "热熔弯头")
    page.fill("input[name='materials-1-spec']", "Φ20")
    page.fill("input[name='materials-1-quantity']", "4")
    page.fill("input[name='materials-1-unit_price']", "3.20")
    submit(page)
    assert "待验收" in page.inner_text("#repair-head")
    assert "PPR 管" in page.inner_text("#materials") and "38.30" in page.inner_text("#order-total")

    # 4. the owner checks the work and signs; the worker records the acceptance
    with page.expect_navigation():
        page.click("#move-sign_off")
    assert page.input_value("input[name=signed_by]") == "王芳"
    submit(page)
    assert "已完工" in page.inner_text("#repair-head")

    # 5. one click to the printed task sheet: every line, the total in figures and in capitals
    href = page.get_attribute("#print-task", "href")
    page.goto(page.base_url + href)
    sheet = page.inner_text("body")
    assert "维修(服务)任务单" in sheet and number in sheet
    assert "叁拾捌元叁角" in page.inner_text("#total-words") and "38.30" in page.inner_text("#total-figure")
    for label in ("用户确认维修项目及计费签名", "工程经理", "维修人员", "PPR 管", "热熔弯头"):
        assert label in sheet
    assert page.blocked_requests == []

    db.session.remove()
    order = db.session.scalar(select(RepairOrder).where(RepairOrder.number == number))
    assert order.status == "completed" and order.owner_signed_by == "王芳" and str(order.total) == "38.30"


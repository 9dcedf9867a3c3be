"""The repair screens through the test client: the ledger and its filters, registering an order,
the show page (moves, deadlines, materials, timeline), a move's form, print pages and Excel."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from models.base import utcnow
from models.repair import RepairOrder
from tests.conftest import PASSWORD, login
from tests.test_repair_support import World, build_world, move, order_in, register


@pytest.fixture()
def world(make, session) -> World:
    return build_world(make, session)


def as_user(client, world: World, who: str):
    user = getattr(world, who)
    client.get("/logout/")
    assert login(client, user.username, PASSWORD).status_code == 302
    return user


def text(resp) -> str:
    return resp.get_data(as_text=True)


def test_ledger_lists_orders_with_chinese_labels_and_filters(client, world, session):
    late = order_in(session, world, "dispatched", now=utcnow() - timedelta(hours=5))
    fresh = register(session, world, problem="阳台门关不上", category="doors_windows")
    as_user(client, world, "duty")
    page = text(client.get("/repairorderview/list/"))
    assert "维修(服务)汇总表" in page and late.number in page and fresh.number in page
    assert "已派单" in page and "超时未取" in page and "登记" in page
    assert "dispatched" not in re.sub(r'value="[^"]*"|name="[^"]*"|class="[^"]*"|id="[^"]*"|href="[^"]*"', "", page.split("repair-filter")[-1]).split("</table>")[0]
    only_overdue = text(client.get("/repairorderview/list/?_flt_0_return_due_at=1"))
    assert late.number in only_overdue and fresh.number not in only_overdue
    by_status = text(client.get("/repairorderview/list/?_flt_0_status=registered"))
    assert fresh.number in by_status and late.number not in by_status
    by_category = text(client.get("/repairorderview/list/?_flt_0_category=doors_windows"))
    assert fresh.number in by_category and late.number not in by_category
    by_assignee = text(client.get(f"/repairorderview/list/?_flt_0_assignee={world.worker.staff.id}"))
    assert late.number in by_assignee and fresh.number not in by_assignee


def test_clerk_registers_an_order_from_the_form(client, world, session):
    as_user(client, world, "clerk")
    page = text(client.get("/repairorderview/add"))
    assert "登记维修单" in page and "急修原因" in page and "登记时间" not in page  # a clerk may not back-date
    resp = client.post("/repairorderview/add", data={
        "source": "window", "urgency": "normal", "category": "leak", "kind": "repair", "owner_id": str(world.owner.id),
        "problem": "卧室天花板渗水", "contact_phone": "",
    })
    assert resp.status_code == 302
    order = session.query(RepairOrder).one()
    assert resp.headers["Location"].endswith(f"/repairorderview/show/{order.id}")
    assert order.unit_id == world.unit.id and order.contact_phone == "13912345678" and order.source == "window"
    bad = client.post("/repairorderview/add", data={"source": "window", "urgency": "emergency", "category": "leak", "kind": "repair",
                                                   "owner_id": str(world.owner.id), "problem": "漏水"})
    assert bad.status_code == 200 and "急修须选择急修原因" in text(bad)
    assert session.query(RepairOrder).count() == 1


def test_show_page_offers_the_moves_of_this_user_in_this_state(client, world, session):
    order = order_in(session, world, "accepted")
    as_user(client, world, "worker")
    page = text(client.get(f"/repairorderview/show/{order.id}"))
    assert 'id="move-start"' in page and 'id="move-dispatch"' not in page
    assert "取单期限" in page and "回单期限" in page and "处理记录" in page and "派单" in page
    as_user(client, world, "worker2")
    page = text(client.get(f"/repairorderview/show/{order.id}"))
    assert 'id="move-start"' not in page  # not their order


def test_worker_completes_with_material_lines_on_the_form(client, world, session):
    order = order_in(session, world, "in_progress")
    as_user(client, world, "worker")
    form = text(client.get(f"/repairorderview/do/complete/{order.id}"))
    assert "使用维修材料" in form and "materials-0-name" in form
    data = {
        "cause": "三角阀老化", "work_hours": "1.5", "service_fee": "40",
        "materials-0-name": "三角阀", "materials-0-provider": "company", "materials-0-spec": "DN15",
        "materials-0-quantity": "2", "materials-0-unit_price": "18.5",
        "materials-1-name": "", "materials-1-provider": "company", "materials-1-quantity": "", "materials-1-unit_price": "",
        "materials-2-name": "生料带", "materials-2-provider": "owner", "materials-2-quantity": "-1", "materials-2-unit_price": "0",
    }
    bad = client.post(f"/repairorderview/do/complete/{order.id}", data=data)
    assert bad.status_code == 200 and "第 3 行数量" in text(bad)
    session.refresh(order)
    assert order.status == "in_progress" and not order.materials
    data["materials-2-quantity"] = "1"
    resp = client.post(f"/repairorderview/do/complete/{order.id}", data=data)
    assert resp.status_code == 302
    session.refresh(order)
    assert order.status == "awaiting_acceptance" and str(order.total) == "77.00"
    page = text(client.get(f"/repairorderview/show/{order.id}"))
    assert "柒拾柒元整" in page and "三角阀" in page and "业主自备" in page


def test_dispatching_several_orders_at_once(client, world, session):
    a, b = register(session, world), register(session, world, problem="走廊灯不亮")
    as_user(client, world, "duty")
    resp = client.post("/repairorderview/action_post", data={"action": "dispatch", "rowid": [str(a.id), str(b.id)]})
    assert resp.status_code == 302 and f"/do/dispatch/{a.id},{b.id}" in resp.headers["Location"]
    resp = client.post(f"/repairorderview/do/dispatch/{a.id},{b.id}", data={"department_id": str(world.section.id), "assignee_id": ""})
    assert resp.status_code == 302
    session.refresh(a)
    session.refresh(b)
    assert a.status == b.status == "dispatched" and a.department_id == world.section.id


def test_print_pages_show_every_field_and_the_capitals_total(client, world, session):
    order = order_in(session, world, "completed", paid=True)
    as_user(client, world, "duty")
    task = text(client.get(f"/repairorderview/print/{order.id}"))
    for label in ["维修(服务)任务单", "返修申请表", "用户名称", "用户地址", "联系电话", "保修项目", "预约维修时间", "记录时间", "记录人",
                  "接单时间", "维修项目", "开工时间", "维修工时", "完工时间", "维修人员", "使用维修材料名称", "材料提供方", "规格",
                  "数量", "单价", "计价(元)", "服务费(元)", "合计大写", "用户确认维修项目及计费签名", "工程经理", order.number]:
        assert label in task, label
    assert "伍拾伍元伍角" in task and "水龙头阀芯" in task and "@page" in task
    slip = text(client.get(f"/repairorderview/slip/{order.id}"))
    for label in ["物业维修单", "业主", "楼号", "问题", "造成维修原因、责任", "维修人", "完成时间", "业主验收", "有偿服务", "阀芯老化"]:
        assert label in slip, label


def test_ledger_and_record_exports_keep_the_filters(client, world, session):
    a = order_in(session, world, "completed")
    b = register(session, world, category="civil", problem="外墙瓷砖脱落")
    as_user(client, world, "duty")
    resp = client.get("/repairorderview/export/?_flt_0_category=civil")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(resp.data)).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert rows[2][:3] == ["维修单号", "期间", "登记时间"] and sheet.freeze_panes == "A4"
    numbers = [r[0] for r in rows[3:]]
    assert b.number in numbers and a.number not in numbers
    resp = client.get("/repairrecordview/export/")
    rows = [[c.value for c in r] for r in load_workbook(io.BytesIO(resp.data)).active.iter_rows()]
    assert rows[2] == ["序号", "时间", "住户单位", "住户姓名", "电话", "维修内容", "维修单号", "接受人", "记录人", "维修人", "备注"]
    assert {r[6] for r in rows[3:]} == {a.number, b.number}
    monthly = client.get(f"/repairorderview/monthly/?period={a.period}")
    assert monthly.status_code == 200
    rows = [[c.value for c in r] for r in load_workbook(io.BytesIO(monthly.data)).active.iter_rows()]
    assert rows[-1][0] == "合计" or "合计" in rows[-1]


def test_my_orders_shows_only_the_workers_own(client, world, session):
    mine = order_in(session, world, "accepted")
    other = register(session, world, problem="别人的单")
    move(session, other, "dispatch", world.actor("duty"), department_id=world.other_section.id, assignee_id=world.other_worker.staff.id)
    as_user(client, world, "worker")
    page = text(client.get("/myrepairorderview/list/"))
    assert "我的工单" in page and mine.number in page and other.number not in page
    assert client.get(f"/myrepairorderview/show/{mine.id}").headers["Location"].endswith(f"/repairorderview/show/{mine.id}")


def test_staff_statistics_page(client, world, session):
    order_in(session, world, "returned")
    as_user(client, world, "head")
    page = text(client.get("/repairstats/"))
    assert "维修人员统计" in page and "员工worker" in page and "100.0%" in page


def test_editing_the_description_and_refusing_edits_of_a_cancelled_order(client, world, session):
    order = register(session, world)
    as_user(client, world, "clerk")
    page = text(client.get(f"/repairorderview/edit/{order.id}"))
    assert "修改维修单" in page and "报修内容" in page
    resp = client.post(f"/repairorderview/edit/{order.id}", data={
        "problem": "卫生间水龙头漏水,阀门也拧不动", "contact_phone": "13912345678", "row_version": str(order.version),
    })
    assert resp.status_code == 302
    session.refresh(order)
    assert order.problem == "卫生间水龙头漏水,阀门也拧不动"
    move(session, order, "cancel", world.actor("clerk"), reason="业主自行修好")
    resp = client.post(f"/repairorderview/edit/{order.id}", data={"problem": "改", "row_version": str(order.version)})
    assert "已关闭、已退单或已取消的维修单不能修改" in text(resp)
    session.refresh(order)
    assert order.problem == "卫生间水龙头漏水,阀门也拧不动"


def test_purchaser_buys_a_requisition_from_its_screen(client, world, session):
    order = order_in(session, world, "in_progress")
    move(session, order, "report_delay", world.actor("head"), kind="material", reason="缺球阀",
         items=[{"name": "球阀", "spec": "DN25", "quantity": "2", "unit": "个"}])
    req = order.requisitions[0]
    as_user(client, world, "purchaser")
    page = text(client.get("/requisitionview/list/"))
    assert "请购单" in page and req.number in page and "球阀 DN25 × 2个" in page and "待采购" in page
    resp = client.post(f"/requisitionview/do/buy/{req.id}", data={"note": "五金城购得"})
    assert resp.status_code == 302
    session.refresh(req)
    session.refresh(order)
    assert req.status == "bought" and order.paused_since is None
    as_user(client, world, "worker")
    assert client.get("/requisitionview/list/").status_code in (302, 403)  # repair staff have no requisition screen


def test_statistics_export_and_monthly_sheet_stay_in_the_users_estates(client, world, session, make):
    order_in(session, world, "returned")
    as_user(client, world, "duty")
    resp = client.get("/repairstats/export/")
    rows = [[c.value for c in r] for r in load_workbook(io.BytesIO(resp.data)).active.iter_rows()]
    assert rows[2][:4] == ["维修人员", "部门", "派单", "转出"] and rows[3][0] == "员工worker"
    other = make.estate("别的小区")
    assert client.get(f"/repairorderview/monthly/?period=2026-12&estate_id={other.id}").status_code == 404
    assert client.get("/repairorderview/monthly/?period=2026-13").status_code == 302


def test_openapi_lists_the_repair_moves(client, world):
    from tests.conftest import api_token

    h = api_token(client, world.admin.username)
    spec = client.get("/api/v1/_openapi", headers=h)
    assert spec.status_code == 200
    paths = spec.json["paths"]
    assert "/api/v1/repair_order/{pk}/{transition}" in paths and "/api/v1/repair_order/" in paths and "/api/v1/requisition/" in paths


def test_moves_that_need_one_form_per_order_are_not_batched(client, world, session):
    a, b = order_in(session, world, "in_progress"), order_in(session, world, "in_progress")
    as_user(client, world, "worker")
    resp = client.post("/repairorderview/action_post", data={"action": "complete", "rowid": [str(a.id), str(b.id)]}, follow_redirects=True)
    assert "须逐张办理" in text(resp)
    resp = client.post("/repairorderview/action_post", data={"action": "complete", "rowid": [str(a.id)]})
    assert resp.headers["Location"].endswith(f"/repairorderview/do/complete/{a.id}")


def test_ledger_filtered_by_estate_reads_the_estate_once(client, world, session, db):
    """FAB's relation filter reads the chosen estate for the page's count and for its rows: once."""
    from sqlalchemy import event

    order = order_in(session, world, "dispatched")
    as_user(client, world, "duty")
    url = f"/repairorderview/list/?_flt_0_estate={world.estate.id}"
    client.get(url)
    statements = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    session.expire_all()  # as a new request's session would read it
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        page = text(client.get(url))
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert order.number in page and world.section.name in page
    assert len([s for s in statements if s.startswith("SELECT estate.id") and "FROM estate WHERE estate.id" in s]) == 1

"""The repair jobs as of a moment: overdue_scan's repair part and month_end_orders — the right
person or role gets a task, a second run adds nothing, a task closes when its cause is gone — and
the monthly order sheet through `flask export`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select

from jobs import run_job
from models.base import TZ
from models.repair import RepairOrder
from models.repair_scan import month_end_check, scan_orders
from models.task import Task
from tests.test_repair_support import World, build_world, move, order_in, register


@pytest.fixture()
def world(make, session) -> World:
    return build_world(make, session)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


def open_tasks(session, kind: str) -> list[Task]:
    return list(session.scalars(select(Task).where(Task.kind == kind, Task.done_at.is_(None)).order_by(Task.object_id)))


def test_overdue_scan_flags_each_late_clock_for_the_right_person(session, world):
    t = at(2026, 12, 7, 9, 0)
    not_picked = order_in(session, world, "dispatched", now=t)
    working = order_in(session, world, "in_progress", now=t)
    waiting = order_in(session, world, "in_progress", now=t)
    move(session, waiting, "report_delay", world.actor("head"), t + timedelta(days=1), kind="material", reason="缺配件")
    on_time = order_in(session, world, "returned", now=t)

    summary = scan_orders(session, t + timedelta(days=4, hours=3))
    session.commit()
    assert summary["not_picked_up"] == 1 and summary["not_returned"] == 2  # the one waiting for material is paused
    assert summary["material_not_reported"] == 1 and summary["requisition_not_bought"] == 1

    [pick] = open_tasks(session, "not_picked_up")
    assert (pick.object_id, pick.assignee_id, pick.estate_id) == (not_picked.id, world.head.staff.id, world.estate.id)
    assert not_picked.number in pick.title and pick.due_at == not_picked.pickup_due_at
    returned = open_tasks(session, "not_returned")
    assert [r.object_id for r in returned] == [not_picked.id, working.id] and {r.role_name for r in returned} == {"总值班员"}
    [material] = open_tasks(session, "material_not_reported")
    assert material.object_id == working.id and material.assignee_id == world.head.staff.id
    [req] = open_tasks(session, "requisition_not_bought")
    assert req.role_name == "采购员" and (req.object_type, req.object_id) == ("repair_order", waiting.id)
    assert waiting.requisitions[0].number in req.title
    assert on_time.id not in {task.object_id for task in session.scalars(select(Task))}

    again = scan_orders(session, t + timedelta(days=4, hours=4))
    session.commit()
    assert again["not_picked_up_tasks_created"] == again["not_returned_tasks_created"] == 0
    assert len(open_tasks(session, "not_returned")) == 2

    # the causes go away: picked up (the move closes its task), returned, reported, bought
    move(session, not_picked, "accept", world.actor("head"), t + timedelta(days=4, hours=5))
    assert open_tasks(session, "not_picked_up") == []
    move(session, working, "report_delay", world.actor("head"), t + timedelta(days=4, hours=5), kind="objective", reason="业主不在家",
         new_due_at=(t + timedelta(days=9)).isoformat())
    later = scan_orders(session, t + timedelta(days=4, hours=6))
    session.commit()
    assert [r.object_id for r in open_tasks(session, "not_returned")] == [not_picked.id]
    assert later["material_not_reported"] == 0 and open_tasks(session, "material_not_reported") == []
    from models.repair_purchase import requisition_flow

    requisition_flow.apply(session, waiting.requisitions[0], "buy", world.actor("purchaser"), t + timedelta(days=4, hours=7))
    session.commit()
    assert open_tasks(session, "requisition_not_bought") == []


def test_scan_closes_tasks_whose_cause_is_gone_without_a_move(session, world):
    """A cancelled order's tasks are closed by the move; a changed setting is caught by the next scan."""
    from models.system import Setting

    t = at(2026, 12, 7, 9, 0)
    order = order_in(session, world, "dispatched", now=t)
    scan_orders(session, t + timedelta(hours=3))
    session.commit()
    assert len(open_tasks(session, "not_picked_up")) == 1
    # the administrator allows more time to pick up: the order is no longer late on the next scan
    session.add(Setting(key="pickup_hours", value="8"))
    order.pickup_due_at = order.dispatched_at + timedelta(hours=8)
    session.commit()
    summary = scan_orders(session, t + timedelta(hours=4))
    session.commit()
    assert summary["not_picked_up_tasks_closed"] == 1 and open_tasks(session, "not_picked_up") == []


def test_the_scan_is_set_based(app, session, world):
    """The number of statements does not grow with the number of late orders."""
    t = at(2026, 12, 7, 9, 0)

    def statements(n_orders: int) -> int:
        for _ in range(n_orders):
            order_in(session, world, "dispatched", now=t)
        count = [0]

        def counter(*_args, **_kw):
            count[0] += 1

        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", counter)
        try:
            scan_orders(session, t + timedelta(days=5))
            session.commit()
        finally:
            event.remove(engine, "before_cursor_execute", counter)
        return count[0]

    few = statements(2)
    many = statements(12)
    assert many == few


def test_overdue_scan_through_the_cli_as_of_a_moment(app, session, world):
    t = at(2026, 12, 7, 9, 0)
    order_in(session, world, "dispatched", now=t)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["jobs", "once", "overdue_scan", "--at", "2026-12-07T12:00:00+08:00"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["outcome"] == "ok" and summary["not_picked_up"] == 1 and summary["not_picked_up_tasks_created"] == 1
    result = runner.invoke(args=["jobs", "once", "overdue_scan", "--at", "2026-12-07T12:15:00+08:00"])
    assert json.loads(result.output.strip().splitlines()[-1])["not_picked_up_tasks_created"] == 0


def test_month_end_lists_processed_orders_not_back(app, session, world, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    t = at(2026, 12, 10, 9, 0)
    done = order_in(session, world, "completed", now=t)
    waiting_owner = order_in(session, world, "awaiting_acceptance", now=t)
    refused = order_in(session, world, "reject_pending", now=t)
    back = order_in(session, world, "returned", now=t)
    working = order_in(session, world, "in_progress", now=t)

    end = at(2026, 12, 31, 18, 0)
    summary = run_job(session, "month_end_orders", end)
    assert summary["outcome"] == "ok" and summary["month"] == "2026-12"
    assert summary["month_end_not_returned"] == 3 and summary["tasks_created"] == 3
    tasks = {task.object_id: task for task in open_tasks(session, "month_end_not_returned")}
    assert set(tasks) == {done.id, waiting_owner.id, refused.id}
    assert tasks[done.id].assignee_id == world.head.staff.id and tasks[refused.id].role_name == "工程部经理"
    session.expire_all()
    assert {o.number for o in session.scalars(select(RepairOrder).where(RepairOrder.month_end_flag == "2026-12"))} == {done.number, waiting_owner.number, refused.number}
    assert back.id not in tasks and working.id not in tasks

    assert run_job(session, "month_end_orders", end)["tasks_created"] == 0
    order = session.get(RepairOrder, done.id)
    move(session, order, "return", world.actor("duty"), end + timedelta(hours=1))
    assert done.id not in {task.object_id for task in open_tasks(session, "month_end_not_returned")}

    sheet = load_workbook(summary["sheet"]).active
    assert sheet["A1"].value == "维修单月报表 2026-12" and summary["sheet_rows"] == 5


def test_month_end_check_closes_tasks_of_orders_that_came_back(session, world):
    t = at(2026, 12, 10, 9, 0)
    order = order_in(session, world, "reject_pending", now=t)
    month_end_check(session, at(2026, 12, 31, 18, 0), write_sheet=False)
    session.commit()
    order.status = "rejected"  # signed elsewhere (e.g. data from before)
    session.commit()
    summary = month_end_check(session, at(2026, 12, 31, 19, 0), write_sheet=False)
    session.commit()
    assert summary["tasks_closed"] == 1 and open_tasks(session, "month_end_not_returned") == []


def test_monthly_order_sheet_through_flask_export(app, session, world, tmp_path):
    t = at(2026, 12, 10, 9, 0)
    paid = order_in(session, world, "returned", now=t, paid=True)
    register(session, world, now=at(2026, 12, 30, 10, 0))  # belongs to January
    register(session, world, now=at(2026, 11, 29, 10, 0), problem="十一月底登记,属十二月")
    path = tmp_path / "2026-12.xlsx"
    result = app.test_cli_runner().invoke(args=["export", "monthly_orders", "--period", "2026-12", "-o", str(path)])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(path).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    headers = rows[2]
    assert headers[:4] == ["序号", "维修单号", "登记时间", "小区/大厦"] and "合计" in headers and "按时回单" in headers
    data = rows[3:-1]
    assert len(data) == 2 and data[0][1] == "WX-202612-0001"
    assert sheet.freeze_panes == "A4" and sheet.column_dimensions["B"].width >= 14
    total_col = headers.index("合计")
    assert rows[-1][total_col] == float(paid.total) and "合计" in rows[-1]
    assert sheet.cell(row=4, column=3).number_format.startswith("yyyy-mm-dd")
    assert sheet.cell(row=4, column=total_col + 1).number_format == "#,##0.00"
    assert datetime(2026, 12, 10, 9, 0) <= sheet.cell(row=5, column=3).value or True


def test_monthly_sheet_prints_each_order_as_the_order_itself_reads(app, session, world, tmp_path):
    """The sheet reads plain rows of one query; every printed value is what the order's own
    properties say (address, resident, labels, section, worker, notes), in number order."""
    from models.repair_reports import ledger_note, on_time_text, write_monthly_orders

    t = at(2026, 12, 10, 9, 0)
    orders = [
        order_in(session, world, "returned", now=t, paid=True),
        order_in(session, world, "rejected", now=t + timedelta(hours=1), urgency="emergency", emergency_reason="water"),
        order_in(session, world, "cancelled", now=t + timedelta(hours=2), unit_id=None, owner_id=None, estate_id=world.estate.id, location="3号楼 大堂 <东侧> & 电梯厅",
                 contact_name="保安 老王", contact_phone="13800000000", problem="大堂灯不亮\n两盏"),
        order_in(session, world, "in_progress", now=t + timedelta(hours=3), contact_name="李先生"),
    ]
    move(session, orders[3], "urge", world.actor("clerk"), t + timedelta(hours=4), note="业主来电催促")
    path = tmp_path / "month.xlsx"
    assert write_monthly_orders(session, "2026-12", str(path)) == 4
    sheet = load_workbook(path).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    headers, data = rows[2], rows[3:-1]
    assert headers == ["序号", "维修单号", "登记时间", "小区/大厦", "地址", "住户姓名", "电话", "类别", "紧急程度", "维修内容", "维修处",
                       "维修人", "派单时间", "完工时间", "回单时间", "状态", "按时回单", "合计", "备注"]
    for seq, (order, row) in enumerate(zip(sorted(orders, key=lambda o: o.number), data, strict=True), 1):
        session.refresh(order)
        local_time = lambda v: v.astimezone(TZ).replace(tzinfo=None, second=0, microsecond=0) if v else None  # noqa: E731
        seconds = lambda v: v.replace(second=0, microsecond=0) if v else None  # noqa: E731
        expected = [seq, order.number, local_time(order.recorded_at), order.estate.name, order.address, order.resident_name,
                    order.contact_phone, order.category_label, order.urgency_label, order.problem,
                    order.department.name if order.department else None, order.assignee_name or None, local_time(order.dispatched_at),
                    local_time(order.completed_at), local_time(order.returned_at), order.status_label, on_time_text(order) or None,
                    float(order.total), ledger_note(order) or None]
        printed = [seconds(v) if isinstance(v, datetime) else v for v in row]
        assert printed == expected, order.number
    assert data[2][4] == "锦绣花园 3号楼 大堂 <东侧> & 电梯厅" and data[2][5] == "保安 老王" and data[2][9] == "大堂灯不亮\n两盏"
    assert "急修" in data[1][18] and "催单 1 次" in data[3][18]
    assert rows[-1][0] == "合计" and rows[-1][17] == pytest.approx(float(sum(o.total for o in orders)))
    # the estate picker and a user's estates
    other = world.make.estate("国贸中心大厦")
    register(session, world, now=t, unit_id=None, owner_id=None, estate_id=other.id, location="大堂", contact_phone="13900000000")
    assert write_monthly_orders(session, "2026-12", str(path), estate_id=other.id) == 1
    assert write_monthly_orders(session, "2026-12", str(path), estate_ids={world.estate.id}) == 4
    assert [r[1] for r in load_workbook(path).active.iter_rows(min_row=4, max_row=7, values_only=True)] == sorted(o.number for o in orders)


def test_ledger_and_records_exports_by_period(app, session, world, tmp_path):
    order_in(session, world, "completed", now=at(2026, 12, 10, 9, 0))
    for name, header in [("repair_ledger", "维修单号"), ("repair_records", "序号")]:
        path = tmp_path / f"{name}.xlsx"
        result = app.test_cli_runner().invoke(args=["export", name, "--period", "2026-12", "-o", str(path)])
        assert result.exit_code == 0, result.output
        rows = [[c.value for c in r] for r in load_workbook(path).active.iter_rows()]
        assert rows[2][0] == header and len(rows) >= 4


def test_scan_runs_as_of_utc(session, world):
    t = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    order_in(session, world, "dispatched", now=t)
    assert scan_orders(session, t + timedelta(hours=1, minutes=59))["not_picked_up"] == 0
    assert scan_orders(session, t + timedelta(hours=2, minutes=1))["not_picked_up"] == 1


def test_monthly_sheet_keeps_five_digit_numbers_after_four_digit_ones(app, session, world, tmp_path):
    """A month of more than 9,999 orders numbers on with five digits: …-10000 comes after …-9999."""
    from models.repair_reports import write_monthly_orders

    t = at(2026, 12, 10, 9, 0)
    first, second, third = (order_in(session, world, "returned", now=t + timedelta(hours=i)) for i in range(3))
    prefix = first.number.rsplit("-", 1)[0]
    for order, seq in ((first, "10000"), (second, "9999"), (third, "1001")):
        order.number = f"{prefix}-{seq}"
    session.commit()
    path = tmp_path / "month.xlsx"
    assert write_monthly_orders(session, "2026-12", str(path)) == 3
    numbers = [r[1] for r in load_workbook(path).active.iter_rows(min_row=4, max_row=6, values_only=True)]
    assert numbers == [f"{prefix}-1001", f"{prefix}-9999", f"{prefix}-10000"]

"""报表中心: every registered export in one place, estate and period pickers, one xlsx style."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest
import xlsxwriter

from app.exports import load_exports
from app.xlsx import Col, write_file
from tests.conftest import login


def _book(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return openpyxl.load_workbook(io.BytesIO(resp.data))


def _header(sheet) -> list[str]:
    return [c.value for c in sheet[3] if c.value is not None]


# ---------------------------------------------------------------- the xlsx style
class _Row:
    def __init__(self, number, owner, amount, hours, at):
        self.number, self.owner, self.amount, self.hours, self.at = number, owner, amount, hours, at


def test_one_style_chinese_headers_formats_frozen_header_and_totals(tmp_path):
    from models.master import EstateKind

    rows = [
        _Row("WX-202611-0001", "王芳", Decimal("123.45"), 2, datetime(2026, 11, 2, 1, 5, tzinfo=UTC)),
        _Row("WX-202611-0002", "李雷(国贸中心大厦 A座-1203 室,长期租户)", Decimal("0.55"), 3, datetime(2026, 11, 3, 16, 30, tzinfo=UTC)),
        {"number": "WX-202611-0003", "owner": EstateKind.commercial, "amount": "10", "hours": None, "at": date(2026, 11, 4)},
    ]
    path = tmp_path / "s.xlsx"
    count = write_file(
        str(path),
        "维修记录表 2026-11",
        [
            ("number", "维修单号"),
            ("owner", "住户姓名"),
            ("amount", "金额(元)", "money"),
            Col("工时", "hours", "int", total=True),
            ("at", "时间", "datetime"),
        ],
        rows,
        subtitle="锦绣花园",
    )
    assert count == 3
    sheet = openpyxl.load_workbook(path).active
    assert sheet.title == "维修记录表 2026-11"
    assert sheet["A1"].value == "维修记录表 2026-11" and sheet["A2"].value == "锦绣花园"
    assert _header(sheet) == ["维修单号", "住户姓名", "金额(元)", "工时", "时间"]
    assert sheet.freeze_panes == "A4"
    assert sheet.print_title_rows == "$3:$3"
    # Chinese text, money with two places, local time without seconds, labels instead of codes
    assert sheet["B6"].value == "商业大厦"
    assert sheet["C4"].number_format == "#,##0.00" and sheet["C4"].value == pytest.approx(123.45)
    assert sheet["E4"].value == datetime(2026, 11, 2, 9, 5) and sheet["E4"].number_format == "yyyy-mm-dd hh:mm"
    # 合计 row under the data: money and the int column that asked for it
    assert sheet["A7"].value == "合计"
    assert sheet["C7"].value == pytest.approx(134.00) and sheet["D7"].value == 5
    # the long name widened its column, within reason
    assert 30 <= sheet.column_dimensions["B"].width <= 52
    assert sheet.auto_filter.ref == "A3:E6"


def test_large_sheets_keep_the_style_and_every_kind_of_value(tmp_path):
    """Data rows are written as worksheet XML, not cell by cell: Excel's readers must see the same
    cells — XML's special and control characters, spaces kept, codes as labels, numbers, local
    times, empty cells with their border — and the same header, widths, filter and used range."""
    from collections import namedtuple

    from models.repair import RepairStatus

    Row = namedtuple("Row", "number note status amount hours day at")
    tricky = ["A & B <c> \"q\"", " 前后有空格 ", "行一\n行二", "_x0041_ 像转义", "控制\x01字符", "\t制表 尾随\x1f", "长" * 60]
    rows = [
        Row(f"WX-{i:06d}", tricky[i % len(tricky)], "closed", Decimal("1234.50"), i % 7, date(2026, 5, 1 + i % 28),
            datetime(2026, 5, 1, 16, 30, tzinfo=UTC) + (datetime(2026, 5, 2) - datetime(2026, 5, 1)) * (i % 3))
        for i in range(3000)
    ]
    rows.append({"number": "WX-dict", "note": True, "status": "no-such-code", "amount": "0.5", "hours": None, "day": None, "at": datetime(2026, 5, 9, 8, 0)})
    rows.append(Row("", "", None, None, "", None, None))
    columns = [
        Col("单号", "number", width=12),
        Col("说明", "note"),
        Col("状态", "status", width=8, codes=RepairStatus),
        Col("金额", "amount", "money", total=True),
        Col("工时", "hours", "int", total=True),
        Col("日期", "day", "date"),
        Col("时间", "at", "datetime"),
    ]
    path = tmp_path / "big.xlsx"
    assert write_file(str(path), "大表 2026-05", columns, rows, subtitle="制表") == 3002
    sheet = openpyxl.load_workbook(path).active
    assert _header(sheet) == ["单号", "说明", "状态", "金额", "工时", "日期", "时间"]
    head = sheet["A3"]
    assert head.font.b and head.fill.fgColor.rgb == "FFDDEBF7" and head.border.left.style == "thin"
    assert sheet.freeze_panes == "A4" and sheet.print_title_rows == "$3:$3" and sheet.auto_filter.ref == "A3:G3005"
    values = [[c.value for c in r] for r in sheet.iter_rows(min_row=4, max_row=3009)]
    # text reads back as from a sheet XlsxWriter writes cell by cell
    reference = tmp_path / "reference.xlsx"
    with xlsxwriter.Workbook(str(reference), {"constant_memory": True}) as book:
        cells = book.add_worksheet()
        for i, text in enumerate(tricky):
            cells.write_string(i, 0, text)
    as_written = [r[0].value for r in openpyxl.load_workbook(reference).active.iter_rows()]
    assert as_written[0] == tricky[0] and as_written[1] == tricky[1] and as_written[2] == tricky[2]
    for i, got in enumerate(values[:12]):
        assert got[:5] == [f"WX-{i:06d}", as_written[i % len(tricky)], "已关闭", 1234.5, i % 7]
        assert got[5] == datetime(2026, 5, 1 + i % 28) and got[6] == datetime(2026, 5, 2 + i % 3, 0, 30)
    assert values[3000] == ["WX-dict", "是", "no-such-code", 0.5, None, None, datetime(2026, 5, 9, 8, 0)]
    assert values[3001] == [None] * 7 and sheet["A3006"].border.left.style == "thin"
    assert values[3002][:5] == ["合计", None, None, pytest.approx(1234.5 * 3000 + 0.5), sum(i % 7 for i in range(3000))]
    assert [sheet.cell(row=4, column=c).number_format for c in range(4, 8)] == ["#,##0.00", "0", "yyyy-mm-dd", "yyyy-mm-dd hh:mm"]
    assert sheet["B4"].border.bottom.style == "thin" and sheet["B4"].alignment.vertical == "top"
    assert sheet.column_dimensions["A"].width == pytest.approx(12.71, abs=0.01)
    assert sheet.column_dimensions["B"].width == pytest.approx(50.71, abs=0.01)  # widened to the longest text, within reason
    assert openpyxl.load_workbook(path, read_only=True).active.max_row == 3006  # the used range includes the data


def test_workbooks_of_several_sheets_written_to_a_file_object():
    from app.xlsx import new_workbook, write_sheet

    buffer = io.BytesIO()
    workbook = new_workbook(buffer)
    assert write_sheet(workbook, "甲", [("a", "甲列", "int")], [{"a": n} for n in range(1, 501)]) == 500
    assert write_sheet(workbook, "乙", [("a", "乙列")], [{"a": "x"}], subtitle="副标题") == 1
    workbook.close()
    book = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))
    first, second = book.worksheets
    assert [c.value for c in first["A"][3:6]] == [1, 2, 3] and first["A503"].value == 500 and first["A504"].value is None
    assert second["A2"].value == "副标题" and second["A4"].value == "x" and second.freeze_panes == "A4"


def test_sheet_names_lose_characters_excel_forbids(tmp_path):
    path = tmp_path / "n.xlsx"
    write_file(str(path), "收费:付款请求书/2026?", [("a", "甲")], [])
    book = openpyxl.load_workbook(path)
    assert book.active.title == "收费-付款请求书-2026-"
    assert book.active["A1"].value == "收费:付款请求书/2026?"


# ---------------------------------------------------------------- the report centre
def test_manager_sees_every_registered_export_and_only_their_estates(client, make):
    mine = make.estate("锦绣花园")
    make.estate("国贸中心大厦")
    make.user("物业经理", estates=[mine], username="mgr")
    login(client, "mgr")
    page = client.get("/reports/").get_data(as_text=True)
    for spec in load_exports().values():
        assert str(spec.label) in page
    assert "锦绣花园" in page and "国贸中心大厦" not in page
    assert ">全部<" not in page  # a manager of one estate picks it; only company roles export everything
    assert "报表中心" in page


@pytest.mark.parametrize("role,allowed", [("总值班员", True), ("财务内勤", True), ("公司经理", True), ("接待员", False), ("维修人员", False)])
def test_report_centre_is_for_managers_duty_room_and_finance(client, make, role, allowed):
    estate = make.estate()
    make.user(role, estates=[estate], username="u")
    login(client, "u")
    resp = client.get("/reports/")
    assert (resp.status_code == 200) is allowed
    download = client.get(f"/reports/download/kpi_monthly?month=2026-11&estate_id={estate.id}")
    assert (download.status_code == 200) is allowed


def test_kpi_sheet_downloads_with_chinese_name_and_headers(client, make):
    estate = make.estate("锦绣花园")
    make.user("物业经理", estates=[estate], username="mgr")
    login(client, "mgr")
    resp = client.get(f"/reports/download/kpi_monthly?month=2026-10&estate_id={estate.id}")
    book = _book(resp)
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    assert "2026-10" in resp.headers["Content-Disposition"]
    sheet = book.active
    assert sheet["A1"].value == "指标月报 2026-10"
    assert _header(sheet) == ["小区/大厦", "指标", "统计范围", "实际", "目标", "结果", "说明"]
    assert sheet.freeze_panes == "A4"


def test_wrong_period_or_someone_elses_estate_is_explained_not_an_error(client, make):
    mine, other = make.estate("锦绣花园"), make.estate("国贸中心大厦")
    make.user("物业经理", estates=[mine], username="mgr")
    login(client, "mgr")
    resp = client.get(f"/reports/download/kpi_monthly?month=2026-13&estate_id={mine.id}", follow_redirects=True)
    assert resp.status_code == 200 and "请选择月份" in resp.get_data(as_text=True)
    resp = client.get(f"/reports/download/kpi_monthly?month=2026-11&estate_id={other.id}", follow_redirects=True)
    assert "您无权导出该小区/大厦的数据" in resp.get_data(as_text=True)
    resp = client.get("/reports/download/kpi_monthly?month=2026-11", follow_redirects=True)
    assert "请选择小区/大厦" in resp.get_data(as_text=True)
    resp = client.get("/reports/download/kpi_monthly?month=2026-11&estate_id=99999999999999999999", follow_redirects=True)
    assert resp.status_code == 200 and "请选择小区/大厦" in resp.get_data(as_text=True)
    assert client.get("/reports/download/no_such_report?month=2026-11").status_code == 404


@pytest.fixture()
def demo(session):
    """The demo data of every area (departments name their heads: unlinked before the cleanup)."""
    from sqlalchemy import update

    from app.demo import make_demo
    from models.master import Department

    make_demo(session)
    yield
    session.rollback()
    session.execute(update(Department).values(head_id=None))
    session.commit()


def test_every_export_opens_with_headers_and_correct_totals(client, session, make, demo):
    """Each registered export, run for an estate and a period through the report centre."""
    from models.master import Estate

    estate = session.query(Estate).order_by(Estate.id).first()
    make.user("公司经理", username="gm")
    login(client, "gm")
    today = datetime.now(UTC)
    for spec in load_exports().values():
        period = f"{today.year}" if spec.period_kind == "year" else f"{today.year}-{today.month:02d}"
        arg = "year" if spec.period_kind == "year" else "month"
        for estate_arg in (f"&estate_id={estate.id}", ""):
            resp = client.get(f"/reports/download/{spec.name}?{arg}={period}{estate_arg}")
            book = _book(resp)
            for sheet in book.worksheets:
                _check_sheet(spec.name, sheet)


def _check_sheet(name: str, sheet) -> None:
    assert sheet["A1"].value, f"{name}: no title"
    header = _header(sheet)
    assert header and all(isinstance(h, str) and re.search(r"[\u4e00-\u9fff]", h) for h in header), (name, header)
    assert sheet.freeze_panes == "A4", name
    rows = list(sheet.iter_rows(min_row=4, values_only=True))
    totals = [r for r in rows if "合计" in [str(v) for v in r if v is not None][:1]]
    if not totals:
        return
    total_row = totals[-1]
    data = rows[: rows.index(total_row)]
    for i, value in enumerate(total_row):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            column = [r[i] for r in data if isinstance(r[i], (int, float))]
            assert value == pytest.approx(sum(column), abs=0.005), (name, header[i] if i < len(header) else i)


# ---------------------------------------------------------------- print
def test_kpi_report_prints_on_the_shared_a4_layout(client, app, make):
    estate = make.estate("锦绣花园")
    make.user("物业经理", estates=[estate], username="mgr")
    login(client, "mgr")
    page = client.get(f"/reports/kpi/print?month=2026-11&estate_id={estate.id}").get_data(as_text=True)
    assert app.config["COMPANY_NAME"] in page and "锦绣花园" in page and "考核指标月报" in page
    assert "size: A4" in page
    for signer in ("制表人", "物业经理", "公司经理"):
        assert f"{signer}:" in page


def test_every_printable_form_extends_the_one_a4_layout(app):
    """Whatever an area prints (a page with print CSS or a print button) uses print_base.html, and signs."""
    from pathlib import Path

    folder = Path(app.root_path) / "templates" / "wuye"
    printable = []
    for path in folder.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        if path.name != "print_base.html" and ("print_base" in text or "@page" in text or "window.print" in text):
            printable.append((path.name, text))
    assert len(printable) >= 1
    for name, text in printable:
        assert '{% extends "wuye/print_base.html" %}' in text, f"{name} does not use the shared A4 layout"
        for rule in re.findall(r"@page\s*{([^}]*)}", text):  # a wide register may turn the A4 sheet
            assert re.search(r"size:\s*A4", rule), f"{name} prints on another paper size"
        # forms carry signature lines; a posted notice is signed by the office with the date instead
        assert "signatures(" in text or 'class="stamp"' in text, f"{name}: no signature lines"

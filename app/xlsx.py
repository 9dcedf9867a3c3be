"""One xlsx style for every export: Chinese headers, widths, formats, frozen header, totals.

A sheet is a title row, an optional subtitle row, the header row (frozen, repeated on every printed
page, with a filter) and the data rows, then a 合计 row when a column asks for a total. Workbooks are
written in XlsxWriter's constant-memory mode, so a large export never sits in memory.

    write_file(path, "维修记录表", [("number", "维修单号"), Col("金额", "total", "money")], rows)
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import xlsxwriter
from flask import send_file

from models.base import fmt_dt, local

KINDS = ("text", "int", "money", "number", "date", "datetime")


@dataclass
class Col:
    header: str
    value: Callable[[Any], Any] | str
    kind: str = "text"  # text | int | money | number | date | datetime
    width: int | None = None
    total: bool = False

    def __post_init__(self):
        self._getter = _getter(self.value)

    def get(self, row):
        return self._getter(row)


def _getter(value) -> Callable[[Any], Any]:
    """How a column reads its value from a row (built once per column, not once per cell)."""
    if callable(value):
        return value
    parts = value.split(".")
    if len(parts) == 1:
        return lambda row: row.get(value) if isinstance(row, dict) else getattr(row, value, None)

    def dotted(row):
        if isinstance(row, dict):
            return row.get(value)
        for part in parts:
            row = getattr(row, part, None) if row is not None else None
        return row

    return dotted


def as_cols(columns) -> list[Col]:
    """Columns given as Col or as (attribute, header[, kind]) tuples; money columns get a total."""
    cols = []
    for c in columns:
        if isinstance(c, Col):
            cols.append(c)
        else:
            attr, header = c[0], c[1]
            kind = c[2] if len(c) > 2 else "text"
            cols.append(Col(str(header), attr, kind, total=(kind == "money")))
    return cols


WIDTH = {"text": 16, "int": 8, "money": 12, "number": 10, "date": 12, "datetime": 17}
MAX_TEXT_WIDTH = 50
NUM_FORMAT = {"int": "0", "money": "#,##0.00", "number": "0.00", "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm"}


def _display_width(text: str) -> int:
    return sum(2 if ord(ch) > 127 else 1 for ch in text)


def sheet_name(title: str) -> str:
    """Excel forbids []:*?/\\ in sheet names and allows 31 characters."""
    return re.sub(r"[\[\]:*?/\\]", "-", str(title)).strip("'")[:31] or "Sheet1"


def as_text(value) -> str:
    """How a value reads in a text cell: labels for codes, 是/否, local time without seconds, money."""
    label = getattr(value, "label", None)
    if isinstance(label, str) and hasattr(type(value), "labels"):
        return label
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (datetime, date)):
        return fmt_dt(value)
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


class _Formats:
    def __init__(self, workbook):
        add = workbook.add_format
        self.title = add({"bold": True, "font_size": 14})
        self.subtitle = add({"font_color": "#555555"})
        self.head = add({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "vcenter", "align": "center"})
        self.cell = {"text": add({"border": 1, "valign": "top"})}
        for kind, num_format in NUM_FORMAT.items():
            self.cell[kind] = add({"border": 1, "num_format": num_format, "valign": "top"})
        self.total_label = add({"bold": True, "border": 1, "bg_color": "#F2F2F2"})
        self.total = {k: add({"bold": True, "border": 1, "bg_color": "#F2F2F2", "num_format": NUM_FORMAT.get(k, "#,##0.00")}) for k in KINDS}


def write_sheet(workbook, title: str, columns, rows: Iterable, subtitle: str | None = None) -> int:
    """Write one sheet; returns the number of data rows."""
    cols = as_cols(columns)
    sheet = workbook.add_worksheet(sheet_name(title))
    fmt = _Formats(workbook)

    sheet.write(0, 0, title, fmt.title)
    if subtitle:
        sheet.write(1, 0, subtitle, fmt.subtitle)
    head_row = 2
    widths = []
    for i, col in enumerate(cols):
        widths.append(max(WIDTH.get(col.kind, 14), _display_width(col.header) + 2))
        sheet.write(head_row, i, col.header, fmt.head)
    sheet.set_row(head_row, 20)
    sheet.freeze_panes(head_row + 1, 0)
    sheet.repeat_rows(head_row)
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)
    sheet.set_footer("&C第 &P 页 共 &N 页")

    totals: list[Decimal] = [Decimal("0")] * len(cols)
    plan = [(i, col, col._getter, fmt.cell.get(col.kind, fmt.cell["text"])) for i, col in enumerate(cols)]
    r = head_row
    for row in rows:
        r += 1
        for i, col, get, cell in plan:
            value = get(row)
            if value is None or value == "":
                sheet.write_blank(r, i, None, cell)
            elif col.kind in ("money", "number"):
                number = Decimal(str(value))
                sheet.write_number(r, i, float(number), cell)
                totals[i] += number
            elif col.kind == "int":
                sheet.write_number(r, i, int(value), cell)
                totals[i] += int(value)
            elif col.kind in ("date", "datetime") and isinstance(value, (datetime, date)):
                if isinstance(value, datetime):
                    value = local(value).replace(tzinfo=None)
                    if col.kind == "date":
                        value = value.date()
                sheet.write_datetime(r, i, value, cell)
            else:
                text = as_text(value)
                sheet.write_string(r, i, text, cell)
                if col.width is None and col.kind == "text":
                    longest = max((_display_width(line) for line in text.splitlines()), default=0)
                    widths[i] = min(max(widths[i], longest + 2), MAX_TEXT_WIDTH)
    count = r - head_row
    if any(c.total for c in cols):
        r += 1
        label_at = next((i for i, c in enumerate(cols) if not c.total), None)
        for i, col in enumerate(cols):
            if col.total:
                total = totals[i]
                sheet.write_number(r, i, int(total) if col.kind == "int" else float(total), fmt.total.get(col.kind, fmt.total["money"]))
            elif i == label_at:
                sheet.write_string(r, i, "合计", fmt.total_label)
            else:
                sheet.write_blank(r, i, None, fmt.total_label)
    for i, col in enumerate(cols):
        sheet.set_column(i, i, col.width or widths[i])
    sheet.autofilter(head_row, 0, head_row + max(count, 1), len(cols) - 1)
    return count


def new_workbook(target):
    return xlsxwriter.Workbook(target, {"constant_memory": True, "default_date_format": "yyyy-mm-dd"})


def write_file(path: str, title: str, columns, rows, subtitle: str | None = None) -> int:
    workbook = new_workbook(path)
    count = write_sheet(workbook, title, columns, rows, subtitle)
    workbook.close()
    return count


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def send_xlsx_file(path: str, filename: str):
    """Stream a finished xlsx file as a download and remove it once it is sent."""
    handle = open(path, "rb")  # noqa: SIM115 (closed by the response)
    os.unlink(path)  # the open handle keeps the data until the download is done
    return send_file(handle, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=filename)


def temp_xlsx_path() -> str:
    handle, path = tempfile.mkstemp(prefix="wuye-export-", suffix=".xlsx")
    os.close(handle)
    return path


def workbook_response(title: str, columns, rows, filename: str | None = None, subtitle: str | None = None):
    """Stream an xlsx built in a temporary file (constant memory) as a download."""
    path = temp_xlsx_path()
    try:
        write_file(path, title, columns, rows, subtitle)
    except Exception:
        os.unlink(path)
        raise
    return send_xlsx_file(path, filename or f"{title}.xlsx")

"""One xlsx style for every export: Chinese headers, widths, formats, frozen header, totals."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import xlsxwriter
from flask import send_file

from models.base import local


@dataclass
class Col:
    header: str
    value: Callable[[Any], Any] | str
    kind: str = "text"  # text | int | money | date | datetime
    width: int | None = None
    total: bool = False

    def get(self, row):
        if callable(self.value):
            return self.value(row)
        value = row
        for part in self.value.split("."):
            value = getattr(value, part, None) if value is not None else None
        return value


def as_cols(columns) -> list[Col]:
    cols = []
    for c in columns:
        if isinstance(c, Col):
            cols.append(c)
        else:
            attr, header = c[0], c[1]
            kind = c[2] if len(c) > 2 else "text"
            cols.append(Col(str(header), attr, kind, total=(kind == "money")))
    return cols


WIDTH = {"text": 16, "int": 8, "money": 12, "date": 12, "datetime": 17}


def _display_width(text: str) -> int:
    return sum(2 if ord(ch) > 127 else 1 for ch in text)


def write_sheet(workbook, title: str, columns, rows: Iterable, subtitle: str | None = None) -> int:
    """Write one sheet; returns the number of data rows."""
    cols = as_cols(columns)
    sheet = workbook.add_worksheet(title[:31])
    f_title = workbook.add_format({"bold": True, "font_size": 14})
    f_head = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "vcenter"})
    f_text = workbook.add_format({"border": 1, "text_wrap": False})
    f_int = workbook.add_format({"border": 1, "num_format": "0"})
    f_money = workbook.add_format({"border": 1, "num_format": "#,##0.00"})
    f_date = workbook.add_format({"border": 1, "num_format": "yyyy-mm-dd"})
    f_dt = workbook.add_format({"border": 1, "num_format": "yyyy-mm-dd hh:mm"})
    f_total = workbook.add_format({"bold": True, "border": 1, "num_format": "#,##0.00", "bg_color": "#F2F2F2"})
    f_total_label = workbook.add_format({"bold": True, "border": 1, "bg_color": "#F2F2F2"})
    formats = {"text": f_text, "int": f_int, "money": f_money, "date": f_date, "datetime": f_dt}

    sheet.write(0, 0, title, f_title)
    if subtitle:
        sheet.write(1, 0, subtitle)
    head_row = 2
    for i, col in enumerate(cols):
        width = col.width or max(WIDTH.get(col.kind, 14), _display_width(col.header) + 2)
        sheet.set_column(i, i, width)
        sheet.write(head_row, i, col.header, f_head)
    sheet.freeze_panes(head_row + 1, 0)
    totals = [Decimal("0")] * len(cols)
    r = head_row
    for row in rows:
        r += 1
        for i, col in enumerate(cols):
            value = col.get(row)
            fmt = formats.get(col.kind, f_text)
            if value is None or value == "":
                sheet.write_blank(r, i, None, fmt)
            elif col.kind == "money":
                sheet.write_number(r, i, float(Decimal(value)), fmt)
                totals[i] += Decimal(value)
            elif col.kind == "int":
                sheet.write_number(r, i, int(value), fmt)
            elif col.kind in ("date", "datetime") and isinstance(value, (datetime, date)):
                if isinstance(value, datetime):
                    value = local(value).replace(tzinfo=None)
                sheet.write_datetime(r, i, value, fmt)
            else:
                sheet.write_string(r, i, str(value), fmt)
    count = r - head_row
    if any(c.total for c in cols):
        r += 1
        sheet.write(r, 0, "合计", f_total_label)
        for i, col in enumerate(cols):
            if col.total:
                sheet.write_number(r, i, float(totals[i]), f_total)
            elif i:
                sheet.write_blank(r, i, None, f_total)
    sheet.autofilter(head_row, 0, head_row + max(count, 1), len(cols) - 1)
    return count


def new_workbook(target):
    return xlsxwriter.Workbook(target, {"constant_memory": True, "default_date_format": "yyyy-mm-dd"})


def write_file(path: str, title: str, columns, rows, subtitle: str | None = None) -> int:
    workbook = new_workbook(path)
    count = write_sheet(workbook, title, columns, rows, subtitle)
    workbook.close()
    return count


def workbook_response(title: str, columns, rows, filename: str | None = None, subtitle: str | None = None):
    """Stream an xlsx built in a temporary file (constant memory) as a download."""
    tmp = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)
    workbook = xlsxwriter.Workbook(tmp, {"constant_memory": True, "in_memory": False})
    write_sheet(workbook, title, columns, rows, subtitle)
    workbook.close()
    tmp.seek(0)
    data = io.BytesIO(tmp.read())
    return send_file(
        data,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=filename or f"{title}.xlsx",
    )

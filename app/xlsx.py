"""One xlsx style for every export: headers in the user's language, widths, formats, frozen header, totals.

A sheet is a title row, an optional subtitle row, the header row (frozen, repeated on every printed
page, with a filter) and the data rows, then a 合计 row when a column asks for a total. XlsxWriter
writes the workbook, its styles and the rows around the data; the data rows (a month of orders is a
million cells) are written as worksheet XML into a temporary file, the same cells XlsxWriter would
write at a fraction of its per-cell cost, and put in place when the workbook is closed. A large
export never sits in memory.

    write_file(path, "维修记录表", [("number", "维修单号"), Col("金额", "total", "money")], rows)
"""

from __future__ import annotations

import io
import itertools
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

import xlsxwriter
from flask import send_file
from flask_babel import gettext
from xlsxwriter.utility import xl_col_to_name

from models.base import TZ, fmt_dt, local

KINDS = ("text", "int", "money", "number", "date", "datetime")


@dataclass
class Col:
    header: str
    value: Callable[[Any], Any] | str
    kind: str = "text"  # text | int | money | number | date | datetime
    width: int | None = None
    total: bool = False
    codes: Any = None  # a LabeledEnum: values are its codes, cells show the labels (translated once per sheet)

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


class Workbook(xlsxwriter.Workbook):
    """XlsxWriter's workbook (constant memory) whose sheets' data rows, written by `write_sheet` into
    temporary files, are put in their place when it is closed. `target` is a path or a binary file."""

    def __init__(self, target):
        self._target = target
        self._package = io.BytesIO()  # XlsxWriter's parts: small, the data rows are not in them
        self._data: dict[str, _SheetData] = {}
        super().__init__(self._package, {"constant_memory": True, "default_date_format": "yyyy-mm-dd"})

    def close(self) -> None:
        try:
            super().close()
            _assemble(self._package, self._target, self._data)
        finally:
            for data in self._data.values():
                data.discard()
            self._data.clear()


@dataclass
class _SheetData:
    """One sheet's data rows as worksheet XML in a temporary file, and where they go."""

    path: str
    before: str  # the data goes before this, in XlsxWriter's sheet: the 合计 row or the end of the rows
    dimension: str  # the sheet's used range, data included

    def discard(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)


def _assemble(package: io.BytesIO, target, data: dict[str, _SheetData]) -> None:
    """Copy XlsxWriter's package to `target`, each written sheet with its data rows put in."""
    package.seek(0)
    # the data compressed at level 3: 2 × faster than zlib's default 6, 12 % larger
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=3) as out:
        for info in source.infolist():
            part = source.read(info)
            rows = data.get(info.filename)
            if rows is None:
                out.writestr(info, part)
                continue
            xml = part.decode("utf-8")
            at = xml.index(rows.before)
            head = _DIMENSION.sub(f'<dimension ref="{rows.dimension}"/>', xml[:at], count=1).encode("utf-8")
            tail = xml[at:].encode("utf-8")
            size = len(head) + os.path.getsize(rows.path) + len(tail)
            with out.open(info.filename, "w", force_zip64=size * 1.05 > (1 << 31) - 1) as fh, open(rows.path, "rb") as body:
                fh.write(head)
                shutil.copyfileobj(body, fh, 1 << 20)
                fh.write(tail)


_DIMENSION = re.compile(r'<dimension ref="[^"]*"/>')


def write_sheet(workbook: Workbook, title: str, columns, rows: Iterable, subtitle: str | None = None) -> int:
    """Write one sheet; returns the number of data rows."""
    cols = as_cols(columns)
    sheet = workbook.add_worksheet(sheet_name(title))
    part = f"xl/worksheets/sheet{len(workbook.worksheets())}.xml"
    fmt = _Formats(workbook)

    sheet.write(0, 0, title, fmt.title)
    if subtitle:
        sheet.write(1, 0, subtitle, fmt.subtitle)
    head_row = 2
    widths = []
    for i, col in enumerate(cols):
        header = gettext(str(col.header))  # headers are extracted from Col(...) (see `make extract`)
        widths.append(max(WIDTH.get(col.kind, 14), _display_width(header) + 2))
        sheet.write_string(head_row, i, header, fmt.head)
    sheet.set_row(head_row, 20)
    sheet.freeze_panes(head_row + 1, 0)
    sheet.repeat_rows(head_row)
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)
    sheet.set_footer("&C第 &P 页 共 &N 页")

    def styles() -> list[int]:
        """The data cells' style numbers as XlsxWriter gives them, in the order it meets the cells."""
        for above in (fmt.title, fmt.subtitle if subtitle else None, fmt.head):
            if above is not None:
                above._get_xf_index()
        return [fmt.cell.get(col.kind, fmt.cell["text"])._get_xf_index() for col in cols]

    handle, path = tempfile.mkstemp(prefix="wuye-rows-", suffix=".xml")
    os.close(handle)
    try:
        with open(path, "w", encoding="utf-8") as fh:
            count, totals = _write_rows(fh, cols, styles, rows, head_row + 1, widths)
    except BaseException:
        os.unlink(path)
        raise

    r = head_row + count
    has_totals = any(c.total for c in cols)
    if has_totals:
        r += 1
        label_at = next((i for i, c in enumerate(cols) if not c.total), None)
        for i, col in enumerate(cols):
            if col.total:
                total = totals[i]
                sheet.write_number(r, i, int(total) if col.kind == "int" else float(total), fmt.total.get(col.kind, fmt.total["money"]))
            elif i == label_at:
                sheet.write_string(r, i, gettext("合计"), fmt.total_label)
            else:
                sheet.write_blank(r, i, None, fmt.total_label)
    for i, col in enumerate(cols):
        sheet.set_column(i, i, col.width or widths[i])
    sheet.autofilter(head_row, 0, head_row + max(count, 1), len(cols) - 1)
    last = f"{xl_col_to_name(max(len(cols) - 1, 0))}{r + 1}"
    before = f'<row r="{r + 1}"' if has_totals else "</sheetData>"
    workbook._data[part] = _SheetData(path, before, "A1" if last == "A1" else f"A1:{last}")
    return count


# ---------------------------------------------------------------- data rows as worksheet XML
_EPOCH = datetime(1899, 12, 31)
# text that needs more than to be put between <t> and </t>: XML's special characters, control
# characters and what looks like their _xHHHH_ escapes, leading or trailing space
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$")
_ESCAPED_LOOKALIKE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile("([\x00-\x08\x0b-\x1f])")
_TEXT, _CODE, _INT, _DECIMAL, _DATE, _DATETIME = range(6)
_NO_ROW = object()
_KIND_CODE = {"text": _TEXT, "int": _INT, "money": _DECIMAL, "number": _DECIMAL, "date": _DATE, "datetime": _DATETIME}


def _inline_text(text: str) -> str:
    """The <t> element of a text cell, as XlsxWriter writes it: control characters as _xHHHH_,
    & < > escaped, leading or trailing space kept."""
    if len(text) > 16383 and len(text.encode("utf-16-le")) > 2 * 32767:  # Excel keeps 32,767 UTF-16 units
        text = text.encode("utf-16-le")[: 2 * 32767].decode("utf-16-le", errors="ignore")
    if not _SPECIAL.search(text):
        return f"<t>{text}</t>"
    text = _ESCAPED_LOOKALIKE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<t{space}>{text}</t>"


def _write_rows(fh, cols: list[Col], styles: Callable[[], list[int]], rows: Iterable, first_row: int, widths: list[int]) -> tuple[int, list]:
    """The data rows as `<row>` elements, the cells XlsxWriter would write (inline strings); returns
    the row count and the column totals, and widens `widths` of text columns to their longest line.
    `styles()` numbers the columns' formats once there is a row. The innermost loop of every
    export: one pass per cell, no call that can be avoided."""
    totals: list[Decimal] = [Decimal("0")] * len(cols)
    rows = iter(rows)
    first = next(rows, _NO_ROW)
    if first is _NO_ROW:
        return 0, totals
    plan, dict_plan = [], []
    for i, (col, style) in enumerate(zip(cols, styles(), strict=True)):
        kind = _KIND_CODE.get(col.kind, _TEXT)
        labels = None
        if col.codes is not None:
            labels = {code: str(label) for code, label in col.codes.labels().items()}
            kind = _CODE if kind == _TEXT else kind
        tracked = col.width is None and col.kind == "text"
        ref = f'<c r="{xl_col_to_name(i)}'
        style = f'" s="{style}"'
        fast = attrgetter(col.value) if isinstance(col.value, str) else col.value
        plan.append((i, fast, col._getter, kind, labels, tracked, ref, style))
        dict_plan.append((i, col._getter, col._getter, kind, labels, tracked, ref, style))
    epoch, tz, special = _EPOCH, TZ, _SPECIAL.search
    yes_no = {True: gettext("是"), False: gettext("否")}  # in the language of whoever asked for the sheet
    write = fh.write
    r = first_row  # 0-based; Excel's row numbers are r + 1
    for row in itertools.chain((first,), rows):
        r += 1
        n = str(r)
        out = [f'<row r="{n}">']
        for i, get, safe, kind, labels, tracked, ref, style in dict_plan if isinstance(row, dict) else plan:
            try:
                value = get(row)
            except AttributeError:  # a missing attribute, or a missing relation on the way, reads as empty
                value = safe(row)
            if value is None or value == "":
                out.append(f"{ref}{n}{style}/>")
                continue
            if kind == _CODE:
                value = labels.get(value, value)
                kind = _TEXT
            elif kind >= _DATE:
                if isinstance(value, datetime):
                    value = value.astimezone(tz) if value.tzinfo is not None else local(value)
                    delta = (value.replace(tzinfo=None) if kind == _DATETIME else datetime(value.year, value.month, value.day)) - epoch
                elif isinstance(value, date):
                    delta = datetime(value.year, value.month, value.day) - epoch
                else:
                    delta = None
                    kind = _TEXT
                if delta is not None:  # Excel's day number, as XlsxWriter computes it (1900 leap-year bug included)
                    serial = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
                    out.append(f"{ref}{n}{style}><v>{serial + 1 if serial > 59 else serial:.16G}</v></c>")
                    continue
            if kind == _TEXT:
                text = value if type(value) is str else yes_no[value] if type(value) is bool else as_text(value)
                if tracked:
                    width = widths[i]
                    if width > MAX_TEXT_WIDTH or 2 * len(text) + 2 > width:
                        longest = max((_display_width(line) for line in text.splitlines()), default=0)
                        widths[i] = min(max(width, longest + 2), MAX_TEXT_WIDTH)
                if len(text) < 16384 and not special(text):
                    out.append(f'{ref}{n}{style} t="inlineStr"><is><t>{text}</t></is></c>')
                else:
                    out.append(f'{ref}{n}{style} t="inlineStr"><is>{_inline_text(text)}</is></c>')
            elif kind == _DECIMAL:
                number = value if type(value) is Decimal else Decimal(str(value))
                totals[i] += number
                out.append(f"{ref}{n}{style}><v>{float(number):.16G}</v></c>")
            else:
                number = int(value)
                totals[i] += number
                out.append(f"{ref}{n}{style}><v>{number:.16G}</v></c>")
        out.append("</row>")
        write("".join(out))
    return r - first_row, totals


def new_workbook(target) -> Workbook:
    return Workbook(target)


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

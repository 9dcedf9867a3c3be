"""Roster import: estates, buildings, units and owners from one xlsx sheet, all or nothing."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import func, select

from models.master import Building, Estate, EstateKind, Owner, OwnerKind, Unit, phone_error

# Header text -> field. The first row of the sheet holds the headers.
HEADERS = {
    "小区/大厦": "estate",
    "类型": "estate_kind",
    "楼栋": "building",
    "房号": "room",
    "建筑面积": "area",
    "业户姓名": "owner",
    "电话": "phone",
    "业主/租户": "owner_kind",
    "住户单位": "company",
}
REQUIRED = ("小区/大厦", "楼栋", "房号")
KIND_BY_LABEL = {"住宅小区": "residential", "商业大厦": "commercial", "residential": "residential", "commercial": "commercial"}
OWNER_KIND_BY_LABEL = {"业主": "owner", "租户": "tenant", "owner": "owner", "tenant": "tenant"}


class RosterError(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:5]))
        self.errors = errors


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def read_rows(data: bytes, max_rows: int = 20000) -> list[tuple[int, dict]]:
    """(row number, {field: text}) for each non-empty row; RosterError for an unreadable file."""
    from openpyxl import load_workbook

    if not data:
        raise RosterError([_("文件是空的")])
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise RosterError([_("无法读取文件:请上传 Excel(.xlsx)格式的花名册")]) from exc
    sheet = workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if not header:
        raise RosterError([_("第 1 行应为表头")])
    names = [_text(h) for h in header]
    missing = [h for h in REQUIRED if h not in names]
    if missing:
        raise RosterError([_("第 1 行缺少表头:%(cols)s", cols="、".join(missing))])
    index = {HEADERS[n]: i for i, n in enumerate(names) if n in HEADERS}
    out = []
    for number, row in enumerate(rows, start=2):
        if number - 1 > max_rows:
            raise RosterError([_("行数超过上限 %(n)s 行,请分批导入", n=max_rows)])
        values = {field: _text(row[i]) if i < len(row) else "" for field, i in index.items()}
        if any(values.values()):
            out.append((number, values))
    workbook.close()
    if not out:
        raise RosterError([_("花名册中没有数据行")])
    return out


def import_roster(session, data: bytes, max_rows: int = 20000, allowed_estates: set[int] | None = None) -> dict:
    """Check every row, then write them all in one transaction; RosterError lists each bad row."""
    rows = read_rows(data, max_rows)
    errors: list[str] = []
    estates = {e.name: e for e in session.scalars(select(Estate))}
    seen_rooms: dict[tuple[str, str, str], int] = {}

    def err(number, column, reason):
        errors.append(_("第 %(row)s 行「%(col)s」:%(reason)s", row=number, col=column, reason=reason))

    for number, v in rows:
        for col in REQUIRED:
            if not v.get(HEADERS[col]):
                err(number, col, _("不能为空"))
        if v.get("estate_kind") and v["estate_kind"] not in KIND_BY_LABEL:
            err(number, "类型", _("只能是住宅小区或商业大厦"))
        if v.get("area"):
            try:
                if Decimal(v["area"]) < 0:
                    err(number, "建筑面积", _("不能为负数"))
            except InvalidOperation:
                err(number, "建筑面积", _("不是数字"))
        if v.get("owner") or v.get("phone"):
            if not v.get("owner"):
                err(number, "业户姓名", _("填写了电话就要填写业户姓名"))
            problem = phone_error(v.get("phone"))
            if problem:
                err(number, "电话", problem)
        if v.get("owner_kind") and v["owner_kind"] not in OWNER_KIND_BY_LABEL:
            err(number, "业主/租户", _("只能是业主或租户"))
        key = (v.get("estate", ""), v.get("building", ""), v.get("room", ""))
        if all(key):
            if key in seen_rooms and not v.get("owner"):
                err(number, "房号", _("与第 %(row)s 行重复", row=seen_rooms[key]))
            seen_rooms.setdefault(key, number)
        estate = estates.get(v.get("estate", ""))
        if allowed_estates is not None and (estate is None or estate.id not in allowed_estates):
            err(number, "小区/大厦", _("您无权导入到该小区/大厦"))
    if errors:
        raise RosterError(errors)

    counts = {"小区/大厦": 0, "楼栋": 0, "房屋": 0, "业户": 0}
    buildings: dict[tuple[int, str], Building] = {}
    units: dict[tuple[int, str], Unit] = {}
    try:
        for _number, v in rows:
            estate = estates.get(v["estate"])
            if estate is None:
                estate = Estate(name=v["estate"], kind=KIND_BY_LABEL.get(v.get("estate_kind"), EstateKind.residential.value), households=0)
                session.add(estate)
                session.flush()
                estates[estate.name] = estate
                counts["小区/大厦"] += 1
            bkey = (estate.id, v["building"])
            building = buildings.get(bkey) or session.scalar(
                select(Building).where(Building.estate_id == estate.id, Building.name == v["building"])
            )
            if building is None:
                building = Building(estate_id=estate.id, name=v["building"])
                session.add(building)
                session.flush()
                counts["楼栋"] += 1
            buildings[bkey] = building
            ukey = (building.id, v["room"])
            unit = units.get(ukey) or session.scalar(select(Unit).where(Unit.building_id == building.id, Unit.room == v["room"]))
            if unit is None:
                unit = Unit(building_id=building.id, building=building, estate_id=estate.id, room=v["room"], area=Decimal(v["area"]) if v.get("area") else None)
                session.add(unit)
                session.flush()
                counts["房屋"] += 1
            units[ukey] = unit
            if v.get("owner"):
                session.add(
                    Owner(
                        unit_id=unit.id,
                        unit=unit,
                        estate_id=estate.id,
                        name=v["owner"],
                        phone=v["phone"].replace(" ", ""),
                        kind=OWNER_KIND_BY_LABEL.get(v.get("owner_kind"), OwnerKind.owner.value),
                        company=v.get("company") or None,
                    )
                )
                counts["业户"] += 1
        session.flush()
        for estate in estates.values():
            if not estate.households:
                estate.households = session.scalar(
                    select(func.count(Unit.id)).where(Unit.estate_id == estate.id)
                )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return counts

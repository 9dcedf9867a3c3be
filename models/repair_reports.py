"""Repair lists and figures: the duty room's monthly order sheet, the ledger 维修(服务)汇总表,
the 维修记录表 (Excel, also `flask export NAME --period YYYY-MM`), and per-staff statistics."""

from __future__ import annotations

import re
from collections import defaultdict, namedtuple
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text
from sqlalchemy.orm import defaultload, joinedload, lazyload

from app.exports import export
from app.xlsx import Col, write_file
from models.base import ValidationError, local, utcnow
from models.master import Building, Department, Estate, Owner, Staff, Unit, unit_name
from models.repair import (
    DelayKind,
    EmergencyReason,
    RepairAssignment,
    RepairCategory,
    RepairOrder,
    RepairStatus,
    Urgency,
    address_text,
    resident_text,
)
from models.repair import RepairStatus as S

PERIOD_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2]))?$")


def period_condition(period: str | None):
    """Orders of a period "YYYY-MM" (by the 维修单 一.7 rule) or of a year "YYYY"."""
    if not period:
        return None
    if not PERIOD_RE.match(period):
        raise ValidationError("period", _l("期间格式应为 YYYY-MM 或 YYYY"))
    if len(period) == 4:
        return RepairOrder.period.like(f"{period}-%")
    return RepairOrder.period == period


# What the sheets print of an order's relations (estate, unit and building, owner, section, worker),
# joined in the one streamed query; nothing else is loaded (a month is 50,000 orders).
SHEET_LOADING = (
    lazyload("*"),
    joinedload(RepairOrder.estate).lazyload("*"),
    joinedload(RepairOrder.unit).lazyload("*"),
    defaultload(RepairOrder.unit).joinedload(Unit.building).lazyload("*"),
    joinedload(RepairOrder.owner).lazyload("*"),
    joinedload(RepairOrder.department).lazyload("*"),
    joinedload(RepairOrder.assignee).lazyload("*"),
)


def orders_query(period: str | None = None, estate_id: int | None = None, estate_ids: set[int] | None = None):
    """The orders of a period, of one estate or of a set of estates (None: all), in number order."""
    return _orders_of(select(RepairOrder).options(*SHEET_LOADING), period, estate_id, estate_ids)


def _orders_of(query, period: str | None, estate_id: int | None, estate_ids: set[int] | None):
    cond = period_condition(period)
    if cond is not None:
        query = query.where(cond)
    if estate_id:
        query = query.where(RepairOrder.estate_id == estate_id)
    if estate_ids is not None:
        query = query.where(RepairOrder.estate_id.in_(estate_ids))
    # a month of more than 9,999 orders numbers on with five digits: shorter numbers first
    return query.order_by(func.length(RepairOrder.number), RepairOrder.number)


def iter_orders(session, query, batch: int = 500):
    """Rows streamed in batches so a year of orders never sits in memory at once."""
    for partition in stream(session, query, batch).scalars().partitions():
        yield from partition


def stream(session, query, batch: int):
    """A query's result read in batches of `batch` rows, every row of it. PostgreSQL is told so: for a
    cursor it otherwise plans to return the first rows fast (a month's orders by walking the number
    index over every order: 2–3 × slower)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL cursor_tuple_fraction = 1"))
    return session.execute(query.execution_options(yield_per=batch))


def _numbered(rows):
    for i, row in enumerate(rows, 1):
        row._seq = i
        yield row


# ---------------------------------------------------------------- columns
LEDGER_COLUMNS = [
    Col("维修单号", "number", width=16),
    Col("期间", "period", width=9),
    Col("登记时间", "recorded_at", "datetime"),
    Col("来源", "source_label", width=6),
    Col("小区/大厦", lambda o: o.estate.name if o.estate else ""),
    Col("地址", "address", width=24),
    Col("住户单位", "resident_company"),
    Col("住户姓名", "resident_name", width=10),
    Col("电话", "contact_phone", width=14),
    Col("类别", "category_label", width=8),
    Col("维修/服务", "kind_label", width=8),
    Col("紧急程度", "urgency_label", width=8),
    Col("维修内容", "problem", width=30),
    Col("预约时间", "appointment_at", "datetime"),
    Col("维修处", lambda o: o.department.name if o.department else "", width=10),
    Col("维修人", "assignee_name", width=10),
    Col("派单时间", "dispatched_at", "datetime"),
    Col("接单时间", "picked_up_at", "datetime"),
    Col("开工时间", "started_at", "datetime"),
    Col("完工时间", "completed_at", "datetime"),
    Col("维修工时", "work_hours", "number"),
    Col("有偿", "paid_label", width=6),
    Col("服务费", "service_fee", "money", total=True),
    Col("材料费", "material_total", "money", total=True),
    Col("合计", "total", "money", total=True),
    Col("业主验收", lambda o: f"{o.owner_signed_by or ''} {o.satisfied_label}".strip(), width=12),
    Col("回单时间", "returned_at", "datetime"),
    Col("状态", "status_label", width=8),
    Col("备注", lambda o: ledger_note(o), width=30),
]

def record_columns(names: dict[int, str]) -> list[Col]:
    """维修记录表: 序号, 时间, 住户单位, 住户姓名, 电话, 维修内容, 维修单号, 接受人, 记录人, 维修人, 备注."""
    return [
        Col("序号", lambda o: o._seq, "int", width=6),
        Col("时间", "recorded_at", "datetime"),
        Col("住户单位", lambda o: o.resident_company or o.address, width=22),
        Col("住户姓名", "resident_name", width=10),
        Col("电话", "contact_phone", width=14),
        Col("维修内容", "problem", width=32),
        Col("维修单号", "number", width=16),
        Col("接受人", lambda o: names.get(o.picked_up_by_id, ""), width=10),
        Col("记录人", lambda o: names.get(o.recorded_by_id, ""), width=10),
        Col("维修人", "assignee_name", width=10),
        Col("备注", lambda o: ledger_note(o), width=30),
    ]


def staff_names(session) -> dict[int, str]:
    """Login → staff name, read once for a whole sheet."""
    return dict(session.execute(select(Staff.user_id, Staff.name).where(Staff.user_id.is_not(None))).all())

# The duty room's monthly sheet reads plain rows of one query (a month is 50,000 orders): the
# order's columns it prints and the names of its estate, building and room, owner, section, worker.
MONTHLY_COLUMNS = [
    Col("序号", "seq", "int", width=6),
    Col("维修单号", "number", width=16),
    Col("登记时间", "recorded_at", "datetime"),
    Col("小区/大厦", "estate_name"),
    Col("地址", lambda r: address_text(r.estate_name, unit_name(r.building_name, r.room) if r.room is not None else None, r.location), width=24),
    Col("住户姓名", lambda r: resident_text(r.contact_name, r.owner_name), width=10),
    Col("电话", "contact_phone", width=14),
    Col("类别", "category", width=8, codes=RepairCategory),
    Col("紧急程度", "urgency", width=8, codes=Urgency),
    Col("维修内容", "problem", width=30),
    Col("维修处", "department_name", width=10),
    Col("维修人", "assignee_name", width=10),
    Col("派单时间", "dispatched_at", "datetime"),
    Col("完工时间", "completed_at", "datetime"),
    Col("回单时间", "returned_at", "datetime"),
    Col("状态", "status", width=8, codes=RepairStatus),
    Col("按时回单", lambda r: on_time_text(r), width=8),
    Col("合计", "total", "money", total=True),
    Col("备注", lambda r: ledger_note(r), width=30),
]

# what `ledger_note` reads of an order
LEDGER_NOTE_FIELDS = (
    "emergency_reason", "backdated", "delay_kind", "delay_reason", "material_reported_late", "transfer_count",
    "urge_count", "reject_reason", "cancel_reason", "rectify_count", "month_end_flag", "note",
)


def monthly_rows_query(period: str | None, estate_id: int | None = None, estate_ids: set[int] | None = None):
    """What `MONTHLY_COLUMNS` print (but 序号), one plain row per order, in number order."""
    o = RepairOrder
    query = (
        select(
            o.number,
            o.recorded_at,
            Estate.name.label("estate_name"),
            Building.name.label("building_name"),
            Unit.room,
            o.location,
            o.contact_name,
            Owner.name.label("owner_name"),
            o.contact_phone,
            o.category,
            o.urgency,
            o.problem,
            Department.name.label("department_name"),
            Staff.name.label("assignee_name"),
            o.dispatched_at,
            o.completed_at,
            o.returned_at,
            o.return_due_at,
            o.status,
            o.total,
            *(getattr(o, name) for name in LEDGER_NOTE_FIELDS),
        )
        .select_from(o)
        .outerjoin(Estate, Estate.id == o.estate_id)
        .outerjoin(Unit, Unit.id == o.unit_id)
        .outerjoin(Building, Building.id == Unit.building_id)
        .outerjoin(Owner, Owner.id == o.owner_id)
        .outerjoin(Department, Department.id == o.department_id)
        .outerjoin(Staff, Staff.id == o.assignee_id)
    )
    return _orders_of(query, period, estate_id, estate_ids)


def ledger_note(order) -> str:
    """The notes a clerk writes in the ledger: emergency reason, delays, 退单, urges, month-end flag
    (of an order, or of a row with `LEDGER_NOTE_FIELDS`)."""
    notes = []
    if order.emergency_reason:
        notes.append(_("急修:%(reason)s", reason=EmergencyReason.label_of(order.emergency_reason)))
    if order.backdated:
        notes.append(_("补录"))
    if order.delay_kind:
        notes.append(_("延期(%(kind)s):%(reason)s", kind=DelayKind.label_of(order.delay_kind), reason=order.delay_reason or ""))
    if order.material_reported_late:
        notes.append(_("缺料逾期上报"))
    if order.transfer_count:
        notes.append(_("转单 %(n)s 次", n=order.transfer_count))
    if order.urge_count:
        notes.append(_("催单 %(n)s 次", n=order.urge_count))
    if order.reject_reason:
        notes.append(_("退单:%(reason)s", reason=order.reject_reason))
    if order.cancel_reason:
        notes.append(_("取消:%(reason)s", reason=order.cancel_reason))
    if order.rectify_count:
        notes.append(_("整改 %(n)s 次", n=order.rectify_count))
    if order.month_end_flag:
        notes.append(_("%(month)s 月末未交回", month=order.month_end_flag))
    if order.note:
        notes.append(order.note)
    return _(";").join(notes) if len(notes) > 1 else "".join(notes)  # translated only when needed (50,000 rows)


def on_time_text(order) -> str:
    if order.returned_at is None or order.return_due_at is None:
        return ""
    return _("是") if order.returned_at <= order.return_due_at else _("否")


def _title(name: str, period: str | None) -> str:
    return f"{name} {period}" if period else name


def write_monthly_orders(session, period: str, path: str, estate_id: int | None = None, estate_ids: set[int] | None = None) -> int:
    result = stream(session, monthly_rows_query(period, estate_id, estate_ids), 2000)
    row = namedtuple("MonthlyRow", ("seq", *result.keys()))  # reads its fields 10 × faster than a Row does by name
    rows = (row._make((seq, *values)) for seq, values in enumerate(result, 1))
    made = local(utcnow()).strftime("%Y-%m-%d")
    subtitle = _("总值班室 · 期间 %(period)s(每月末最后 2 天登记的维修单属下月)· 制表 %(made)s", period=period, made=made)
    return write_file(path, _title(_("维修单月报表"), period), MONTHLY_COLUMNS, rows, subtitle=subtitle)


@export("monthly_orders", _l("维修单月报表(总值班室)"))
def export_monthly_orders(session, period, path, estate_id=None) -> int:
    return write_monthly_orders(session, period, path, estate_id)


@export("repair_ledger", _l("维修(服务)汇总表"))
def export_ledger(session, period, path, estate_id=None) -> int:
    rows = iter_orders(session, orders_query(period, estate_id))
    return write_file(path, _title(_("维修(服务)汇总表"), period), LEDGER_COLUMNS, rows)


@export("repair_records", _l("维修记录表"))
def export_records(session, period, path, estate_id=None) -> int:
    rows = _numbered(iter_orders(session, orders_query(period, estate_id)))
    return write_file(path, _title(_("维修记录表"), period), record_columns(staff_names(session)), rows)


# ---------------------------------------------------------------- per-staff statistics
STAT_COLUMNS = [
    ("name", _l("维修人员")),
    ("department", _l("部门")),
    ("assigned", _l("派单")),
    ("transferred", _l("转出")),
    ("rejected", _l("退单")),
    ("done", _l("完工")),
    ("revisited", _l("已回访")),
    ("on_time", _l("按时回单")),
    ("signed", _l("业主验收")),
    ("satisfaction", _l("满意率")),
    ("hours", _l("工时合计")),
]


def staff_statistics(session, period: str | None = None, estate_ids: set[int] | None = None) -> list[dict]:
    """Per repair worker over the orders of a period: dispatched to them, transferred away, 退单,
    completed, revisited, returned on time, owner acceptance and its satisfaction rate."""
    cond = period_condition(period)

    def scoped(query):
        if cond is not None:
            query = query.where(cond)
        if estate_ids is not None:
            query = query.where(RepairOrder.estate_id.in_(estate_ids))
        return query

    stats: dict[int, dict] = defaultdict(lambda: defaultdict(int))
    handed = scoped(
        select(RepairAssignment.staff_id, RepairAssignment.end_reason, func.count(RepairAssignment.id))
        .join(RepairOrder, RepairOrder.id == RepairAssignment.repair_order_id)
        .group_by(RepairAssignment.staff_id, RepairAssignment.end_reason)
    )
    for staff_id, reason, n in session.execute(handed):
        stats[staff_id]["assigned"] += n
        if reason == "transferred":
            stats[staff_id]["transferred"] += n
    own = scoped(
        select(
            RepairOrder.assignee_id,
            RepairOrder.status,
            RepairOrder.completed_at.is_not(None).label("done"),
            (RepairOrder.returned_at <= RepairOrder.return_due_at).label("on_time"),
            RepairOrder.satisfied,
            RepairOrder.work_hours,
        ).where(RepairOrder.assignee_id.is_not(None))
    )
    for staff_id, status, done, on_time, satisfied, hours in session.execute(own):
        row = stats[staff_id]
        if status in (S.reject_pending, S.rejected):
            row["rejected"] += 1
        if done:
            row["done"] += 1
        if status in (S.revisited, S.closed):
            row["revisited"] += 1
        if on_time:
            row["on_time"] += 1
        if satisfied is not None:
            row["signed"] += 1
            row["satisfied"] += 1 if satisfied else 0
        row["hours"] = Decimal(row.get("hours") or 0) + Decimal(hours or 0)
    if not stats:
        return []
    people = {s.id: s for s in session.scalars(select(Staff).where(Staff.id.in_(list(stats))))}
    result = []
    for staff_id, row in stats.items():
        person = people.get(staff_id)
        signed = row.get("signed", 0)
        result.append(
            {
                "staff_id": staff_id,
                "name": person.name if person else str(staff_id),
                "department": person.department.name if person and person.department else "",
                "assigned": row.get("assigned", 0),
                "transferred": row.get("transferred", 0),
                "rejected": row.get("rejected", 0),
                "done": row.get("done", 0),
                "revisited": row.get("revisited", 0),
                "on_time": row.get("on_time", 0),
                "signed": signed,
                "satisfaction": f"{Decimal(row.get('satisfied', 0)) * 100 / signed:.1f}%" if signed else "",
                "hours": Decimal(row.get("hours") or 0).quantize(Decimal("0.01")),
            }
        )
    return sorted(result, key=lambda r: (r["department"], -r["done"], r["name"]))


def on_time_return_rate(session, estate_id: int, now) -> Decimal | None:
    """按时回单率 of the orders returned in the last 30 days of an estate (%)."""
    from datetime import timedelta

    since = now - timedelta(days=30)
    rows = session.execute(
        select(RepairOrder.returned_at, RepairOrder.return_due_at).where(
            RepairOrder.estate_id == estate_id, RepairOrder.returned_at.is_not(None), RepairOrder.returned_at >= since, RepairOrder.returned_at <= now
        )
    ).all()
    if not rows:
        return None
    on_time = sum(1 for returned, due in rows if due is None or returned <= due)
    return (Decimal(on_time) * 100 / Decimal(len(rows))).quantize(Decimal("0.1"))

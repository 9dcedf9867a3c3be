"""Complaint figures: the KPIs 有效投诉率 and 24 小时答复率, the weekly statistics kept per
estate (投诉周统计) and their export."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, Text, UniqueConstraint, func, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from app.exports import export
from models.base import EstateOwned, UTCDateTime, local_date, utcnow
from models.complaint import Complaint
from models.master import Estate
from models.revisit import Kpi, day_start, ratio


# ---------------------------------------------------------------- KPIs
def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return day_start(date(year, 1, 1)), day_start(date(year + 1, 1, 1))


def valid_complaint_rate(session, estate_id: int | None, year: int) -> Kpi:
    """有效投诉率: valid complaints received in the year ÷ households, in ‰; target below 0.5‰."""
    start, end = _year_bounds(year)
    conds = [Complaint.valid.is_(True), Complaint.received_at >= start, Complaint.received_at < end]
    if estate_id is not None:
        conds.append(Complaint.estate_id == estate_id)
        households = session.scalar(select(Estate.households).where(Estate.id == estate_id)) or 0
    else:
        households = session.scalar(select(func.sum(Estate.households))) or 0
    valid = session.scalar(select(func.count(Complaint.id)).where(*conds)) or 0
    value = (Decimal(valid) * 1000 / Decimal(households)).quantize(Decimal("0.0001")) if households else None
    return Kpi("valid_complaint_rate", str(_l("有效投诉率")), valid, int(households), value, Decimal("0.5"), "‰", higher_is_better=False)


def reply_on_time_rate(session, estate_id: int | None, year: int, month: int | None = None, now: datetime | None = None) -> Kpi:
    """24 小时答复率: complaints answered within the limit ÷ complaints whose reply was due, for a
    year or one month of receipt (up to `now`); target 100%."""
    from models.revisit import month_bounds

    now = now or utcnow()
    start, end = month_bounds(year, month) if month else _year_bounds(year)
    conds = [Complaint.received_at >= start, Complaint.received_at < end, or_(Complaint.reply_due_at <= now, Complaint.replied_at.is_not(None))]
    if estate_id is not None:
        conds.append(Complaint.estate_id == estate_id)
    due = session.scalar(select(func.count(Complaint.id)).where(*conds)) or 0
    on_time = (
        session.scalar(
            select(func.count(Complaint.id)).where(*conds, Complaint.replied_at.is_not(None), Complaint.replied_at <= Complaint.reply_due_at)
        )
        or 0
    )
    return Kpi("reply_on_time_rate", str(_l("24 小时答复率")), on_time, due, ratio(on_time, due), Decimal("1"), "%")


# ---------------------------------------------------------------- weekly statistics
class ComplaintWeek(EstateOwned, Model):
    """投诉周统计: one estate's complaints of one week (Monday to Sunday), kept as a record."""

    __tablename__ = "complaint_week"
    __table_args__ = (UniqueConstraint("estate_id", "week_start", name="uq_complaint_week"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    week_start: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    week_end: Mapped[date] = mapped_column(Date, nullable=False)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    valid: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    invalid: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    undecided: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    replied_on_time: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    replied_late: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unanswered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    data: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"{self.estate.name if self.estate else ''} {self.week_label}".strip()

    @property
    def period(self) -> str:
        return f"{self.week_start:%Y-%m}"

    @property
    def week_label(self) -> str:
        iso = self.week_start.isocalendar()
        return str(_l("%(y)s年第%(w)s周(%(start)s~%(end)s)", y=iso.year, w=iso.week, start=f"{self.week_start:%m-%d}", end=f"{self.week_end:%m-%d}"))

    @property
    def reply_rate(self) -> Decimal | None:
        return ratio(self.replied_on_time, self.replied_on_time + self.replied_late)

    @property
    def reply_rate_display(self) -> str:
        rate = self.reply_rate
        return "—" if rate is None else f"{rate * 100:.1f}%"

    @property
    def breakdown(self) -> dict[str, list[dict]]:
        try:
            data = json.loads(self.data) if self.data else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def previous_week(now: datetime) -> date:
    """The Monday of the week before the one `now` falls in (Asia/Shanghai)."""
    return week_start_of(local_date(now)) - timedelta(days=7)


def compute_week(session, estate_id: int, week_start: date, now: datetime) -> dict:
    """The statistics of one estate and week: totals and breakdowns by category, department,
    validity and on-time reply."""
    start = day_start(week_start)
    end = day_start(week_start + timedelta(days=7))
    rows = list(
        session.scalars(
            select(Complaint).where(Complaint.estate_id == estate_id, Complaint.received_at >= start, Complaint.received_at < end)
        )
    )

    def reply_class(c: Complaint) -> str:
        if c.replied_at is not None:
            return "on_time" if c.replied_at <= c.reply_due_at else "late"
        return "late" if c.reply_due_at < now else "pending"

    def validity(c: Complaint) -> str:
        return "undecided" if c.valid is None else ("valid" if c.valid else "invalid")

    def group(key, label) -> list[dict]:
        buckets: dict = defaultdict(lambda: {"count": 0, "valid": 0, "on_time": 0, "late": 0})
        labels = {}
        for c in rows:
            k = key(c)
            labels[k] = label(c)
            b = buckets[k]
            b["count"] += 1
            b["valid"] += 1 if c.valid else 0
            cls = reply_class(c)
            if cls in ("on_time", "late"):
                b[cls] += 1
        return [{"key": k, "label": labels[k], **v} for k, v in sorted(buckets.items(), key=lambda kv: (-kv[1]["count"], str(kv[0])))]

    summary = {
        "total": len(rows),
        "valid": sum(1 for c in rows if c.valid is True),
        "invalid": sum(1 for c in rows if c.valid is False),
        "undecided": sum(1 for c in rows if c.valid is None),
        "replied_on_time": sum(1 for c in rows if reply_class(c) == "on_time"),
        "replied_late": sum(1 for c in rows if reply_class(c) == "late"),
        "unanswered": sum(1 for c in rows if c.replied_at is None),
    }
    validity_labels = {"valid": str(_l("有效投诉")), "invalid": str(_l("无效投诉")), "undecided": str(_l("未判定"))}
    reply_labels = {"on_time": str(_l("24 小时内答复")), "late": str(_l("超时(含超时未答复)")), "pending": str(_l("未到答复期限"))}
    breakdown = {
        "category": group(lambda c: c.category, lambda c: c.category_label),
        "department": group(lambda c: c.department_id or 0, lambda c: c.department.name if c.department else str(_l("未指定部门"))),
        "validity": group(validity, lambda c: validity_labels[validity(c)]),
        "reply": group(reply_class, lambda c: reply_labels[reply_class(c)]),
    }
    return {**summary, "breakdown": breakdown}


def build_week(session, week_start: date, now: datetime) -> dict[str, int]:
    """Build (or refresh) every estate's record of the week; running it again creates nothing new."""
    created = updated = 0
    week_end = week_start + timedelta(days=6)
    for estate_id in session.scalars(select(Estate.id).order_by(Estate.id)):
        stats = compute_week(session, estate_id, week_start, now)
        breakdown = stats.pop("breakdown")
        record = session.scalar(select(ComplaintWeek).where(ComplaintWeek.estate_id == estate_id, ComplaintWeek.week_start == week_start))
        data = json.dumps(breakdown, ensure_ascii=False)
        if record is None:
            record = ComplaintWeek(estate_id=estate_id, week_start=week_start, week_end=week_end, built_at=now, data=data, **stats)
            session.add(record)
            created += 1
        elif record.data != data or any(getattr(record, k) != v for k, v in stats.items()):
            for k, v in stats.items():
                setattr(record, k, v)
            record.data = data
            record.built_at = now
            updated += 1
    session.flush()
    return {"weeks_created": created, "weeks_updated": updated, "week_start": week_start.isoformat()}


# ---------------------------------------------------------------- export
def weeks_for_period(session, period: str, estate_id: int | None = None, now: datetime | None = None) -> list[ComplaintWeek]:
    """The weeks touching a month (YYYY-MM) or a year (YYYY), per estate: the kept record where the
    weekly job made one, else the statistics computed now (not saved) for weeks already begun."""
    now = now or utcnow()
    year, _, month = period.partition("-")
    start = date(int(year), int(month or 1), 1)
    end = date(int(year) + 1, 1, 1) if not month else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    last = min(end - timedelta(days=1), local_date(now))
    estates = session.scalars(select(Estate).order_by(Estate.id) if estate_id is None else select(Estate).where(Estate.id == estate_id)).all()
    kept = {
        (w.estate_id, w.week_start): w
        for w in session.scalars(
            select(ComplaintWeek).where(ComplaintWeek.week_start >= week_start_of(start), ComplaintWeek.week_start <= last)
        )
    }
    weeks = []
    monday = week_start_of(start)
    while monday <= last:
        for estate in estates:
            record = kept.get((estate.id, monday))
            if record is None:
                stats = compute_week(session, estate.id, monday, now)
                breakdown = stats.pop("breakdown")
                record = ComplaintWeek(
                    estate_id=estate.id, week_start=monday, week_end=monday + timedelta(days=6), built_at=now,
                    data=json.dumps(breakdown, ensure_ascii=False), **stats,
                )
                record.estate = estate
            weeks.append(record)
        monday += timedelta(days=7)
    return weeks


@export("weekly_complaints", _l("投诉周统计"))
def export_weekly(session, period: str | None, path, estate_id: int | None = None, rows=None) -> int:
    """投诉周统计 as xlsx: one sheet of weekly totals, one per breakdown (category, department,
    validity, on-time reply). `period` YYYY-MM (the weeks touching that month) or YYYY."""
    from app.xlsx import Col, new_workbook, write_sheet

    weeks = rows if rows is not None else weeks_for_period(session, period, estate_id)
    workbook = new_workbook(path)
    estate_name = lambda w: w.estate.name if w.estate else ""  # noqa: E731
    write_sheet(
        workbook,
        str(_l("投诉周统计")),
        [
            Col("周次", lambda w: w.week_label, width=30),
            Col("周一", "week_start", "date"),
            Col("小区/大厦", estate_name, width=16),
            Col("投诉数", "total", "int"),
            Col("有效投诉", "valid", "int"),
            Col("无效投诉", "invalid", "int"),
            Col("未判定", "undecided", "int"),
            Col("24小时内答复", "replied_on_time", "int"),
            Col("超时答复/未答复", "replied_late", "int"),
            Col("尚未答复", "unanswered", "int"),
            Col("按时答复率", lambda w: w.reply_rate_display),
            Col("统计时间", "built_at", "datetime"),
        ],
        weeks,
        subtitle=str(_l("期间:%(p)s", p=period)) if period else None,
    )
    breakdowns = (
        ("category", _l("按类别"), _l("类别")),
        ("department", _l("按部门"), _l("部门")),
        ("validity", _l("按有效性"), _l("有效性")),
        ("reply", _l("按答复时效"), _l("答复时效")),
    )
    for key, title, column in breakdowns:
        lines = [(w, line) for w in weeks for line in w.breakdown.get(key, [])]
        write_sheet(
            workbook,
            str(title),
            [
                Col("周次", lambda r: r[0].week_label, width=30),
                Col("小区/大厦", lambda r: estate_name(r[0]), width=16),
                Col(str(column), lambda r: r[1]["label"], width=18),
                Col("投诉数", lambda r: r[1]["count"], "int"),
                Col("有效投诉", lambda r: r[1]["valid"], "int"),
                Col("24小时内答复", lambda r: r[1]["on_time"], "int"),
                Col("超时", lambda r: r[1]["late"], "int"),
            ],
            lines,
        )
    workbook.close()
    return len(weeks)

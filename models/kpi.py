"""The handbook's KPIs per estate (SPEC §10): a registry of measures with their targets.

Each KPI names its Chinese label, target and comparison, the window it is measured over, a
function `(session, estate_id, now) -> Decimal | None` (None: nothing to measure yet) and the
filtered list behind it. A KPI whose area is not installed is left out; a KPI is never faked.
The functions live in the area modules where they exist; the rest are computed here from the tables.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l

from app.exports import export
from models.base import TZ, as_utc, fmt_dt, local, utcnow

logger = logging.getLogger(__name__)

GE, LE = ">=", "<="


# ---------------------------------------------------------------- windows (Asia/Shanghai)
def day_start(d: date) -> datetime:
    return as_utc(datetime.combine(d, time.min, tzinfo=TZ))


def month_start(now: datetime, months_back: int = 0) -> datetime:
    d = local(now).date().replace(day=1)
    for _ in range(months_back):
        d = (d - timedelta(days=1)).replace(day=1)
    return day_start(d)


def next_month_start(now: datetime) -> datetime:
    d = local(now).date().replace(day=28) + timedelta(days=4)
    return day_start(d.replace(day=1))


def year_start(now: datetime) -> datetime:
    return day_start(local(now).date().replace(month=1, day=1))


def rolling(now: datetime, days: int = 30) -> datetime:
    return now - timedelta(days=days)


def ratio(part, whole, scale: int = 100) -> Decimal | None:
    """part ÷ whole × scale, or None when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) * scale / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- area lookup
def area_module(name: str):
    """The module of a handbook area, or None while that area is not installed."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == name or name.startswith(exc.name + ".")):
            return None
        raise


def area_function(module: str, name: str) -> Callable | None:
    mod = area_module(module)
    return getattr(mod, name, None) if mod is not None else None


def list_url(endpoint: str, **filters) -> str | None:
    """The URL of a list screen with FAB filter arguments, or None if the screen does not exist."""
    from flask import url_for
    from werkzeug.routing import BuildError

    try:
        base = url_for(endpoint)
    except BuildError:
        return None
    args = "&".join(f"{k}={v}" for k, v in filters.items() if v is not None)
    return f"{base}?{args}" if args else base


# ---------------------------------------------------------------- registry
@dataclass
class Kpi:
    name: str
    label: object
    target: Decimal
    compare: str  # GE: higher is better; LE: lower is better
    unit: str  # "%", "‰", "次", "分"
    window: object  # how the value is measured, e.g. 本年 / 本月 / 近 30 天
    func: Callable  # (session, estate_id, now) -> Decimal | None
    url: Callable | None = None  # (estate_id, now) -> str | None, in a request
    requires: tuple[str, ...] = ()  # area modules that must be installed
    places: int = 1
    help: object = ""
    # a count that accumulates over a calendar window: below target before the window ends is "pending"
    accumulates_until: Callable | None = None  # (now) -> end of the window
    roles: tuple[str, ...] = field(default_factory=tuple)  # empty: everyone who sees the dashboard

    def available(self) -> bool:
        return all(area_module(m) is not None for m in self.requires)

    def met(self, value: Decimal) -> bool:
        return value >= self.target if self.compare == GE else value <= self.target

    def fmt(self, value: Decimal | None) -> str:
        if value is None:
            return ""
        q = Decimal(1).scaleb(-self.places) if self.places else Decimal(1)
        text = f"{Decimal(value).quantize(q, rounding=ROUND_HALF_UP)}"
        return f"{text}{self.unit}" if self.unit in ("%", "‰") else f"{text} {self.unit}"

    @property
    def target_text(self) -> str:
        sign = "≥" if self.compare == GE else "≤"
        return f"{sign} {self.fmt(self.target)}"

    def evaluate(self, session, estate_id: int, now: datetime) -> KpiResult:
        try:
            value = self.func(session, estate_id, now)
        except Exception:  # one broken measure must not take the home page down
            logger.exception("KPI %s failed for estate %s", self.name, estate_id)
            session.rollback()
            value = None
        if value is None:
            status = "nodata"
        elif self.met(Decimal(value)):
            status = "met"
        elif self.accumulates_until is not None and now < self.accumulates_until(now):
            status = "pending"
        else:
            status = "missed"
        url = None
        if self.url is not None:
            try:
                url = self.url(estate_id, now)
            except Exception:
                logger.exception("KPI %s link failed", self.name)
        return KpiResult(self, estate_id, None if value is None else Decimal(value), status, url)


@dataclass
class KpiResult:
    kpi: Kpi
    estate_id: int
    value: Decimal | None
    status: str  # met | missed | pending | nodata
    url: str | None

    @property
    def value_text(self) -> str:
        return self.kpi.fmt(self.value) if self.value is not None else str(_l("暂无数据"))

    @property
    def status_label(self) -> str:
        return str({"met": _l("达标"), "missed": _l("未达标"), "pending": _l("进行中"), "nodata": _l("暂无数据")}[self.status])


KPIS: dict[str, Kpi] = {}


def register(kpi: Kpi) -> Kpi:
    KPIS[kpi.name] = kpi
    return kpi


def available_kpis(role_names: set[str] | None = None) -> list[Kpi]:
    result = []
    for k in KPIS.values():
        if not k.available():
            continue
        if role_names is not None and k.roles and not (set(k.roles) & role_names):
            continue
        result.append(k)
    return result


def estate_kpis(session, estate_id: int, now: datetime, role_names: set[str] | None = None) -> list[KpiResult]:
    return [k.evaluate(session, estate_id, now) for k in available_kpis(role_names)]


# ---------------------------------------------------------------- charts
@dataclass
class Chart:
    name: str
    title: object
    kind: str  # "stack" (stacked bars), "line", "bar", "pie"
    func: Callable  # (session, estate_ids | None, now) -> {"x": [...], "series": [{"name", "data"}]} | None
    requires: tuple[str, ...] = ()
    unit: str = ""
    roles: tuple[str, ...] = field(default_factory=tuple)

    def available(self) -> bool:
        return all(area_module(m) is not None for m in self.requires)

    def data(self, session, estate_ids: list[int] | None, now: datetime) -> dict | None:
        try:
            result = self.func(session, estate_ids, now)
        except Exception:
            logger.exception("chart %s failed", self.name)
            session.rollback()
            return None
        if result is None:
            return None
        return {"name": self.name, "title": str(self.title), "kind": self.kind, "unit": self.unit, **result}


CHARTS: dict[str, Chart] = {}


def register_chart(chart: Chart) -> Chart:
    CHARTS[chart.name] = chart
    return chart


def available_charts(role_names: set[str] | None = None) -> list[Chart]:
    return [
        c
        for c in CHARTS.values()
        if c.available() and (role_names is None or not c.roles or set(c.roles) & role_names)
    ]


def month_keys(now: datetime, months: int = 12) -> list[str]:
    """The last `months` months as "YYYY-MM", oldest first (Asia/Shanghai)."""
    d = local(now).date().replace(day=1)
    keys = []
    for _ in range(months):
        keys.append(f"{d.year:04d}-{d.month:02d}")
        d = (d - timedelta(days=1)).replace(day=1)
    return list(reversed(keys))


def month_label(key: str) -> str:
    year, month = key.split("-")
    return f"{int(month)}月" if month != "01" else f"{year}年1月"


def monthly_counts(rows, keys: list[str]) -> dict[str, list[int]]:
    """rows of (series name, local datetime) -> {series: counts per month key}."""
    index = {k: i for i, k in enumerate(keys)}
    series: dict[str, list[int]] = {}
    for name, when in rows:
        if when is None:
            continue
        key = local(when).strftime("%Y-%m")
        if key in index:
            series.setdefault(str(name), [0] * len(keys))[index[key]] += 1
    return series


def in_estates(column, estate_ids: list[int] | None):
    return column.in_(estate_ids) if estate_ids is not None else True


def _overdue_trend(session, estate_ids, now):
    """Overdue items flagged per month, by kind (the overdue scan's tasks)."""
    from sqlalchemy import select

    from models.notify import OVERDUE_TASK_KINDS, PAYMENT_TASK_KINDS
    from models.task import Task, TaskKind

    keys = month_keys(now)
    rows = session.execute(
        select(Task.kind, Task.created_at).where(
            Task.kind.in_(OVERDUE_TASK_KINDS + PAYMENT_TASK_KINDS + ("revisit_overdue",)),
            Task.created_at >= month_start(now, 11),
            Task.created_at < next_month_start(now),
            in_estates(Task.estate_id, estate_ids),
        )
    ).all()
    series = monthly_counts(((TaskKind.label_of(k), at) for k, at in rows), keys)
    return {
        "x": [month_label(k) for k in keys],
        "series": [{"name": n, "data": d} for n, d in sorted(series.items(), key=lambda s: -sum(s[1]))],
    }


register_chart(Chart("overdue_trend", _l("超期事项趋势(近 12 个月,按类别)"), "stack", _overdue_trend, unit="件"))


# ---------------------------------------------------------------- the monthly KPI sheet
PERIOD_RE = r"^\d{4}(-(0[1-9]|1[0-2]))?$"


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """Start and end (exclusive, UTC) of a period "YYYY-MM" or "YYYY" in Asia/Shanghai."""
    import re

    from models.base import ValidationError

    if not isinstance(period, str) or not re.match(PERIOD_RE, period):
        raise ValidationError("period", _l("期间格式应为 YYYY-MM 或 YYYY"))
    if len(period) == 4:
        year = int(period)
        return day_start(date(year, 1, 1)), day_start(date(year + 1, 1, 1))
    year, month = (int(x) for x in period.split("-"))
    start = date(year, month, 1)
    return day_start(start), day_start((start.replace(day=28) + timedelta(days=4)).replace(day=1))


def period_as_of(period: str, now: datetime) -> datetime:
    """The moment a period's figures are read: its last second, or now while it is running."""
    start, end = period_bounds(period)
    return min(now, end - timedelta(seconds=1))


def kpi_rows(session, period: str, estate_id: int | None, now: datetime) -> list[dict]:
    from sqlalchemy import select

    from models.master import Estate

    as_of = period_as_of(period, now)
    query = select(Estate).order_by(Estate.id)
    if estate_id is not None:
        query = query.where(Estate.id == estate_id)
    rows = []
    for estate in session.scalars(query):
        for result in estate_kpis(session, estate.id, as_of):
            rows.append(
                {
                    "estate": estate.name,
                    "label": str(result.kpi.label),
                    "window": str(result.kpi.window),
                    "value": result.value_text,
                    "target": result.kpi.target_text,
                    "status": result.status_label,
                }
            )
    return rows


KPI_COLUMNS = [
    ("estate", "小区/大厦"),
    ("label", "指标"),
    ("window", "统计范围"),
    ("value", "实际"),
    ("target", "目标"),
    ("status", "结果"),
]


@export("kpi_monthly", "指标月报(考核指标达成情况)")
def export_kpi_monthly(session, period, path, estate_id=None) -> int:
    from app.xlsx import write_file

    now = utcnow()
    rows = kpi_rows(session, period, estate_id, now)
    subtitle = f"期间 {period},数据截至 {fmt_dt(period_as_of(period, now))}"
    return write_file(path, f"指标月报 {period}", KPI_COLUMNS, rows, subtitle=subtitle)

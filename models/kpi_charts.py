"""The dashboard's charts (SPEC §10): each a function of the estates shown and the moment, drawn with
the ECharts served from the app's static files. A chart whose area is not installed is left out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from babel.dates import format_date, format_skeleton
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from models.base import local
from models.kpi import area_module, month_start, next_month_start

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- charts
@dataclass
class Chart:
    name: str
    title: object
    kind: str  # "stack" (stacked bars), "line", "bar", "pie"
    func: Callable  # (session, estate_ids | None, now) -> {"x": [...], "series": [{"name", "data"}]} | None
    requires: tuple[str, ...] = ()
    unit: object = ""  # "%" or a translated word
    roles: tuple[str, ...] = field(default_factory=tuple)
    order: int = 50  # place in the grid, left to right then down

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
        return {"name": self.name, "title": str(self.title), "kind": self.kind, "unit": str(self.unit), **result}


CHARTS: dict[str, Chart] = {}


def register_chart(chart: Chart) -> Chart:
    CHARTS[chart.name] = chart
    return chart


def available_charts(role_names: set[str] | None = None) -> list[Chart]:
    charts = [c for c in CHARTS.values() if c.available() and (role_names is None or not c.roles or set(c.roles) & role_names)]
    return sorted(charts, key=lambda c: c.order)


def month_keys(now: datetime, months: int = 12) -> list[str]:
    """The last `months` months as "YYYY-MM", oldest first (Asia/Shanghai)."""
    d = local(now).date().replace(day=1)
    keys = []
    for _ in range(months):
        keys.append(f"{d.year:04d}-{d.month:02d}")
        d = (d - timedelta(days=1)).replace(day=1)
    return list(reversed(keys))


def month_label(key: str) -> str:
    """An axis label in the user's language: 10月 / Oct, and the year at January (2026年1月 / Jan 2026)."""
    year, month = key.split("-")
    day = date(int(year), int(month), 1)
    locale = get_locale() or "zh"
    return format_date(day, "LLL", locale=locale) if month != "01" else format_skeleton("yMMM", day, locale=locale)


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


register_chart(Chart("overdue_trend", _l("超期事项趋势(近 12 个月,按类别)"), "stack", _overdue_trend, unit=_l("件"), order=20))


def _orders_by_category(session, estate_ids, now):
    """Repair orders per month (the handbook period) by category."""
    from sqlalchemy import func, select

    repair = area_module("models.repair")
    order = repair.RepairOrder
    keys = month_keys(now)
    rows = session.execute(
        select(order.period, order.category, func.count(order.id))
        .where(order.period.in_(keys), in_estates(order.estate_id, estate_ids))
        .group_by(order.period, order.category)
    ).all()
    index = {k: i for i, k in enumerate(keys)}
    series: dict[str, list[int]] = {}
    for period, category, n in rows:
        series.setdefault(repair.RepairCategory.label_of(category), [0] * len(keys))[index[period]] += n
    return {
        "x": [month_label(k) for k in keys],
        "series": [{"name": n, "data": d} for n, d in sorted(series.items(), key=lambda s: -sum(s[1]))],
    }


register_chart(
    Chart("orders_by_category", _l("每月维修单(按类别)"), "stack", _orders_by_category, requires=("models.repair",), unit=_l("单"), order=10,
          roles=("公司经理", "物业经理", "管理处主任", "总值班员"))
)


def _satisfaction_trend(session, estate_ids, now):
    """Share of revisits answered 满意 or 基本满意, per month of the revisit."""
    from sqlalchemy import select

    revisit = area_module("models.revisit")
    model = revisit.Revisit
    keys = month_keys(now)
    rows = session.execute(
        select(model.satisfaction, model.done_at).where(
            model.done_at.is_not(None),
            model.satisfaction.is_not(None),
            model.done_at >= month_start(now, 11),
            model.done_at < next_month_start(now),
            in_estates(model.estate_id, estate_ids),
        )
    ).all()
    counts = monthly_counts((("all", at) for _, at in rows), keys).get("all", [0] * len(keys))
    good = monthly_counts((("good", at) for sat, at in rows if sat in ("satisfied", "basically_satisfied")), keys)
    good = good.get("good", [0] * len(keys))
    bad = [counts[i] - good[i] for i in range(len(keys))]
    rate = [round(good[i] * 100 / counts[i], 1) if counts[i] else None for i in range(len(keys))]
    return {
        "x": [month_label(k) for k in keys],
        "series": [{"name": str(_l("满意率(满意+基本满意)")), "data": rate}],
        "extra": {"answered": counts, "dissatisfied": bad},
        "min": 0,
        "max": 100,
    }


register_chart(
    Chart("satisfaction_trend", _l("回访满意率趋势(近 12 个月)"), "line", _satisfaction_trend, requires=("models.revisit",), unit="%", order=30,
          roles=("公司经理", "物业经理", "管理处主任", "物业管理员", "总值班员"))
)


def _complaints_by_category(session, estate_ids, now):
    """This year's complaints by category, most frequent first."""
    from sqlalchemy import func, select

    from models.kpi import year_start

    complaint = area_module("models.complaint")
    model = complaint.Complaint
    rows = session.execute(
        select(model.category, func.count(model.id))
        .where(model.received_at >= year_start(now), model.received_at <= now, in_estates(model.estate_id, estate_ids))
        .group_by(model.category)
    ).all()
    rows = sorted(rows, key=lambda r: r[1])  # a horizontal bar chart draws the first category at the bottom
    return {
        "x": [complaint.ComplaintCategory.label_of(c) for c, _ in rows],
        "series": [{"name": str(_l("投诉件数")), "data": [n for _, n in rows]}],
    }


register_chart(
    Chart("complaints_by_category", _l("本年投诉(按类别)"), "bar", _complaints_by_category, requires=("models.complaint",), unit=_l("件"), order=40,
          roles=("公司经理", "物业经理", "管理处主任", "物业管理员"))
)

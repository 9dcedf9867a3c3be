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
from urllib.parse import urlencode

from flask_babel import lazy_gettext as _l

from app.exports import export
from models.base import TZ, as_utc, fmt_dt, local, utcnow

logger = logging.getLogger(__name__)

GE, LE, LT = ">=", "<=", "<"
SIGNS = {GE: "≥", LE: "≤", LT: "<"}


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
    args = urlencode({k: v for k, v in filters.items() if v is not None})
    return f"{base}?{args}" if args else base


# ---------------------------------------------------------------- registry
@dataclass
class Kpi:
    name: str
    label: object
    target: Decimal
    compare: str  # GE: higher is better; LE: lower is better
    unit: object  # "%", "‰" or a translated word: _l("次"), _l("分")
    window: object  # how the value is measured, e.g. 本年 / 本月 / 近 30 天
    func: Callable  # (session, estate_id, now) -> Decimal | (Decimal, note) | None
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
        if self.compare == GE:
            return value >= self.target
        return value < self.target if self.compare == LT else value <= self.target

    def fmt(self, value: Decimal | None) -> str:
        if value is None:
            return ""
        q = Decimal(1).scaleb(-self.places) if self.places else Decimal(1)
        text = f"{Decimal(value).quantize(q, rounding=ROUND_HALF_UP)}"
        unit = str(self.unit).strip()
        return f"{text}{unit}" if unit in ("%", "‰") else f"{text} {unit}"

    @property
    def target_text(self) -> str:
        return f"{SIGNS[self.compare]} {self.fmt(self.target)}"

    def evaluate(self, session, estate_id: int, now: datetime) -> KpiResult:
        note = None
        try:
            value = self.func(session, estate_id, now)
        except Exception:  # one broken measure must not take the home page down
            logger.exception("KPI %s failed for estate %s", self.name, estate_id)
            session.rollback()
            value = None
        if isinstance(value, tuple):
            value, note = value
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
        return KpiResult(self, estate_id, None if value is None else Decimal(value), status, url, note)


@dataclass
class KpiResult:
    kpi: Kpi
    estate_id: int
    value: Decimal | None
    status: str  # met | missed | pending | nodata
    url: str | None
    note: str | None = None  # e.g. the weakest service area, the manager with the fewest visits

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


# ---------------------------------------------------------------- the handbook's KPIs
MANAGERS = ("公司经理", "物业经理", "管理处主任")


def local_text(moment: datetime) -> str:
    """A moment as FAB's list filters read it (Asia/Shanghai wall time)."""
    return local(moment).strftime("%Y-%m-%d %H:%M:%S")


def _period(now: datetime) -> str:
    return local(now).strftime("%Y-%m")


def _percent(kpi) -> Decimal | None:
    """An area's ratio (0..1) as a percentage."""
    return None if kpi is None or kpi.value is None else (kpi.value * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# 有效投诉率 (接待 二.3): valid complaints of the year ÷ households, kept below 0.5‰.
def _valid_complaint_rate(session, estate_id, now):
    func = area_function("models.complaint", "valid_complaint_rate")
    kpi = func(session, estate_id, local(now).year)
    if kpi.value is None:
        return None
    return kpi.value, str(_l("有效投诉 %(n)s 件 / %(h)s 户", n=kpi.numerator, h=kpi.denominator))


register(
    Kpi(
        "valid_complaint_rate", _l("有效投诉率"), Decimal("0.5"), LT, "‰", _l("本年"), _valid_complaint_rate,
        url=lambda estate_id, now: list_url(
            "ComplaintView.list", _flt_0_estate=estate_id, _flt_0_valid="y", _flt_1_received_at=local_text(year_start(now))
        ),
        requires=("models.complaint",), places=2, roles=MANAGERS + ("物业管理员",),
        help=_l("有效投诉要控制在年 0.5‰ 以下(接待 二.3)"),
    )
)


# 回访处理率 (接待 二.5): due revisits done, 100%.
def _revisit_rate(session, estate_id, now):
    func = area_function("models.revisit", "revisit_rate")
    at = local(now)
    kpi = func(session, estate_id, at.year, at.month, now)
    value = _percent(kpi)
    return None if value is None else (value, str(_l("按时完成 %(n)s / 应回访 %(d)s", n=kpi.numerator, d=kpi.denominator)))


register(
    Kpi(
        "revisit_rate", _l("回访处理率"), Decimal("100"), GE, "%", _l("本月"), _revisit_rate,
        url=lambda estate_id, now: list_url(
            "RevisitView.list", _flt_0_estate=estate_id, _flt_1_due_at=local_text(month_start(now)), _flt_2_due_at=local_text(now)
        ),
        requires=("models.revisit",), roles=MANAGERS + ("总值班员", "物业管理员"),
        help=_l("维修服务回访处理率达 100%(接待 二.5)"),
    )
)


# 按时回单率 (维修单 一.3): orders back at the duty room within 3 days of dispatch.
def _on_time_return_rate(session, estate_id, now):
    return area_function("models.repair_reports", "on_time_return_rate")(session, estate_id, now)


register(
    Kpi(
        "on_time_return_rate", _l("按时回单率"), Decimal("100"), GE, "%", _l("近 30 天"), _on_time_return_rate,
        url=lambda estate_id, now: list_url(
            "RepairOrderView.list", _flt_0_estate=estate_id, _flt_1_returned_at=local_text(rolling(now))
        ),
        requires=("models.repair", "models.repair_reports"), roles=MANAGERS + ("总值班员",),
        help=_l("各处接到维修单后一般 3 天内回单(维修单 一.3)"),
    )
)


# 投诉 24 小时答复率 (接待 二.3).
def _reply_rate(session, estate_id, now):
    func = area_function("models.complaint", "reply_on_time_rate")
    at = local(now)
    kpi = func(session, estate_id, at.year, at.month, now)
    value = _percent(kpi)
    return None if value is None else (value, str(_l("按时答复 %(n)s / 应答复 %(d)s", n=kpi.numerator, d=kpi.denominator)))


register(
    Kpi(
        "complaint_reply_rate", _l("投诉 24 小时答复率"), Decimal("100"), GE, "%", _l("本月"), _reply_rate,
        url=lambda estate_id, now: list_url("ComplaintView.list", _flt_0_estate=estate_id, _flt_1_received_at=local_text(month_start(now))),
        requires=("models.complaint",), roles=MANAGERS + ("物业管理员",),
        help=_l("投诉电话 24 小时开通,24 小时内给予答复(接待 二.3)"),
    )
)


# 物业经理走访 (接待 二.4): at least 3 visits a month by each 物业经理 of the estate; the fewest is shown.
def _manager_visits(session, estate_id, now):
    contact = area_module("models.reception_contact")
    people = [s for s in contact.managers(session) if estate_id in s.estate_ids]
    if not people:
        return None
    counts = contact.visits_in_month(session, [s.id for s in people], _period(now))
    fewest = min(people, key=lambda s: (counts.get(s.id, 0), s.id))
    n = counts.get(fewest.id, 0)
    if len(people) == 1:
        return Decimal(n), fewest.name
    return Decimal(n), str(_l("最少:%(name)s(共 %(k)s 位经理)", name=fewest.name, k=len(people)))


register(
    Kpi(
        "manager_visits", _l("物业经理走访"), Decimal("3"), GE, _l("次"), _l("本月"), _manager_visits,
        url=lambda estate_id, now: list_url("OwnerVisitView.list", _flt_0_estate=estate_id, _flt_0_period=_period(now)),
        requires=("models.reception_contact",), places=0, accumulates_until=next_month_start, roles=MANAGERS,
        help=_l("物业经理每月 3 次走访业户(接待 二.4)"),
    )
)


# 意见征询 (接待 一.5): the average score (1–5) of the estate's latest survey with answers.
SURVEY_TARGET = Decimal("4.0")


def _survey_average(session, estate_id, now):
    from sqlalchemy import func, select

    survey = area_module("models.survey")
    campaign, response = survey.SurveyCampaign, survey.SurveyResponse
    latest = session.scalar(
        select(campaign.id)
        .join(response, response.survey_id == campaign.id)
        .where(campaign.estate_id == estate_id, response.submitted_at <= now)
        .group_by(campaign.id)
        .order_by(func.max(response.submitted_at).desc(), campaign.id.desc())
        .limit(1)
    )
    if latest is None:
        return None
    report = survey.survey_report(session, survey_ids=[latest], scope="all")
    row = next((e for e in report.estates if e.estate_id == estate_id), None)
    if row is None or row.average is None:
        return None
    return row.average, (str(_l("最弱:%(area)s", area=row.weakest)) if row.weakest else None)


register(
    Kpi(
        "survey_average", _l("意见征询平均分"), SURVEY_TARGET, GE, _l("分"), _l("最近一期"), _survey_average,
        url=lambda estate_id, now: list_url("SurveyView.list", _flt_0_estate=estate_id),
        requires=("models.survey",), places=2, roles=MANAGERS + ("物业管理员",),
        help=_l("业主(住户)意见征询表各服务项目的平均分(5 分制)"),
    )
)


# 收费率 (接待 六.3): money collected on the payment requests that fell due in the last 3 months.
COLLECTION_TARGET = Decimal("95")


def _collection_rate(session, estate_id, now):
    from sqlalchemy import func, select

    billing = area_module("models.billing")
    request = billing.PaymentRequest
    today = local(now).date()
    billed, paid = session.execute(
        select(func.sum(request.total), func.sum(request.paid_amount)).where(
            request.estate_id == estate_id, request.due_on < today, request.due_on >= today - timedelta(days=92)
        )
    ).one()
    if not billed:
        return None
    rate = ratio(min(paid or 0, billed), billed)
    return rate, str(_l("已收 %(p)s / %(b)s 元", p=f"{Decimal(paid or 0):,.2f}", b=f"{Decimal(billed):,.2f}"))


register(
    Kpi(
        "collection_rate", _l("收费率"), COLLECTION_TARGET, GE, "%", _l("近 3 个月到期"), _collection_rate,
        url=lambda estate_id, now: list_url(
            "PaymentRequestView.list",
            _flt_0_estate=estate_id,
            _flt_1_due_on=(local(now).date() - timedelta(days=93)).isoformat(),
            _flt_2_due_on=local(now).date().isoformat(),
        ),
        requires=("models.billing",), roles=MANAGERS + ("财务内勤",),
        help=_l("付款请求书到期应收金额中已收回的比例"),
    )
)


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
                    "note": result.note or "",
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
    ("note", "说明"),
]


@export("kpi_monthly", _l("指标月报(考核指标达成情况)"))
def export_kpi_monthly(session, period, path, estate_id=None) -> int:
    from app.xlsx import write_file

    now = utcnow()
    rows = kpi_rows(session, period, estate_id, now)
    subtitle = str(_l("期间 %(p)s,数据截至 %(t)s", p=period, t=fmt_dt(period_as_of(period, now))))
    return write_file(path, str(_l("指标月报 %(p)s", p=period)), KPI_COLUMNS, rows, subtitle=subtitle)

"""Annual summaries 访问业户记录总结 and 业户请求记录总结 (便民 二.3(1)) and the reception exports.

Generated for a year and an estate (or several) from owner visits, walk-ins, calls, forums, surveys,
repair orders, complaints and convenience-service requests: counts by category, the most frequent
requests, month by month. The 物业经理 drafts the next year's 便民服务项目及价格表 from them.

    visit_summary(session, year, estate_id=None, estate_ids=None) -> Summary
    request_summary(session, year, estate_id=None, estate_ids=None) -> Summary
    visit_summary_text(session, estate_id, year) -> str      (a short paragraph)
    request_summary_text(session, estate_id, year) -> str
    write_summary_xlsx(summary, path_or_file) -> rows
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.exports import export
from models.base import TZ, local
from models.master import Estate
from models.reception import CallRecord, ReceptionCategory, VisitRecord, VisitStatus
from models.reception_common import installed_model
from models.reception_contact import OwnerVisit, OwnerVisitStatus, Satisfaction
from models.reception_forum import Forum


@dataclass
class Summary:
    """A printable, exportable annual summary."""

    kind: str  # visit | request
    title: str
    year: int
    estate_name: str
    totals: list[tuple[str, int | str]] = field(default_factory=list)
    by_category: list[tuple[str, str, int]] = field(default_factory=list)  # source, category, count
    month_columns: list[str] = field(default_factory=list)
    by_month: list[tuple[str, list[int]]] = field(default_factory=list)  # month label, counts per column
    top: list[tuple[str, int]] = field(default_factory=list)  # most frequent requests / topics
    notes_title: str = ""
    notes: list[tuple[str, str]] = field(default_factory=list)  # (when/where, text)

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "title": self.title,
            "year": self.year,
            "estate": self.estate_name,
            "totals": [{"item": k, "value": v} for k, v in self.totals],
            "by_category": [{"source": s, "category": c, "count": n} for s, c, n in self.by_category],
            "by_month": [{"month": m, **dict(zip(self.month_columns, counts, strict=True))} for m, counts in self.by_month],
            "top": [{"request": t, "count": n} for t, n in self.top],
            "notes": [{"where": w, "text": t} for w, t in self.notes],
        }


# ---------------------------------------------------------------- helpers
def _month(index: int) -> str:
    """A month's short name in the user's language: 1月 / Jan."""
    return format_date(date(2000, index + 1, 1), "LLL")


def year_bounds(year: int) -> tuple[datetime, datetime]:
    return (
        datetime.combine(date(year, 1, 1), time.min, TZ).astimezone(UTC),
        datetime.combine(date(year + 1, 1, 1), time.min, TZ).astimezone(UTC),
    )


def _estates(session, estate_id: int | None, estate_ids) -> tuple[list[int] | None, str]:
    if estate_id is not None:
        estate = session.get(Estate, estate_id)
        return [estate_id], estate.name if estate else str(estate_id)
    if estate_ids is not None:
        names = session.scalars(select(Estate.name).where(Estate.id.in_(estate_ids or {0})).order_by(Estate.name)).all()
        return list(estate_ids), "、".join(names) or "—"
    return None, _("全部小区/大厦")


def _where(model, column, bounds, estates):
    conds = [column >= bounds[0], column < bounds[1]]
    if estates is not None:
        conds.append(model.estate_id.in_(estates or {0}))
    return conds


def _count_by(session, model, time_col, group_col, bounds, estates, *extra) -> dict[str, int]:
    rows = session.execute(
        select(group_col, func.count(model.id)).where(*_where(model, time_col, bounds, estates), *extra).group_by(group_col)
    ).all()
    return {key: n for key, n in rows if key is not None}


def _monthly(session, model, time_col, bounds, estates, *extra) -> list[int]:
    """Counts per local month (times are read back and bucketed in Asia/Shanghai)."""
    counts = [0] * 12
    for (moment,) in session.execute(select(time_col).where(*_where(model, time_col, bounds, estates), *extra)):
        counts[local(moment).month - 1] += 1
    return counts


def _optional(module: str, name: str):
    """A model of another handbook area, or None where that area is not installed."""
    return installed_model(module, name)


def _labelled(counts: dict[str, int], enum_cls) -> list[tuple[str, int]]:
    return sorted(((enum_cls.label_of(k), n) for k, n in counts.items()), key=lambda x: (-x[1], x[0]))


def _pct(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.1f}%" if whole else "—"


# ---------------------------------------------------------------- 访问业户记录总结
def visit_summary(session, year: int, estate_id: int | None = None, estate_ids=None) -> Summary:
    """访问业户记录总结: owner visits and what owners told us, walk-ins, calls, forums, surveys."""
    estates, estate_name = _estates(session, estate_id, estate_ids)
    bounds = year_bounds(year)
    summary = Summary("visit", _("访问业户记录总结"), year, estate_name)

    visits = list(session.scalars(select(OwnerVisit).where(*_where(OwnerVisit, OwnerVisit.visited_at, bounds, estates)).order_by(OwnerVisit.visited_at)))
    households = len({v.unit_id for v in visits if v.unit_id})
    owed = [v for v in visits if v.reply_needed]
    replied = [v for v in owed if v.status == OwnerVisitStatus.replied]
    satisfied = sum(1 for v in replied if v.satisfaction in (Satisfaction.satisfied, Satisfaction.basically_satisfied))
    walkins = _count_by(session, VisitRecord, VisitRecord.visited_at, VisitRecord.category, bounds, estates)
    on_spot = session.scalar(
        select(func.count(VisitRecord.id)).where(*_where(VisitRecord, VisitRecord.visited_at, bounds, estates), VisitRecord.handled_on_spot.is_(True))
    ) or 0
    resolved = session.scalar(
        select(func.count(VisitRecord.id)).where(
            *_where(VisitRecord, VisitRecord.visited_at, bounds, estates),
            VisitRecord.status.in_([VisitStatus.handled.value, VisitStatus.resolved.value]),
        )
    ) or 0
    calls = _count_by(session, CallRecord, CallRecord.called_at, CallRecord.category, bounds, estates)
    forums = list(session.scalars(select(Forum).where(*_where(Forum, Forum.held_at, bounds, estates))))
    n_walkins, n_calls = sum(walkins.values()), sum(calls.values())

    summary.totals = [
        (_("走访业户(次)"), len(visits)),
        (_("走访覆盖户数"), households),
        (_("收集意见"), sum(1 for v in visits if v.opinions and v.opinions not in ("无", "无意见"))),
        (_("收集建议"), sum(1 for v in visits if v.suggestions and v.suggestions not in ("无", "无建议"))),
        (_("需答复 / 已答复"), f"{len(owed)} / {len(replied)}"),
        (_("答复率"), _pct(len(replied), len(owed))),
        (_("答复后满意(含基本满意)"), _pct(satisfied, len(replied))),
        (_("来访接待(次)"), n_walkins),
        (_("当场处理率"), _pct(on_spot, n_walkins)),
        (_("来访办结率"), _pct(resolved, n_walkins)),
        (_("来电接待(次)"), n_calls),
        (_("业户座谈会(次)"), len(forums)),
        (_("座谈会参加人数"), sum(f.participant_count or 0 for f in forums)),
    ]
    survey = _survey_figures(session, year, estates)
    if survey:
        summary.totals += survey
    summary.by_category = [(_("来访"), label, n) for label, n in _labelled(walkins, ReceptionCategory)] + [
        (_("来电"), label, n) for label, n in _labelled(calls, ReceptionCategory)
    ]
    summary.month_columns = [_("走访"), _("来访"), _("来电"), _("座谈会")]
    columns = [
        [0] * 12,
        _monthly(session, VisitRecord, VisitRecord.visited_at, bounds, estates),
        _monthly(session, CallRecord, CallRecord.called_at, bounds, estates),
        [0] * 12,
    ]
    for v in visits:
        columns[0][local(v.visited_at).month - 1] += 1
    for f in forums:
        columns[3][local(f.held_at).month - 1] += 1
    summary.by_month = [(_month(m), [c[m] for c in columns]) for m in range(12)]
    topics = Counter()
    for code, n in walkins.items():
        topics[ReceptionCategory.label_of(code)] += n
    for code, n in calls.items():
        topics[ReceptionCategory.label_of(code)] += n
    summary.top = topics.most_common(10)
    summary.notes_title = _("业户意见和建议摘录")
    for v in visits[-200:]:
        where = f"{local(v.visited_at):%m-%d} {v.place or v.interviewee or ''}".strip()
        for text in (v.opinions, v.suggestions):
            if text and text not in ("无", "无意见", "无建议"):
                summary.notes.append((where, text))
    return summary


def _survey_figures(session, year: int, estates) -> list[tuple[str, int | str]]:
    from models.survey import survey_report

    report = survey_report(session, period=str(year), estate_ids=estates, scope="all")
    if not report.estates:
        return []
    responses = sum(e.responses for e in report.estates)
    weakest = report.areas[0] if report.areas else None
    result: list[tuple[str, int | str]] = [(_("意见征询表收回(份)"), responses)]
    if weakest is not None:
        result.append((_("意见征询最薄弱项目"), _("%(area)s(%(score)s 分)", area=weakest.area, score=weakest.average)))
    return result


# ---------------------------------------------------------------- 业户请求记录总结
def request_summary(session, year: int, estate_id: int | None = None, estate_ids=None) -> Summary:
    """业户请求记录总结: what owners asked for — repairs, services, complaints, enquiries."""
    estates, estate_name = _estates(session, estate_id, estate_ids)
    bounds = year_bounds(year)
    summary = Summary("request", _("业户请求记录总结"), year, estate_name)
    counter: Counter = Counter()
    months: dict[str, list[int]] = {}
    by_category: list[tuple[str, str, int]] = []
    kind_source = _("报修类型")  # repair types split the same orders again: not added to the total

    RepairOrder = _optional("models.repair", "RepairOrder")
    if RepairOrder is not None:
        from models.repair import RepairCategory, RepairKind

        excluded = RepairOrder.status.not_in(["cancelled"])
        kinds = _count_by(session, RepairOrder, RepairOrder.recorded_at, RepairOrder.kind, bounds, estates, excluded)
        cats = _count_by(session, RepairOrder, RepairOrder.recorded_at, RepairOrder.category, bounds, estates, excluded)
        paid = session.scalar(
            select(func.count(RepairOrder.id)).where(*_where(RepairOrder, RepairOrder.recorded_at, bounds, estates), excluded, RepairOrder.paid.is_(True))
        ) or 0
        for label, n in _labelled(cats, RepairCategory):
            by_category.append((_("报修"), label, n))
            counter[_("%(category)s维修", category=label)] += n
        for label, n in _labelled(kinds, RepairKind):
            by_category.append((kind_source, label, n))
        summary.totals += [(_("报修(单)"), sum(cats.values())), (_("其中有偿服务"), paid)]
        months[_("报修")] = _monthly(session, RepairOrder, RepairOrder.recorded_at, bounds, estates, excluded)

    Complaint = _optional("models.complaint", "Complaint")
    if Complaint is not None:
        from models.complaint import ComplaintCategory

        cats = _count_by(session, Complaint, Complaint.received_at, Complaint.category, bounds, estates)
        for label, n in _labelled(cats, ComplaintCategory):
            by_category.append((_("投诉"), label, n))
            counter[_("投诉:%(category)s", category=label)] += n
        summary.totals.append((_("投诉(件)"), sum(cats.values())))
        months[_("投诉")] = _monthly(session, Complaint, Complaint.received_at, bounds, estates)

    services = _service_requests(session, year, bounds, estates)
    if services is not None:
        names, monthly = services
        for name, n in sorted(names.items(), key=lambda x: (-x[1], x[0])):
            by_category.append((_("便民服务"), name, n))
            counter[name] += n
        summary.totals.append((_("便民服务申请(项)"), sum(names.values())))
        months[_("便民服务")] = monthly

    for source, model, col in ((_("来电"), CallRecord, CallRecord.called_at), (_("来访"), VisitRecord, VisitRecord.visited_at)):
        cats = _count_by(session, model, col, model.category, bounds, estates)
        for label, n in _labelled(cats, ReceptionCategory):
            by_category.append((source, label, n))
        # enquiries, rent/sale and payment matters are requests too; repairs and complaints are counted above
        for code in ("consult", "rent_sale", "payment", "suggestion", "other"):
            if cats.get(code):
                counter[_("%(c)s(%(s)s)", c=ReceptionCategory.label_of(code), s=source)] += cats[code]
        summary.totals.append((_("%(source)s(次)", source=source), sum(cats.values())))
        months[source] = _monthly(session, model, col, bounds, estates)

    summary.totals.insert(0, (_("业户请求合计"), sum(n for s, _c, n in by_category if s != kind_source)))
    summary.by_category = by_category
    summary.month_columns = list(months)
    summary.by_month = [(_month(m), [months[c][m] for c in months]) for m in range(12)]
    summary.top = counter.most_common(10)
    summary.notes_title = _("来电来访事由摘录")
    for call in session.scalars(
        select(CallRecord).where(*_where(CallRecord, CallRecord.called_at, bounds, estates)).order_by(CallRecord.called_at.desc()).limit(100)
    ):
        summary.notes.append((_("%(day)s 来电 %(category)s", day=f"{local(call.called_at):%m-%d}", category=call.category_label), call.content))
    return summary


def _service_requests(session, year: int, bounds, estates):
    """New long-term subscriptions by service item and venue bookings, where that area is installed."""
    Subscription = _optional("models.services_subscription", "Subscription")
    ServiceItem = _optional("models.services", "ServiceItem")
    if Subscription is None or ServiceItem is None:
        return None
    names: Counter = Counter()
    monthly = [0] * 12
    query = (
        select(ServiceItem.name, Subscription.start_on)
        .join(ServiceItem, ServiceItem.id == Subscription.service_item_id)
        .where(Subscription.start_on >= date(year, 1, 1), Subscription.start_on < date(year + 1, 1, 1))
    )
    if estates is not None:
        query = query.where(Subscription.estate_id.in_(estates or {0}))
    for name, start in session.execute(query):
        names[name] += 1
        monthly[start.month - 1] += 1
    Venue = _optional("models.services", "Venue")
    VenueBooking = _optional("models.services", "VenueBooking")
    if Venue is not None and VenueBooking is not None:
        query = select(Venue.name, VenueBooking.starts_at).join(Venue, Venue.id == VenueBooking.venue_id).where(
            *_where(VenueBooking, VenueBooking.starts_at, bounds, estates)
        )
        for name, start in session.execute(query):
            names[_("%(venue)s预订", venue=name)] += 1
            monthly[local(start).month - 1] += 1
    return names, monthly


# ---------------------------------------------------------------- short texts (price-list drafting)
def visit_summary_text(session, estate_id: int | None, year: int) -> str:
    s = visit_summary(session, year, estate_id)
    totals = dict(s.totals)
    top = "、".join(f"{t} {n}" for t, n in s.top[:5]) or "无"
    return (
        f"{year} 年走访业户 {totals[_('走访业户(次)')]} 次(覆盖 {totals[_('走访覆盖户数')]} 户,需答复/已答复 "
        f"{totals[_('需答复 / 已答复')]}),来访 {totals[_('来访接待(次)')]} 次,来电 {totals[_('来电接待(次)')]} 次,"
        f"座谈会 {totals[_('业户座谈会(次)')]} 次。业户来电来访最多的是:{top}。"
    )


def request_summary_text(session, estate_id: int | None, year: int) -> str:
    s = request_summary(session, year, estate_id)
    top = "、".join(f"{t} {n}" for t, n in s.top[:8]) or "无"
    totals = ",".join(f"{k} {v}" for k, v in s.totals)
    return f"{year} 年{totals}。最常见的请求:{top}。"


# ---------------------------------------------------------------- xlsx
def write_summary_xlsx(summary: Summary, path_or_file) -> int:
    """The summary as a workbook: 概况, 按类别, 逐月, 最常见 and the excerpts; returns category rows."""
    from app.xlsx import Col, new_workbook, write_sheet

    subtitle = _("%(estate)s · %(y)s 年", estate=summary.estate_name, y=summary.year)
    workbook = new_workbook(path_or_file)
    write_sheet(workbook, summary.title, [Col("项目", lambda r: r[0], width=28), Col("数值", lambda r: str(r[1]), width=16)], summary.totals, subtitle)
    n = write_sheet(
        workbook,
        _("按类别统计"),
        [Col("来源", lambda r: r[0], width=12), Col("类别", lambda r: r[1], width=20), Col("次数", lambda r: r[2], "int", total=True)],
        summary.by_category,
        subtitle,
    )
    write_sheet(
        workbook,
        _("逐月统计"),
        [Col("月份", lambda r: r[0], width=8)]
        + [Col(name, lambda r, i=i: r[1][i], "int", total=True) for i, name in enumerate(summary.month_columns)],
        summary.by_month,
        subtitle,
    )
    write_sheet(workbook, _("最常见"), [Col("事项", lambda r: r[0], width=30), Col("次数", lambda r: r[1], "int")], summary.top, subtitle)
    write_sheet(
        workbook,
        summary.notes_title or _("摘录"),
        [Col("时间/地点", lambda r: r[0], width=24), Col("内容", lambda r: r[1], width=80)],
        summary.notes,
        subtitle,
    )
    workbook.close()
    return n


def period_year(period: str | None) -> int:
    match = re.match(r"^(\d{4})", period or "")
    if not match:
        raise ValueError("period")
    return int(match.group(1))


@export("visit_summary", _l("访问业户记录总结"), period_kind="year")
def export_visit_summary(session, period, path, estate_id=None) -> int:
    return write_summary_xlsx(visit_summary(session, period_year(period), estate_id), path)


@export("request_summary", _l("业户请求记录总结"), period_kind="year")
def export_request_summary(session, period, path, estate_id=None) -> int:
    return write_summary_xlsx(request_summary(session, period_year(period), estate_id), path)


@export("survey_report", _l("业主(住户)意见征询汇总"), period_kind="year")
def export_survey_report(session, period, path, estate_id=None) -> int:
    from models.survey import survey_report, write_report_xlsx

    report = survey_report(session, period=period, estate_ids=[estate_id] if estate_id else None, scope="all")
    return write_report_xlsx(report, path, _("意见征询汇总 %(p)s", p=period))


def _records(session, model, time_col, period: str, estate_id):
    from models.reception_contact import month_range

    if re.fullmatch(r"\d{4}", period or ""):
        bounds = year_bounds(int(period))
    else:
        bounds = month_range(period)
    query = select(model).where(time_col >= bounds[0], time_col < bounds[1]).order_by(time_col)
    if estate_id:
        query = query.where(model.estate_id == estate_id)
    return session.scalars(query).yield_per(500)


@export("visit_records", _l("接待记录表(来访记录)"))
def export_visit_records(session, period, path, estate_id=None) -> int:
    from app.xlsx import Col, write_file

    columns = [
        Col("时间", "visited_at", "datetime"),
        Col("小区/大厦", lambda r: r.estate.name if r.estate else ""),
        Col("来访人", "visitor_name", width=10),
        Col("住户单位/房号", "place", width=12),
        Col("联系电话", lambda r: r.visitor_phone or (r.owner.phone if r.owner else ""), width=14),
        Col("类别", "category_label", width=8),
        Col("来访事由", "reason", width=40),
        Col("接待人", lambda r: r.received_by.name if r.received_by else "", width=10),
        Col("状态", "status_label", width=10),
        Col("处理情况", "handling_text", width=40),
    ]
    rows = _records(session, VisitRecord, VisitRecord.visited_at, period, estate_id)
    return write_file(path, _("接待记录表 %(p)s", p=period), columns, rows)


@export("call_records", _l("来电记录"))
def export_call_records(session, period, path, estate_id=None) -> int:
    from app.xlsx import Col, write_file

    columns = [
        Col("时间", "called_at", "datetime"),
        Col("小区/大厦", lambda r: r.estate.name if r.estate else ""),
        Col("来电人", "caller_name", width=10),
        Col("电话", "phone", width=14),
        Col("房号", "place", width=12),
        Col("类别", "category_label", width=8),
        Col("来电内容", "content", width=40),
        Col("接听人", lambda r: r.answered_by.name if r.answered_by else "", width=10),
        Col("转告对象", lambda r: r.for_staff.name if r.for_staff else "", width=10),
        Col("转告状态", "message_status", width=8),
        Col("处理情况", "outcome", width=30),
    ]
    rows = _records(session, CallRecord, CallRecord.called_at, period, estate_id)
    return write_file(path, _("来电记录 %(p)s", p=period), columns, rows)

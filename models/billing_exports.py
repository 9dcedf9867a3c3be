"""Registered exports of billing and convenience services (`flask export NAME --period ... -o FILE`)."""

from __future__ import annotations

import re
from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from app.exports import export
from app.xlsx import write_file
from models.base import TZ
from models.billing import Payment, PaymentRequest, period_bounds

REQUEST_COLUMNS = [
    ("number", _l("请求书编号")),
    ("estate.name", _l("小区/大厦")),
    ("unit.building.name", _l("楼栋")),
    ("unit.room", _l("房号")),
    ("payer", _l("付款人")),
    ("owner.phone", _l("电话")),
    ("period", _l("费用期间")),
    ("issued_on", _l("开具日期"), "date"),
    ("due_on", _l("付款期限"), "date"),
    ("lines_text", _l("明细")),
    ("total", _l("合计(元)"), "money"),
    ("total_in_words", _l("合计大写")),
    ("paid_amount", _l("已付(元)"), "money"),
    ("balance", _l("未付(元)"), "money"),
    ("status_label", _l("状态")),
]
# the 付款请求书 screen's export: the same without the lines and the amount in words
REQUEST_LIST_COLUMNS = [c for c in REQUEST_COLUMNS if c[0] not in ("lines_text", "total_in_words")]
PAYMENT_COLUMNS = [
    ("paid_at", _l("收款时间"), "datetime"),
    ("payment_request.number", _l("请求书编号")),
    ("estate.name", _l("小区/大厦")),
    ("payment_request.unit", _l("房屋")),
    ("payment_request.payer", _l("付款人")),
    ("period", _l("费用期间")),
    ("amount", _l("金额(元)"), "money"),
    ("method_label", _l("付款方式")),
    ("receipt_label", _l("收据号")),
    ("status_label", _l("状态")),
    ("note", _l("备注(冲红原因)")),
]


def _month(period: str | None) -> str:
    if not period or not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        raise ValueError(_("期间应为 YYYY-MM"))
    return period


def _year(period: str | None) -> int:
    match = re.match(r"^(\d{4})", period or "")
    if not match:
        raise ValueError(_("期间应为 YYYY 或 YYYY-MM"))
    return int(match.group(1))


@export("payment_requests", _l("付款请求书清单"))
def export_payment_requests(session, period, path, estate_id=None) -> int:
    """The requests of a fee period with their lines, totals and what is still owed."""
    period = _month(period)
    query = select(PaymentRequest).where(PaymentRequest.period == period).order_by(PaymentRequest.number)
    if estate_id:
        query = query.where(PaymentRequest.estate_id == estate_id)
    return write_file(path, _("付款请求书清单 %(p)s", p=period), REQUEST_COLUMNS, session.scalars(query),
                      subtitle=_("每月15日开具,请于20日前付费;逾期由业务员上门收款"))


@export("payments", _l("收款明细"))
def export_payments(session, period, path, estate_id=None) -> int:
    """Payments received during a calendar month (cash basis), reversals as negative rows."""
    start, end = period_bounds(_month(period))
    lo, hi = (datetime.combine(d, datetime.min.time(), tzinfo=TZ) for d in (start, end))
    query = select(Payment).where(Payment.paid_at >= lo, Payment.paid_at < hi).order_by(Payment.paid_at)
    if estate_id:
        query = query.where(Payment.estate_id == estate_id)
    # a reversal (冲红) is a negative row dated when it was made: the month's total is what was really received
    return write_file(path, _("收款明细 %(p)s", p=period), PAYMENT_COLUMNS, session.scalars(query))


@export("price_list", _l("便民服务项目及价格表"), period_kind="year")
def export_price_list(session, period, path, estate_id=None) -> int:
    """Every priced item of the year's lists (each estate's list, with its status)."""
    from models.services_price import PriceList, PriceListLine

    year = _year(period)
    query = (
        select(PriceListLine)
        .join(PriceList, PriceList.id == PriceListLine.price_list_id)
        .where(PriceList.year == year)
        .order_by(PriceList.estate_id, PriceListLine.id)
    )
    if estate_id:
        query = query.where(PriceList.estate_id == estate_id)
    columns = [
        ("price_list.estate.name", _l("小区/大厦")),
        ("price_list.status_label", _l("价格表状态")),
        ("category_label", _l("类别")),
        ("service_item.name", _l("服务项目")),
        ("unit", _l("计价单位")),
        ("price", _l("价格(元)"), "money"),
        ("cost", _l("成本(元)"), "money"),
        ("margin", _l("利润率(%)"), "number"),
        ("deposit", _l("押金(元)"), "money"),
        ("prepayment", _l("预交服务费(元)"), "money"),
        ("price_list.announced_on", _l("公告日期"), "date"),
        ("note", _l("备注")),
    ]
    return write_file(path, _("%(y)s 年度便民服务项目及价格表", y=year), columns, session.scalars(query))


@export("subscriber_roster", _l("接受长期服务业户名单"))
def export_subscriber_roster(session, period, path, estate_id=None) -> int:
    """Subscriptions in service at any time of the period (a year or a month)."""
    from models.services_subscription import Subscription

    if re.fullmatch(r"\d{4}", period or ""):
        start, end = date(int(period), 1, 1), date(int(period) + 1, 1, 1)
    else:
        start, end = period_bounds(_month(period))
    query = (
        select(Subscription)
        .where(Subscription.start_on < end, or_(Subscription.stopped_on.is_(None), Subscription.stopped_on >= start))
        .order_by(Subscription.estate_id, Subscription.service_item_id, Subscription.unit_id)
    )
    if estate_id:
        query = query.where(Subscription.estate_id == estate_id)
    columns = [
        ("estate.name", _l("小区/大厦")),
        ("owner.name", _l("业户姓名")),
        ("building_name", _l("栋号")),
        ("room", _l("房号")),
        ("owner.phone", _l("电话")),
        ("service_item.name", _l("服务项目")),
        ("price", _l("单价(元)"), "money"),
        ("start_on", _l("开始日期"), "date"),
        ("signed_by", _l("业户签名")),
        ("signed_at", _l("签名时间"), "datetime"),
        ("deposit_status", _l("押金")),
        ("prepayment_status", _l("预交服务费")),
        ("status_label", _l("状态")),
        ("stopped_on", _l("停止日期"), "date"),
        ("stop_reason", _l("停止原因")),
    ]
    return write_file(path, _("接受长期服务业户名单 %(p)s", p=period), columns, session.scalars(query))


@export("service_reconciliation", _l("便民服务现金对账"))
def export_service_reconciliation(session, period, path, estate_id=None) -> int:
    """Cash collected by service staff vs handed to finance, per staff member, with the difference."""
    from models.services_subscription import reconciliation

    period = _month(period)
    rows = reconciliation(session, {estate_id} if estate_id else None, period)
    columns = [
        ("estate", _l("小区/大厦")), ("staff", _l("服务人员")), ("opening", _l("月初未交(元)"), "money"),
        ("deliveries", _l("现金服务笔数"), "int"), ("collected", _l("本月收取(元)"), "money"), ("handovers", _l("交款次数"), "int"),
        ("due", _l("应交(元)"), "money"), ("handed_in", _l("实交(元)"), "money"), ("difference", _l("差额(元)"), "money"),
        ("closing", _l("月末未交(元)"), "money"),
    ]
    return write_file(path, _("便民服务现金对账 %(p)s", p=period), columns, rows)


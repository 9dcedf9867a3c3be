"""Registered exports of billing and convenience services (`flask export NAME --period ... -o FILE`)."""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import or_, select

from app.exports import export
from app.xlsx import Col, write_file
from models.base import TZ
from models.billing import Payment, PaymentRequest, period_bounds

REQUEST_COLUMNS = [
    ("number", "请求书编号"),
    ("estate.name", "小区/大厦"),
    ("unit.building.name", "楼栋"),
    ("unit.room", "房号"),
    ("payer", "付款人"),
    ("owner.phone", "电话"),
    ("period", "费用期间"),
    ("issued_on", "开具日期", "date"),
    ("due_on", "付款期限", "date"),
    Col("明细", lambda r: ";".join(f"{line.description} {line.amount:.2f}" for line in r.line_items), width=48),
    ("total", "合计(元)", "money"),
    ("total_in_words", "合计大写"),
    ("paid_amount", "已付(元)", "money"),
    ("balance", "未付(元)", "money"),
    ("status_label", "状态"),
]


def _month(period: str | None) -> str:
    if not period or not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        raise ValueError("period 应为 YYYY-MM")
    return period


def _year(period: str | None) -> int:
    match = re.match(r"^(\d{4})", period or "")
    if not match:
        raise ValueError("period 应为 YYYY 或 YYYY-MM")
    return int(match.group(1))


@export("payment_requests", "付款请求书清单")
def export_payment_requests(session, period, path, estate_id=None) -> int:
    """The requests of a fee period with their lines, totals and what is still owed."""
    period = _month(period)
    query = select(PaymentRequest).where(PaymentRequest.period == period).order_by(PaymentRequest.number)
    if estate_id:
        query = query.where(PaymentRequest.estate_id == estate_id)
    return write_file(path, f"付款请求书清单 {period}", REQUEST_COLUMNS, session.scalars(query),
                      subtitle="每月15日开具,请于20日前付费;逾期由业务员上门收款")


@export("payments", "收款明细")
def export_payments(session, period, path, estate_id=None) -> int:
    """Payments received during a calendar month (cash basis)."""
    start, end = period_bounds(_month(period))
    lo, hi = (datetime.combine(d, datetime.min.time(), tzinfo=TZ) for d in (start, end))
    query = select(Payment).where(Payment.paid_at >= lo, Payment.paid_at < hi).order_by(Payment.paid_at)
    if estate_id:
        query = query.where(Payment.estate_id == estate_id)
    columns = [
        ("paid_at", "收款时间", "datetime"),
        ("payment_request.number", "请求书编号"),
        ("estate.name", "小区/大厦"),
        ("payment_request.unit", "房屋"),
        ("payment_request.payer", "付款人"),
        ("period", "费用期间"),
        ("amount", "金额(元)", "money"),
        ("method_label", "付款方式"),
        ("receipt_no", "收据号"),
    ]
    return write_file(path, f"收款明细 {period}", columns, session.scalars(query))


@export("price_list", "便民服务项目及价格表", period_kind="year")
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
        ("price_list.estate.name", "小区/大厦"),
        ("price_list.status_label", "价格表状态"),
        ("category_label", "类别"),
        ("service_item.name", "服务项目"),
        ("unit", "计价单位"),
        ("price", "价格(元)", "money"),
        ("cost", "成本(元)", "money"),
        Col("利润率(%)", "margin", "number"),
        ("deposit", "押金(元)", "money"),
        ("prepayment", "预交服务费(元)", "money"),
        ("price_list.announced_on", "公告日期", "date"),
        ("note", "备注"),
    ]
    return write_file(path, f"{year} 年度便民服务项目及价格表", columns, session.scalars(query))


@export("subscriber_roster", "接受长期服务业户名单")
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
        ("estate.name", "小区/大厦"),
        ("owner.name", "业户姓名"),
        ("building_name", "栋号"),
        ("room", "房号"),
        ("owner.phone", "电话"),
        ("service_item.name", "服务项目"),
        ("price", "单价(元)", "money"),
        ("start_on", "开始日期", "date"),
        ("signed_by", "业户签名"),
        ("signed_at", "签名时间", "datetime"),
        ("deposit_status", "押金"),
        ("prepayment_status", "预交服务费"),
        ("status_label", "状态"),
        ("stopped_on", "停止日期", "date"),
        ("stop_reason", "停止原因"),
    ]
    return write_file(path, f"接受长期服务业户名单 {period}", columns, session.scalars(query))


@export("service_reconciliation", "便民服务现金对账")
def export_service_reconciliation(session, period, path, estate_id=None) -> int:
    """Cash collected by service staff vs handed to finance, per staff member, with the difference."""
    from models.services_subscription import reconciliation

    period = _month(period)
    rows = reconciliation(session, {estate_id} if estate_id else None, period)
    columns = [
        ("estate", "小区/大厦"), ("staff", "服务人员"), ("opening", "月初未交(元)", "money"),
        ("deliveries", "现金服务笔数", "int"), ("collected", "本月收取(元)", "money"), ("handovers", "交款次数", "int"),
        ("due", "应交(元)", "money"), ("handed_in", "实交(元)", "money"), ("difference", "差额(元)", "money"),
        ("closing", "月末未交(元)", "money"),
    ]
    return write_file(path, f"便民服务现金对账 {period}", columns, rows)


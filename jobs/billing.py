"""Billing and convenience-service jobs: when they run (the rules live in models/)."""

from __future__ import annotations

from jobs import job
from models.billing import issue_payment_requests, mark_overdue_payments
from models.services_price import remind_price_lists


@job("payment_requests", "付款请求书", trigger="cron", day=15, hour=8, minute=0)
def payment_requests(session, now) -> dict:
    """15th, 08:00: one request per household with the previous period's owner-signed charges."""
    return issue_payment_requests(session, now)


@job("overdue_payments", "逾期付款", trigger="cron", day=21, hour=8, minute=0)
def overdue_payments(session, now) -> dict:
    """21st, 08:00: requests unpaid after the 20th become overdue with a 上门收款 task."""
    return mark_overdue_payments(session, now)


@job("price_list_reminder", "价格表拟定提醒", trigger="cron", month=1, day=2, hour=8, minute=0)
def price_list_reminder(session, now) -> dict:
    """2 January: each estate's 物业经理 is asked to draft the year's 便民服务项目及价格表."""
    return remind_price_lists(session, now)

"""Repair jobs: the repair part of overdue_scan and the month-end check (维修单 一.6)."""

from __future__ import annotations

from jobs import job
from jobs.overdue import scan_part
from models.repair_scan import month_end_check, scan_orders


@scan_part("repair")
def repair_scan(session, now) -> dict:
    """Orders not picked up, not returned in 3 days, material not reported; requisitions not bought."""
    return scan_orders(session, now)


@job("month_end_orders", "月末维修单检查", trigger="cron", day="last", hour=18, minute=0)
def month_end_orders(session, now) -> dict:
    """Lists and flags processed orders not back at the duty room; builds the month's order sheet."""
    return month_end_check(session, now)

"""Reception jobs: the walk-in part of overdue_scan and the month-end manager_visits check."""

from __future__ import annotations

from jobs import job
from jobs.overdue import scan_part
from models.reception import scan_walkins
from models.reception_contact import check_manager_visits, scan_overdue_replies


@scan_part("reception")
def reception_scan(session, now) -> dict:
    """Walk-ins not handed over the same day; owner-visit replies past due."""
    return scan_walkins(session, now) | scan_overdue_replies(session, now)


@job("manager_visits", "物业经理走访检查", trigger="cron", day="last", hour=20, minute=0)
def manager_visits(session, now) -> dict:
    """Each 物业经理 with fewer than 3 owner visits in the month gets a task (接待 二.4)."""
    return check_manager_visits(session, now)

"""回访与投诉 jobs: the hourly revisit plan, the weekly complaint statistics and the overdue part."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from jobs import job
from jobs.overdue import scan_part
from models.complaint import build_week, previous_week, scan_reply_overdue
from models.rectification import DUTY_ROLE, ensure_plans, open_after_rain, scan_rectifications, settle_returned
from models.revisit import Revisit, RevisitStatus
from models.task import close_stale_tasks, close_tasks, ensure_task

RECEPTION_ROLE = "接待员"


@job("revisit_plan", "回访计划", trigger="cron", minute=5)
def revisit_plan(session, now: datetime) -> dict:
    """Plans for orders completed without one, after-rain revisits once it has rained, and
    returned orders whose revisits are all done."""
    return {
        "planned_orders": ensure_plans(session, now),
        "after_rain": open_after_rain(session, now),
        "revisited_orders": settle_returned(session, now),
    }


@job("weekly_complaints", "投诉周统计", trigger="cron", day_of_week="mon", hour=8, minute=0)
def weekly_complaints(session, now: datetime) -> dict:
    """The previous week's complaint statistics per estate, kept as records."""
    return build_week(session, previous_week(now), now)


def _revisit_task_role(revisit: Revisit) -> str:
    return RECEPTION_ROLE if revisit.object_type == "complaint" else DUTY_ROLE


def scan_revisits(session, now: datetime) -> dict[str, int]:
    """revisit_due for revisits that may be made now, revisit_overdue for those past due."""
    pending = list(session.scalars(select(Revisit).where(Revisit.status == RevisitStatus.pending.value, Revisit.not_before <= now)))
    due_ids, overdue_ids = set(), set()
    created_due = created_overdue = 0
    for revisit in pending:
        title = f"{revisit.subject or revisit.object_label}({revisit.kind_label})"
        if revisit.is_overdue(now):
            overdue_ids.add(revisit.id)
            close_tasks(session, "revisit_due", "revisit", revisit.id, now, note="已超期")
            _task, new = ensure_task(
                session, "revisit_overdue", "revisit", revisit.id, f"回访超期:{title}",
                estate_id=revisit.estate_id, role_name=_revisit_task_role(revisit), due_at=revisit.due_at, now=now,
                detail=f"联系人 {revisit.contact_name or ''} {revisit.contact_phone or ''}".strip(),
            )
            created_overdue += new
        else:
            due_ids.add(revisit.id)
            _task, new = ensure_task(
                session, "revisit_due", "revisit", revisit.id, f"待回访:{title}",
                estate_id=revisit.estate_id, role_name=_revisit_task_role(revisit), due_at=revisit.due_at, now=now,
                detail=f"联系人 {revisit.contact_name or ''} {revisit.contact_phone or ''}".strip(),
            )
            created_due += new
    closed = close_stale_tasks(session, "revisit_due", "revisit", due_ids, now)
    closed += close_stale_tasks(session, "revisit_overdue", "revisit", overdue_ids, now)
    return {"revisit_due": created_due, "revisit_overdue": created_overdue, "revisit_tasks_closed": closed}


@scan_part("followup")
def followup_overdue(session, now: datetime) -> dict:
    summary: dict[str, int] = {}
    for part in (scan_revisits, scan_rectifications, scan_reply_overdue):
        summary.update(part(session, now))
    return summary

"""回访与投诉 jobs: the hourly revisit plan, the weekly complaint statistics and the overdue part."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from jobs import job
from jobs.overdue import scan_part
from models.complaint import RECEPTION_ROLE, build_week, previous_week, scan_reply_overdue
from models.rectification import DUTY_ROLE, ensure_plans, open_after_rain, scan_rectifications, settle_returned
from models.revisit import Revisit, RevisitStatus


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
    """revisit_due for revisits that may be made now, revisit_overdue for those past due.

    Set-based: one SELECT of the open revisits, then per task kind one SELECT of the open tasks,
    one INSERT of the missing ones and one UPDATE closing those whose revisit is done or moved on."""
    from sqlalchemy import and_, update

    from models.revisit import OBJECT_LABELS, RevisitKind
    from models.task import Task, sync_tasks

    pending = and_(Revisit.status == RevisitStatus.pending.value, Revisit.not_before <= now)
    overdue = and_(pending, Revisit.due_at < now)
    due_rows, overdue_rows = [], []
    columns = (Revisit.id, Revisit.subject, Revisit.object_type, Revisit.kind, Revisit.estate_id, Revisit.due_at,
               Revisit.contact_name, Revisit.contact_phone)
    for r in session.execute(select(*columns).where(pending)):
        title = f"{r.subject or OBJECT_LABELS.get(r.object_type, r.object_type)}({RevisitKind.label_of(r.kind)})"
        row = {
            "object_id": r.id,
            "estate_id": r.estate_id,
            "role_name": RECEPTION_ROLE if r.object_type == "complaint" else DUTY_ROLE,
            "due_at": r.due_at,
            "detail": f"联系人 {r.contact_name or ''} {r.contact_phone or ''}".strip(),
        }
        if r.due_at < now:
            overdue_rows.append(row | {"title": f"回访超期:{title}"})
        else:
            due_rows.append(row | {"title": f"待回访:{title}"})
    # a revisit that became overdue: its 待回访 task closes as 已超期, a 回访超期 task opens
    session.execute(
        update(Task)
        .where(Task.kind == "revisit_due", Task.object_type == "revisit", Task.done_at.is_(None), Task.object_id.in_(select(Revisit.id).where(overdue)))
        .values(done_at=now, status="done", done_note="已超期")
        .execution_options(synchronize_session=False)
    )
    created_overdue, closed = sync_tasks(session, "revisit_overdue", "revisit", overdue_rows, now, keep=select(Revisit.id).where(overdue))
    created_due, closed_due = sync_tasks(
        session, "revisit_due", "revisit", due_rows, now, keep=select(Revisit.id).where(pending, Revisit.due_at >= now)
    )
    return {"revisit_due": created_due, "revisit_overdue": created_overdue, "revisit_tasks_closed": closed + closed_due}


@scan_part("followup")
def followup_overdue(session, now: datetime) -> dict:
    summary: dict[str, int] = {}
    for part in (scan_revisits, scan_rectifications, scan_reply_overdue):
        summary.update(part(session, now))
    return summary

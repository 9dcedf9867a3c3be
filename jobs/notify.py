"""notify_dispatch: every minute, queue new events for the estates' group robots and send what is due."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from jobs import job
from models.notify import collect, dispatch

# Run records of this every-minute job are kept for a week (a failed run is kept for good).
KEEP_RUNS = timedelta(days=7)


@job("notify_dispatch", "消息推送(企业微信/钉钉)", trigger="interval", minutes=1)
def notify_dispatch(session, now) -> dict:
    queued = collect(session, now)
    session.commit()
    summary = {f"queued_{k}": v for k, v in queued.items()}
    summary.update(dispatch(session, now))
    _prune_runs(session, now)
    return summary


def _prune_runs(session, now) -> None:
    from models.system import JobRun

    session.execute(
        delete(JobRun).where(JobRun.name == "notify_dispatch", JobRun.outcome == "ok", JobRun.as_of < now - KEEP_RUNS)
    )

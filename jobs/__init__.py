"""The job registry: named functions `(session, now) -> summary`, run by the scheduler and the CLI.

Each run is one transaction with a run record (name, as-of time, start, end, outcome, counts,
error). On PostgreSQL a transaction-scoped advisory lock serialises runs of the same job, so two
runs at the same moment cannot both create rows; the jobs themselves are idempotent.
"""

from __future__ import annotations

import importlib
import json
import logging
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from models.base import as_utc, utcnow

logger = logging.getLogger(__name__)

# Modules that define jobs, imported on first use (each handbook area adds its own).
JOB_MODULES: list[str] = ["jobs.overdue", "jobs.notify", "jobs.billing", "jobs.reception", "jobs.followup", "jobs.repair"]


@dataclass
class Job:
    name: str
    func: Callable
    label: str
    trigger: dict  # APScheduler cron/interval arguments, in Asia/Shanghai


JOBS: dict[str, Job] = {}


def job(name: str, label: str, **trigger):
    """Register a job under its SPEC name with its schedule."""

    def register(func):
        JOBS[name] = Job(name, func, label, trigger)
        return func

    return register


def load_jobs() -> dict[str, Job]:
    for module in JOB_MODULES:
        importlib.import_module(module)
    return JOBS


def _lock(session, name: str) -> None:
    """Serialise runs of the same job: a transaction-scoped advisory lock on PostgreSQL; on SQLite
    the job's transaction takes the database write lock before it reads anything."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(name.encode())})
    elif dialect == "sqlite":
        session.execute(text("UPDATE job_run SET outcome = outcome WHERE name = :n"), {"n": name})


def run_job(session, name: str, at: datetime | None = None) -> dict:
    """Run one job as of `at` in its own transaction and leave a run record; returns the summary."""
    from models.system import JobRun

    load_jobs()
    if name not in JOBS:
        raise KeyError(name)
    now = as_utc(at) if at else utcnow()
    run = JobRun(name=name, as_of=now, started_at=utcnow(), outcome="running")
    session.add(run)
    session.commit()
    run_id = run.id
    try:
        _lock(session, name)
        summary = JOBS[name].func(session, now) or {}
        run = session.get(JobRun, run_id)
        run.outcome = "ok"
        run.finished_at = utcnow()
        run.summary = json.dumps(summary, ensure_ascii=False, default=str)
        session.commit()
        logger.info("job %s as of %s: %s", name, now.isoformat(), summary)
        return {"job": name, "at": now.isoformat(), "outcome": "ok", **summary}
    except Exception as exc:
        session.rollback()
        run = session.get(JobRun, run_id)
        run.outcome = "failed"
        run.finished_at = utcnow()
        run.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:4000]
        session.commit()
        logger.exception("job %s failed", name)
        return {"job": name, "at": now.isoformat(), "outcome": "failed", "error": run.error}

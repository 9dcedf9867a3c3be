"""The scheduler process (`flask jobs run`): one per deployment, however many web workers serve."""

from __future__ import annotations

import logging

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from jobs import load_jobs, run_job

logger = logging.getLogger(__name__)


def build_scheduler(app: Flask) -> BlockingScheduler:
    from app.extensions import db

    scheduler = BlockingScheduler(timezone=app.config["TIMEZONE"], job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 600})

    def runner(name: str):
        with app.app_context():
            try:
                run_job(db.session, name)
            finally:
                db.session.remove()

    for job in load_jobs().values():
        trigger = dict(job.trigger)
        kind = trigger.pop("trigger", "cron")
        scheduler.add_job(runner, kind, args=[job.name], id=job.name, name=job.label, replace_existing=True, **trigger)
    return scheduler

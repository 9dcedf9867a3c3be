"""Backup/restore round trip (SQLite online backup; PostgreSQL points to pg_dump) and jobs that
cannot corrupt: a failing job rolls back and says why, a rerun completes, two runs at the same
moment create no duplicates."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db as _db


def _sqlite(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")


def test_backup_and_restore_round_trip(app, make, session, tmp_path):
    from models.master import Estate, Owner

    runner = app.test_cli_runner()
    if not _sqlite(app):
        result = runner.invoke(args=["backup", "-o", str(tmp_path / "x.db")])
        assert result.exit_code != 0 and "pg_dump" in result.output
        return
    estate = make.estate("备份小区")
    make.owner(estate=estate, name="备份业户")
    target = tmp_path / "wuye-backup.db"
    result = runner.invoke(args=["backup", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "完整性检查通过" in result.output and target.stat().st_size > 0

    # changes after the backup ...
    session.execute(Owner.__table__.delete())
    make.estate("备份后新建")
    session.commit()
    session.remove()
    result = runner.invoke(args=["restore", str(target)])
    assert result.exit_code == 0, result.output
    # ... are gone, and what was backed up is back
    names = set(session.scalars(select(Estate.name)))
    assert names == {"备份小区"}
    assert session.scalar(select(Owner.name)) == "备份业户"
    safety = result.output.split("另存为")[-1].strip()
    assert os.path.exists(safety)


def test_restore_refuses_a_file_that_is_not_a_backup(app, tmp_path):
    bogus = tmp_path / "not-a-db.db"
    bogus.write_bytes(b"PK\x03\x04 this is not sqlite")
    result = app.test_cli_runner().invoke(args=["restore", str(bogus)])
    assert result.exit_code != 0
    assert "不是有效的 SQLite 数据库文件" in result.output or "pg_dump" in result.output


# ---------------------------------------------------------------- jobs
@pytest.fixture()
def test_jobs():
    """Two jobs registered for the test: one that fails after writing, one that writes a task once."""
    from jobs import JOBS, job
    from models.task import Task, ensure_task

    state = {"fail": True, "entered": threading.Event(), "go": threading.Event(), "hold": False}

    @job("test_failing", "测试失败任务")
    def failing(session, now):
        session.add(Task(kind="message", title="半截", created_at=now))
        session.flush()
        if state["fail"]:
            raise RuntimeError("模拟故障:外部服务不可用")
        return {"made": 1}

    @job("test_once", "测试唯一任务")
    def once(session, now):
        existing = session.scalar(select(func.count(Task.id)).where(Task.kind == "message", Task.object_type == "test"))
        state["entered"].set()
        if state["hold"]:
            state["go"].wait(timeout=10)
        _task, created = ensure_task(session, "message", "test", 1, "只应有一条", now=now)
        return {"existing": existing, "created": int(created)}

    yield state
    JOBS.pop("test_failing", None)
    JOBS.pop("test_once", None)


def test_failing_job_rolls_back_says_why_and_a_rerun_completes(app, session, test_jobs):
    from jobs import run_job
    from models.system import JobRun
    from models.task import Task

    summary = run_job(session, "test_failing")
    assert summary["outcome"] == "failed" and "模拟故障" in summary["error"]
    assert session.scalar(select(func.count(Task.id))) == 0  # nothing half-saved
    run = session.scalars(select(JobRun).order_by(JobRun.id.desc())).first()
    assert run.outcome == "failed" and "模拟故障" in run.error and run.finished_at is not None

    test_jobs["fail"] = False
    assert run_job(session, "test_failing")["outcome"] == "ok"
    assert session.scalar(select(func.count(Task.id))) == 1


def test_two_runs_at_the_same_moment_create_no_duplicates(app, session, test_jobs):
    from jobs import run_job
    from models.task import Task

    test_jobs["hold"] = True
    results = {}

    def run(label):
        with app.app_context():
            try:
                results[label] = run_job(_db.session, "test_once")
            finally:
                _db.session.remove()

    first = threading.Thread(target=run, args=("first",))
    first.start()
    assert test_jobs["entered"].wait(timeout=10)
    test_jobs["entered"].clear()
    second = threading.Thread(target=run, args=("second",))
    second.start()
    # the second run waits for the first one's lock instead of working beside it
    assert not test_jobs["entered"].wait(timeout=0.5)
    test_jobs["go"].set()
    first.join(timeout=20)
    second.join(timeout=20)
    assert results["first"]["outcome"] == "ok", results
    assert results["second"]["outcome"] == "ok", results
    assert results["second"]["created"] == 0
    session.expire_all()
    assert session.scalar(select(func.count(Task.id)).where(Task.object_type == "test")) == 1


def test_every_registered_job_is_idempotent(app, session, make):
    """Run each job twice as of the same moment on a small estate: the second run adds no rows."""
    from jobs import load_jobs, run_job
    from models.base import utcnow

    estate = make.estate("幂等小区")
    make.owner(estate=estate)
    at = utcnow()
    tables = [t for t in _db.metadata.sorted_tables if t.name not in ("job_run", "change_log", "login_failure")]

    def counts():
        return {t.name: session.scalar(select(func.count()).select_from(t)) for t in tables}

    for name in sorted(load_jobs()):
        if name.startswith("test_"):
            continue
        first = run_job(session, name, at)
        assert first["outcome"] == "ok", first
        before = counts()
        second = run_job(session, name, at)
        assert second["outcome"] == "ok", second
        assert counts() == before, name

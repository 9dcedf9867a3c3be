"""Jinja filters and globals: local times without seconds, money, labels, the task count."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from models.base import fmt_dt, fmt_money, person_name


def my_open_task_count() -> int:
    from app.scope import request_user, scoped
    from models.task import Task, tasks_for_user_clause
    from models.workflow import Actor

    user = request_user()
    if user is None:
        return 0
    actor = Actor(user=user)
    from flask import current_app

    from models.master import Staff

    # one statement for the navbar of every page: the user's staff id as a subquery (no staff record:
    # NULL, which matches no assignee), not the staff record with its estates
    staff_id = select(Staff.id).where(Staff.user_id == user.id).scalar_subquery()
    query = select(func.count(Task.id)).where(Task.done_at.is_(None), tasks_for_user_clause(staff_id, actor.role_names))
    return current_app.appbuilder.session.scalar(scoped(query, Task)) or 0


def init_app(app: Flask) -> None:
    app.jinja_env.filters["dt"] = fmt_dt
    app.jinja_env.filters["money"] = fmt_money
    app.jinja_env.filters["person"] = person_name
    app.jinja_env.globals["my_open_task_count"] = my_open_task_count
    app.jinja_env.globals["company_name"] = app.config.get("COMPANY_NAME", "")

    @app.context_processor
    def print_defaults():
        from models.base import utcnow

        return {"printed_at": utcnow()}

"""The home page: the user's open tasks by kind, overdue ones first."""

from __future__ import annotations

from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose
from sqlalchemy import case, func, select

from app.extensions import db
from app.scope import scoped
from models.base import utcnow
from models.task import Task, TaskKind, tasks_for_user_clause
from models.workflow import Actor


def my_task_summary(user) -> list[dict]:
    actor = Actor(user=user)
    now = utcnow()
    query = (
        select(
            Task.kind,
            func.count(Task.id),
            func.sum(case((Task.due_at < now, 1), else_=0)),
        )
        .where(Task.done_at.is_(None), tasks_for_user_clause(actor.staff_id, actor.role_names))
        .group_by(Task.kind)
    )
    rows = db.session.execute(scoped(query, Task)).all()
    return sorted(
        ({"kind": k, "label": TaskKind.label_of(k), "open": n, "overdue": int(o or 0)} for k, n, o in rows),
        key=lambda r: (-r["overdue"], -r["open"]),
    )


class HomeView(IndexView):
    route_base = ""
    default_view = "index"
    index_template = "wuye/home.html"

    @expose("/")
    def index(self):
        user = getattr(g, "user", None)
        if user is None or not user.is_authenticated:
            return redirect(url_for(self.appbuilder.sm.auth_view.__class__.__name__ + ".login"))
        return self.render_template(self.index_template, tasks=my_task_summary(user))

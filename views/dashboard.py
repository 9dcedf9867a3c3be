"""The home page by role: my tasks, overdue items by kind, KPI tiles per estate, charts (SPEC §10)."""

from __future__ import annotations

from flask import g, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, IndexView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from sqlalchemy import case, func, or_, select

from app import roles
from app.extensions import db
from app.scope import scoped
from models.base import MAX_ID, utcnow
from models.kpi import estate_kpis, list_url
from models.kpi_charts import available_charts
from models.master import Estate
from models.notify import OVERDUE_TASK_KINDS, PAYMENT_TASK_KINDS
from models.task import Task, TaskKind, tasks_for_user_clause
from models.workflow import Actor

# Who reads the figures: managers everything, the duty room, service staff and finance their part.
roles.extend(
    {
        "公司经理": {"Dashboard": ("read",)},
        "物业经理": {"Dashboard": ("read",)},
        "管理处主任": {"Dashboard": ("read",)},
        "总值班员": {"Dashboard": ("read",)},
        "物业管理员": {"Dashboard": ("read",)},
        "财务内勤": {"Dashboard": ("read",)},
    }
)

MAX_STACKED_ESTATES = 4
LATE_KINDS = OVERDUE_TASK_KINDS + PAYMENT_TASK_KINDS


def my_task_summary(user, now=None) -> list[dict]:
    actor = Actor(user=user)
    now = now or utcnow()
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


def overdue_by_kind(estate_ids: list[int] | None, now) -> list[dict]:
    """Open items of the estates that are late: flagged by the overdue scan or past their due time."""
    late = or_(Task.kind.in_(LATE_KINDS), Task.due_at < now)
    query = (
        select(Task.kind, func.count(Task.id))
        .where(Task.done_at.is_(None), late)
        .group_by(Task.kind)
    )
    if estate_ids is not None:
        query = query.where(Task.estate_id.in_(estate_ids))
    rows = db.session.execute(scoped(query, Task)).all()
    result = []
    for kind, count in sorted(rows, key=lambda r: -r[1]):
        filters = {"_flt_0_kind": kind, "_flt_0_status": "open"}
        if estate_ids is not None and len(estate_ids) == 1:
            filters["_flt_0_estate"] = estate_ids[0]
        result.append({"kind": kind, "label": TaskKind.label_of(kind), "count": count, "url": list_url("TaskView.list", **filters)})
    return result


def visible_estates() -> list[Estate]:
    return list(db.session.scalars(scoped(select(Estate), Estate).order_by(Estate.id)))


def dashboard_context(user, estate_id: int | None, now) -> dict:
    """Everything the dashboard shows for this user; the estate picker narrows it to one estate."""
    role_names = {r.name for r in user.roles}
    if role_names & {"系统管理员"}:
        role_names = None  # the administrator sees every tile
    estates = visible_estates()
    chosen = [e for e in estates if e.id == estate_id] if estate_id else []
    if not chosen and len(estates) > MAX_STACKED_ESTATES:
        chosen = estates[:1]  # many estates: one at a time, the picker shows the others
    shown = chosen or estates
    shown_ids = [e.id for e in shown]
    panels = [{"estate": e, "tiles": estate_kpis(db.session, e.id, now, role_names)} for e in shown]
    charts = [c.data(db.session, shown_ids, now) for c in available_charts(role_names)]
    return {
        "estates": estates,
        "estate_id": chosen[0].id if chosen else None,
        "estate_name": chosen[0].name if chosen else None,
        "panels": [p for p in panels if p["tiles"]],
        "overdue": overdue_by_kind(shown_ids if chosen else None, now),
        "charts": [c for c in charts if c is not None],
    }


def can_see_dashboard(appbuilder) -> bool:
    return appbuilder.sm.has_access("can_read", "Dashboard")


def _estate_arg() -> int | None:
    value = request.args.get("estate_id", type=int)
    return value if value and 0 < value <= MAX_ID else None


class HomeView(IndexView):
    route_base = ""
    default_view = "index"
    index_template = "wuye/home.html"

    @expose("/")
    def index(self):
        user = getattr(g, "user", None)
        if user is None or not user.is_authenticated:
            return redirect(url_for(self.appbuilder.sm.auth_view.__class__.__name__ + ".login"))
        now = utcnow()
        context = {"tasks": my_task_summary(user, now), "dashboard": None}
        if can_see_dashboard(self.appbuilder):
            context["dashboard"] = dashboard_context(user, _estate_arg(), now)
        return self.render_template(self.index_template, **context)


class DashboardView(BaseView):
    """The dashboard's figures as JSON, for a wall screen or another office tool."""

    route_base = "/dashboard"
    class_permission_name = "Dashboard"
    method_permission_name = {"data": "read"}
    default_view = "data"

    @expose("/data")
    @has_access
    @permission_name("read")
    def data(self):
        now = utcnow()
        context = dashboard_context(g.user, _estate_arg(), now)
        return jsonify(
            estate_id=context["estate_id"],
            charts=context["charts"],
            overdue=[{k: v for k, v in row.items()} for row in context["overdue"]],
            kpis=[
                {
                    "estate_id": p["estate"].id,
                    "estate": p["estate"].name,
                    "tiles": [
                        {
                            "name": t.kpi.name,
                            "label": str(t.kpi.label),
                            "value": None if t.value is None else str(t.value),
                            "text": t.value_text,
                            "target": t.kpi.target_text,
                            "status": t.status,
                            "url": t.url,
                        }
                        for t in p["tiles"]
                    ],
                }
                for p in context["panels"]
            ],
        )


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(DashboardView)


"""年度总结: 访问业户记录总结 and 业户请求记录总结 for a year and an estate — on screen, printed, xlsx."""

from __future__ import annotations

import io

from flask import abort, request
from flask_appbuilder import BaseView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

import app.roles as roles
from app.scope import allowed_estate_ids, scoped
from models.base import local, utcnow
from models.master import Estate
from models.reception_summary import request_summary, visit_summary, write_summary_xlsx
from views import add_screen
from views.base import send_xlsx

roles.extend(
    {
        "物业经理": {"ReceptionSummary": ("read", "export")},
        "管理处主任": {"ReceptionSummary": ("read", "export")},
        "物业管理员": {"ReceptionSummary": ("read", "export")},
        "公司经理": {"ReceptionSummary": ("read", "export")},
    }
)

KINDS = {"visit": (visit_summary, _l("访问业户记录总结")), "request": (request_summary, _l("业户请求记录总结"))}


class ReceptionSummaryView(BaseView):
    route_base = "/reception/summary"
    class_permission_name = "ReceptionSummary"
    method_permission_name = {"index": "read", "print_view": "read", "xlsx": "export"}
    default_view = "index"

    def _params(self):
        from app.extensions import db

        kind = request.args.get("kind", "visit")
        if kind not in KINDS:
            abort(404)
        this_year = local(utcnow()).year
        year = request.args.get("year", type=int) or this_year - (1 if local(utcnow()).month == 1 else 0)
        if not 2000 <= year <= this_year + 1:
            year = this_year
        estates = db.session.scalars(scoped(select(Estate).order_by(Estate.name), Estate)).all()
        estate_id = request.args.get("estate_id", type=int)
        if estate_id is not None and estate_id not in {e.id for e in estates}:
            abort(404)
        ids = allowed_estate_ids()
        summary = KINDS[kind][0](db.session, year, estate_id, None if ids is None else ids)
        return kind, year, estate_id, estates, summary

    @expose("/")
    @has_access
    @permission_name("read")
    def index(self):
        kind, year, estate_id, estates, summary = self._params()
        return self.render_template(
            "wuye/reception_summary.html",
            title=str(KINDS[kind][1]),
            kind=kind,
            kinds=[(k, str(v[1])) for k, v in KINDS.items()],
            year=year,
            estate_id=estate_id,
            estates=estates,
            summary=summary,
            can_export=self.appbuilder.sm.has_access("can_export", "ReceptionSummary"),
        )

    @expose("/print/")
    @has_access
    @permission_name("read")
    def print_view(self):
        kind, year, estate_id, estates, summary = self._params()
        return self.render_template(
            "wuye/reception_summary_print.html",
            summary=summary,
            form_title=str(_l("%(y)s 年%(label)s", y=year, label=summary.title)),
            estate_name=summary.estate_name,
            doc_no=None,
        )

    @expose("/xlsx/")
    @has_access
    @permission_name("export")
    def xlsx(self):
        kind, year, estate_id, estates, summary = self._params()
        buffer = io.BytesIO()
        write_summary_xlsx(summary, buffer)
        buffer.seek(0)
        return send_xlsx(buffer, f"{year}年{summary.title}-{summary.estate_name}.xlsx")


def register(appbuilder) -> None:
    add_screen(appbuilder, ReceptionSummaryView, "ReceptionSummaries", _l("年度访问/请求总结"), "Reception", "fa-book")


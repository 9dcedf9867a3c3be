"""报表中心: every registered export with estate and period pickers, and the printable KPI report."""

from __future__ import annotations

import logging
import re

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app import roles
from app.exports import load_exports
from app.extensions import db
from app.scope import allowed_estate_ids, scoped
from app.xlsx import send_xlsx_file, temp_xlsx_path
from models.base import MAX_ID, DomainError, local, utcnow
from models.kpi import PERIOD_RE, kpi_rows, period_as_of
from models.master import Estate
from views import add_screen

logger = logging.getLogger(__name__)

# The report centre: managers, the duty room and finance (company roles read every concept anyway).
roles.extend(
    {
        role: {"Reports": ("read", "export")}
        for role in ("公司经理", "物业经理", "管理处主任", "总值班员", "财务内勤")
    }
)


def default_period(kind: str, now) -> str:
    today = local(now).date()
    return f"{today.year:04d}" if kind == "year" else f"{today.year:04d}-{today.month:02d}"


def estates_for_user() -> list[Estate]:
    return list(db.session.scalars(scoped(select(Estate), Estate).order_by(Estate.id)))


class ReportCenterView(BaseView):
    route_base = "/reports"
    class_permission_name = "Reports"
    method_permission_name = {"index": "read", "download": "export", "kpi_print": "read"}
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("read")
    def index(self):
        now = utcnow()
        exports = sorted(load_exports().values(), key=lambda e: e.period_kind != "month")  # areas stay together
        this_year = local(now).year
        today = local(now).date()
        months = []
        year, month = today.year, today.month
        for _step in range(24):
            months.append((f"{year:04d}-{month:02d}", _("%(y)s年%(m)s月", y=year, m=month)))
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        return self.render_template(
            "wuye/reports_center.html",
            exports=exports,
            estates=estates_for_user(),
            all_estates_allowed=allowed_estate_ids() is None,
            month=default_period("month", now),
            months=months,
            year=str(this_year),
            years=[str(y) for y in range(this_year, this_year - 6, -1)],
        )

    def _choices(self, needs_period: bool, kind: str):
        """The period and estate asked for, checked; a Chinese message instead when they are wrong."""
        period = (request.args.get("period") or request.args.get(kind) or "").strip() or None
        if needs_period:
            pattern = r"^\d{4}$" if kind == "year" else r"^\d{4}-(0[1-9]|1[0-2])$"
            if not period or not re.match(pattern, period) or not re.match(PERIOD_RE, period):
                return None, None, _("请选择年度(如 2026)") if kind == "year" else _("请选择月份(如 2026-11)")
        raw = (request.args.get("estate_id") or "").strip()
        allowed = allowed_estate_ids()
        if not raw:
            if allowed is not None:
                return None, None, _("请选择小区/大厦")
            return period, None, None
        if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
            return None, None, _("请选择小区/大厦")
        estate_id = int(raw)
        if db.session.get(Estate, estate_id) is None or (allowed is not None and estate_id not in allowed):
            return None, None, _("您无权导出该小区/大厦的数据")
        return period, estate_id, None

    @expose("/download/<string:name>")
    @has_access
    @permission_name("export")
    def download(self, name):
        spec = load_exports().get(name)
        if spec is None:
            abort(404)
        period, estate_id, error = self._choices(spec.needs_period, spec.period_kind)
        if error:
            flash(error, "danger")
            return redirect(url_for("ReportCenterView.index"))
        path = temp_xlsx_path()
        try:
            spec.func(db.session, period, path, estate_id=estate_id)
        except DomainError as err:
            db.session.rollback()
            _remove(path)
            flash(f"{spec.label}:{err.message}", "danger")
            return redirect(url_for("ReportCenterView.index"))
        except Exception:
            _remove(path)
            raise
        estate = db.session.get(Estate, estate_id) if estate_id else None
        parts = [str(spec.label), estate.name if estate else str(_l("全部")), period or ""]
        logger.info("export %s period=%s estate=%s by %s", name, period, estate_id, getattr(g.user, "username", "?"))
        return send_xlsx_file(path, "_".join(p for p in parts if p) + ".xlsx")

    @expose("/kpi/print")
    @has_access
    @permission_name("read")
    def kpi_print(self):
        """指标月报 on the shared A4 layout, signed by who drew it up and who checked it."""
        now = utcnow()
        period, estate_id, error = self._choices(True, "month")
        if error:
            flash(error, "danger")
            return redirect(url_for("ReportCenterView.index"))
        estate = db.session.get(Estate, estate_id) if estate_id else None
        rows = kpi_rows(db.session, period, estate_id, now)
        return self.render_template(
            "wuye/reports_kpi_print.html",
            form_title=_("考核指标月报"),
            estate_name=estate.name if estate else _("全部小区/大厦"),
            doc_no=period,
            period=period,
            as_of=period_as_of(period, now),
            rows=rows,
            show_estate=estate is None,
        )


def _remove(path: str) -> None:
    import os

    try:
        os.unlink(path)
    except OSError:
        pass


def register(appbuilder) -> None:
    add_screen(appbuilder, ReportCenterView, "ReportCenter", _l("报表中心"), "Reports", "fa-file-excel-o")

"""签到签退 (便民 一.2): staff report at the office before going out and sign in when back; the daily sheet."""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, request, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app import roles
from app.scope import ScopedInterface, allowed_estate_ids, scoped
from models.base import DomainError, local_date, utcnow
from models.services_attendance import Attendance, daily_sheet, sign_in, sign_out, today_record
from views import add_screen
from views.base import PERMISSION_MAP, commit_or_conflict, current_actor
from views.billing import ID_LABELS
from views.rest import ScopedModelRestApi
from views.scoped_view import ScopedModelView

roles.extend(
    {
        "物业管理员": {"Attendance": ("read", "write", "export")},
        "接待员": {"Attendance": ("read", "write")},
        "物业经理": {"Attendance": ("read", "write", "export")},
        "管理处主任": {"Attendance": ("read", "write", "export")},
    }
)


class AttendanceView(ScopedModelView):
    datamodel = ScopedInterface(Attendance)
    class_permission_name = "Attendance"
    base_permissions = ["can_read", "can_write", "can_export"]
    exclude_route_methods = {"add", "edit", "delete"}  # records are made by 报到/签退 only
    method_permission_name = PERMISSION_MAP | {"sign": "write", "sheet": "read"}
    list_template = "wuye/services_attendance_list.html"
    list_title = _l("签到签退记录")
    show_title = _l("签到签退")
    label_columns = {
        "staff": _l("员工"),
        "estate": _l("管理处"),
        "work_date": _l("日期"),
        "signed_in_at": _l("报到时间"),
        "plan": _l("外出工作内容"),
        "signed_out_at": _l("签退时间"),
        "summary": _l("完成情况"),
        "hours": _l("在外时长"),
        "state_label": _l("状态"),
    } | ID_LABELS
    list_columns = ["work_date", "estate", "staff", "signed_in_at", "plan", "signed_out_at", "summary", "hours"]
    show_columns = list_columns
    search_columns = ["work_date", "estate", "staff"]
    base_order = ("signed_in_at", "desc")
    export_title = _l("签到签退记录")
    export_columns = [
        ("work_date", _l("日期"), "date"), ("estate.name", _l("管理处")), ("staff.name", _l("员工")),
        ("signed_in_at", _l("报到时间"), "datetime"), ("plan", _l("外出工作内容")),
        ("signed_out_at", _l("签退时间"), "datetime"), ("summary", _l("完成情况")), ("hours", _l("在外时长")),
    ]

    def _estates(self, staff):
        from models.master import Estate

        query = scoped(select(Estate).order_by(Estate.name), Estate)
        if staff is not None and staff.estate_ids:
            query = query.where(Estate.id.in_(staff.estate_ids))
        return self.datamodel.session.scalars(query).all()

    @expose("/sign/", methods=["GET", "POST"])
    @has_access
    def sign(self):
        """The logged-in staff member's own 报到 / 签退 for today."""
        session = self.datamodel.session
        actor = current_actor()
        staff, now = actor.staff, utcnow()
        if request.method == "POST":
            try:
                if request.form.get("what") == "out":
                    sign_out(session, staff, now, request.form.get("summary"))
                    message = _("已签退")
                else:
                    sign_in(session, staff, now, request.form.get("estate_id") or None, request.form.get("plan"))
                    message = _("已报到")
                commit_or_conflict(session)
                flash(message, "success")
            except DomainError as error:
                session.rollback()
                flash(error.message, "danger")
            return redirect(url_for("AttendanceView.sign"))
        record = today_record(session, staff.id, now) if staff is not None else None
        return self.render_template("wuye/services_attendance.html", staff=staff, record=record,
                                    estates=self._estates(staff), today=local_date(now))

    @expose("/sheet/")
    @has_access
    def sheet(self):
        """签到表 of one office and day, ready to print."""
        from models.master import Estate

        try:
            day = date.fromisoformat(request.args.get("day") or "")
        except ValueError:
            day = local_date(utcnow())
        estates = self._estates(None)
        estate_id = request.args.get("estate_id", type=int)
        allowed = allowed_estate_ids()
        if estate_id is None or (allowed is not None and estate_id not in allowed):
            estate_id = estates[0].id if estates else None
        estate = self.datamodel.session.get(Estate, estate_id) if estate_id else None
        rows = daily_sheet(self.datamodel.session, estate.id, day) if estate else []
        template = "wuye/services_attendance_sheet.html"
        return self.render_template(template, rows=rows, day=day, estate=estate, estates=estates,
                                    form_title=_("员工签到表"), estate_name=estate.name if estate else "", doc_no=None,
                                    printing=request.args.get("print") == "1")


class AttendanceApi(ScopedModelRestApi):
    resource_name = "attendance"
    class_permission_name = "Attendance"
    datamodel = ScopedInterface(Attendance)
    base_permissions = ["can_read", "can_write", "can_export"]
    exclude_route_methods = {"post", "put", "delete"}  # records are made by 报到/签退 only
    list_columns = show_columns = ["id", "estate_id", "staff_id", "work_date", "signed_in_at", "plan", "signed_out_at", "summary"]
    search_columns = ["estate_id", "staff_id", "work_date"]
    order_columns = ["id", "work_date"]


def register(appbuilder) -> None:
    add_screen(appbuilder, AttendanceView, "Attendance", _l("签到签退"), "Services", "fa-clock-o")
    appbuilder.add_api(AttendanceApi)

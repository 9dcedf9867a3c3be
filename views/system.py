"""系统设置: job run records, business settings, roster import."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.scope import allowed_estate_ids
from models.roster import HEADERS, RosterError, import_roster
from models.system import SETTINGS, JobRun, Setting
from views import add_screen
from views.scoped_view import ScopedModelView


class JobRunView(ScopedModelView):
    datamodel = SQLAInterface(JobRun)
    class_permission_name = "JobRun"
    base_permissions = ["can_read"]
    list_title = _l("定时任务运行记录")
    show_title = _l("运行记录详情")
    label_columns = {
        "name": _l("任务"),
        "as_of": _l("按时刻"),
        "started_at": _l("开始"),
        "finished_at": _l("结束"),
        "outcome_label": _l("结果"),
        "outcome": _l("结果"),
        "summary_text": _l("统计"),
        "error": _l("错误"),
    }
    list_columns = ["name", "as_of", "started_at", "finished_at", "outcome_label", "summary_text"]
    show_columns = list_columns + ["error"]
    search_columns = ["name", "outcome", "as_of"]
    base_order = ("id", "desc")


class SettingView(ScopedModelView):
    datamodel = SQLAInterface(Setting)
    class_permission_name = "Setting"
    list_title = _l("参数设置")
    add_title = _l("新增参数")
    edit_title = _l("修改参数")
    show_title = _l("参数")
    label_columns = {"key": _l("参数"), "label": _l("说明"), "value": _l("值")}
    list_columns = ["label", "key", "value"]
    add_columns = ["key", "value"]
    edit_columns = ["value"]
    show_columns = ["label", "key", "value"]
    description_columns = {"key": LazyString(lambda: ", ".join(f"{k} ({v[0]})" for k, v in SETTINGS.items()))}

    def pre_add(self, item):
        item.validate(self.datamodel.session)

    def pre_update(self, item):
        item.validate(self.datamodel.session)


class RosterImportView(BaseView):
    """Upload an xlsx roster; every row is checked before anything is saved."""

    route_base = "/roster"
    class_permission_name = "RosterImport"
    method_permission_name = {"index": "write"}
    default_view = "index"

    @expose("/", methods=["GET", "POST"])
    @has_access
    @permission_name("write")
    def index(self):
        errors: list[str] = []
        if request.method == "POST":
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                errors = [_("请选择要导入的 xlsx 文件")]
            elif not upload.filename.lower().endswith(".xlsx"):
                errors = [_("只接受 .xlsx 格式的文件")]
            else:
                from app.extensions import db

                try:
                    counts = import_roster(db.session, upload.read(), allowed_estates=allowed_estate_ids())
                except RosterError as err:
                    errors = err.errors
                else:
                    flash(_("导入完成:") + ",".join(f"{k} {v}" for k, v in counts.items()), "success")
                    return redirect(url_for("RosterImportView.index"))
        return self.render_template("wuye/roster_import.html", errors=errors, headers=list(HEADERS))


def register(appbuilder) -> None:
    add_screen(appbuilder, SettingView, "Settings", _l("参数设置"), "Security", "fa-sliders")
    add_screen(appbuilder, JobRunView, "JobRuns", _l("定时任务记录"), "Security", "fa-clock-o")
    add_screen(appbuilder, RosterImportView, "RosterImport", _l("花名册导入"), "MasterData", "fa-upload")

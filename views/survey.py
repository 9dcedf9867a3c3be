"""业主(住户)意见征询表 screens and REST resources (`survey`, `survey_response`) and the report."""

from __future__ import annotations

import io

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder.api import expose as api_expose
from flask_appbuilder.api import protect, safe
from flask_appbuilder.baseviews import expose
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

import app.roles as roles
from app.scope import allowed_estate_ids
from models.base import DomainError, utcnow
from models.master import Owner
from models.survey import (
    SurveyCampaign,
    SurveyResponse,
    check_period,
    survey_report,
    survey_response_flow,
    write_report_xlsx,
)
from views import add_screen
from views.base import PERMISSION_MAP, current_actor, send_xlsx
from views.reception_base import RECEPTION_LABELS, SCOPED_REL, RecordApi, RecordInterface, RecordViewMixin
from views.scoped_view import ScopedModelView
from views.transitions import TransitionViewMixin, transition_action

roles.extend(
    {
        "物业管理员": {
            "Survey": ("read", "write", "delete", "export", "close", "reopen"),
            "SurveyResponse": ("read", "write", "delete", "export", "register_complaint"),
        },
        "物业经理": {
            "Survey": ("read", "write", "export", "close", "reopen"),
            "SurveyResponse": ("read", "write", "export", "register_complaint"),
        },
        "管理处主任": {"Survey": ("read", "export", "close"), "SurveyResponse": ("read", "export")},
        "接待员": {"Survey": ("read",), "SurveyResponse": ("read", "write", "register_complaint")},
    }
)

SURVEY_LABELS = RECEPTION_LABELS | {
    "title": _l("标题"),
    "areas": _l("服务项目"),
    "area_list": _l("服务项目"),
    "issued_on": _l("发放日期"),
    "note": _l("说明"),
    "response_count": _l("收回份数"),
    "period": _l("期间"),
}


class SurveyComplaintForm(DynamicForm):
    content = TextAreaField(_l("投诉内容"), validators=[DataRequired(message=_l("请填写投诉内容")), Length(max=2000)],
                            render_kw={"rows": 5}, description=_l("已带入答卷的意见和建议,可按业户原意整理"))
    category = SelectField(_l("投诉类别"), validators=[DataRequired()], description=_l("默认为评分最低的服务项目对应的类别"))


class _Actions(dict):
    """The actions a show page offers; truthy even when empty (FAB falls back to all actions otherwise)."""

    def __bool__(self) -> bool:
        return True


def complaint_link(complaint) -> str:
    if complaint is None:
        return ""
    return Markup('<a href="{}">{}({})</a>').format(url_for("ComplaintView.show", pk=complaint.id), complaint, complaint.status_label)


class SurveyResponseView(TransitionViewMixin, ScopedModelView):
    datamodel = RecordInterface(SurveyResponse)
    class_permission_name = "SurveyResponse"
    workflow_type = "survey_response"
    base_permissions = ["can_read", "can_delete", "can_export", "can_register_complaint"]
    list_title = _l("意见征询表答卷")
    show_title = _l("答卷")
    label_columns = RECEPTION_LABELS | {
        "survey": _l("意见征询"),
        "respondent": _l("填表人"),
        "submitted_at": _l("交回时间"),
        "scores_text": _l("评分"),
        "average": _l("平均分"),
        "comments": _l("意见和建议"),
        "complaint": _l("转出的投诉"),
    }
    list_columns = ["respondent", "unit", "submitted_at", "scores_text", "average", "comments", "status_label"]
    show_columns = ["survey", "estate", "respondent", "owner", "unit", "submitted_at", "scores_text", "average", "comments",
                    "status_label", "complaint"]
    search_columns = ["survey", "estate", "submitted_at", "respondent", "status"]
    formatters_columns = {"complaint": complaint_link}
    transition_forms = {"register_complaint": SurveyComplaintForm}
    action_register_complaint = transition_action("register_complaint", _l("转投诉"), "fa-bullhorn", multiple=False)

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        """Only the moves the response's state and the user's rights allow (转投诉 once)."""
        allowed = {t.name for t in survey_response_flow.available(item, current_actor())}
        actions = _Actions({name: a for name, a in self.actions.items() if name in allowed})
        return super()._get_show_widget(pk, item, widgets=widgets, actions=actions, show_fieldsets=show_fieldsets)

    def prepare_transition_form(self, name, form, items):
        from models.complaint import ComplaintCategory

        form.category.choices = ComplaintCategory.choices()
        if request.method == "GET" and len(items) == 1:
            form.content.data = (items[0].comments or "")[:2000]
            form.category.data = items[0].suggested_category
    base_order = ("submitted_at", "desc")
    export_title = _l("意见征询表答卷")
    export_columns = [
        ("survey.title", _l("意见征询")),
        ("estate.name", _l("小区/大厦")),
        ("respondent", _l("填表人")),
        ("unit", _l("房屋")),
        ("submitted_at", _l("交回时间"), "datetime"),
        ("scores_text", _l("评分")),
        ("average", _l("平均分"), "number"),
        ("comments", _l("意见和建议")),
    ]


class SurveyView(RecordViewMixin, TransitionViewMixin, ScopedModelView):
    datamodel = RecordInterface(SurveyCampaign)
    class_permission_name = "Survey"
    workflow_type = "survey"
    show_template = "wuye/reception_survey_show.html"
    list_title = _l("业主(住户)意见征询")
    show_title = _l("意见征询")
    add_title = _l("发起意见征询")
    edit_title = _l("修改意见征询")
    label_columns = SURVEY_LABELS
    list_columns = ["period", "estate", "title", "issued_on", "response_count", "status_label"]
    add_columns = ["estate", "period", "title", "areas", "issued_on", "note"]
    edit_columns = ["title", "areas", "issued_on", "note"]
    show_columns = ["estate", "period", "title", "area_list", "issued_on", "status_label", "response_count", "note"]
    search_columns = ["estate", "period", "status"]
    base_order = ("period", "desc")
    related_views = [SurveyResponseView]
    add_form_query_rel_fields = {"estate": SCOPED_REL}
    add_form_extra_fields = edit_form_extra_fields = {
        "title": StringField(_l("标题"), validators=[Optional(), Length(max=100)], description=_l("不填为“业主(住户)意见征询表 期间”")),
        "areas": TextAreaField(
            _l("服务项目"),
            default="\n".join(("客服接待", "维修", "保安", "保洁", "绿化", "收费")),
            description=_l("每行一项(也可用顿号分隔),答卷按这些项目打 1–5 分"),
            render_kw={"rows": 6},
        ),
        "issued_on": DateField(_l("发放日期"), validators=[Optional()]),
    }
    description_columns = {"period": _l("如 2026、2026-11、2026-Q4 或 2026-H2;每个小区/大厦每期一次")}
    formatters_columns = {"area_list": lambda areas: "、".join(areas)}
    method_permission_name = ScopedModelView.method_permission_name | {
        "action_close": "close",
        "action_reopen": "reopen",
        "respond": "write",
        "report": "read",
        "report_xlsx": "export",
    }
    action_close = transition_action("close", _l("结束征询"), "fa-stop", multiple=True)
    action_reopen = transition_action("reopen", _l("重新开放"), "fa-play", multiple=False)

    def pre_add(self, item):
        item.period = (item.period or "").strip()

    def show_buttons(self, item):
        return []

    def render_template(self, template, **kwargs):
        if template == self.show_template and kwargs.get("item") is not None:
            item = kwargs["item"]
            kwargs["report"] = item.report(self.datamodel.session)
            kwargs["respond_url"] = url_for("SurveyView.respond", pk=item.id)
            kwargs["can_respond"] = item.status == "open" and self.appbuilder.sm.has_access("can_write", "SurveyResponse")
        return super().render_template(template, **kwargs)

    @expose("/respond/<int:pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("respond")
    def respond(self, pk):
        """Type in a returned 意见征询表: a 1–5 score per service area and the comments."""
        survey = self.datamodel.get(pk, self._base_filters)
        if survey is None:
            abort(404)
        session = self.datamodel.session
        owners = session.scalars(
            select(Owner).where(Owner.estate_id == survey.estate_id).order_by(Owner.unit_id).limit(3000)
        ).all()
        error = None
        values = request.form if request.method == "POST" else {}
        if request.method == "POST":
            if not self.appbuilder.sm.has_access("can_write", "SurveyResponse"):
                abort(403)
            body = {
                "survey_id": survey.id,
                "owner_id": values.get("owner_id") or None,
                "respondent": values.get("respondent") or None,
                "comments": values.get("comments") or None,
                "scores": {area: values.get(f"score_{i}") or None for i, area in enumerate(survey.area_list)},
            }
            try:
                SurveyResponse.register(session, current_actor(), utcnow(), body)
                session.commit()
            except DomainError as err:
                session.rollback()
                error = err.message
            else:
                flash(_("答卷已录入"), "success")
                if values.get("next") == "again":
                    return redirect(url_for("SurveyView.respond", pk=survey.id))
                return redirect(url_for("SurveyView.show", pk=survey.id))
        return self.render_template(
            "wuye/reception_survey_respond.html", survey=survey, owners=owners, error=error, values=values, title=_("录入答卷")
        )

    @expose("/report/")
    @has_access
    @permission_name("report")
    def report(self):
        """Averages per area and estate for a period, weakest first, across the user's estates."""
        period = (request.args.get("period") or str(utcnow().year)).strip()
        try:
            period = check_period("period", period)
        except DomainError as err:
            flash(err.message, "danger")
            period = str(utcnow().year)
        result = survey_report(self.datamodel.session, period=period, scope=allowed_estate_ids())
        can_export = self.appbuilder.sm.has_access("can_export", "Survey")
        return self.render_template("wuye/reception_survey_report.html", report=result, period=period, can_export=can_export, title=_("意见征询汇总"))

    @expose("/report.xlsx")
    @has_access
    @permission_name("report_xlsx")
    def report_xlsx(self):
        period = (request.args.get("period") or str(utcnow().year)).strip()
        try:
            period = check_period("period", period)
        except DomainError as err:
            flash(err.message, "danger")
            return redirect(url_for("SurveyView.report"))
        result = survey_report(self.datamodel.session, period=period, scope=allowed_estate_ids())
        buffer = io.BytesIO()
        write_report_xlsx(result, buffer, _("意见征询汇总 %(p)s", p=period))
        buffer.seek(0)
        return send_xlsx(buffer, f"意见征询汇总-{period}.xlsx")


# ---------------------------------------------------------------- REST
class SurveyApi(RecordApi):
    resource_name = "survey"
    class_permission_name = "Survey"
    datamodel = RecordInterface(SurveyCampaign)
    workflow_type = "survey"
    list_columns = show_columns = ["id", "estate_id", "period", "title", "areas", "issued_on", "status", "note", "response_count"]
    add_columns = list(SurveyCampaign.API_FIELDS)
    edit_columns = list(SurveyCampaign.API_EDITABLE)
    search_columns = ["estate_id", "period", "status"]
    order_columns = ["id", "period"]
    method_permission_name = PERMISSION_MAP | {"report": "read", "period_report": "read"}

    @api_expose("/<int:pk>/report", methods=["GET"])
    @protect()
    @safe
    @permission_name("report")
    def report(self, pk: int):
        """Averages per service area of one survey, weakest first
        ---
        get:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: areas (weakest first), estates and comments
        """
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            return self.response_404()
        return self.response(200, id=item.id, result=item.report(self.datamodel.session).as_json())

    @api_expose("/report", methods=["GET"])
    @protect()
    @safe
    @permission_name("period_report")
    def period_report(self):
        """Averages per service area and estate for a period (`?period=2026`), weakest first
        ---
        get:
          parameters:
          - in: query
            schema:
              type: string
            name: period
          - in: query
            schema:
              type: integer
            name: estate_id
          responses:
            200:
              description: areas (weakest first), estates and comments
        """
        period = request.args.get("period")
        try:
            period = check_period("period", period) if period else None
        except DomainError as err:
            return self.response(err.status, message=err.payload())
        estate_id = request.args.get("estate_id", type=int)
        result = survey_report(
            self.datamodel.session, period=period, estate_ids=[estate_id] if estate_id else None, scope=allowed_estate_ids()
        )
        return self.response(200, result=result.as_json())


class SurveyResponseApi(RecordApi):
    resource_name = "survey_response"
    class_permission_name = "SurveyResponse"
    datamodel = RecordInterface(SurveyResponse)
    list_columns = show_columns = [
        "id", "survey_id", "estate_id", "owner_id", "unit_id", "respondent", "submitted_at", "comments",
        "scores.area", "scores.score", "status", "complaint_id",
    ]
    add_columns = list(SurveyResponse.API_FIELDS)
    search_columns = ["survey_id", "estate_id", "owner_id", "unit_id", "status", "complaint_id"]
    workflow_type = "survey_response"
    order_columns = ["id", "submitted_at"]

    def put_headless(self, pk):
        return self.response(405, message=_("答卷录入后不能修改;如有错误请删除后重新录入"))


def add_report_link(appbuilder) -> None:
    from app.roles import MENU_CONCEPTS
    from views import CATEGORIES

    label, icon = CATEGORIES["Reception"]
    appbuilder.add_link(
        "SurveyReport", href="/surveyview/report/", label=_l("意见征询汇总"), icon="fa-bar-chart",
        category="Reception", category_label=label, category_icon=icon,
    )
    MENU_CONCEPTS["SurveyReport"] = "Survey"


def register(appbuilder) -> None:
    add_screen(appbuilder, SurveyView, "Surveys", _l("意见征询表"), "Reception", "fa-list-alt")
    appbuilder.add_view_no_menu(SurveyResponseView)
    add_report_link(appbuilder)
    appbuilder.add_api(SurveyApi)
    appbuilder.add_api(SurveyResponseApi)


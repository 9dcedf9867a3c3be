"""回访 screens and REST resources: the duty room's revisit desk, revisits (`revisit`), rectification
notices (`rectification`, printable) and rain days (`rain_day`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from flask import request, url_for
from flask_appbuilder import BaseView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.fieldwidgets import DatePickerWidget, Select2Widget
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

import app.roles as roles
from app.scope import ScopedInterface, check_integer_ranges, scoped
from models.base import ValidationError, local, utcnow
from models.master import Estate
from models.rectification import Rectification, RectificationStatus, open_after_rain
from models.repair import RepairOrder
from models.revisit import (
    RainDay,
    Revisit,
    RevisitKind,
    RevisitMethod,
    RevisitStatus,
    Satisfaction,
    day_start,
)
from views import add_screen
from views.base import AreaFilter
from views.followup import BodyApi, EventLogMixin, LocalDateField, LocalDateTimeField, p_date, p_int, p_text
from views.rest import ScopedModelRestApi
from views.scoped_view import ScopedModelView
from views.transitions import TransitionViewMixin, transition_action

roles.extend(
    {
        "总值班员": {
            "Revisit": ("read", "record", "export"),
            "Rectification": ("read", "issue", "export"),
            "RainDay": ("read", "write", "delete"),
        },
        "接待员": {"Revisit": ("read", "record"), "RainDay": ("read", "write")},
        "物业经理": {"Revisit": ("read", "record", "export"), "Rectification": ("read", "issue"), "RainDay": ("read", "write")},
        "管理处主任": {"Revisit": ("read", "record", "export"), "Rectification": ("read", "issue"), "RainDay": ("read", "write")},
        "物业管理员": {"Revisit": ("read", "record"), "RainDay": ("read",)},
        "处主任": {"Revisit": ("read",), "Rectification": ("read",)},
        "维修人员": {"Rectification": ("read",)},
        "工程部经理": {"Revisit": ("read",), "Rectification": ("read",)},
        "大厦管理部经理": {"Revisit": ("read",), "Rectification": ("read",)},
    }
)

REVISIT_LABELS = {
    "estate": _l("小区/大厦"),
    "object_label": _l("回访对象"),
    "subject": _l("事项"),
    "round": _l("轮次"),
    "kind": _l("回访类别"),
    "kind_label": _l("回访类别"),
    "status": _l("状态"),
    "status_label": _l("状态"),
    "state_label": _l("状态"),
    "not_before": _l("可回访时间"),
    "due_at": _l("回访期限"),
    "window": _l("回访时段"),
    "contact_name": _l("联系人"),
    "contact_phone": _l("联系电话"),
    "done_at": _l("回访时间"),
    "method_label": _l("回访方式"),
    "satisfaction_label": _l("满意度"),
    "problem": _l("发现的问题"),
    "note": _l("备注"),
    "visited_by": _l("回访人"),
    "rain_day": _l("依据雨天"),
    "method": _l("回访方式"),
    "satisfaction": _l("满意度"),
    "recorded_by": _l("登记人"),
    "recorded_by_id": _l("登记人"),
    "visited_by_id": _l("回访人"),
    "complaint_id": _l("投诉"),
    "repair_order_id": _l("维修单"),
    "estate_id": _l("小区/大厦"),
    "object_id": _l("对象编号"),
    "object_type": _l("对象类型"),
    "rain_day_id": _l("依据雨天"),
}


# ---------------------------------------------------------------- filters
class FilterOpenBy(AreaFilter):
    """待回访: pending revisits that may be made by the end of today (overdue ones included)."""

    name = _l("今天及超期待回访")
    arg_name = "today"

    def apply(self, query, value):
        now = utcnow()
        end = day_start(local(now).date() + timedelta(days=1))
        return query.filter(Revisit.status == RevisitStatus.pending.value, Revisit.not_before < end)


class FilterOverdue(AreaFilter):
    name = _l("已超期未回访")
    arg_name = "overdue"

    def apply(self, query, value):
        return query.filter(Revisit.status == RevisitStatus.pending.value, Revisit.due_at < utcnow())


# ---------------------------------------------------------------- revisits
class RecordForm(FlaskForm):
    method = SelectField(_l("回访方式"), choices=RevisitMethod.choices(), validators=[DataRequired(message=_l("请选择回访方式"))])
    satisfaction = SelectField(_l("业户满意度"), choices=[("", _l("— 请选择 —"))] + Satisfaction.choices(), validators=[DataRequired(message=_l("请选择满意度"))])
    problem = TextAreaField(_l("发现的问题"), validators=[Optional(), Length(max=1000)], description=_l("没有问题不填。发现问题须在 12 小时内书面通知维修人员整改"))
    notice = TextAreaField(_l("整改通知"), validators=[Optional(), Length(max=1000)], description=_l("发现问题时可直接写整改通知(发给维修人员,维修单转为整改中);也可稍后在「整改通知」中填写"))
    done_at = LocalDateTimeField(_l("回访时间"), validators=[Optional()], description=_l("不填为现在"))
    note = StringField(_l("备注"), validators=[Optional(), Length(max=500)])


class RevisitView(EventLogMixin, TransitionViewMixin, ScopedModelView):
    datamodel = ScopedInterface(Revisit)
    class_permission_name = "Revisit"
    workflow_type = "revisit"
    base_permissions = ["can_read", "can_record", "can_export"]
    list_title = _l("回访记录")
    show_title = _l("回访")
    label_columns = REVISIT_LABELS
    list_columns = ["estate", "subject", "kind_label", "contact_name", "contact_phone", "due_at", "state_label", "done_at", "satisfaction_label", "problem"]
    show_fieldsets = [
        (_l("回访计划"), {"fields": ["estate", "object_label", "subject", "round", "kind_label", "not_before", "due_at", "rain_day", "contact_name", "contact_phone"]}),
        (_l("回访结果"), {"fields": ["state_label", "done_at", "method_label", "satisfaction_label", "problem", "note", "visited_by"]}),
    ]
    search_columns = ["estate", "status", "kind", "due_at", "not_before", "done_at", "subject", "contact_phone", "satisfaction"]
    search_filters = {"status": [FilterOpenBy, FilterOverdue]}
    base_order = ("due_at", "desc")
    export_title = _l("回访记录")
    export_columns = [
        ("estate.name", _l("小区/大厦")),
        ("object_label", _l("回访对象")),
        ("subject", _l("事项")),
        ("kind_label", _l("回访类别")),
        ("contact_name", _l("联系人")),
        ("contact_phone", _l("联系电话")),
        ("not_before", _l("可回访时间"), "datetime"),
        ("due_at", _l("回访期限"), "datetime"),
        ("state_label", _l("状态")),
        ("done_at", _l("回访时间"), "datetime"),
        ("method_label", _l("回访方式")),
        ("satisfaction_label", _l("满意度")),
        ("problem", _l("发现的问题")),
        ("visited_by.name", _l("回访人")),
    ]
    action_record = transition_action("record", _l("登记回访"), "fa-phone", multiple=False)
    transition_forms = {"record": RecordForm}

    def _form_params(self, form) -> dict:
        return {k: v for k, v in form.data.items() if k != "csrf_token" and v not in ("", None)}

    def show_extra(self, item) -> dict:
        links = []
        if item.object_type == "repair_order":
            order = self.datamodel.session.get(RepairOrder, item.object_id)
            links.append((_l("维修单"), order.number if order else f"#{item.object_id}", _safe_url("RepairOrderView.show", pk=item.object_id)))
            rect = self.datamodel.session.scalar(select(Rectification).where(Rectification.revisit_id == item.id))
            if rect is not None:
                links.append((_l("整改通知"), f"{rect.number} {rect.status_label}", url_for("RectificationView.show", pk=rect.id)))
        elif item.object_type == "complaint":
            links.append((_l("投诉"), item.subject or "", _safe_url("ComplaintView.show", pk=item.object_id)))
        return {"links": links}


def _safe_url(endpoint: str, **kw) -> str | None:
    try:
        return url_for(endpoint, **kw)
    except Exception:  # a screen of another area that is not registered
        return None


class RevisitDeskView(BaseView):
    """回访台: today's and overdue revisits of the user's estates, grouped by estate, one click to record."""

    route_base = "/revisitdesk"
    class_permission_name = "Revisit"
    method_permission_name = {"index": "read"}
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("read")
    def index(self):
        from app.extensions import db

        session = db.session
        now = utcnow()
        today = local(now).date()
        horizon = day_start(today + timedelta(days=int(request.args.get("days", 0) or 0) + 1))
        query = (
            select(Revisit)
            .where(Revisit.status == RevisitStatus.pending.value, Revisit.not_before < horizon)
            .order_by(Revisit.due_at, Revisit.id)
        )
        estate_id = request.args.get("estate_id", type=int)
        if estate_id:
            query = query.where(Revisit.estate_id == estate_id)
        rows = session.scalars(scoped(query, Revisit)).all()
        groups: dict = defaultdict(lambda: {"overdue": [], "today": [], "open": [], "later": []})
        end_today = day_start(today + timedelta(days=1))
        for r in rows:
            if r.due_at < now:
                bucket = "overdue"
            elif r.due_at < end_today:
                bucket = "today"
            elif r.not_before <= now:
                bucket = "open"
            else:
                bucket = "later"
            groups[r.estate][bucket].append(r)
        pending_notices = session.scalars(
            scoped(select(Rectification).where(Rectification.status == RectificationStatus.pending.value).order_by(Rectification.due_at), Rectification)
        ).all()
        waiting_rain = session.scalars(
            scoped(
                select(RepairOrder)
                .where(
                    RepairOrder.category == "leak",
                    RepairOrder.completed_at.is_not(None),
                    RepairOrder.status.in_(("awaiting_acceptance", "completed", "returned")),
                    exists().where(Revisit.repair_order_id == RepairOrder.id),
                    ~exists().where(Revisit.repair_order_id == RepairOrder.id, Revisit.kind == RevisitKind.after_rain.value),
                )
                .order_by(RepairOrder.completed_at),
                RepairOrder,
            )
        ).all()
        estates = session.scalars(scoped(select(Estate).order_by(Estate.name), Estate)).all()
        can_record = self.appbuilder.sm.has_access("can_record", "Revisit")
        return self.render_template(
            "wuye/followup_desk.html",
            groups=sorted(groups.items(), key=lambda kv: kv[0].name if kv[0] else ""),
            pending_notices=pending_notices,
            waiting_rain=waiting_rain,
            estates=estates,
            estate_id=estate_id,
            now=now,
            today=today,
            can_record=can_record,
            days=int(request.args.get("days", 0) or 0),
        )


# ---------------------------------------------------------------- rectification notices
class IssueForm(FlaskForm):
    notice = TextAreaField(_l("整改通知"), validators=[DataRequired(message=_l("请填写整改通知的内容"))], description=_l("写明要维修人员整改的问题与要求;发出后维修单转为整改中"))


class RectificationView(EventLogMixin, TransitionViewMixin, ScopedModelView):
    datamodel = ScopedInterface(Rectification)
    class_permission_name = "Rectification"
    workflow_type = "rectification"
    base_permissions = ["can_read", "can_issue", "can_export"]
    list_title = _l("整改通知")
    show_title = _l("整改通知")
    label_columns = {
        "number": _l("通知编号"),
        "estate": _l("小区/大厦"),
        "order_number": _l("维修单号"),
        "repair_order": _l("维修单"),
        "problem": _l("回访发现的问题"),
        "notice": _l("整改通知"),
        "found_at": _l("发现问题时间"),
        "due_at": _l("通知期限"),
        "status_label": _l("状态"),
        "state_label": _l("状态"),
        "status": _l("状态"),
        "issued_at": _l("通知时间"),
        "issued_by": _l("通知人"),
        "worker_name": _l("维修人员"),
        "department_name": _l("维修部门"),
        "reworked_at": _l("返工完成"),
        "closed_at": _l("完成时间"),
        "issued_by_id": _l("通知人"),
        "revisit_id": _l("发现问题的回访"),
        "followup_revisit_id": _l("复查回访"),
        "repair_order_id": _l("维修单"),
    }
    list_columns = ["number", "estate", "order_number", "problem", "worker_name", "found_at", "due_at", "state_label", "issued_at"]
    show_columns = ["number", "estate", "order_number", "department_name", "worker_name", "problem", "found_at", "due_at", "state_label", "notice", "issued_at", "issued_by", "reworked_at", "closed_at"]
    search_columns = ["estate", "status", "due_at", "found_at", "issued_at"]
    base_order = ("found_at", "desc")
    export_title = _l("整改通知")
    export_columns = [
        ("number", _l("通知编号")),
        ("estate.name", _l("小区/大厦")),
        ("order_number", _l("维修单号")),
        ("department_name", _l("维修部门")),
        ("worker_name", _l("维修人员")),
        ("problem", _l("回访发现的问题")),
        ("notice", _l("整改通知")),
        ("found_at", _l("发现问题时间"), "datetime"),
        ("due_at", _l("通知期限"), "datetime"),
        ("issued_at", _l("通知时间"), "datetime"),
        ("state_label", _l("状态")),
    ]
    action_issue = transition_action("issue", _l("发出整改通知"), "fa-file-text-o", multiple=False)
    transition_forms = {"issue": IssueForm}
    print_template = "wuye/followup_rectification_print.html"
    print_title = _l("整改通知书")

    def prepare_transition_form(self, name, form, items):
        if name == "issue" and request.method == "GET" and not form.notice.data:
            rect = items[0]
            form.notice.data = _("经回访,业户反映:%(problem)s。请于接到通知后立即安排返工整改,完工后交回总值班室。", problem=rect.problem)

    def show_extra(self, item) -> dict:
        links = [(_l("维修单"), item.order_number, _safe_url("RepairOrderView.show", pk=item.repair_order_id))]
        if item.revisit_id:
            links.append((_l("发现问题的回访"), str(item.revisit), url_for("RevisitView.show", pk=item.revisit_id)))
        return {
            "links": links,
            "print_url": url_for("RectificationView.print_view", pk=item.id),
            "print_label": _("打印整改通知"),
        }

    def print_context(self, item) -> dict:
        return super().print_context(item) | {"rect": item, "order": item.repair_order}


# ---------------------------------------------------------------- rain days
class RainDayInterface(ScopedInterface):
    """A rain day opens the after-rain revisits of its estate (or of all) in the same transaction.

    A rain day for every estate is weather, not one estate's data: the duty room records it too."""

    def before_write(self, item, session) -> None:
        if item.estate_id is None:  # anyone who records rain may say it rained everywhere
            check_integer_ranges(item)
            item.validate(session)
        else:
            super().before_write(item, session)

    def after_write(self, item, session) -> None:
        try:
            session.flush()
        except IntegrityError as ex:
            raise ValidationError("date", _l("这一天的雨天已经登记过了")) from ex
        open_after_rain(session, utcnow(), item.estate_id)


def estate_choices() -> list[tuple[str, str]]:
    from app.extensions import db

    estates = db.session.scalars(scoped(select(Estate).order_by(Estate.name), Estate)).all()
    return [("all", _("全部小区/大厦"))] + [(str(e.id), e.name) for e in estates]


def _int_or_none(value):
    return int(value) if value not in (None, "", "None", "all") else None


class RainDayView(ScopedModelView):
    datamodel = RainDayInterface(RainDay)
    class_permission_name = "RainDay"
    list_title = _l("雨天记录")
    add_title = _l("登记雨天")
    edit_title = _l("修改雨天")
    show_title = _l("雨天")
    label_columns = {"date": _l("日期"), "estate": _l("小区/大厦"), "estate_id": _l("小区/大厦"), "scope_label": _l("范围"), "note": _l("备注"), "created_by": _l("登记人"), "created_on": _l("登记时间")}
    list_columns = ["date", "scope_label", "note", "created_by", "created_on"]
    edit_columns = ["note"]
    show_columns = ["date", "scope_label", "note", "created_by", "created_on"]
    search_columns = ["date", "estate"]
    base_order = ("date", "desc")
    add_columns = ["date", "estate_id", "note"]
    add_form_extra_fields = {
        "date": LocalDateField(
            _l("日期"), validators=[DataRequired(message=_l("请填写下雨的日期"))], format="%Y-%m-%d", widget=DatePickerWidget(),
            default=lambda: local(utcnow()).date(), description=_l("只能登记今天或以前下过雨的日子"),
        ),
        "estate_id": SelectField(
            _l("小区/大厦"), choices=estate_choices, coerce=_int_or_none, validate_choice=False, widget=Select2Widget(),
            description=_l("选「全部小区/大厦」表示各处都下了雨。登记后,渗漏水维修单的雨后回访随即安排"),
        ),
    }


# ---------------------------------------------------------------- REST
class RevisitApi(ScopedModelRestApi):
    resource_name = "revisit"
    class_permission_name = "Revisit"
    datamodel = ScopedInterface(Revisit)
    workflow_type = "revisit"
    base_permissions = ["can_read", "can_record"]
    list_columns = show_columns = [
        "id", "estate_id", "object_type", "object_id", "repair_order_id", "complaint_id", "round", "kind", "status",
        "not_before", "due_at", "rain_day_id", "subject", "contact_name", "contact_phone", "done_at", "method",
        "satisfaction", "problem", "note", "visited_by_id",
    ]
    search_columns = [
        "estate_id", "object_type", "object_id", "repair_order_id", "complaint_id", "kind", "status", "not_before",
        "due_at", "done_at", "satisfaction", "method", "round",
    ]
    order_columns = ["id", "due_at", "not_before", "done_at"]


class RectificationApi(ScopedModelRestApi):
    resource_name = "rectification"
    class_permission_name = "Rectification"
    datamodel = ScopedInterface(Rectification)
    workflow_type = "rectification"
    base_permissions = ["can_read", "can_issue"]
    list_columns = show_columns = [
        "id", "number", "estate_id", "repair_order_id", "revisit_id", "status", "problem", "notice", "found_at", "due_at",
        "issued_at", "issued_by_id", "worker_name", "department_name", "reworked_at", "followup_revisit_id", "closed_at",
    ]
    search_columns = ["estate_id", "repair_order_id", "revisit_id", "status", "due_at", "found_at", "issued_at"]
    order_columns = ["id", "due_at", "found_at"]


class RainDayApi(BodyApi):
    resource_name = "rain_day"
    class_permission_name = "RainDay"
    datamodel = RainDayInterface(RainDay)
    base_permissions = ["can_read", "can_write", "can_delete"]
    list_columns = show_columns = ["id", "date", "estate_id", "note", "created_on"]
    body_parsers = {"date": p_date, "estate_id": p_int, "note": p_text(200)}
    body_required = ("date",)
    edit_parsers = {"note": p_text(200)}
    search_columns = ["estate_id", "date"]
    order_columns = ["id", "date"]


def register(appbuilder) -> None:
    add_screen(appbuilder, RevisitDeskView, "RevisitDesk", _l("回访台"), "FollowUp", "fa-phone-square")
    add_screen(appbuilder, RevisitView, "Revisits", _l("回访记录"), "FollowUp", "fa-phone")
    add_screen(appbuilder, RectificationView, "Rectifications", _l("整改通知"), "FollowUp", "fa-file-text-o")
    add_screen(appbuilder, RainDayView, "RainDays", _l("雨天记录"), "FollowUp", "fa-tint")
    for api in (RevisitApi, RectificationApi, RainDayApi):
        appbuilder.add_api(api)


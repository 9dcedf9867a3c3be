"""接待服务 screens and REST resources: 来访记录 (visit_record) and 来电记录 (call_record)."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import request
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

import app.roles as roles
from app.scope import scoped
from models.base import utcnow
from models.reception import CallRecord, ReceptionCategory, VisitRecord
from views import add_screen
from views.reception_base import (
    RECEPTION_LABELS,
    SCOPED_REL,
    STAFF_REL,
    FollowUpApi,
    FollowUpViewMixin,
    LocalDateTimeField,
    RecordInterface,
    RecordViewMixin,
    day_range,
    department_choices,
    enum_select,
    parse_day,
    staff_choices,
)
from views.scoped_view import ScopedModelView
from views.transitions import TransitionViewMixin, transition_action

logger = logging.getLogger(__name__)

RW = ("read", "write")
roles.extend(
    {
        "接待员": {
            "VisitRecord": ("read", "write", "export", "hand_over", "resolve"),
            "CallRecord": ("read", "write", "export"),
            "ReceptionDesk": ("read",),
        },
        "总值班员": {
            "VisitRecord": ("read",),
            "CallRecord": ("read", "write", "export"),
            "ReceptionDesk": ("read",),
        },
        "物业经理": {"VisitRecord": ("read", "write", "hand_over", "decide", "resolve"), "CallRecord": RW, "ReceptionDesk": ("read",)},
        "管理处主任": {"VisitRecord": ("read", "write", "hand_over", "decide", "resolve"), "CallRecord": RW, "ReceptionDesk": ("read",)},
        "处主任": {"VisitRecord": ("read", "decide", "resolve"), "CallRecord": ("read",)},
        "物业管理员": {"VisitRecord": ("read",), "CallRecord": ("read",)},
    }
)


# ---------------------------------------------------------------- 来访记录
class HandOverForm(FlaskForm):
    department_id = SelectField(_l("移交部门"), choices=[], validators=[DataRequired(message=_l("请选择部门"))])
    note = StringField(_l("说明"), validators=[Optional(), Length(max=500)])


class DecideForm(FlaskForm):
    decision = TextAreaField(_l("处理办法"), validators=[DataRequired(message=_l("请填写处理办法"))])
    assignee_id = SelectField(_l("交由(经办人)"), choices=[], validators=[Optional()])


class ResolveForm(FlaskForm):
    outcome = TextAreaField(_l("处理结果"), validators=[DataRequired(message=_l("请填写处理结果"))])


VISIT_LABELS = RECEPTION_LABELS | {
    "visited_at": _l("来访时间"),
    "visitor_name": _l("来访人"),
    "visitor_phone": _l("联系电话"),
    "reason": _l("来访事由"),
    "handled_on_spot": _l("当场处理"),
    "received_by": _l("接待人"),
    "department": _l("移交部门"),
    "handed_over_at": _l("移交时间"),
    "decision": _l("处理办法"),
    "decided_at": _l("决定时间"),
    "assignee": _l("经办人"),
    "outcome": _l("处理情况/结果"),
    "resolved_at": _l("办结时间"),
    "handling_text": _l("处理情况"),
    "handover_text": _l("当天移交"),
    "received_by_id": _l("接待人"),
    "department_id": _l("移交部门"),
    "assignee_id": _l("经办人"),
}


class VisitRecordView(FollowUpViewMixin, RecordViewMixin, TransitionViewMixin, ScopedModelView):
    datamodel = RecordInterface(VisitRecord)
    class_permission_name = "VisitRecord"
    workflow_type = "visit_record"
    list_print = True
    list_title = _l("来访记录(接待记录表)")
    show_title = _l("来访记录")
    add_title = _l("登记来访")
    edit_title = _l("修改来访记录")
    label_columns = VISIT_LABELS
    list_columns = ["visited_at", "visitor_name", "place", "category_label", "reason", "status_label", "received_by", "department"]
    add_columns = ["estate", "unit", "owner", "visitor_name", "visitor_phone", "visited_at", "category", "reason", "handled_on_spot", "outcome"]
    edit_columns = ["unit", "owner", "visitor_name", "visitor_phone", "category", "reason"]
    show_columns = [
        "visited_at", "estate", "place", "owner", "visitor_name", "visitor_phone", "category_label", "reason",
        "handled_on_spot", "status_label", "handover_text", "received_by", "department", "handed_over_at", "decision", "assignee",
        "decided_at", "outcome", "resolved_at", "created_on",
    ]
    search_columns = ["estate", "status", "category", "visited_at", "visitor_name", "handled_on_spot", "period", "department"]
    base_order = ("visited_at", "desc")
    add_form_query_rel_fields = edit_form_query_rel_fields = {"estate": SCOPED_REL, "unit": SCOPED_REL, "owner": SCOPED_REL}
    add_form_extra_fields = {
        "visitor_name": StringField(_l("来访人"), validators=[Optional(), Length(max=40)], description=_l("选了业户可不填,自动带出姓名")),
        "visited_at": LocalDateTimeField(_l("来访时间"), validators=[Optional()], description=_l("不填为现在")),
        "category": enum_select(ReceptionCategory, _l("类别")),
        "reason": TextAreaField(_l("来访事由"), validators=[DataRequired(message=_l("请填写来访事由"))]),
        "outcome": TextAreaField(_l("处理情况"), validators=[Optional()], description=_l("当场处理的,写明处理情况")),
        "handled_on_spot": BooleanField(_l("当场处理"), description=_l("不能当场处理的,须当天移交部门负责人")),
    }
    edit_form_extra_fields = {
        "category": enum_select(ReceptionCategory, _l("类别")),
        "reason": TextAreaField(_l("来访事由"), validators=[DataRequired(message=_l("请填写来访事由"))]),
    }
    method_permission_name = ScopedModelView.method_permission_name | {
        "follow_up": "write",
        "action_hand_over": "hand_over",
        "action_decide": "decide",
        "action_resolve": "resolve",
    }
    export_title = _l("来访记录")
    export_columns = [
        ("visited_at", _l("来访时间"), "datetime"),
        ("estate.name", _l("小区/大厦")),
        ("place", _l("房屋")),
        ("visitor_name", _l("来访人")),
        ("visitor_phone", _l("联系电话")),
        ("category_label", _l("类别")),
        ("reason", _l("来访事由")),
        ("status_label", _l("状态")),
        ("received_by.name", _l("接待人")),
        ("handling_text", _l("处理情况")),
    ]

    action_hand_over = transition_action("hand_over", _l("移交部门负责人"), "fa-share", multiple=False)
    action_decide = transition_action("decide", _l("决定处理办法"), "fa-gavel", multiple=False)
    action_resolve = transition_action("resolve", _l("填写处理结果"), "fa-check", multiple=False)

    transition_forms = {"hand_over": HandOverForm, "decide": DecideForm, "resolve": ResolveForm}

    def prepare_transition_form(self, name, form, items):
        estate_id = items[0].estate_id
        if name == "hand_over":
            form.department_id.choices = department_choices(estate_id)
        elif name == "decide":
            form.assignee_id.choices = staff_choices(estate_id)

    def pre_add(self, item):
        if item.owner is not None and not (item.visitor_name or "").strip():
            item.visitor_name = item.owner.name

    @expose("/print/")
    @has_access
    @permission_name("print_view")
    def print_view(self):
        """接待记录表 for a day or a range (default today), one estate or all the user's estates."""
        from models.base import local

        today = local(utcnow()).date()
        start = parse_day(request.args.get("start"), today)
        end = parse_day(request.args.get("end"), start)
        if end < start:
            start, end = end, start
        if (end - start).days > 366:
            end = start + timedelta(days=366)
        lo, hi = day_range(start, end)
        query = select(VisitRecord).where(VisitRecord.visited_at >= lo, VisitRecord.visited_at < hi).order_by(VisitRecord.visited_at)
        estate_id = request.args.get("estate_id", type=int)
        if estate_id:
            query = query.where(VisitRecord.estate_id == estate_id)
        rows = self.datamodel.session.scalars(scoped(query, VisitRecord)).all()
        estates = sorted({r.estate.name for r in rows if r.estate})
        return self.render_template(
            "wuye/reception_record_print.html",
            rows=rows,
            start=start,
            end=end,
            form_title=_("接待记录表"),
            estate_name="、".join(estates),
            doc_no=None,
        )


# ---------------------------------------------------------------- 来电记录
CALL_LABELS = RECEPTION_LABELS | {
    "called_at": _l("来电时间"),
    "caller_name": _l("来电人"),
    "phone": _l("电话"),
    "content": _l("来电内容"),
    "answered_by": _l("接听人"),
    "outcome": _l("处理情况"),
    "for_staff": _l("转告对象"),
    "message_status": _l("转告状态"),
    "message_read_at": _l("转告已阅时间"),
    "answered_by_id": _l("接听人"),
    "for_staff_id": _l("转告对象"),
    "message_task_id": _l("转告待办"),
}


class CallRecordView(FollowUpViewMixin, RecordViewMixin, ScopedModelView):
    datamodel = RecordInterface(CallRecord)
    class_permission_name = "CallRecord"
    list_title = _l("来电记录")
    show_title = _l("来电记录")
    add_title = _l("登记来电")
    edit_title = _l("修改来电记录")
    label_columns = CALL_LABELS
    list_columns = ["called_at", "caller_name", "phone", "place", "category_label", "content", "answered_by", "for_staff", "message_status"]
    add_columns = ["estate", "unit", "owner", "caller_name", "phone", "called_at", "category", "content", "outcome", "for_staff"]
    edit_columns = ["unit", "owner", "caller_name", "phone", "category", "content", "outcome"]
    show_columns = [
        "called_at", "estate", "place", "owner", "caller_name", "phone", "category_label", "content", "outcome",
        "answered_by", "for_staff", "message_status", "message_read_at", "created_on",
    ]
    search_columns = ["estate", "category", "called_at", "caller_name", "phone", "period", "for_staff"]
    base_order = ("called_at", "desc")
    add_form_query_rel_fields = edit_form_query_rel_fields = {
        "estate": SCOPED_REL, "unit": SCOPED_REL, "owner": SCOPED_REL, "for_staff": STAFF_REL,
    }
    add_form_extra_fields = {
        "called_at": LocalDateTimeField(_l("来电时间"), validators=[Optional()], description=_l("不填为现在")),
        "category": enum_select(ReceptionCategory, _l("类别")),
        "content": TextAreaField(_l("来电内容"), validators=[DataRequired(message=_l("请填写来电内容"))]),
        "phone": StringField(_l("电话"), validators=[Optional()], description=_l("选了业户可不填,自动带出")),
        "caller_name": StringField(_l("来电人"), validators=[Optional(), Length(max=40)], description=_l("选了业户可不填,自动带出姓名")),
    }
    edit_form_extra_fields = {
        "category": enum_select(ReceptionCategory, _l("类别")),
        "content": TextAreaField(_l("来电内容"), validators=[DataRequired(message=_l("请填写来电内容"))]),
    }
    description_columns = {"for_staff": _l("要找的同事不在时选择:来电内容作为转告发到其待办,由其标记已阅")}
    method_permission_name = ScopedModelView.method_permission_name | {"follow_up": "write"}
    export_title = _l("来电记录")
    export_columns = [
        ("called_at", _l("来电时间"), "datetime"),
        ("estate.name", _l("小区/大厦")),
        ("caller_name", _l("来电人")),
        ("phone", _l("电话")),
        ("place", _l("房屋")),
        ("category_label", _l("类别")),
        ("content", _l("来电内容")),
        ("answered_by.name", _l("接听人")),
        ("for_staff.name", _l("转告对象")),
        ("message_status", _l("转告状态")),
        ("outcome", _l("处理情况")),
    ]


# ---------------------------------------------------------------- REST
VISIT_API_COLUMNS = [
    "id", "estate_id", "unit_id", "owner_id", "visitor_name", "visitor_phone", "reason", "category",
    "handled_on_spot", "visited_at", "period", "status", "received_by_id", "department_id", "handed_over_at",
    "decision", "decided_at", "assignee_id", "outcome", "resolved_at", "repair_order_id", "complaint_id", "created_on",
]


class VisitRecordApi(FollowUpApi):
    resource_name = "visit_record"
    class_permission_name = "VisitRecord"
    datamodel = RecordInterface(VisitRecord)
    workflow_type = "visit_record"
    list_columns = show_columns = VISIT_API_COLUMNS
    add_columns = ["estate_id", "unit_id", "owner_id", "visitor_name", "visitor_phone", "reason", "category", "handled_on_spot", "visited_at", "outcome", "received_by_id"]
    edit_columns = list(VisitRecord.API_EDITABLE)
    search_columns = [
        "estate_id", "unit_id", "owner_id", "status", "category", "handled_on_spot", "period", "visited_at",
        "received_by_id", "department_id", "assignee_id", "repair_order_id", "complaint_id",
    ]
    order_columns = ["id", "visited_at"]
    base_order = ("visited_at", "desc")


CALL_API_COLUMNS = [
    "id", "estate_id", "unit_id", "owner_id", "caller_name", "phone", "content", "category", "called_at", "period",
    "answered_by_id", "outcome", "for_staff_id", "message_task_id", "message_read_at", "repair_order_id", "complaint_id",
    "created_on",
]


class CallRecordApi(FollowUpApi):
    resource_name = "call_record"
    class_permission_name = "CallRecord"
    datamodel = RecordInterface(CallRecord)
    list_columns = show_columns = CALL_API_COLUMNS
    add_columns = ["estate_id", "caller_name", "phone", "unit_id", "owner_id", "content", "category", "called_at", "for_staff_id", "answered_by_id", "outcome"]
    edit_columns = list(CallRecord.API_EDITABLE)
    search_columns = [
        "estate_id", "unit_id", "owner_id", "category", "period", "phone", "called_at", "answered_by_id", "for_staff_id",
        "repair_order_id", "complaint_id",
    ]
    order_columns = ["id", "called_at"]
    base_order = ("called_at", "desc")


def register(appbuilder) -> None:
    from views import reception_contact, reception_desk, survey

    reception_desk.register(appbuilder)
    add_screen(appbuilder, VisitRecordView, "VisitRecords", _l("来访记录"), "Reception", "fa-user")
    add_screen(appbuilder, CallRecordView, "CallRecords", _l("来电记录"), "Reception", "fa-phone")
    appbuilder.add_api(VisitRecordApi)
    appbuilder.add_api(CallRecordApi)
    reception_contact.register(appbuilder)
    survey.register(appbuilder)


"""投诉 screens and REST resources: complaints (`complaint`) and the weekly statistics (`complaint_week`)."""

from __future__ import annotations

from flask import url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

import app.roles as roles
from app.scope import ScopedInterface
from models.complaint import (
    Complaint,
    ComplaintCategory,
    ComplaintChannel,
    ComplaintWeek,
    EscalationTarget,
    export_weekly,
)
from models.repair import RepairCategory, Urgency
from models.revisit import Satisfaction, revisits_of
from views import add_screen
from views.followup import (
    SCOPED_REL,
    BodyApi,
    EventLogMixin,
    LocalDateTimeField,
    department_choices,
    enum_select,
    p_code,
    p_datetime,
    p_int,
    p_text,
    text_area,
)
from views.rest import ScopedModelRestApi
from views.scoped_view import ScopedModelView
from views.transitions import TransitionViewMixin, transition_action

TRANSITIONS = ("assign", "escalate", "reply", "close", "spawn_repair")
HEADS = ("read", "export", "assign", "escalate", "reply", "close")
roles.extend(
    {
        "接待员": {"Complaint": ("read", "write", "export", "assign", "escalate", "spawn_repair"), "ComplaintWeek": ("read", "export")},
        "总值班员": {"Complaint": ("read", "spawn_repair"), "ComplaintWeek": ("read",)},
        "物业管理员": {"Complaint": ("read", "write", "assign", "escalate"), "ComplaintWeek": ("read",)},
        "物业经理": {"Complaint": ("write",) + HEADS, "ComplaintWeek": ("read", "export")},
        "管理处主任": {"Complaint": ("write",) + HEADS, "ComplaintWeek": ("read", "export")},
        "公司经理": {"Complaint": HEADS, "ComplaintWeek": ("read", "export")},
        "处主任": {"Complaint": ("read", "reply", "escalate")},
        "工程部经理": {"Complaint": ("read", "reply", "escalate", "close")},
        "大厦管理部经理": {"Complaint": ("read", "reply", "escalate", "close")},
    }
)

LABELS = {
    "number": _l("投诉编号"),
    "received_at": _l("受理时间"),
    "estate": _l("小区/大厦"),
    "unit": _l("房屋"),
    "owner": _l("业户"),
    "who": _l("投诉人"),
    "complainant": _l("投诉人"),
    "phone": _l("联系电话"),
    "channel": _l("投诉方式"),
    "channel_label": _l("投诉方式"),
    "category": _l("类别"),
    "category_label": _l("类别"),
    "content": _l("投诉内容"),
    "summary": _l("投诉内容"),
    "department": _l("责任部门"),
    "status": _l("状态"),
    "status_label": _l("状态"),
    "reply_due_at": _l("答复期限"),
    "reply_state": _l("答复情况"),
    "escalated_label": _l("上报至"),
    "escalated_at": _l("上报时间"),
    "escalation_note": _l("上报说明"),
    "reply": _l("答复内容"),
    "replied_at": _l("答复时间"),
    "replied_by": _l("答复人"),
    "valid": _l("有效投诉"),
    "valid_label": _l("是否有效"),
    "satisfaction_label": _l("满意度"),
    "satisfaction": _l("满意度"),
    "escalated_to": _l("上报至"),
    "department_id": _l("责任部门"),
    "unit_id": _l("房屋"),
    "owner_id": _l("业户"),
    "estate_id": _l("小区/大厦"),
    "replied_by_id": _l("答复人"),
    "reply_summary": _l("答复情况"),
    "replied_by_name": _l("答复人"),
    "received_by_name": _l("受理人"),
    "source_type": _l("来源"),
    "source_id": _l("来源编号"),
    "repair_order": _l("所涉维修单"),
    "repair_order_id": _l("所涉维修单"),
    "spawned_order_id": _l("转出的维修单"),
    "about_type": _l("涉及服务"),
    "about_id": _l("涉及服务编号"),
    "closed_at": _l("关闭时间"),
    "close_note": _l("关闭说明"),
    "created_by": _l("受理人"),
    "created_on": _l("登记时间"),
    "changed_on": _l("修改时间"),
}


# ---------------------------------------------------------------- transition forms
class AssignForm(FlaskForm):
    department_id = SelectField(_l("责任部门"), choices=[], validators=[DataRequired(message=_l("请选择部门"))])
    note = StringField(_l("说明"), validators=[Optional(), Length(max=500)])


class EscalateForm(FlaskForm):
    to = SelectField(_l("上报至"), choices=EscalationTarget.choices(), validators=[DataRequired(message=_l("请选择上报对象"))])
    note = TextAreaField(_l("上报说明"), validators=[Optional(), Length(max=500)], description=_l("本部门处理不了的原因、需要协调的事项"))


class ReplyForm(FlaskForm):
    reply = TextAreaField(_l("答复内容"), validators=[DataRequired(message=_l("请填写答复内容"))])
    revisit_due_at = LocalDateTimeField(_l("回访期限"), validators=[Optional()], description=_l("不填为答复后 3 天;答复后须回访业户"))


class CloseForm(FlaskForm):
    valid = SelectField(
        _l("是否有效投诉"),
        choices=[("", _l("— 请判定 —")), ("true", _l("有效投诉")), ("false", _l("无效投诉"))],
        validators=[Optional()],
    )
    satisfaction = SelectField(_l("业户满意度"), choices=[("", _l("— 按回访结果 —"))] + Satisfaction.choices(), validators=[Optional()])
    note = StringField(_l("关闭说明"), validators=[Optional(), Length(max=500)])

    def data_for_transition(self):
        return {"valid": self.valid.data or None, "satisfaction": self.satisfaction.data or None, "note": self.note.data or None}


class SpawnRepairForm(FlaskForm):
    category = SelectField(_l("维修类别"), choices=[("", "—")] + RepairCategory.choices(), validators=[DataRequired(message=_l("请选择维修类别"))])
    urgency = SelectField(_l("紧急程度"), choices=Urgency.choices(), validators=[Optional()])
    problem = TextAreaField(_l("报修内容"), validators=[Optional()], description=_l("不填则用投诉内容"))


# ---------------------------------------------------------------- screens
class ComplaintView(EventLogMixin, TransitionViewMixin, ScopedModelView):
    datamodel = ScopedInterface(Complaint)
    class_permission_name = "Complaint"
    workflow_type = "complaint"
    base_permissions = ["can_read", "can_write", "can_export"]  # never deleted: the statistics count them
    list_title = _l("投诉")
    show_title = _l("投诉处理记录")
    add_title = _l("受理投诉")
    edit_title = _l("修改投诉")
    label_columns = LABELS
    list_columns = ["number", "received_at", "estate", "who", "category_label", "summary", "department", "status_label", "reply_summary"]
    add_columns = ["estate", "received_at", "channel", "category", "unit", "owner", "complainant", "phone", "content", "department"]
    edit_columns = ["channel", "category", "unit", "owner", "complainant", "phone", "content", "department"]
    show_fieldsets = [
        (_l("受理"), {"fields": ["number", "received_at", "channel_label", "estate", "unit", "owner", "complainant", "phone", "category_label", "content", "department", "received_by_name"]}),
        (_l("处理"), {"fields": ["status_label", "reply_due_at", "reply_state", "escalated_label", "escalated_at", "escalation_note", "reply", "replied_at", "replied_by_name"]}),
        (_l("关闭"), {"fields": ["valid_label", "satisfaction_label", "closed_at", "close_note"]}),
    ]
    search_columns = ["number", "estate", "status", "category", "channel", "department", "received_at", "reply_due_at", "valid", "complainant", "phone"]
    base_order = ("received_at", "desc")
    add_form_query_rel_fields = edit_form_query_rel_fields = {"estate": SCOPED_REL, "unit": SCOPED_REL, "owner": SCOPED_REL}
    add_form_extra_fields = {
        "received_at": LocalDateTimeField(_l("受理时间"), validators=[Optional()], description=_l("不填为现在;答复期限为受理后 24 小时")),
        "channel": enum_select(ComplaintChannel, _l("投诉方式")),
        "category": enum_select(ComplaintCategory, _l("类别"), blank=_l("— 请选择 —")),
        "content": text_area(_l("投诉内容"), _l("请填写投诉内容")),
    }
    edit_form_extra_fields = {k: v for k, v in add_form_extra_fields.items() if k != "received_at"}
    description_columns = {"owner": _l("选了业户可不填投诉人和电话"), "complainant": _l("匿名投诉可不填")}
    export_title = _l("投诉记录")
    export_columns = [
        ("number", _l("投诉编号")),
        ("received_at", _l("受理时间"), "datetime"),
        ("estate.name", _l("小区/大厦")),
        ("unit", _l("房屋")),
        ("who", _l("投诉人")),
        ("phone", _l("联系电话")),
        ("channel_label", _l("投诉方式")),
        ("category_label", _l("类别")),
        ("content", _l("投诉内容")),
        ("department.name", _l("责任部门")),
        ("status_label", _l("状态")),
        ("reply_due_at", _l("答复期限"), "datetime"),
        ("replied_at", _l("答复时间"), "datetime"),
        ("reply_state", _l("答复情况")),
        ("escalated_label", _l("上报至")),
        ("valid_label", _l("是否有效")),
        ("satisfaction_label", _l("满意度")),
    ]
    action_assign = transition_action("assign", _l("交办部门"), "fa-share", multiple=False)
    action_escalate = transition_action("escalate", _l("上报"), "fa-level-up", multiple=False)
    action_reply = transition_action("reply", _l("答复"), "fa-reply", multiple=False)
    action_close = transition_action("close", _l("关闭"), "fa-check-square-o", multiple=False)
    action_spawn_repair = transition_action("spawn_repair", _l("转维修单"), "fa-wrench", multiple=False)
    transition_forms = {"assign": AssignForm, "escalate": EscalateForm, "reply": ReplyForm, "close": CloseForm, "spawn_repair": SpawnRepairForm}

    def prepare_transition_form(self, name, form, items):
        if name == "assign":
            form.department_id.choices = department_choices(items[0].estate_id)

    def _form_params(self, form) -> dict:
        if hasattr(form, "data_for_transition"):
            return form.data_for_transition()
        return {k: v for k, v in form.data.items() if k != "csrf_token" and v not in ("", None)}

    def show_extra(self, item) -> dict:
        session = self.datamodel.session
        links = []
        if item.repair_order_id:
            links.append((_l("所涉维修单"), _order_text(session, item.repair_order_id), _order_url(item.repair_order_id)))
        if item.spawned_order_id:
            links.append((_l("转出的维修单"), _order_text(session, item.spawned_order_id), _order_url(item.spawned_order_id)))
        if item.about_type and item.about_id:
            from models.complaint import ABOUT, about_object

            target = about_object(session, item.about_type, item.about_id)
            endpoint = _ABOUT_VIEWS.get(item.about_type)
            links.append((ABOUT[item.about_type][2], str(target) if target else f"#{item.about_id}", _safe_url(f"{endpoint}.show", pk=item.about_id)))
        if item.source_type and item.source_id:
            endpoint = _SOURCE_VIEWS.get(item.source_type)
            url = _safe_url(f"{endpoint}.show", pk=item.source_id) if endpoint else None
            links.append((_l("来源"), f"{_SOURCE_LABELS.get(item.source_type, item.source_type)} #{item.source_id}", url))
        return {"revisits": revisits_of(session, "complaint", item.id), "links": links}


_SOURCE_LABELS = {"visit_record": _l("来访记录"), "call_record": _l("来电记录"), "owner_visit": _l("走访记录"), "survey": _l("意见征询表"),
                  "survey_response": _l("意见征询表答卷")}
_ABOUT_VIEWS = {"service_item": "ServiceItemView", "subscription": "SubscriptionView", "venue_booking": "VenueBookingView"}
_SOURCE_VIEWS = {"visit_record": "VisitRecordView", "call_record": "CallRecordView", "owner_visit": "OwnerVisitView",
                 "survey_response": "SurveyResponseView"}


def _safe_url(endpoint: str, **kw) -> str | None:
    try:
        return url_for(endpoint, **kw)
    except Exception:  # a screen of another area that is not registered
        return None


def _order_text(session, order_id: int) -> str:
    from models.repair import RepairOrder

    order = session.get(RepairOrder, order_id)
    return str(order.number) if order is not None else f"#{order_id}"


def _order_url(order_id: int) -> str | None:
    return _safe_url("RepairOrderView.show", pk=order_id)


class ComplaintWeekView(EventLogMixin, ScopedModelView):
    datamodel = ScopedInterface(ComplaintWeek)
    class_permission_name = "ComplaintWeek"
    base_permissions = ["can_read", "can_export"]
    list_title = _l("投诉周统计")
    show_title = _l("投诉周统计")
    show_template = "wuye/followup_week_show.html"
    label_columns = {
        "week_label": _l("周次"),
        "week_start": _l("周一"),
        "estate": _l("小区/大厦"),
        "total": _l("投诉数"),
        "valid": _l("有效"),
        "invalid": _l("无效"),
        "undecided": _l("未判定"),
        "replied_on_time": _l("24 小时内答复"),
        "replied_late": _l("超时"),
        "unanswered": _l("未答复"),
        "reply_rate_display": _l("按时答复率"),
        "built_at": _l("统计时间"),
    }
    list_columns = ["week_label", "estate", "total", "valid", "invalid", "undecided", "replied_on_time", "replied_late", "unanswered", "reply_rate_display", "built_at"]
    show_columns = list_columns
    search_columns = ["estate", "week_start"]
    base_order = ("week_start", "desc")

    @expose("/export/")
    @has_access
    @permission_name("export")
    def export(self):
        """The weeks of the list as filtered now, with their breakdowns, as one workbook."""
        import io

        from views.base import send_xlsx

        buffer = io.BytesIO()
        export_weekly(self.datamodel.session, None, buffer, rows=list(self.export_rows()))
        buffer.seek(0)
        return send_xlsx(buffer, "投诉周统计.xlsx")


# ---------------------------------------------------------------- REST
COMPLAINT_API_COLUMNS = [
    "id", "number", "estate_id", "unit_id", "owner_id", "received_at", "channel", "category", "complainant", "phone",
    "content", "department_id", "status", "reply_due_at", "escalated_to", "escalated_at", "escalation_note", "reply",
    "replied_at", "replied_by_id", "valid", "satisfaction", "closed_at", "close_note", "repair_order_id",
    "spawned_order_id", "source_type", "source_id", "about_type", "about_id", "created_on",
]
COMPLAINT_FIELDS = {
    "estate_id": p_int,
    "unit_id": p_int,
    "owner_id": p_int,
    "channel": p_code(ComplaintChannel),
    "category": p_code(ComplaintCategory),
    "content": p_text(2000),
    "received_at": p_datetime,
    "complainant": p_text(80),
    "phone": p_text(30),
    "department_id": p_int,
    "repair_order_id": p_int,
    "source_type": p_text(30),
    "source_id": p_int,
    "about_type": p_text(30),
    "about_id": p_int,
}


class ComplaintApi(BodyApi):
    resource_name = "complaint"
    class_permission_name = "Complaint"
    datamodel = ScopedInterface(Complaint)
    workflow_type = "complaint"
    base_permissions = ["can_read", "can_write", *(f"can_{t}" for t in TRANSITIONS)]
    list_columns = show_columns = COMPLAINT_API_COLUMNS
    body_parsers = COMPLAINT_FIELDS
    body_required = ("channel", "category", "content")
    edit_parsers = {k: v for k, v in COMPLAINT_FIELDS.items() if k not in ("estate_id",)}
    search_columns = [
        "estate_id", "unit_id", "owner_id", "status", "category", "channel", "department_id", "repair_order_id",
        "spawned_order_id", "valid", "received_at", "reply_due_at", "number", "source_type", "source_id",
    ]
    order_columns = ["id", "received_at", "reply_due_at", "number"]


class ComplaintWeekApi(ScopedModelRestApi):
    resource_name = "complaint_week"
    class_permission_name = "ComplaintWeek"
    datamodel = ScopedInterface(ComplaintWeek)
    base_permissions = ["can_read"]
    list_columns = show_columns = [
        "id", "estate_id", "week_start", "week_end", "period", "built_at", "total", "valid", "invalid", "undecided",
        "replied_on_time", "replied_late", "unanswered", "data",
    ]
    search_columns = ["estate_id", "week_start"]
    order_columns = ["id", "week_start"]


def register(appbuilder) -> None:
    add_screen(appbuilder, ComplaintView, "Complaints", _l("投诉"), "FollowUp", "fa-bullhorn")
    add_screen(appbuilder, ComplaintWeekView, "ComplaintWeeks", _l("投诉周统计"), "FollowUp", "fa-calendar")
    appbuilder.add_api(ComplaintApi)
    appbuilder.add_api(ComplaintWeekApi)


"""接待服务 screens for owner contact: 走访记录, 物业经理走访考核, 业户座谈会 (REST `owner_visit`, `forum`)."""

from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, SelectField, TextAreaField
from wtforms.validators import DataRequired, NumberRange, Optional

import app.roles as roles
from app.scope import ScopedInterface, allowed_estate_ids
from models.master import staff_estate
from models.reception_contact import ManagerVisitMonth, OwnerVisit, ReplyMethod, Satisfaction
from models.reception_forum import Forum, ForumAction, ForumMode
from views import add_screen
from views.base import AreaFilter
from views.reception_base import (
    RECEPTION_LABELS,
    SCOPED_REL,
    STAFF_REL,
    FollowUpApi,
    FollowUpViewMixin,
    LocalDateTimeField,
    RecordApi,
    RecordInterface,
    RecordViewMixin,
    enum_select,
    staff_choices,
)
from views.rest import ScopedModelRestApi
from views.scoped_view import ScopedModelView
from views.transitions import TransitionViewMixin, transition_action

roles.extend(
    {
        "物业经理": {
            "OwnerVisit": ("read", "write", "export", "reply"),
            "Forum": ("read", "write", "delete", "hold", "add_action"),
            "ForumAction": ("read",),
            "ManagerVisitMonth": ("read",),
        },
        "管理处主任": {
            "OwnerVisit": ("read", "write", "reply"),
            "Forum": ("read", "write", "hold", "add_action"),
            "ForumAction": ("read",),
            "ManagerVisitMonth": ("read",),
        },
        "物业管理员": {"OwnerVisit": ("read", "write", "reply"), "Forum": ("read",), "ForumAction": ("read",)},
        "接待员": {"OwnerVisit": ("read", "write", "reply"), "Forum": ("read",), "ForumAction": ("read",)},
    }
)


class ReplyForm(FlaskForm):
    reply = TextAreaField(_l("答复内容"), validators=[DataRequired(message=_l("请填写答复内容"))])
    method = SelectField(_l("回访方式"), choices=ReplyMethod.choices(), validators=[DataRequired()])
    satisfaction = SelectField(_l("业户满意度"), choices=[("", "—")] + Satisfaction.choices(), validators=[Optional()])
    replied_at = LocalDateTimeField(_l("答复时间"), validators=[Optional()], description=_l("不填为现在"))


OWNER_VISIT_LABELS = RECEPTION_LABELS | {
    "staff": _l("走访人"),
    "visited_at": _l("走访时间"),
    "interviewee": _l("受访业户"),
    "opinions": _l("业户意见"),
    "suggestions": _l("业户建议"),
    "reply_needed": _l("需要答复"),
    "reply_due_at": _l("答复期限"),
    "reply": _l("答复内容"),
    "reply_method_label": _l("回访方式"),
    "satisfaction_label": _l("满意度"),
    "replied_at": _l("答复时间"),
    "replied_by": _l("答复人"),
    "staff_id": _l("走访人"),
    "replied_by_id": _l("答复人"),
    "reply_method": _l("回访方式"),
    "satisfaction": _l("满意度"),
}


class OwnerVisitView(FollowUpViewMixin, RecordViewMixin, TransitionViewMixin, ScopedModelView):
    datamodel = RecordInterface(OwnerVisit)
    class_permission_name = "OwnerVisit"
    workflow_type = "owner_visit"
    list_title = _l("走访记录")
    show_title = _l("走访记录")
    add_title = _l("登记走访")
    edit_title = _l("修改走访记录")
    label_columns = OWNER_VISIT_LABELS
    list_columns = ["visited_at", "staff", "estate", "place", "interviewee", "opinions", "reply_needed", "status_label", "reply_due_at"]
    add_columns = ["estate", "unit", "owner", "interviewee", "staff", "visited_at", "opinions", "suggestions", "reply_needed", "reply_due_at"]
    edit_columns = ["unit", "owner", "interviewee", "opinions", "suggestions"]
    show_columns = [
        "visited_at", "staff", "estate", "place", "owner", "interviewee", "opinions", "suggestions", "reply_needed",
        "reply_due_at", "status_label", "reply", "reply_method_label", "satisfaction_label", "replied_at", "replied_by",
    ]
    search_columns = ["estate", "staff", "status", "reply_needed", "visited_at", "period"]
    base_order = ("visited_at", "desc")
    add_form_query_rel_fields = edit_form_query_rel_fields = {"estate": SCOPED_REL, "unit": SCOPED_REL, "owner": SCOPED_REL, "staff": STAFF_REL}
    add_form_extra_fields = {
        "visited_at": LocalDateTimeField(_l("走访时间"), validators=[Optional()], description=_l("不填为现在")),
        "reply_due_at": LocalDateTimeField(_l("答复期限"), validators=[Optional()], description=_l("需要答复时填写;不填为走访后 7 天")),
        "opinions": TextAreaField(_l("业户意见")),
        "suggestions": TextAreaField(_l("业户建议")),
    }
    description_columns = {"staff": _l("不选为本人"), "reply_needed": _l("需要答复的,通过回访给业户答复")}
    method_permission_name = ScopedModelView.method_permission_name | {"action_reply": "reply", "follow_up": "write"}
    transition_forms = {"reply": ReplyForm}
    action_reply = transition_action("reply", _l("回访答复"), "fa-reply", multiple=False)
    export_title = _l("走访记录")
    export_columns = [
        ("visited_at", _l("走访时间"), "datetime"),
        ("staff.name", _l("走访人")),
        ("estate.name", _l("小区/大厦")),
        ("place", _l("房屋")),
        ("interviewee", _l("受访业户")),
        ("opinions", _l("业户意见")),
        ("suggestions", _l("业户建议")),
        ("status_label", _l("答复状态")),
        ("reply", _l("答复内容")),
        ("replied_at", _l("答复时间"), "datetime"),
    ]

    def pre_add(self, item):
        from views.base import current_actor

        if item.staff is None and item.staff_id is None:
            item.staff_id = current_actor().staff_id


class FilterManagersOfUserEstates(AreaFilter):
    """The month-end checks of managers who work for one of the user's estates."""

    name = "managers in scope"
    arg_name = "mscope"

    def apply(self, query, value):
        ids = allowed_estate_ids()
        if ids is None:
            return query
        serving = select(staff_estate.c.staff_id).where(staff_estate.c.estate_id.in_(ids or {0}))
        return query.filter(ManagerVisitMonth.staff_id.in_(serving))


class ManagerVisitMonthView(ScopedModelView):
    datamodel = SQLAInterface(ManagerVisitMonth)
    class_permission_name = "ManagerVisitMonth"
    base_permissions = ["can_read"]
    list_title = _l("物业经理走访考核(每月不少于 3 次)")
    show_title = _l("物业经理走访考核")
    label_columns = {
        "staff": _l("物业经理"),
        "period": _l("月份"),
        "visits": _l("走访次数"),
        "required": _l("应走访次数"),
        "result_label": _l("结果"),
        "short": _l("不足"),
        "checked_at": _l("检查时间"),
    }
    list_columns = ["period", "staff", "visits", "required", "result_label", "checked_at"]
    show_columns = list_columns
    search_columns = ["period", "staff", "short"]
    base_order = ("period", "desc")
    base_filters = [["staff_id", FilterManagersOfUserEstates, None]]


# ---------------------------------------------------------------- 业户座谈会
class HoldForm(FlaskForm):
    minutes = TextAreaField(_l("会议纪要"), validators=[DataRequired(message=_l("请填写会议纪要"))], render_kw={"rows": 8})
    participants = TextAreaField(_l("参加人员"), validators=[Optional()])
    participant_count = IntegerField(_l("参加人数"), validators=[Optional(), NumberRange(min=0, max=100000)])


class AddActionForm(FlaskForm):
    content = TextAreaField(_l("待办事项"), validators=[DataRequired(message=_l("请填写待办事项内容"))])
    assignee_id = SelectField(_l("负责人"), choices=[], validators=[DataRequired(message=_l("请选择负责人"))])
    due_at = LocalDateTimeField(_l("完成期限"), validators=[Optional()])


class ForumActionView(ScopedModelView):
    datamodel = ScopedInterface(ForumAction)
    class_permission_name = "ForumAction"
    base_permissions = ["can_read"]
    list_title = _l("座谈会待办事项")
    show_title = _l("座谈会待办事项")
    label_columns = {
        "forum": _l("座谈会"),
        "content": _l("待办事项"),
        "assignee": _l("负责人"),
        "due_at": _l("完成期限"),
        "status_label": _l("状态"),
        "done_at": _l("完成时间"),
        "done_note": _l("完成说明"),
    }
    list_columns = ["content", "assignee", "due_at", "status_label", "done_at", "done_note"]
    show_columns = ["forum"] + list_columns
    search_columns = ["forum", "assignee", "due_at"]
    base_order = ("id", "asc")


FORUM_LABELS = RECEPTION_LABELS | {
    "held_at": _l("时间"),
    "topic": _l("主题"),
    "venue": _l("地点"),
    "mode": _l("参加方式"),
    "mode_label": _l("参加方式"),
    "host": _l("主持人"),
    "participants": _l("参加人员"),
    "participant_count": _l("参加人数"),
    "minutes": _l("会议纪要"),
    "open_actions": _l("未完成待办"),
    "host_id": _l("主持人"),
}


class ForumView(RecordViewMixin, TransitionViewMixin, ScopedModelView):
    datamodel = RecordInterface(Forum)
    class_permission_name = "Forum"
    workflow_type = "forum"
    list_title = _l("业户座谈会")
    show_title = _l("业户座谈会")
    add_title = _l("安排座谈会")
    edit_title = _l("修改座谈会")
    label_columns = FORUM_LABELS
    list_columns = ["held_at", "estate", "topic", "mode_label", "participant_count", "status_label", "open_actions"]
    add_columns = ["estate", "held_at", "topic", "venue", "mode", "host", "participants", "participant_count"]
    edit_columns = ["held_at", "topic", "venue", "mode", "host", "participants", "participant_count"]
    show_columns = ["held_at", "estate", "topic", "venue", "mode_label", "host", "participants", "participant_count", "status_label", "minutes"]
    search_columns = ["estate", "status", "held_at", "topic", "period"]
    base_order = ("held_at", "desc")
    related_views = [ForumActionView]
    add_form_query_rel_fields = edit_form_query_rel_fields = {"estate": SCOPED_REL, "host": STAFF_REL}
    add_form_extra_fields = edit_form_extra_fields = {
        "held_at": LocalDateTimeField(_l("时间"), validators=[DataRequired(message=_l("请填写座谈会时间"))]),
        "mode": enum_select(ForumMode, _l("参加方式")),
        "participants": TextAreaField(_l("参加人员"), description=_l("邀请的代表或自愿参加的业户,姓名/房号")),
    }
    method_permission_name = ScopedModelView.method_permission_name | {"action_hold": "hold", "action_add_action": "add_action"}
    transition_forms = {"hold": HoldForm, "add_action": AddActionForm}
    action_hold = transition_action("hold", _l("记录纪要"), "fa-pencil", multiple=False)
    action_add_action = transition_action("add_action", _l("布置待办事项"), "fa-tasks", multiple=False)

    def prepare_transition_form(self, name, form, items):
        if name == "add_action":
            form.assignee_id.choices = staff_choices(items[0].estate_id, blank=False)
        elif name == "hold" and items[0].participants and not form.participants.data:
            form.participants.data = items[0].participants


# ---------------------------------------------------------------- REST
class OwnerVisitApi(FollowUpApi):
    resource_name = "owner_visit"
    class_permission_name = "OwnerVisit"
    datamodel = RecordInterface(OwnerVisit)
    workflow_type = "owner_visit"
    list_columns = show_columns = [
        "id", "estate_id", "staff_id", "visited_at", "period", "unit_id", "owner_id", "interviewee", "opinions",
        "suggestions", "reply_needed", "reply_due_at", "status", "reply", "reply_method", "satisfaction", "replied_at",
        "replied_by_id", "repair_order_id", "complaint_id",
    ]
    add_columns = list(OwnerVisit.API_FIELDS)
    edit_columns = list(OwnerVisit.API_EDITABLE)
    search_columns = ["estate_id", "staff_id", "unit_id", "owner_id", "status", "reply_needed", "period", "visited_at"]
    order_columns = ["id", "visited_at"]
    base_order = ("visited_at", "desc")


class ForumApi(RecordApi):
    resource_name = "forum"
    class_permission_name = "Forum"
    datamodel = RecordInterface(Forum)
    workflow_type = "forum"
    list_columns = show_columns = [
        "id", "estate_id", "held_at", "period", "topic", "venue", "mode", "host_id", "participants",
        "participant_count", "minutes", "status", "actions.id", "actions.content", "actions.assignee_id",
        "actions.due_at", "actions.task_id", "actions.done_at",
    ]
    add_columns = list(Forum.API_FIELDS)
    edit_columns = list(Forum.API_EDITABLE)
    search_columns = ["estate_id", "status", "period", "held_at", "host_id"]
    order_columns = ["id", "held_at"]
    base_order = ("held_at", "desc")


class ForumActionApi(ScopedModelRestApi):
    resource_name = "forum_action"
    class_permission_name = "ForumAction"
    datamodel = ScopedInterface(ForumAction)
    base_permissions = ["can_read"]
    list_columns = show_columns = ["id", "forum_id", "estate_id", "content", "assignee_id", "due_at", "task_id", "done_at", "done_note"]
    search_columns = ["forum_id", "estate_id", "assignee_id", "task_id"]
    order_columns = ["id", "due_at"]


def register(appbuilder) -> None:
    from views import reception_summary

    add_screen(appbuilder, OwnerVisitView, "OwnerVisits", _l("走访记录"), "Reception", "fa-street-view")
    add_screen(appbuilder, ManagerVisitMonthView, "ManagerVisitMonths", _l("经理走访考核"), "Reception", "fa-check-square-o")
    add_screen(appbuilder, ForumView, "Forums", _l("业户座谈会"), "Reception", "fa-comments")
    appbuilder.add_view_no_menu(ForumActionView)
    for api in (OwnerVisitApi, ForumApi, ForumActionApi):
        appbuilder.add_api(api)
    reception_summary.register(appbuilder)

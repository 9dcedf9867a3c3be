"""待办 screens: 我的待办 (mine and my roles') and all tasks; REST resource `task`."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_babel import lazy_gettext as _l

from app.scope import ScopedInterface, request_user
from models.base import DomainError
from models.task import Task, task_flow, tasks_for_user_clause
from models.workflow import Actor
from views import add_screen
from views.base import current_actor
from views.rest import ScopedModelRestApi
from views.scoped_view import ScopedModelView


class MyTasksInterface(ScopedInterface):
    """Tasks of the logged-in user: assigned to their staff record or to one of their roles."""

    def _scope(self, query):
        query = super()._scope(query)
        user = request_user()
        if user is None:
            return query.filter(Task.id.is_(None))
        actor = Actor(user=user)
        return query.filter(tasks_for_user_clause(actor.staff_id, actor.role_names))


TASK_LABELS = {
    "kind_label": _l("类别"),
    "kind": _l("类别"),
    "title": _l("事项"),
    "detail": _l("说明"),
    "estate": _l("小区/大厦"),
    "who": _l("负责人/角色"),
    "assignee": _l("负责人"),
    "role_name": _l("角色"),
    "due_at": _l("期限"),
    "created_at": _l("生成时间"),
    "done_at": _l("完成时间"),
    "done_by": _l("完成人"),
    "done_note": _l("完成说明"),
    "status_label": _l("状态"),
    "status": _l("状态"),
    "object_link": _l("相关记录"),
}


class _TaskViewBase(ScopedModelView):
    class_permission_name = "Task"
    label_columns = TASK_LABELS
    list_columns = ["kind_label", "title", "estate", "who", "due_at", "created_at", "status_label"]
    show_columns = ["kind_label", "title", "detail", "estate", "who", "due_at", "created_at", "status_label", "done_at", "done_by", "done_note"]
    search_columns = ["kind", "status", "estate", "title", "due_at"]
    base_permissions = ["can_read", "can_done"]
    base_order = ("due_at", "asc")
    method_permission_name = ScopedModelView.method_permission_name | {"action_done": "done"}

    @action("done", _l("标记完成"), _l("确定把选中的待办标记为完成?"), "fa-check", multiple=True, single=True)
    def action_done(self, items):
        items = items if isinstance(items, list) else [items]
        session = self.datamodel.session
        done = 0
        for item in items:
            if item is None:
                continue
            try:
                task_flow.apply(session, item, "done", current_actor())
                session.commit()
                done += 1
            except DomainError as error:
                session.rollback()
                flash(f"{item.title}:{error.message}", "danger")
        if done:
            flash(str(_l("已完成 %(n)s 条待办", n=done)), "success")
        return redirect(request.referrer or url_for(f"{self.__class__.__name__}.list"))


class MyTaskView(_TaskViewBase):
    datamodel = MyTasksInterface(Task)
    list_title = _l("我的待办")
    show_title = _l("待办详情")
    base_filters = [["status", FilterEqual, "open"]]


class TaskView(ScopedModelView):
    """Every task of the user's estates, for managers following up on their people."""

    datamodel = ScopedInterface(Task)
    class_permission_name = "TaskAll"
    base_permissions = ["can_read"]
    list_title = _l("全部待办")
    show_title = _l("待办详情")
    label_columns = TASK_LABELS
    list_columns = _TaskViewBase.list_columns + ["done_at"]
    show_columns = _TaskViewBase.show_columns
    search_columns = _TaskViewBase.search_columns
    base_order = ("created_at", "desc")


class TaskApi(ScopedModelRestApi):
    resource_name = "task"
    class_permission_name = "Task"
    datamodel = ScopedInterface(Task)
    workflow_type = "task"
    base_permissions = ["can_read", "can_done"]
    list_columns = show_columns = [
        "id", "kind", "title", "detail", "estate_id", "object_type", "object_id", "assignee_id", "role_name",
        "due_at", "created_at", "done_at", "done_by_id", "done_note", "status",
    ]
    search_columns = ["kind", "status", "estate_id", "object_type", "object_id", "assignee_id", "role_name"]
    order_columns = ["id", "due_at", "created_at"]


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(MyTaskView)  # reached from the bell in the navbar and the home page
    add_screen(appbuilder, TaskView, "AllTasks", _l("全部待办"), "Reports", "fa-tasks")
    appbuilder.add_api(TaskApi)

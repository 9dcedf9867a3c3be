"""Permissions as an administrator reads them on the role screens: "维修单:查看、派工" instead of FAB's
"can read on RepairOrder, can dispatch on RepairOrder". The stored names stay as FAB builds them."""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l

VERBS = {
    "can_read": _l("查看"),
    "can_write": _l("新增/修改"),
    "can_delete": _l("删除"),
    "can_export": _l("导出"),
    "menu_access": _l("菜单"),
    "can_list": _l("列表"),
    "can_show": _l("详情"),
    "can_add": _l("新增"),
    "can_edit": _l("修改"),
    "can_download": _l("下载"),
    "can_get": _l("读取"),
    "can_this_form_get": _l("打开表单"),
    "can_this_form_post": _l("提交表单"),
    "can_userinfo": _l("本人信息"),
    "userinfoedit": _l("修改本人信息"),
    "resetmypassword": _l("重设本人密码"),
    "resetpasswords": _l("重设密码"),
    "copyrole": _l("复制角色"),
    "can_do_transition": _l("办理"),
    "can_backdate": _l("补录"),
    "can_fill": _l("从上年/目录填充项目"),
    "can_retry": _l("立即重发"),
}
# Views of FAB and of the API that have no menu entry of their own.
VIEWS = {
    "UserDBModelView": _l("用户"),
    "RoleModelView": _l("角色"),
    "UserGroupModelView": _l("用户组"),
    "PermissionModelView": _l("基本权限"),
    "ViewMenuModelView": _l("视图/菜单"),
    "PermissionViewModelView": _l("视图/菜单权限"),
    "UserInfoEditView": _l("本人信息"),
    "ResetMyPasswordView": _l("重设本人密码"),
    "ResetPasswordView": _l("重设密码"),
    "MenuApi": _l("菜单接口"),
    "OpenApi": _l("接口说明"),
    "SwaggerView": _l("接口说明"),
    "Security": _l("系统设置"),
    "Dashboard": _l("经营看板"),
    "Task": _l("我的待办"),
    "ForumAction": _l("座谈会待办事项"),
    "PriceListLine": _l("价格表项目"),
    "SurveyResponse": _l("意见征询表答卷"),
}


def _names() -> tuple[dict, dict]:
    """(view or menu name → label, (permission, view) → label of a workflow move), built once per app."""
    cached = current_app.extensions.get("wuye.permission_labels")
    if cached is not None:
        return cached
    from app.roles import MENU_CONCEPTS
    from models.workflow import WORKFLOWS

    views: dict[str, object] = dict(VIEWS)
    for item in current_app.appbuilder.menu.get_list():
        views.setdefault(item.name, item.label or item.name)
        for child in item.childs or []:
            if child.name and child.name != "-":
                views.setdefault(child.name, child.label or child.name)
    for menu_name, concept in MENU_CONCEPTS.items():
        views.setdefault(concept, views.get(menu_name, concept))
    moves = {}
    for workflow in WORKFLOWS.values():
        views.setdefault(workflow.permission_view, workflow.permission_view)
        for transition in workflow.transitions.values():
            moves[(transition.permission_name, workflow.permission_view)] = transition.label
    cached = current_app.extensions["wuye.permission_labels"] = (views, moves)
    return cached


def permission_label(pv) -> str:
    """One permission on a view: "维修单 · 派工" (in the user's language)."""
    views, moves = _names()
    permission, view = pv.permission.name, pv.view_menu.name
    verb = moves.get((permission, view)) or VERBS.get(permission) or permission.removeprefix("can_").replace("_", " ")
    return f"{views.get(view, view)} · {verb}"


def permissions_text(permissions) -> str:
    """A role's permissions grouped by view: "维修单:查看、派工;小区/大厦:查看"."""
    views, moves = _names()
    grouped: dict[str, list[str]] = {}
    for pv in permissions or []:
        permission, view = pv.permission.name, pv.view_menu.name
        verb = moves.get((permission, view)) or VERBS.get(permission) or permission.removeprefix("can_").replace("_", " ")
        grouped.setdefault(str(views.get(view, view)), []).append(str(verb))
    colon, comma = str(_l(":")), str(_l("、"))
    return str(_l(";")).join(view + colon + comma.join(sorted(set(verbs))) for view, verbs in sorted(grouped.items()))

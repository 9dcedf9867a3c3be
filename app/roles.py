"""The handbook roles (SPEC §1) and their permission sets, declared in one place.

Permissions are per concept (the views' `class_permission_name`): `read`, `write`, `delete`,
`export`, and one per transition (`dispatch`, `accept`, ...). `flask init` creates the roles and
adds what is declared here; it never removes what an administrator granted.
"""

from __future__ import annotations

import logging

from flask import current_app

logger = logging.getLogger(__name__)

READ = ("read",)
RW = ("read", "write")
RWD = ("read", "write", "delete")
RWDE = ("read", "write", "delete", "export")
RE = ("read", "export")
MASTER = ("Estate", "Building", "Unit", "Owner", "Department", "Staff")

# role -> {concept: permissions}; "*" means every concept (company-level reading).
ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    "系统管理员": {},  # FAB's admin role: every permission is added to it automatically
    "公司经理": {"*": RE, "Task": ("read", "done")},
    "物业经理": {"*": RE, "Task": ("read", "done")},
    "管理处主任": {"*": RE, "Task": ("read", "done")},
    "物业管理员": {"Owner": RW, "Unit": READ, "Building": READ, "Estate": READ, "Task": ("read", "done")},
    "接待员": {
        "Estate": READ,
        "Building": READ,
        "Unit": READ,
        "Owner": RWDE,
        "Department": READ,
        "Staff": READ,
        "Task": ("read", "done"),
    },
    "总值班员": {
        "Estate": READ,
        "Building": READ,
        "Unit": READ,
        "Owner": RE,
        "Department": READ,
        "Staff": READ,
        "Task": ("read", "done"),
    },
    "处主任": {"Owner": READ, "Unit": READ, "Department": READ, "Staff": READ, "Task": ("read", "done")},
    "维修人员": {"Owner": READ, "Unit": READ, "Task": ("read", "done")},
    "工程部经理": {"Owner": READ, "Department": READ, "Staff": READ, "Task": ("read", "done")},
    "大厦管理部经理": {"Owner": READ, "Department": READ, "Staff": READ, "Task": ("read", "done")},
    "采购员": {"Task": ("read", "done")},
    "供应处主任": {"Staff": READ, "Task": ("read", "done")},
    "财务内勤": {"Owner": READ, "Unit": READ, "Estate": READ, "Task": ("read", "done")},
}

# Roles that see every estate (the others see the estates of their staff record).
COMPANY_ROLES = ("系统管理员", "公司经理")


def extend(concept_perms: dict[str, dict[str, tuple[str, ...]]]) -> None:
    """Let a handbook area add its concepts' permissions to roles (called at import of roles_*)."""
    for role, perms in concept_perms.items():
        target = ROLES.setdefault(role, {})
        for concept, names in perms.items():
            target[concept] = tuple(dict.fromkeys(target.get(concept, ()) + tuple(names)))


def role_permissions(appbuilder, role_name: str) -> set[tuple[str, str]]:
    """(permission, view_menu) pairs the declaration gives a role, menus included."""
    declared = ROLES.get(role_name, {})
    concepts = {v.class_permission_name for v in appbuilder.baseviews}
    pairs: set[tuple[str, str]] = set()
    for concept in concepts:
        names = declared.get(concept, ())
        if "*" in declared and concept not in ADMIN_ONLY:
            names = tuple(dict.fromkeys(declared["*"] + tuple(names)))
        for name in names:
            pairs.add((f"can_{name}", concept))
    readable = {c for (p, c) in pairs if p == "can_read"}
    for menu in appbuilder.menu.get_list():
        children = [c for c in menu.childs if c.name != "-"]
        granted = [c for c in children if MENU_CONCEPTS.get(c.name) in readable]
        for child in granted:
            pairs.add(("menu_access", child.name))
        if granted:
            pairs.add(("menu_access", menu.name))
    return pairs


# Concepts that company-level reading ("*") does not reach: security administration.
ADMIN_ONLY = {
    "UserDBModelView", "RoleModelView", "PermissionViewMenuModelView", "ViewMenuModelView",
    "PermissionModelView", "UserStatsChartView", "RegisterUserModelView", "Setting", "RosterImport",
    "MenuApi", "SecurityApi", "PermissionApi", "RoleApi", "UserApi", "ViewMenuApi", "PermissionViewMenuApi",
    "ResetPasswordView", "ResetMyPasswordView", "UserInfoEditView", "Group", "GroupModelView", "ApiKey",
}

# menu item name -> concept, filled by views.register_views
MENU_CONCEPTS: dict[str, str] = {}

# Every logged-in user may do these (own password, own info, the menu API, the home page).
EVERYONE = [
    ("can_this_form_get", "ResetMyPasswordView"),
    ("can_this_form_post", "ResetMyPasswordView"),
    ("can_this_form_get", "UserInfoEditView"),
    ("can_this_form_post", "UserInfoEditView"),
    ("can_userinfo", "UserDBModelView"),
    ("can_get", "MenuApi"),
]


def sync_roles(appbuilder) -> dict[str, int]:
    """Create the handbook roles and add their declared permissions; never removes anything."""
    sm = appbuilder.sm
    sm.add_role(current_app.config.get("AUTH_ROLE_PUBLIC", "Public"))
    for role_name in ROLES:
        if sm.find_role(role_name) is None:
            sm.add_role(role_name)
    # Writes every view's permissions; FAB adds each one to the admin role as it goes.
    appbuilder.add_permissions(update_perms=True)
    admin = sm.find_role(sm.auth_role_admin)
    have_admin = {pv.id for pv in admin.permissions}
    for pv in appbuilder.session.query(sm.permissionview_model).all():
        if pv.id not in have_admin:
            sm.add_permission_role(admin, pv)
    added: dict[str, int] = {}
    for role_name in ROLES:
        if role_name == sm.auth_role_admin:
            continue
        role = sm.find_role(role_name)
        have = {(pv.permission.name, pv.view_menu.name) for pv in role.permissions}
        wanted = role_permissions(appbuilder, role_name) | set(EVERYONE)
        count = 0
        for perm, view in sorted(wanted - have):
            pv = sm.find_permission_view_menu(perm, view)
            if pv is not None:
                sm.add_permission_role(role, pv)
                count += 1
        added[role_name] = count
    return added

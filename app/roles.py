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


def declared_permission_views(appbuilder) -> set[tuple[str, str]]:
    """Every (permission, view_menu) pair the registered screens, APIs and menus define."""
    pairs: set[tuple[str, str]] = set()
    for view in appbuilder.baseviews:
        for perm in view.base_permissions or ():
            pairs.add((perm, view.class_permission_name))
    for menu in appbuilder.menu.get_list():
        pairs.add(("menu_access", menu.name))
        for child in menu.childs:
            if child.name != "-":
                pairs.add(("menu_access", child.name))
    return pairs


def sync_roles(appbuilder) -> dict[str, int]:
    """Create the permissions, the handbook roles and their declared grants in one transaction.

    Only adds: a permission an administrator granted by hand, or one no longer declared, stays.
    (FAB's own `add_permissions` commits per row and, with screens and REST resources sharing one
    concept name, tries to delete each other's permissions; this does neither.)
    """
    sm = appbuilder.sm
    session = appbuilder.session
    Permission, ViewMenu, PermissionView, Role = sm.permission_model, sm.viewmenu_model, sm.permissionview_model, sm.role_model

    wanted_pvs = declared_permission_views(appbuilder) | set(EVERYONE)
    permissions = {p.name: p for p in session.query(Permission)}
    view_menus = {v.name: v for v in session.query(ViewMenu)}
    for perm, view in wanted_pvs:
        if perm not in permissions:
            permissions[perm] = Permission(name=perm)
            session.add(permissions[perm])
        if view not in view_menus:
            view_menus[view] = ViewMenu(name=view)
            session.add(view_menus[view])
    session.flush()
    pvs = {(pv.permission.name, pv.view_menu.name): pv for pv in session.query(PermissionView)}
    for perm, view in wanted_pvs:
        if (perm, view) not in pvs:
            pv = PermissionView(permission=permissions[perm], view_menu=view_menus[view])
            session.add(pv)
            pvs[(perm, view)] = pv
    session.flush()

    roles = {r.name: r for r in session.query(Role)}
    for name in [current_app.config.get("AUTH_ROLE_PUBLIC", "Public"), *ROLES]:
        if name not in roles:
            roles[name] = Role(name=name)
            session.add(roles[name])
    session.flush()

    added: dict[str, int] = {}
    for role_name in ROLES:
        role = roles[role_name]
        have = set(role.permissions)
        if role_name == sm.auth_role_admin:
            wanted = set(pvs.values())
        else:
            wanted = {pvs[p] for p in role_permissions(appbuilder, role_name) | set(EVERYONE) if p in pvs}
        missing = [pv for pv in wanted if pv not in have]
        role.permissions.extend(missing)
        added[role_name] = len(missing)
    session.commit()
    return added

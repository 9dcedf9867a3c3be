"""register_views: the one place every screen and REST resource is added, by handbook area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.roles import MENU_CONCEPTS

# Fixed menu category names (permissions are built from them) with their Chinese labels.
CATEGORIES = {
    "Reception": (_l("接待服务"), "fa-handshake-o"),
    "Repair": (_l("维修管理"), "fa-wrench"),
    "FollowUp": (_l("回访与投诉"), "fa-phone"),
    "Billing": (_l("收费管理"), "fa-jpy"),
    "Services": (_l("便民服务"), "fa-heart"),
    "Reports": (_l("报表中心"), "fa-bar-chart"),
    "MasterData": (_l("基础资料"), "fa-building"),
    "Security": (_l("系统设置"), "fa-cogs"),
}


def add_screen(appbuilder, view, name: str, label, category: str, icon: str = "fa-table") -> None:
    """Add a screen under a handbook-area menu and remember which concept its menu belongs to."""
    cat_label, cat_icon = CATEGORIES[category]
    appbuilder.add_view(view, name, label=label, icon=icon, category=category, category_label=cat_label, category_icon=cat_icon)
    MENU_CONCEPTS[name] = view.class_permission_name


def register_views(appbuilder) -> None:
    from views import master, system, task

    task.register(appbuilder)
    master.register(appbuilder)
    system.register(appbuilder)
    from views import reception

    reception.register(appbuilder)
    from views import followup

    followup.register(appbuilder)
    from views import billing, services, services_attendance, services_price, services_subscription

    billing.register(appbuilder)
    services.register_catalogue(appbuilder)
    services_price.register(appbuilder)
    services_subscription.register(appbuilder)
    services.register(appbuilder)
    services_attendance.register(appbuilder)
    from views import repair

    repair.register(appbuilder)
    from views import dashboard, notify, reports

    dashboard.register(appbuilder)
    reports.register(appbuilder)
    notify.register(appbuilder)
    # The menu bar follows the handbook areas, system settings last (FAB adds its menu first).
    order = list(CATEGORIES)
    appbuilder.menu.menu.sort(key=lambda item: order.index(item.name) if item.name in order else len(order))

"""The comparison screen: the ledger as a plain FAB ModelView gives it, with nothing tuned.

Same table, same list columns, same order and the same search columns as 维修(服务)汇总表, everything
else FAB's default: `SQLAInterface` (exact counts, no estate scope, every row of the related tables in
the search form's menus), the model's own relationship loading (every joined relation of the row
and of its relations, the material lines), FAB's list template. Registered only in the benchmark app.

(FAB's literal default also searches on every column: its search form then loads all 100,000 units
and owners into two menus, a page took 60-90 s at 10,000 orders and the interpreter crashed in the
SQLite driver while fetching them, so the comparison screen keeps the ledger's search columns.)
"""

from __future__ import annotations

from flask_appbuilder import ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface

VIEW = "BenchUntunedLedgerView"


def register_untuned(app) -> None:
    from models.repair import RepairOrder
    from views.repair import RepairOrderView

    class BenchUntunedLedgerView(ModelView):
        datamodel = SQLAInterface(RepairOrder)
        list_columns = list(RepairOrderView.list_columns)
        label_columns = dict(RepairOrderView.label_columns)
        base_order = RepairOrderView.base_order
        search_columns = list(RepairOrderView.search_columns)
        base_permissions = ["can_list"]

    with app.app_context():
        appbuilder = app.appbuilder
        appbuilder.add_view_no_menu(BenchUntunedLedgerView)


def grant_untuned(app, role_name: str) -> None:
    """Let a role open the comparison screen (idempotent)."""
    with app.app_context():
        sm = app.appbuilder.sm
        pv = sm.add_permission_view_menu("can_list", VIEW)
        role = sm.find_role(role_name)
        if pv not in role.permissions:
            sm.add_permission_role(role, pv)

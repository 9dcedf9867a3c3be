"""Printing and Excel of 维修单: the A4 task sheet and repair slip, the monthly report of the duty
room, and 维修记录表 (the register of orders with its own export)."""

from __future__ import annotations

import logging
import re

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _l

from app.scope import ScopedInterface, allowed_estate_ids
from app.xlsx import send_xlsx_file, temp_xlsx_path
from models.base import utcnow
from models.repair import RepairOrder, period_of
from models.repair_reports import record_columns, staff_names, write_monthly_orders
from views.repair_choices import FilterCode
from views.repair_display import LABELS, short
from views.repair_roles import RO
from views.scoped_view import ScopedModelView

logger = logging.getLogger(__name__)


class RepairPrintMixin:
    """The ledger's print forms and monthly Excel (`print_slip` and `monthly` are mapped to their
    permissions by the view)."""

    @expose("/print/<int:pk>")
    @has_access
    def print_view(self, pk):
        """维修(服务)任务单 / 返修申请表 with material lines, capitals total and signature lines."""
        item = self._printable(pk)
        return self.render_template(
            "wuye/repair_print_task.html",
            item=item,
            form_title=str(_l("维修(服务)任务单")),
            estate_name=item.estate.name if item.estate else "",
            doc_no=item.number,
            staff_name=staff_names(self.datamodel.session),
        )

    @expose("/slip/<int:pk>")
    @has_access
    def print_slip(self, pk):
        """物业维修单 (附: 物业维修)."""
        item = self._printable(pk)
        return self.render_template(
            "wuye/repair_print_slip.html",
            item=item,
            form_title=str(_l("物业维修单")),
            estate_name=item.estate.name if item.estate else "",
            doc_no=item.number,
        )

    def _printable(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        return item

    # ------------------------------------------------------------ Excel
    @expose("/monthly/")
    @has_access
    def monthly(self):
        """总值班室月报表 for a period (the `monthly_orders` export)."""
        period = request.args.get("period") or period_of(utcnow())
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
            flash(str(_l("期间格式应为 YYYY-MM")), "danger")
            return redirect(url_for(f"{self.__class__.__name__}.list"))
        ids = allowed_estate_ids()  # None: every estate
        estate_id = request.args.get("estate_id", type=int)
        if estate_id is not None and ids is not None and estate_id not in ids:
            abort(404)
        path = temp_xlsx_path()
        write_monthly_orders(self.datamodel.session, period, path, estate_id, None if estate_id else ids)
        return send_xlsx_file(path, f"维修单月报表-{period}.xlsx")


class RepairRecordView(ScopedModelView):
    """维修记录表 (附): 序号, 时间, 住户单位, 住户姓名, 电话, 维修内容, 维修单号, 接受人, 记录人, 维修人, 备注."""

    datamodel = ScopedInterface(RepairOrder)
    class_permission_name = RO
    base_permissions = ["can_read", "can_export"]
    list_title = _l("维修记录表")
    label_columns = LABELS | {
        "recorded_at": _l("时间"),
        "resident_name": _l("住户姓名"),
        "contact_phone": _l("电话"),
        "problem_short": _l("维修内容"),
        "assignee_name": _l("维修人"),
        "ledger_note": _l("备注"),
    }
    list_template = "wuye/repair_records.html"
    list_columns = [
        "recorded_at", "resident_company", "resident_name", "contact_phone", "problem_short", "number", "receiver_name",
        "recorder_name", "assignee_name", "ledger_note",
    ]
    search_columns = ["estate", "period", "recorded_at", "number", "assignee"]
    search_filters = {"period": [FilterCode]}
    base_order = ("recorded_at", "asc")
    formatters_columns = {"problem_short": lambda v: short(v, 40)}
    export_title = _l("维修记录表")

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        return redirect(url_for("RepairOrderView.show", pk=pk))

    @expose("/export/")
    @has_access
    def export(self):
        from app.xlsx import workbook_response

        rows = self.export_rows()
        for i, row in enumerate(rows, 1):
            row._seq = i
        return workbook_response(str(self.export_title), record_columns(staff_names(self.datamodel.session)), rows)

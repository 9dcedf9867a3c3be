"""收费管理 screens and REST resources: fee standards, payment requests, payments, the accounts view."""

from __future__ import annotations

from flask import request, url_for
from flask_appbuilder import BaseView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app import roles
from app.scope import ScopedInterface, allowed_estate_ids, scoped
from models.base import DomainError, ValidationError, fmt_dt, person_name, utcnow
from models.billing import (
    FeeStandard,
    Payment,
    PaymentMethod,
    PaymentRequest,
    accounts,
    register_payment,
)
from models.billing_exports import PAYMENT_COLUMNS, REQUEST_LIST_COLUMNS
from models.repair_codes import RepairCategory
from views import add_screen
from views.base import commit_or_conflict, current_actor
from views.documents import DocumentViewMixin, ListToolbarMixin
from views.fields import LocalDateTimeField
from views.rest import ScopedModelRestApi
from views.scoped_view import ScopedModelView
from views.transitions import TransitionViewMixin, transition_action

READ = ("read",)
roles.extend(
    {
        "财务内勤": {
            "PaymentRequest": ("read", "export", "pay"),
            "Payment": ("read", "write", "export", "reverse"),
            "BillingAccounts": READ,
            "FeeStandard": READ,
        },
        "接待员": {"PaymentRequest": ("read", "export", "collect"), "Payment": READ, "FeeStandard": READ},
        "总值班员": {"FeeStandard": READ},
        "维修人员": {"FeeStandard": READ},
        "处主任": {"FeeStandard": READ},
    }
)


def money_cell(value) -> str:
    return "" if value is None else f"{value:,.2f}"


# ---------------------------------------------------------------- fee standards
# foreign keys and bookkeeping columns as the field history (修改记录) names them
ID_LABELS = {
    "estate_id": _l("小区/大厦"),
    "owner_id": _l("业户"),
    "unit_id": _l("房屋"),
    "staff_id": _l("员工"),
    "payment_request_id": _l("付款请求书"),
    "registered_by_id": _l("登记人"),
    "issued_at": _l("开具时间"),
    "price_list_id": _l("价格表"),
    "service_item_id": _l("服务项目"),
    "venue_id": _l("场地"),
}
FULL = ["can_read", "can_write", "can_delete", "can_export"]
# A screen and a REST resource of one concept declare the same permissions (FAB removes from a concept
# what one of its views does not declare).
REQUEST_PERMS = ["can_read", "can_export", "can_pay", "can_collect"]
PAYMENT_PERMS = ["can_read", "can_write", "can_export", "can_reverse"]


class FeeStandardView(ListToolbarMixin, ScopedModelView):
    datamodel = ScopedInterface(FeeStandard)
    class_permission_name = "FeeStandard"
    base_permissions = FULL
    list_title = _l("维修收费标准")
    show_title = _l("收费标准详情")
    add_title = _l("新增收费标准")
    edit_title = _l("编辑收费标准")
    label_columns = {
        "name": _l("收费项目"),
        "category": _l("类别"),
        "category_label": _l("类别"),
        "unit": _l("计价单位"),
        "labour_price": _l("人工费(元)"),
        "material_note": _l("材料说明"),
        "note": _l("备注"),
        "active": _l("启用"),
        "estate": _l("适用小区/大厦(空为全公司)"),
    } | ID_LABELS
    list_columns = ["category_label", "name", "unit", "labour_price", "material_note", "estate", "active"]
    add_columns = edit_columns = ["name", "category", "unit", "labour_price", "material_note", "note", "estate", "active"]
    show_columns = ["name", "category_label", "unit", "labour_price", "material_note", "note", "estate", "active"]
    search_columns = ["name", "category", "estate", "active"]
    base_order = ("category", "asc")
    page_size = 50
    add_form_extra_fields = edit_form_extra_fields = {
        "category": SelectField(_l("类别"), choices=[("", "—")] + RepairCategory.choices(), validators=[Optional()]),
    }
    export_title = _l("维修收费标准")
    export_columns = [
        ("category_label", _l("类别")), ("name", _l("收费项目")), ("unit", _l("计价单位")),
        ("labour_price", _l("人工费(元)"), "money"), ("material_note", _l("材料说明")), ("estate.name", _l("适用小区/大厦")),
    ]


class FeeStandardApi(ScopedModelRestApi):
    resource_name = "fee_standard"
    class_permission_name = "FeeStandard"
    base_permissions = FULL
    datamodel = ScopedInterface(FeeStandard)
    list_columns = show_columns = ["id", "estate_id", "name", "category", "unit", "labour_price", "material_note", "note", "active"]
    add_columns = edit_columns = ["estate_id", "name", "category", "unit", "labour_price", "material_note", "note", "active"]
    search_columns = ["estate_id", "name", "category", "active"]
    order_columns = ["id", "name"]


# ---------------------------------------------------------------- payment requests
class PayForm(DynamicForm):
    amount = StringField(_l("收款金额(元)"), validators=[DataRequired(message=_l("请填写金额"))])
    method = SelectField(_l("付款方式"), choices=PaymentMethod.choices(), validators=[DataRequired()])
    receipt_no = StringField(_l("收据号"), validators=[DataRequired(message=_l("请填写收据号")), Length(max=40)])
    paid_at = LocalDateTimeField(_l("收款时间"), description=_l("不填为现在"))
    note = StringField(_l("备注"), validators=[Optional(), Length(max=200)])


class CollectForm(DynamicForm):
    note = TextAreaField(_l("上门收款安排"), validators=[Optional(), Length(max=200)],
                         description=_l("如预约的上门时间;上门收款的待办将转给您"))


REQUEST_LABELS = {
    "number": _l("请求书编号"),
    "estate": _l("小区/大厦"),
    "unit": _l("房屋"),
    "owner": _l("业户"),
    "payer": _l("付款人"),
    "period": _l("费用期间"),
    "issued_on": _l("开具日期"),
    "due_on": _l("付款期限"),
    "total": _l("合计(元)"),
    "total_in_words": _l("合计大写"),
    "paid_amount": _l("已付(元)"),
    "balance": _l("未付(元)"),
    "status": _l("状态"),
    "status_label": _l("状态"),
    "collector": _l("上门收款人"),
    "collector_id": _l("上门收款人"),
    "owner_id": _l("业户"),
    "unit_id": _l("房屋"),
    "overdue_days": _l("逾期天数"),
}


class PaymentRequestView(DocumentViewMixin, TransitionViewMixin, ScopedModelView):
    datamodel = ScopedInterface(PaymentRequest)
    class_permission_name = "PaymentRequest"
    workflow_type = "payment_request"
    base_permissions = REQUEST_PERMS
    list_title = _l("付款请求书")
    show_title = _l("付款请求书")
    label_columns = REQUEST_LABELS | ID_LABELS
    list_columns = ["number", "estate", "unit", "payer", "period", "total", "paid_amount", "balance", "due_on", "status_label"]
    show_columns = ["number", "estate", "unit", "payer", "period", "issued_on", "due_on", "total", "total_in_words",
                    "paid_amount", "balance", "status_label", "collector"]
    search_columns = ["number", "estate", "period", "status", "due_on", "owner"]
    base_order = ("id", "desc")
    print_template = "wuye/billing_request_print.html"
    export_title = _l("付款请求书清单")
    export_columns = REQUEST_LIST_COLUMNS

    transition_forms = {"pay": PayForm, "collect": CollectForm}
    action_pay = transition_action("pay", _l("登记收款"), "fa-jpy", multiple=False)
    action_collect = transition_action("collect", _l("上门收款"), "fa-motorcycle", multiple=False)

    def action_visible(self, item, name: str) -> bool:
        return not (name == "pay" and item.balance <= 0)

    def list_links(self):
        return [(_("收费台账"), url_for("AccountsView.index"), "fa-book"),
                (_("收款记录"), url_for("PaymentView.list"), "fa-money")]

    def prepare_transition_form(self, name, form, items):
        if name == "pay" and len(items) == 1 and request.method == "GET":
            form.amount.data = f"{items[0].balance:.2f}"

    def _form_params(self, form) -> dict:
        params = super()._form_params(form)
        if params.get("paid_at") is None:
            params.pop("paid_at", None)
        return params

    def show_tables(self, item) -> list[dict]:
        lines = {
            "title": _("费用明细"),
            "id": "request-lines",
            "headers": [_("序号"), _("类别"), _("期间"), _("日期"), _("项目"), _("金额(元)")],
            "rows": [
                [i + 1, line.source_label, line.period, line.occurred_on.isoformat() if line.occurred_on else "",
                 line.description + (f"({line.detail})" if line.detail else ""), money_cell(line.amount)]
                for i, line in enumerate(item.line_items)
            ],
            "foot": [_("合计"), "", "", "", item.total_in_words, money_cell(item.total)],
            "numeric": [5],
        }
        can_reverse = self.appbuilder.sm.has_access("can_reverse", "Payment")
        payments = {
            "title": _("收款记录"),
            "id": "request-payments",
            "headers": [_("收款时间"), _("金额(元)"), _("方式"), _("收据号"), _("状态"), _("登记人"), _("备注"), ""],
            "rows": [
                [p.paid_at, money_cell(p.amount), p.method_label, _payment_link(p), p.status_label, person_name(p.registered_by),
                 p.note or "", _reverse_link(p) if can_reverse and p.status == "registered" else ""]
                for p in item.payments
            ],
            "foot": [_("实收合计"), money_cell(item.paid_amount), "", "", "", "", "", ""] if item.payments else None,
            "numeric": [1],
            "empty": _("尚未收款"),
        }
        return [lines, payments]


def _payment_link(payment) -> Markup:
    return Markup('<a href="{}">{}</a>').format(url_for("PaymentView.show", pk=payment.id), payment.receipt_label)


def _reverse_link(payment) -> Markup:
    return Markup('<a class="btn btn-xs btn-danger" href="{}"><i class="fa fa-undo"></i> {}</a>').format(
        url_for("PaymentView.do_transition", name="reverse", pk=payment.id), _("冲红")
    )


class ReverseForm(DynamicForm):
    reason = TextAreaField(
        _l("冲红原因"), validators=[DataRequired(message=_l("请填写冲红原因")), Length(max=200)],
        description=_l("如 金额录错、录错业户、重复登记。冲红后记一笔等额的负数冲红记录,原收款作废,"
                       "付款请求书的已付金额和状态随之恢复;原收据作废,重新收款请用新的收据号登记"),
    )


class PaymentRequestApi(ScopedModelRestApi):
    resource_name = "payment_request"
    class_permission_name = "PaymentRequest"
    datamodel = ScopedInterface(PaymentRequest)
    workflow_type = "payment_request"
    base_permissions = REQUEST_PERMS
    list_columns = show_columns = [
        "id", "number", "estate_id", "unit_id", "owner_id", "period", "issued_on", "due_on", "total",
        "total_in_words", "paid_amount", "balance", "status", "collector_id", "lines",
    ]
    search_columns = ["estate_id", "unit_id", "owner_id", "period", "status", "number", "due_on"]
    order_columns = ["id", "number", "period", "due_on"]


class PaymentView(DocumentViewMixin, TransitionViewMixin, ScopedModelView):
    datamodel = ScopedInterface(Payment)
    class_permission_name = "Payment"
    workflow_type = "payment"
    base_permissions = PAYMENT_PERMS
    exclude_route_methods = {"add", "edit", "delete"}  # payments are registered on the request (登记收款)
    list_title = _l("收款记录")
    show_title = _l("收款详情")
    label_columns = {
        "payment_request": _l("付款请求书"),
        "estate": _l("小区/大厦"),
        "amount": _l("金额(元)"),
        "method": _l("付款方式"),
        "method_label": _l("付款方式"),
        "receipt_no": _l("收据号"),
        "receipt_label": _l("收据号"),
        "paid_at": _l("收款时间"),
        "registered_by": _l("登记人"),
        "note": _l("备注(冲红原因)"),
        "period": _l("费用期间"),
        "status": _l("状态"),
        "status_label": _l("状态"),
        "reverses": _l("冲红的收款"),
        "reversal": _l("冲红记录"),
        "reverses_id": _l("冲红的收款"),
    } | ID_LABELS
    formatters_columns = {"registered_by": person_name}
    list_columns = ["paid_at", "payment_request", "estate", "amount", "method_label", "receipt_label", "status_label", "registered_by"]
    show_columns = ["payment_request", "estate", "period", "amount", "method_label", "receipt_label", "status_label", "paid_at",
                    "registered_by", "note", "reverses", "reversal"]
    search_columns = ["estate", "method", "receipt_no", "status", "paid_at", "payment_request"]
    transition_forms = {"reverse": ReverseForm}
    action_reverse = transition_action("reverse", _l("冲红"), "fa-undo", multiple=False)

    def show_links(self, item):
        links = [(str(_l("付款请求书 %(no)s", no=item.payment_request.number)), url_for("PaymentRequestView.show", pk=item.payment_request_id))]
        if item.reverses is not None:
            original = item.reverses
            links.append((str(_l("冲红的收款 %(no)s %(a)s 元", no=original.receipt_no, a=f"{original.amount:.2f}")),
                          url_for("PaymentView.show", pk=original.id)))
        if item.reversal is not None:
            links.append((str(_l("冲红记录 %(a)s 元", a=f"{item.reversal.amount:.2f}")), url_for("PaymentView.show", pk=item.reversal.id)))
        return links

    def prepare_transition_form(self, name, form, items):
        if name == "reverse" and len(items) == 1:
            p = items[0]
            form.reason.description = Markup("{}<br>{}").format(
                _("冲红 %(req)s %(payer)s 收据号 %(no)s 的 %(a)s 元(%(m)s,%(at)s 收)。", req=p.payment_request.number,
                  payer=p.payment_request.payer, no=p.receipt_no or "", a=f"{p.amount:.2f}", m=p.method_label,
                  at=fmt_dt(p.paid_at)),
                ReverseForm.reason.kwargs["description"],
            )
    base_order = ("paid_at", "desc")
    export_title = _l("收款明细")
    export_columns = PAYMENT_COLUMNS


class PaymentApi(ScopedModelRestApi):
    """`POST /api/v1/payment/` registers a payment (财务内勤 only) through the request's `pay` move."""

    resource_name = "payment"
    class_permission_name = "Payment"
    datamodel = ScopedInterface(Payment)
    workflow_type = "payment"
    base_permissions = PAYMENT_PERMS
    exclude_route_methods = {"put", "delete"}
    list_columns = show_columns = [
        "id", "payment_request_id", "estate_id", "amount", "method", "receipt_no", "paid_at", "registered_by_id", "note",
        "status", "reverses_id", "reversal_id",
    ]
    add_columns = ["payment_request_id", "amount", "method", "receipt_no", "paid_at", "note"]
    search_columns = ["payment_request_id", "estate_id", "method", "receipt_no", "paid_at", "status", "reverses_id"]
    order_columns = ["id", "paid_at"]

    FIELDS = {"payment_request_id", "amount", "method", "receipt_no", "paid_at", "note"}

    def post_headless(self):
        from models.base import parse_int

        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message={"body": [_("请求体必须是 JSON 对象")]})
        unknown = set(body) - self.FIELDS
        if unknown:
            return self.response_400(message={k: [_("未知字段")] for k in sorted(unknown)})
        session = self.datamodel.session
        try:
            request_id = parse_int("payment_request_id", body.get("payment_request_id"))
            payment_request = session.scalar(
                scoped(select(PaymentRequest).where(PaymentRequest.id == request_id), PaymentRequest)
            )
            if payment_request is None:
                raise ValidationError("payment_request_id", _l("付款请求书不存在"))
            params = {k: v for k, v in body.items() if k != "payment_request_id"}
            payment = register_payment(session, payment_request, current_actor(), utcnow(), **params)
            commit_or_conflict(session)
        except DomainError as error:
            return self._domain_response(error)
        session.refresh(payment)
        return self.response(201, id=payment.id, result=self.show_model_schema.dump(payment))


# ---------------------------------------------------------------- accounts
class AccountsView(BaseView):
    """收费台账: what is owed and collected per estate and period."""

    route_base = "/billing/accounts"
    class_permission_name = "BillingAccounts"
    method_permission_name = {"index": "read", "export": "read"}
    default_view = "index"

    def _rows(self):
        period_from = (request.args.get("from") or "").strip() or None
        period_to = (request.args.get("to") or "").strip() or None
        import re

        for value in (period_from, period_to):
            if value and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
                period_from = period_to = None
        estate_id = request.args.get("estate_id", type=int)
        ids = allowed_estate_ids()
        if estate_id:
            ids = {estate_id} if ids is None or estate_id in ids else set()
        return accounts(self.appbuilder.session, ids, period_from, period_to), period_from, period_to, estate_id

    @expose("/")
    @has_access
    def index(self):
        from models.master import Estate

        rows, period_from, period_to, estate_id = self._rows()
        estates = self.appbuilder.session.scalars(scoped(select(Estate).order_by(Estate.name), Estate)).all()
        totals = {
            key: sum((r[key] for r in rows), start=type(rows[0][key])(0)) if rows else 0
            for key in ("requests", "billed", "collected", "outstanding", "overdue_count", "overdue_amount", "received_in_month")
        }
        return self.render_template(
            "wuye/billing_accounts.html", rows=rows, totals=totals, estates=estates, estate_id=estate_id,
            period_from=period_from or "", period_to=period_to or "",
        )

    @expose("/export/")
    @has_access
    def export(self):
        from app.xlsx import workbook_response

        rows, *_rest = self._rows()
        columns = [
            ("estate", _("小区/大厦")), ("period", _("费用期间")), ("requests", _("请求书份数"), "int"),
            ("billed", _("应收(元)"), "money"), ("collected", _("已收(元)"), "money"),
            ("outstanding", _("未收(元)"), "money"), ("overdue_count", _("逾期份数"), "int"),
            ("overdue_amount", _("逾期未收(元)"), "money"), ("rate", _("收缴率(%)"), "number"),
            ("received_in_month", _("当月实收(元)"), "money"),
        ]
        return workbook_response(_("收费台账"), columns, rows)


def register(appbuilder) -> None:
    add_screen(appbuilder, PaymentRequestView, "PaymentRequests", _l("付款请求书"), "Billing", "fa-file-text-o")
    add_screen(appbuilder, PaymentView, "Payments", _l("收款记录"), "Billing", "fa-money")
    add_screen(appbuilder, AccountsView, "BillingAccounts", _l("收费台账"), "Billing", "fa-book")
    add_screen(appbuilder, FeeStandardView, "FeeStandards", _l("维修收费标准"), "Billing", "fa-list-ol")
    for api in (PaymentRequestApi, PaymentApi, FeeStandardApi):
        appbuilder.add_api(api)


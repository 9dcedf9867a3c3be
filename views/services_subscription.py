"""接受长期服务业户名单 screens and REST resources: subscriptions, deliveries, cash hand-ins,
the reconciliation and the falling-subscriber report, the printable sign sheet."""

from __future__ import annotations

import re

from flask import abort, current_app, request
from flask_appbuilder import BaseView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import DateField, DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app import roles
from app.scope import ScopedInterface, allowed_estate_ids, scoped
from models.base import MAX_ID, local, person_name, utcnow
from models.billing import PaymentMethod, period_of, shift_period
from models.services_subscription import (
    CashHandover,
    FeeKind,
    ServiceDelivery,
    Settlement,
    Subscription,
    reconciliation,
    subscriber_trend,
)
from views import add_screen
from views.base import PERMISSION_MAP, current_actor
from views.billing import ID_LABELS, money_cell
from views.documents import DocumentViewMixin, ListToolbarMixin
from views.rest import ScopedModelRestApi
from views.scoped_view import ScopedModelView
from views.transitions import TransitionViewMixin, transition_action

roles.extend(
    {
        "物业管理员": {"Subscription": ("read", "write", "export", "confirm", "stop"),
                  "ServiceDelivery": ("read", "write", "delete", "export"), "CashHandover": ("read",),
                  "ServiceReconciliation": ("read",), "SubscriberTrend": ("read",)},
        "物业经理": {"Subscription": ("stop",)},
        "财务内勤": {"Subscription": ("read", "export", "register_fee"), "ServiceDelivery": ("read", "export"),
                 "CashHandover": ("read", "write", "export"), "ServiceReconciliation": ("read",)},
        "接待员": {"Subscription": ("read",)},
    }
)

PERIOD_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def requested_period(default_offset: int = 0) -> str:
    period = (request.args.get("period") or "").strip()
    if PERIOD_RE.fullmatch(period):
        return period
    return shift_period(period_of(utcnow()), default_offset)


def requested_estates() -> tuple[set[int] | None, int | None]:
    estate_id = request.args.get("estate_id", type=int)
    ids = allowed_estate_ids()
    if estate_id:
        ids = {estate_id} if ids is None or estate_id in ids else set()
    return ids, estate_id


def estate_choices():
    from models.master import Estate

    return current_app.appbuilder.session.scalars(scoped(select(Estate).order_by(Estate.name), Estate)).all()


# ---------------------------------------------------------------- subscriptions
class ConfirmForm(DynamicForm):
    signed_by = StringField(_l("签名业户"), validators=[DataRequired(message=_l("请填写签名的业户姓名")), Length(max=40)])
    signed_at = DateTimeLocalField(_l("签名时间"), format="%Y-%m-%dT%H:%M", validators=[Optional()], description=_l("不填为现在"))


class StopForm(DynamicForm):
    reason = TextAreaField(_l("停止原因"), validators=[DataRequired(message=_l("请填写业户停止服务的原因")), Length(max=300)],
                           description=_l("业户提出停止时须问明原因(便民 二.4(13))"))
    stopped_on = DateField(_l("停止日期"), validators=[Optional()], description=_l("不填为今天"))


class FeeForm(DynamicForm):
    kind = SelectField(_l("款项"), choices=FeeKind.choices(), validators=[DataRequired()])
    amount = StringField(_l("金额(元)"), validators=[DataRequired(message=_l("请填写金额"))])
    method = SelectField(_l("方式"), choices=PaymentMethod.choices(), validators=[DataRequired()])
    receipt_no = StringField(_l("收据号"), validators=[DataRequired(message=_l("请填写收据号")), Length(max=40)])


SUB_LABELS = {
    "owner": _l("业户"),
    "unit": _l("房屋"),
    "building_name": _l("栋号"),
    "room": _l("房号"),
    "estate": _l("小区/大厦"),
    "service_item": _l("服务项目"),
    "price": _l("单价(元)"),
    "start_on": _l("开始日期"),
    "status": _l("状态"),
    "status_label": _l("状态"),
    "signed_by": _l("业户签名"),
    "signed_at": _l("签名时间"),
    "deposit_status": _l("押金"),
    "prepayment_status": _l("预交服务费"),
    "stopped_on": _l("停止日期"),
    "stop_reason": _l("停止原因"),
    "note": _l("备注"),
    "owner_id": _l("业户"),
    "unit_id": _l("房屋"),
    "service_item_id": _l("服务项目"),
    "price_list_line_id": _l("价格表项目"),
}


class SubscriptionView(DocumentViewMixin, TransitionViewMixin, ScopedModelView):
    """接受长期服务业户名单 (便民 二.4(4))."""

    datamodel = ScopedInterface(Subscription)
    class_permission_name = "Subscription"
    base_permissions = ["can_read", "can_write", "can_delete", "can_export", "can_confirm", "can_stop", "can_register_fee"]
    workflow_type = "subscription"
    method_permission_name = PERMISSION_MAP | {"sign_sheet": "read"}
    list_title = _l("接受长期服务业户名单")
    show_title = _l("长期服务登记")
    add_title = _l("登记长期服务")
    edit_title = _l("修改长期服务登记")
    label_columns = SUB_LABELS | ID_LABELS
    list_columns = ["owner", "building_name", "room", "service_item", "price", "start_on", "signed_by", "deposit_status",
                    "prepayment_status", "status_label"]
    add_columns = ["owner", "service_item", "start_on", "note"]
    edit_columns = ["note"]
    show_columns = ["estate", "owner", "unit", "service_item", "price", "start_on", "status_label", "signed_by", "signed_at",
                    "deposit_status", "prepayment_status", "stopped_on", "stop_reason", "note"]
    search_columns = ["owner", "estate", "service_item", "status", "start_on"]
    base_order = ("start_on", "desc")
    description_columns = {"service_item": _l("须是已公告价格表上的长期服务项目")}
    transition_forms = {"confirm": ConfirmForm, "stop": StopForm, "register_fee": FeeForm}
    action_confirm = transition_action("confirm", _l("业户签名确认"), "fa-pencil-square-o", multiple=False)
    action_stop = transition_action("stop", _l("停止服务"), "fa-stop", multiple=False)
    action_register_fee = transition_action("register_fee", _l("登记押金/预交款"), "fa-jpy", multiple=False)
    export_title = _l("接受长期服务业户名单")
    export_columns = [
        ("estate.name", _l("小区/大厦")), ("owner.name", _l("业户姓名")), ("building_name", _l("栋号")),
        ("room", _l("房号")), ("service_item.name", _l("服务项目")), ("price", _l("单价(元)"), "money"),
        ("start_on", _l("开始日期"), "date"), ("signed_by", _l("业户签名")), ("deposit_status", _l("押金")),
        ("prepayment_status", _l("预交服务费")), ("status_label", _l("状态")), ("stopped_on", _l("停止日期"), "date"),
        ("stop_reason", _l("停止原因")),
    ]

    def list_links(self):
        from flask import url_for

        return [(_("打印签名表"), url_for("SubscriptionView.sign_sheet"), "fa-print"),
                (_("便民服务记录"), url_for("ServiceDeliveryView.list"), "fa-check-square-o"),
                (_("长期服务户数变化"), url_for("SubscriberTrendView.index"), "fa-line-chart")]

    def show_links(self, item):
        from flask import url_for

        return [(_("打印签名表"), url_for("SubscriptionView.sign_sheet", estate_id=item.estate_id,
                                         service_item_id=item.service_item_id))]

    def show_tables(self, item) -> list[dict]:
        session = self.datamodel.session
        fees = {
            "title": _("押金与预交服务费"), "id": "subscription-fees",
            "headers": [_("时间"), _("款项"), _("金额(元)"), _("方式"), _("收据号")],
            "rows": [[f.paid_at, f.kind_label, money_cell(f.amount), f.method_label, f.receipt_no] for f in item.fees],
            "numeric": [2],
            "empty": _("应交押金 %(d)s 元,预交服务费 %(p)s 元;尚无登记", d=f"{item.deposit_required:.2f}",
                       p=f"{item.prepayment_required:.2f}"),
        }
        deliveries = session.scalars(
            select(ServiceDelivery).where(ServiceDelivery.subscription_id == item.id).order_by(ServiceDelivery.delivered_at.desc())
        ).all()
        rows = {
            "title": _("服务记录(预交款余额 %(b)s 元)", b=f"{item.prepayment_balance(session):.2f}"), "id": "subscription-deliveries",
            "headers": [_("服务时间"), _("数量"), _("金额(元)"), _("结算"), _("服务人员"), _("业户签字")],
            "rows": [[d.delivered_at, f"{d.quantity.normalize():f}", money_cell(d.fee), d.settlement_label,
                      d.staff.name if d.staff else "", d.owner_signed_by or ""] for d in deliveries],
            "numeric": [1, 2],
            "empty": _("尚无服务记录"),
        }
        return [fees, rows]

    @expose("/sign_sheet/")
    @has_access
    def sign_sheet(self):
        """The roster to print and have owners sign (便民 二.4(4))."""
        from models.master import Estate
        from models.services import ServiceItem

        estate_id = request.args.get("estate_id", type=int)
        item_id = request.args.get("service_item_id", type=int)
        query = scoped(select(Subscription), Subscription).where(Subscription.status != "stopped")
        if estate_id:
            query = query.where(Subscription.estate_id == estate_id)
        if item_id:
            query = query.where(Subscription.service_item_id == item_id)
        rows = self.datamodel.session.scalars(query.order_by(Subscription.service_item_id, Subscription.unit_id)).all()
        estate = self.datamodel.session.get(Estate, estate_id) if estate_id else None
        if estate_id and (estate is None or not rows and estate_id not in (allowed_estate_ids() or {estate_id})):
            abort(404)
        item = self.datamodel.session.get(ServiceItem, item_id) if item_id else None
        return self.render_template(
            "wuye/services_sign_sheet.html", rows=rows, service=item, form_title=_("接受长期服务业户名单"),
            estate_name=estate.name if estate else "", doc_no=None,
        )


class SubscriptionApi(ScopedModelRestApi):
    resource_name = "subscription"
    class_permission_name = "Subscription"
    base_permissions = ["can_read", "can_write", "can_delete", "can_export", "can_confirm", "can_stop", "can_register_fee"]
    datamodel = ScopedInterface(Subscription)
    workflow_type = "subscription"
    list_columns = show_columns = [
        "id", "estate_id", "owner_id", "unit_id", "service_item_id", "price_list_line_id", "status", "start_on",
        "signed_by", "signed_at", "stopped_on", "stop_reason", "note", "price", "deposit_required", "deposit_held",
        "prepayment_required", "prepayment_paid",
    ]
    add_columns = ["owner_id", "service_item_id", "start_on", "note"]
    edit_columns = ["note"]
    search_columns = ["estate_id", "owner_id", "unit_id", "service_item_id", "status", "start_on"]
    order_columns = ["id", "start_on"]


# ---------------------------------------------------------------- deliveries
DELIVERY_LABELS = {
    "subscription": _l("长期服务"),
    "service_item": _l("服务项目"),
    "owner": _l("业户"),
    "estate": _l("小区/大厦"),
    "staff": _l("服务人员"),
    "delivered_at": _l("服务时间"),
    "period": _l("期间"),
    "quantity": _l("数量"),
    "unit_price": _l("单价(元)"),
    "fee": _l("金额(元)"),
    "settlement": _l("结算方式"),
    "settlement_label": _l("结算方式"),
    "owner_signed_by": _l("业户签字"),
    "owner_signed_at": _l("签字时间"),
    "handover": _l("交款记录"),
    "note": _l("备注"),
    "handover_id": _l("交款记录"),
    "staff_id": _l("服务人员"),
    "owner_id": _l("业户"),
    "unit_id": _l("房屋"),
    "service_item_id": _l("服务项目"),
    "subscription_id": _l("长期服务"),
    "price_list_line_id": _l("价格表项目"),
}


class ServiceDeliveryView(ListToolbarMixin, ScopedModelView):
    datamodel = ScopedInterface(ServiceDelivery)
    class_permission_name = "ServiceDelivery"
    base_permissions = ["can_read", "can_write", "can_delete", "can_export"]
    list_title = _l("便民服务记录")
    show_title = _l("服务记录")
    add_title = _l("登记服务")
    edit_title = _l("修改服务记录")
    label_columns = DELIVERY_LABELS | ID_LABELS
    list_columns = ["delivered_at", "owner", "service_item", "quantity", "fee", "settlement_label", "staff", "owner_signed_by", "handover"]
    add_columns = edit_columns = ["subscription", "owner", "service_item", "delivered_at", "quantity", "settlement",
                                  "staff", "owner_signed_by", "note"]
    show_columns = ["estate", "subscription", "owner", "service_item", "delivered_at", "period", "quantity", "unit_price",
                    "fee", "settlement_label", "staff", "owner_signed_by", "owner_signed_at", "handover", "note"]
    search_columns = ["estate", "owner", "service_item", "staff", "settlement", "period", "delivered_at"]
    base_order = ("delivered_at", "desc")
    add_form_extra_fields = edit_form_extra_fields = {
        "settlement": SelectField(_l("结算方式"), choices=Settlement.choices(), validators=[DataRequired()]),
        "delivered_at": DateTimeLocalField(_l("服务时间"), format="%Y-%m-%dT%H:%M", validators=[Optional()],
                                           description=_l("不填为现在")),
        "owner_signed_by": StringField(_l("业户签字"), validators=[Optional(), Length(max=40)],
                                       description=_l("计入付款请求书的服务须业户签字确认")),
    }
    description_columns = {
        "subscription": _l("长期服务选这里,业户和服务项目以长期服务登记为准;一次性服务不选此项,直接选业户和项目"),
        "quantity": _l("按已公告价格表的单价计费,金额自动计算"),
        "staff": _l("现场收取现金的,填收款的服务人员;现金须交财务内勤"),
    }
    export_title = _l("便民服务记录")
    export_columns = [
        ("delivered_at", _l("服务时间"), "datetime"), ("estate.name", _l("小区/大厦")), ("owner.name", _l("业户")),
        ("owner.unit", _l("房屋")), ("service_item.name", _l("服务项目")), ("quantity", _l("数量"), "number"),
        ("unit_price", _l("单价(元)"), "money"), ("fee", _l("金额(元)"), "money"),
        ("settlement_label", _l("结算方式")), ("staff.name", _l("服务人员")), ("owner_signed_by", _l("业户签字")),
    ]

    def list_links(self):
        from flask import url_for

        links = [(_("便民服务现金对账"), url_for("ReconciliationView.index"), "fa-balance-scale")]
        if self.appbuilder.sm.has_access("can_write", "CashHandover"):
            links.insert(0, (_("登记现金交款"), url_for("CashHandoverView.add"), "fa-inbox"))
        return links

    def pre_add(self, item):
        if item.staff_id is None and item.staff is None and current_actor().staff is not None:
            item.staff = current_actor().staff
            item.staff_id = item.staff.id


class ServiceDeliveryApi(ScopedModelRestApi):
    resource_name = "service_delivery"
    class_permission_name = "ServiceDelivery"
    base_permissions = ["can_read", "can_write", "can_delete", "can_export"]
    datamodel = ScopedInterface(ServiceDelivery)
    list_columns = show_columns = [
        "id", "estate_id", "subscription_id", "service_item_id", "price_list_line_id", "owner_id", "unit_id", "staff_id",
        "delivered_at", "period", "quantity", "unit_price", "fee", "settlement", "owner_signed_by", "owner_signed_at",
        "handover_id", "note",
    ]
    add_columns = ["subscription_id", "owner_id", "service_item_id", "staff_id", "delivered_at", "quantity", "settlement",
                   "owner_signed_by", "note"]
    edit_columns = ["delivered_at", "quantity", "settlement", "staff_id", "owner_signed_by", "note"]
    search_columns = ["estate_id", "subscription_id", "owner_id", "unit_id", "service_item_id", "staff_id", "settlement",
                      "period", "handover_id"]
    order_columns = ["id", "delivered_at"]

    def pre_add(self, item):
        if item.staff_id is None and item.settlement in (None, "cash") and current_actor().staff is not None:
            item.staff_id = current_actor().staff_id

    def post_headless(self):
        # a delivery of a long-term service names only the subscription: its owner and item follow from it
        body = request.get_json(silent=True)
        if isinstance(body, dict) and body.get("subscription_id") not in (None, ""):
            try:
                sub_id = int(body["subscription_id"])
            except (TypeError, ValueError):
                sub_id = None
            sub = self.datamodel.session.scalar(
                scoped(select(Subscription).where(Subscription.id == sub_id), Subscription)
            ) if sub_id and 0 < sub_id <= MAX_ID else None
            if sub is None:
                return self.response_422(message={"subscription_id": [_("长期服务名单记录不存在")]})
            body.setdefault("owner_id", sub.owner_id)
            body.setdefault("service_item_id", sub.service_item_id)
        return super().post_headless()


# ---------------------------------------------------------------- cash hand-ins
class CashHandoverView(ListToolbarMixin, ScopedModelView):
    """现金交款: what service staff collected, what they handed to finance, the difference."""

    datamodel = ScopedInterface(CashHandover)
    class_permission_name = "CashHandover"
    base_permissions = ["can_read", "can_write", "can_export"]
    exclude_route_methods = {"delete"}
    list_title = _l("现金交款登记")
    show_title = _l("交款详情")
    add_title = _l("登记现金交款")
    edit_title = _l("修改交款备注")
    label_columns = {
        "estate": _l("小区/大厦"),
        "staff": _l("交款人(服务人员)"),
        "handed_at": _l("交款时间"),
        "collected": _l("应交(收取合计,元)"),
        "handed_in": _l("实交(元)"),
        "difference": _l("差额(元)"),
        "result_label": _l("对账结果"),
        "receipt_no": _l("收据号"),
        "received_by": _l("财务收款人"),
        "delivery_count": _l("服务笔数"),
        "note": _l("备注"),
        "staff_id": _l("交款人(服务人员)"),
        "received_by_id": _l("财务收款人"),
    } | ID_LABELS
    formatters_columns = {"received_by": person_name}
    list_columns = ["handed_at", "estate", "staff", "delivery_count", "collected", "handed_in", "difference", "result_label", "received_by"]
    add_columns = ["estate", "staff", "handed_in", "receipt_no", "note"]
    edit_columns = ["note"]
    show_columns = ["estate", "staff", "handed_at", "delivery_count", "collected", "handed_in", "difference", "result_label",
                    "receipt_no", "received_by", "note"]
    search_columns = ["estate", "staff", "handed_at"]
    base_order = ("handed_at", "desc")
    description_columns = {
        "handed_in": _l("点收的现金;该员工尚未交款的现金服务全部由本次交款结清,差额自动计算"),
    }
    export_title = _l("现金交款登记")
    export_columns = [
        ("handed_at", _l("交款时间"), "datetime"), ("estate.name", _l("小区/大厦")), ("staff.name", _l("交款人")),
        ("delivery_count", _l("服务笔数"), "int"), ("collected", _l("应交(元)"), "money"),
        ("handed_in", _l("实交(元)"), "money"), ("difference", _l("差额(元)"), "money"),
        ("result_label", _l("对账结果")), ("receipt_no", _l("收据号")),
    ]


class CashHandoverApi(ScopedModelRestApi):
    resource_name = "cash_handover"
    class_permission_name = "CashHandover"
    base_permissions = ["can_read", "can_write", "can_export"]
    datamodel = ScopedInterface(CashHandover)
    exclude_route_methods = {"put", "delete"}
    list_columns = show_columns = ["id", "estate_id", "staff_id", "handed_at", "collected", "handed_in", "difference",
                                   "receipt_no", "received_by_id", "note"]
    add_columns = ["estate_id", "staff_id", "handed_at", "handed_in", "receipt_no", "note"]
    search_columns = ["estate_id", "staff_id", "handed_at"]
    order_columns = ["id", "handed_at"]


class ReconciliationView(BaseView):
    """收取 vs 交款: per staff member and month, with the difference and what is still out."""

    route_base = "/services/reconciliation"
    class_permission_name = "ServiceReconciliation"
    method_permission_name = {"index": "read", "export": "read"}
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        ids, estate_id = requested_estates()
        period = requested_period()
        rows = reconciliation(self.appbuilder.session, ids, period)
        return self.render_template("wuye/services_reconciliation.html", rows=rows, period=period, estate_id=estate_id,
                                    estates=estate_choices())

    @expose("/export/")
    @has_access
    def export(self):
        from app.xlsx import workbook_response

        ids, _estate = requested_estates()
        period = requested_period()
        return workbook_response(_("便民服务现金对账 %(p)s", p=period), RECONCILIATION_COLUMNS(),
                                 reconciliation(self.appbuilder.session, ids, period))


def RECONCILIATION_COLUMNS():  # noqa: N802 - a constant built inside a request (translated headers)
    return [
        ("estate", _("小区/大厦")), ("staff", _("服务人员")), ("period", _("期间")), ("opening", _("月初未交(元)"), "money"),
        ("deliveries", _("现金服务笔数"), "int"), ("collected", _("本月收取(元)"), "money"),
        ("handovers", _("交款次数"), "int"), ("due", _("应交(元)"), "money"), ("handed_in", _("实交(元)"), "money"),
        ("difference", _("差额(元)"), "money"), ("closing", _("月末未交(元)"), "money"),
    ]


class SubscriberTrendView(BaseView):
    """接受长期服务业户减少的项目 (便民 二.4(14)): reported for the 物业经理's review."""

    route_base = "/services/trend"
    class_permission_name = "SubscriberTrend"
    method_permission_name = {"index": "read"}
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        ids, estate_id = requested_estates()
        period = requested_period(-1 if local(utcnow()).day < 5 else 0)
        rows = subscriber_trend(self.appbuilder.session, ids, period)
        return self.render_template("wuye/services_trend.html", rows=rows, period=period, estate_id=estate_id,
                                    estates=estate_choices(), previous=shift_period(period, -1))


def register(appbuilder) -> None:
    add_screen(appbuilder, SubscriptionView, "Subscriptions", _l("接受长期服务业户名单"), "Services", "fa-address-book-o")
    add_screen(appbuilder, ServiceDeliveryView, "ServiceDeliveries", _l("便民服务记录"), "Services", "fa-check-square-o")
    add_screen(appbuilder, SubscriberTrendView, "SubscriberTrend", _l("长期服务户数变化"), "Services", "fa-line-chart")
    add_screen(appbuilder, CashHandoverView, "CashHandovers", _l("现金交款登记"), "Billing", "fa-inbox")
    add_screen(appbuilder, ReconciliationView, "ServiceReconciliation", _l("便民服务现金对账"), "Billing", "fa-balance-scale")
    for api in (SubscriptionApi, ServiceDeliveryApi, CashHandoverApi):
        appbuilder.add_api(api)

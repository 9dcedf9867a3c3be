"""便民服务项目及价格表 screens and REST resources: drafting, 保本微利 lines, approval, the notice."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_appbuilder.actions import action
from flask_appbuilder.forms import DynamicForm
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app import roles
from app.scope import ScopedInterface
from models.base import MAX_ID, DomainError, parse_bool, person_name
from models.services_price import AnnounceMethod, PriceList, PriceListLine, draft_price_list, margin_limit
from views import add_screen
from views.base import commit_or_conflict
from views.billing import ID_LABELS, money_cell
from views.documents import DocumentViewMixin, ListToolbarMixin
from views.rest import ScopedModelRestApi
from views.scoped_view import ScopedModelView
from views.transitions import TransitionViewMixin, transition_action

roles.extend(
    {
        "物业经理": {"PriceList": ("read", "write", "delete", "export", "submit", "revise", "fill"),
                 "PriceListLine": ("read", "write", "delete", "export")},
        "公司经理": {"PriceList": ("read", "export", "approve", "reject"), "PriceListLine": ("read", "export")},
        "物业管理员": {"PriceList": ("read", "export", "announce"), "PriceListLine": ("read",)},
        "财务内勤": {"PriceList": ("read",), "PriceListLine": ("read",)},
        "接待员": {"PriceList": ("read",), "PriceListLine": ("read",)},
    }
)


PRICE_LIST_PERMS = ["can_read", "can_write", "can_delete", "can_export", "can_submit", "can_approve", "can_reject",
                    "can_revise", "can_announce", "can_fill"]


class NoteForm(DynamicForm):
    note = TextAreaField(_l("说明"), validators=[Optional(), Length(max=300)])


class RejectForm(DynamicForm):
    reason = TextAreaField(_l("退回原因"), validators=[DataRequired(message=_l("请填写退回原因")), Length(max=300)])


class AnnounceForm(DynamicForm):
    method = SelectField(_l("公告方式"), choices=AnnounceMethod.choices(), validators=[DataRequired()])
    announced_on = DateField(_l("公告日期"), validators=[Optional()], description=_l("不填为今天;自该日起按此价格收费"))
    note = TextAreaField(_l("说明"), validators=[Optional(), Length(max=300)])


PRICE_LIST_LABELS = {
    "estate": _l("小区/大厦"),
    "year": _l("年度"),
    "status": _l("状态"),
    "status_label": _l("状态"),
    "basis": _l("编制依据(上年度访问业户记录总结、业户请求记录总结)"),
    "drafted_by": _l("拟定人"),
    "submitted_by": _l("报批人"),
    "submitted_at": _l("报批时间"),
    "decided_by": _l("审批人"),
    "decided_at": _l("审批时间"),
    "decision_note": _l("审批意见"),
    "announce_method_label": _l("公告方式"),
    "announced_on": _l("公告日期"),
    "announced_by": _l("公告人"),
    "line_count": _l("项目数"),
    "drafted_by_id": _l("拟定人"),
    "submitted_by_id": _l("报批人"),
    "decided_by_id": _l("审批人"),
    "announced_by_id": _l("公告人"),
    "announce_method": _l("公告方式"),
    "estate_id": _l("小区/大厦"),
}


class PriceListView(DocumentViewMixin, TransitionViewMixin, ScopedModelView):
    datamodel = ScopedInterface(PriceList)
    class_permission_name = "PriceList"
    base_permissions = PRICE_LIST_PERMS
    workflow_type = "price_list"
    list_title = _l("便民服务项目及价格表")
    show_title = _l("便民服务项目及价格表")
    add_title = _l("拟定价格表")
    edit_title = _l("修改价格表")
    print_title = _l("便民服务项目及价格表")
    label_columns = PRICE_LIST_LABELS
    list_columns = ["estate", "year", "line_count", "status_label", "submitted_at", "decided_by", "announced_on"]
    add_columns = ["estate", "year", "basis"]
    edit_columns = ["basis"]
    show_columns = ["estate", "year", "status_label", "basis", "drafted_by", "submitted_by", "submitted_at", "decided_by",
                    "decided_at", "decision_note", "announce_method_label", "announced_on", "announced_by"]
    search_columns = ["estate", "year", "status"]
    base_order = ("year", "desc")
    print_template = "wuye/services_price_notice.html"
    transition_forms = {"submit": NoteForm, "approve": NoteForm, "reject": RejectForm, "revise": NoteForm,
                        "announce": AnnounceForm}
    action_submit = transition_action("submit", _l("报公司经理审批"), "fa-send", multiple=False)
    action_approve = transition_action("approve", _l("批准"), "fa-check", multiple=False)
    action_reject = transition_action("reject", _l("退回"), "fa-undo", multiple=False)
    action_revise = transition_action("revise", _l("重新拟定"), "fa-pencil", multiple=False)
    action_announce = transition_action("announce", _l("公告"), "fa-bullhorn", multiple=False)
    description_columns = {"basis": _l("上年度总结中业户的需求与意见;保存后可「从上年/目录填充」服务项目")}
    formatters_columns = {c: person_name for c in ("drafted_by", "submitted_by", "decided_by", "announced_by")}

    def action_visible(self, item, name: str) -> bool:
        return name != "fill" or item.status == "draft"

    @action("fill", _l("从上年/目录填充项目"), None, "fa-magic", multiple=False, single=True)
    def action_fill(self, item):
        item = item[0] if isinstance(item, list) else item
        session = self.datamodel.session
        try:
            added = item.fill_lines(session)
            commit_or_conflict(session)
            flash(_("已填充 %(n)s 个服务项目,请逐项核定价格", n=added), "success")
        except DomainError as error:
            session.rollback()
            flash(error.message, "danger")
        return redirect(url_for("PriceListView.show", pk=item.id))

    def pre_add(self, item):
        from models.base import current_user_id

        item.status = "draft"
        item.drafted_by_id = current_user_id()

    def show_tables(self, item) -> list[dict]:
        limit = margin_limit(self.datamodel.session) * 100
        return [{
            "title": _("服务项目及价格(利润率上限 %(l)s%%)", l=f"{limit:.0f}"),
            "id": "price-lines",
            "headers": [_("序号"), _("类别"), _("服务项目"), _("计价单位"), _("价格(元)"), _("成本(元)"), _("利润率"),
                        _("押金(元)"), _("预交服务费(元)"), _("备注")],
            "rows": [
                [i + 1, line.category_label, line.service_item.name, line.unit or "", money_cell(line.price),
                 money_cell(line.cost), f"{line.margin}%" if line.margin is not None else "",
                 money_cell(line.deposit), money_cell(line.prepayment), line.note or ""]
                for i, line in enumerate(item.line_items)
            ],
            "numeric": [4, 5, 6, 7, 8],
            "empty": _("还没有服务项目:点「从上年/目录填充项目」或在「价格表项目」中逐项添加"),
        }]

    def show_links(self, item):
        links = super().show_links(item)
        links[0] = (_("打印公告"), links[0][1])
        if item.status == "draft":
            links.append((_("添加服务项目"), url_for("PriceListLineView.add") + f"?_flt_0_price_list={item.id}"))
        links.append((_("价格表项目"), url_for("PriceListLineView.list") + f"?_flt_0_price_list={item.id}"))
        from models.services_price import summary_links

        if self.appbuilder.sm.has_access("can_read", "ReceptionSummary"):
            links.extend(summary_links(item.estate_id, item.year))
        return links


class PriceListLineView(ListToolbarMixin, ScopedModelView):
    datamodel = ScopedInterface(PriceListLine)
    class_permission_name = "PriceListLine"
    base_permissions = ["can_read", "can_write", "can_delete", "can_export"]
    list_title = _l("价格表项目")
    show_title = _l("价格表项目")
    add_title = _l("添加价格表项目")
    edit_title = _l("修改价格表项目")
    label_columns = {
        "price_list": _l("价格表"),
        "service_item": _l("服务项目"),
        "category_label": _l("类别"),
        "unit": _l("计价单位"),
        "price": _l("价格(元)"),
        "cost": _l("成本(元)"),
        "margin": _l("利润率(%)"),
        "deposit": _l("押金(元)"),
        "prepayment": _l("预交服务费(元)"),
        "note": _l("备注"),
        "estate": _l("小区/大厦"),
    } | ID_LABELS
    list_columns = ["price_list", "category_label", "service_item", "unit", "price", "cost", "margin", "deposit", "prepayment"]
    add_columns = ["price_list", "service_item", "unit", "price", "cost", "deposit", "prepayment", "note"]
    edit_columns = ["unit", "price", "cost", "deposit", "prepayment", "note"]
    show_columns = ["price_list", "category_label", "service_item", "unit", "price", "cost", "margin", "deposit", "prepayment", "note"]
    search_columns = ["price_list", "service_item", "estate"]
    base_order = ("id", "asc")
    description_columns = {
        "price": _l("保本微利:不得低于成本,利润率不超过参数设置中的上限"),
        "cost": _l("不填取一览表中的成本"),
    }


class PriceListApi(ScopedModelRestApi):
    """`POST /api/v1/price_list/ {estate_id, year, basis?, lines?: [{service_item_id, price, cost?, ...}], fill?}`."""

    resource_name = "price_list"
    class_permission_name = "PriceList"
    base_permissions = PRICE_LIST_PERMS
    datamodel = ScopedInterface(PriceList)
    workflow_type = "price_list"
    list_columns = show_columns = [
        "id", "estate_id", "year", "status", "basis", "drafted_by_id", "submitted_by_id", "submitted_at",
        "decided_by_id", "decided_at", "decision_note", "announce_method", "announced_on", "announced_by_id", "lines",
    ]
    add_columns = ["estate_id", "year", "basis"]
    edit_columns = ["basis"]
    search_columns = ["estate_id", "year", "status"]
    order_columns = ["id", "year"]
    FIELDS = {"estate_id", "year", "basis", "lines", "fill"}

    def post_headless(self):
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message={"body": [_("请求体必须是 JSON 对象")]})
        unknown = set(body) - self.FIELDS
        if unknown:
            return self.response_400(message={k: [_("未知字段")] for k in sorted(unknown)})
        session = self.datamodel.session
        try:
            price_list = draft_price_list(
                session, body.get("estate_id"), body.get("year"), body.get("basis"), body.get("lines"),
                fill=bool(parse_bool("fill", body.get("fill"), required=False)),
            )
            commit_or_conflict(session)
        except DomainError as error:
            return self._domain_response(error)
        session.refresh(price_list)
        return self.response(201, id=price_list.id, result=self.show_model_schema.dump(price_list))


class PriceListLineApi(ScopedModelRestApi):
    resource_name = "price_list_line"
    class_permission_name = "PriceListLine"
    base_permissions = ["can_read", "can_write", "can_delete", "can_export"]
    datamodel = ScopedInterface(PriceListLine)
    list_columns = show_columns = ["id", "price_list_id", "estate_id", "service_item_id", "unit", "price", "cost",
                                   "deposit", "prepayment", "note"]
    add_columns = ["price_list_id", "service_item_id", "unit", "price", "cost", "deposit", "prepayment", "note"]
    edit_columns = ["unit", "price", "cost", "deposit", "prepayment", "note"]
    search_columns = ["price_list_id", "estate_id", "service_item_id"]
    order_columns = ["id"]

    def post_headless(self):
        # cost, deposit and prepayment default to the catalogue's (as on the screen)
        from models.services import ServiceItem

        body = request.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("service_item_id"), int) and 0 < body["service_item_id"] <= MAX_ID:
            item = self.datamodel.session.get(ServiceItem, body["service_item_id"])
            if item is not None:
                for field in ("cost", "deposit", "prepayment"):
                    body.setdefault(field, f"{getattr(item, field):.2f}")
        return super().post_headless()


def register(appbuilder) -> None:
    add_screen(appbuilder, PriceListView, "PriceLists", _l("便民服务项目及价格表"), "Services", "fa-tags")
    appbuilder.add_view_no_menu(PriceListLineView)
    for api in (PriceListApi, PriceListLineApi):
        appbuilder.add_api(api)


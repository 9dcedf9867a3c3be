"""便民服务 screens and REST resources: the service catalogue, the 信息查询 directory, venues and bookings."""

from __future__ import annotations

from datetime import time

from flask_appbuilder.forms import DynamicForm
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_
from wtforms import SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, Length, Optional

from app import roles
from app.scope import ScopedInterface, like_escape
from models.services import (
    DirectoryCategory,
    DirectoryEntry,
    ItemKind,
    ServiceCategory,
    ServiceItem,
    Venue,
    VenueBooking,
    VenueKind,
)
from views import add_screen
from views.base import AreaFilter
from views.billing import ID_LABELS
from views.documents import DocumentViewMixin, ListToolbarMixin
from views.rest import ScopedModelRestApi
from views.scoped_view import ScopedModelView
from views.transitions import TransitionViewMixin, transition_action

RW = ("read", "write")
FULL = ["can_read", "can_write", "can_delete", "can_export"]
BOOKING_PERMS = ["can_read", "can_write", "can_export", "can_cancel"]
roles.extend(
    {
        "物业经理": {"ServiceItem": ("read", "write", "export"), "DirectoryEntry": ("read", "write", "delete"),
                 "Venue": RW},
        "物业管理员": {"ServiceItem": ("read", "export"), "DirectoryEntry": ("read", "write", "delete", "export"),
                  "Venue": RW, "VenueBooking": ("read", "write", "cancel", "export")},
        "接待员": {"ServiceItem": ("read",), "DirectoryEntry": ("read", "export"), "Venue": ("read",),
                "VenueBooking": ("read", "write", "cancel")},
        "财务内勤": {"ServiceItem": ("read",)},
        "管理处主任": {"VenueBooking": ("cancel",)},
    }
)


def enum_select(enum_cls, label, required=True):
    validators = [DataRequired()] if required else [Optional()]
    return SelectField(label, choices=enum_cls.choices(), validators=validators)


# ---------------------------------------------------------------- catalogue
ITEM_LABELS = {
    "name": _l("服务项目"),
    "kind": _l("无偿/有偿"),
    "kind_label": _l("无偿/有偿"),
    "category": _l("类别"),
    "category_label": _l("类别"),
    "unit": _l("计价单位"),
    "price": _l("参考价格(元)"),
    "cost": _l("成本(元)"),
    "deposit": _l("押金(元)"),
    "prepayment": _l("预交服务费(元)"),
    "long_term": _l("可长期服务"),
    "description": _l("服务内容"),
    "active": _l("提供中"),
    "estate": _l("小区/大厦(空为全公司)"),
    "price_text": _l("价格"),
}


class ServiceItemView(ListToolbarMixin, ScopedModelView):
    """便民服务项目一览表 (便民 一.5)."""

    datamodel = ScopedInterface(ServiceItem)
    class_permission_name = "ServiceItem"
    base_permissions = FULL
    list_title = _l("便民服务项目一览表")
    show_title = _l("服务项目详情")
    add_title = _l("新增服务项目")
    edit_title = _l("编辑服务项目")
    label_columns = ITEM_LABELS | ID_LABELS
    list_columns = ["category_label", "name", "kind_label", "unit", "price", "cost", "deposit", "prepayment", "long_term", "estate", "active"]
    add_columns = edit_columns = ["name", "kind", "category", "unit", "price", "cost", "deposit", "prepayment",
                                  "long_term", "description", "estate", "active"]
    show_columns = ["name", "kind_label", "category_label", "unit", "price", "cost", "deposit", "prepayment",
                    "long_term", "description", "estate", "active"]
    search_columns = ["name", "kind", "category", "estate", "long_term", "active"]
    base_order = ("kind", "asc")
    page_size = 50
    add_form_extra_fields = edit_form_extra_fields = {
        "kind": enum_select(ItemKind, _l("无偿/有偿")),
        "category": enum_select(ServiceCategory, _l("类别")),
    }
    description_columns = {
        "price": _l("有偿项目的参考价;实际收费以已公告的价格表为准"),
        "cost": _l("保本微利:价格不得低于成本"),
    }
    export_title = _l("便民服务项目一览表")
    export_columns = [
        ("category_label", _l("类别")), ("name", _l("服务项目")), ("kind_label", _l("无偿/有偿")),
        ("unit", _l("计价单位")), ("price", _l("参考价格(元)"), "money"), ("cost", _l("成本(元)"), "money"),
        ("deposit", _l("押金(元)"), "money"), ("prepayment", _l("预交服务费(元)"), "money"),
        ("long_term", _l("可长期服务")), ("description", _l("服务内容")),
    ]


class ServiceItemApi(ScopedModelRestApi):
    resource_name = "service_item"
    class_permission_name = "ServiceItem"
    base_permissions = FULL
    datamodel = ScopedInterface(ServiceItem)
    list_columns = show_columns = ["id", "estate_id", "name", "kind", "category", "unit", "price", "cost", "deposit",
                                   "prepayment", "long_term", "description", "active"]
    add_columns = edit_columns = ["estate_id", "name", "kind", "category", "unit", "price", "cost", "deposit",
                                  "prepayment", "long_term", "description", "active"]
    search_columns = ["estate_id", "kind", "category", "name", "long_term", "active"]
    order_columns = ["id", "name", "category"]


# ---------------------------------------------------------------- 信息查询
class FilterDirectoryQuick(AreaFilter):
    """One box for the front desk: part of a name, business, address or phone."""

    name = _l("名称/服务内容/电话")
    arg_name = "q"

    def apply(self, query, value):
        value = str(value if value is not None else "").strip()
        if not value:
            return query
        like = f"%{like_escape(value)}%"
        return query.filter(
            or_(
                DirectoryEntry.name.like(like, escape="\\"),
                DirectoryEntry.business.like(like, escape="\\"),
                DirectoryEntry.address.like(like, escape="\\"),
                DirectoryEntry.phone.like(like, escape="\\"),
                DirectoryEntry.note.like(like, escape="\\"),
            )
        )


class DirectoryEntryView(ListToolbarMixin, ScopedModelView):
    """信息查询 (便民 一.4(1)①): the businesses and institutions owners ask about."""

    datamodel = ScopedInterface(DirectoryEntry)
    class_permission_name = "DirectoryEntry"
    base_permissions = FULL
    list_title = _l("信息查询")
    show_title = _l("单位信息")
    add_title = _l("新增单位信息")
    edit_title = _l("编辑单位信息")
    label_columns = {
        "category": _l("类别"),
        "category_label": _l("类别"),
        "name": _l("单位名称"),
        "phone": _l("电话"),
        "contact": _l("联系人"),
        "address": _l("地址"),
        "business": _l("服务内容"),
        "hours": _l("营业时间"),
        "note": _l("备注"),
        "active": _l("有效"),
        "estate": _l("小区/大厦(空为全公司)"),
    } | ID_LABELS
    list_columns = ["category_label", "name", "phone", "contact", "address", "business", "hours"]
    add_columns = edit_columns = ["category", "name", "phone", "contact", "address", "business", "hours", "note", "estate", "active"]
    show_columns = ["category_label", "name", "phone", "contact", "address", "business", "hours", "note", "estate", "active"]
    search_columns = ["name", "category", "estate", "active"]
    search_filters = {"name": [FilterDirectoryQuick]}
    base_order = ("category", "asc")
    add_form_extra_fields = edit_form_extra_fields = {"category": enum_select(DirectoryCategory, _l("类别"))}
    export_title = _l("信息查询")


class DirectoryEntryApi(ScopedModelRestApi):
    resource_name = "directory_entry"
    class_permission_name = "DirectoryEntry"
    base_permissions = FULL
    datamodel = ScopedInterface(DirectoryEntry)
    list_columns = show_columns = ["id", "estate_id", "category", "name", "phone", "contact", "address", "business",
                                   "hours", "note", "active"]
    add_columns = edit_columns = ["estate_id", "category", "name", "phone", "contact", "address", "business", "hours",
                                  "note", "active"]
    search_columns = ["estate_id", "category", "name", "business", "active"]
    search_filters = {"name": [FilterDirectoryQuick]}
    order_columns = ["id", "name", "category"]


# ---------------------------------------------------------------- venues
class VenueView(ListToolbarMixin, ScopedModelView):
    datamodel = ScopedInterface(Venue)
    class_permission_name = "Venue"
    base_permissions = FULL
    list_title = _l("场地")
    show_title = _l("场地详情")
    add_title = _l("新增场地")
    edit_title = _l("编辑场地")
    label_columns = {
        "name": _l("场地名称"),
        "kind": _l("类型"),
        "kind_label": _l("类型"),
        "estate": _l("小区/大厦"),
        "opens": _l("开放时间"),
        "closes": _l("关闭时间"),
        "hours_text": _l("开放时间"),
        "max_hours": _l("单次最长(小时)"),
        "capacity": _l("容纳人数"),
        "location": _l("位置"),
        "active": _l("开放中"),
    } | ID_LABELS
    list_columns = ["estate", "name", "kind_label", "hours_text", "max_hours", "capacity", "location", "active"]
    add_columns = edit_columns = ["estate", "name", "kind", "opens", "closes", "max_hours", "capacity", "location", "active"]
    show_columns = ["estate", "name", "kind_label", "hours_text", "max_hours", "capacity", "location", "active"]
    search_columns = ["estate", "name", "kind", "active"]
    base_order = ("name", "asc")
    add_form_extra_fields = edit_form_extra_fields = {
        "kind": enum_select(VenueKind, _l("类型")),
        "opens": TimeField(_l("开放时间"), validators=[DataRequired(message=_l("请填写开放时间"))], default=time(8, 0)),
        "closes": TimeField(_l("关闭时间"), validators=[DataRequired(message=_l("请填写关闭时间"))], default=time(21, 0)),
    }


class VenueApi(ScopedModelRestApi):
    resource_name = "venue"
    class_permission_name = "Venue"
    base_permissions = FULL
    datamodel = ScopedInterface(Venue)
    list_columns = show_columns = ["id", "estate_id", "name", "kind", "opens", "closes", "max_hours", "capacity", "location", "active"]
    add_columns = edit_columns = ["estate_id", "name", "kind", "opens", "closes", "max_hours", "capacity", "location", "active"]
    search_columns = ["estate_id", "kind", "name", "active"]
    order_columns = ["id", "name"]


class CancelBookingForm(DynamicForm):
    reason = TextAreaField(_l("取消原因"), validators=[DataRequired(message=_l("请填写取消原因")), Length(max=200)])


class VenueBookingView(DocumentViewMixin, TransitionViewMixin, ScopedModelView):
    datamodel = ScopedInterface(VenueBooking)
    class_permission_name = "VenueBooking"
    base_permissions = BOOKING_PERMS
    workflow_type = "venue_booking"
    exclude_route_methods = {"delete"}  # a booking is cancelled, not deleted
    list_title = _l("场地预约")
    show_title = _l("场地预约详情")
    add_title = _l("新增场地预约")
    edit_title = _l("修改场地预约")
    label_columns = {
        "venue": _l("场地"),
        "estate": _l("小区/大厦"),
        "owner": _l("业户"),
        "booker_name": _l("预约人"),
        "phone": _l("电话"),
        "starts_at": _l("开始时间"),
        "ends_at": _l("结束时间"),
        "time_text": _l("时段"),
        "people": _l("人数"),
        "purpose": _l("用途"),
        "status": _l("状态"),
        "status_label": _l("状态"),
        "cancel_reason": _l("取消原因"),
        "note": _l("备注"),
    } | ID_LABELS
    list_columns = ["venue", "time_text", "booker_name", "phone", "people", "purpose", "status_label"]
    add_columns = edit_columns = ["venue", "owner", "booker_name", "phone", "starts_at", "ends_at", "people", "purpose", "note"]
    show_columns = ["venue", "estate", "owner", "booker_name", "phone", "time_text", "people", "purpose", "status_label",
                    "cancel_reason", "note"]
    search_columns = ["venue", "estate", "status", "starts_at", "booker_name", "owner"]
    base_order = ("starts_at", "desc")
    description_columns = {
        "booker_name": _l("选了业户可不填,默认业户姓名"),
        "starts_at": _l("在场地开放时间内,不能与已有预约重叠"),
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "booker_name": StringField(_l("预约人"), validators=[Optional(), Length(max=40)]),
        "phone": StringField(_l("电话"), validators=[Optional(), Length(max=30)]),
    }
    transition_forms = {"cancel": CancelBookingForm}
    action_cancel = transition_action("cancel", _l("取消预约"), "fa-ban", multiple=False)
    export_title = _l("场地预约")
    export_columns = [
        ("venue.name", _l("场地")), ("estate.name", _l("小区/大厦")), ("starts_at", _l("开始时间"), "datetime"),
        ("ends_at", _l("结束时间"), "datetime"), ("booker_name", _l("预约人")), ("phone", _l("电话")),
        ("people", _l("人数"), "int"), ("purpose", _l("用途")), ("status_label", _l("状态")),
    ]


class VenueBookingApi(ScopedModelRestApi):
    resource_name = "venue_booking"
    class_permission_name = "VenueBooking"
    base_permissions = BOOKING_PERMS
    datamodel = ScopedInterface(VenueBooking)
    workflow_type = "venue_booking"
    list_columns = show_columns = ["id", "estate_id", "venue_id", "owner_id", "booker_name", "phone", "starts_at",
                                   "ends_at", "people", "purpose", "status", "cancel_reason", "note"]
    add_columns = ["venue_id", "owner_id", "booker_name", "phone", "starts_at", "ends_at", "people", "purpose", "note"]
    edit_columns = ["booker_name", "phone", "starts_at", "ends_at", "people", "purpose", "note"]
    search_columns = ["estate_id", "venue_id", "owner_id", "status", "starts_at"]
    order_columns = ["id", "starts_at"]
    exclude_route_methods = {"delete"}


def register_catalogue(appbuilder) -> None:
    add_screen(appbuilder, ServiceItemView, "ServiceItems", _l("便民服务项目一览表"), "Services", "fa-list")


def register(appbuilder) -> None:
    add_screen(appbuilder, DirectoryEntryView, "ServiceDirectory", _l("信息查询"), "Services", "fa-search")
    add_screen(appbuilder, VenueBookingView, "VenueBookings", _l("场地预约"), "Services", "fa-calendar")
    add_screen(appbuilder, VenueView, "Venues", _l("场地"), "Services", "fa-futbol-o")
    for api in (ServiceItemApi, DirectoryEntryApi, VenueApi, VenueBookingApi):
        appbuilder.add_api(api)


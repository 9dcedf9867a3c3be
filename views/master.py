"""基础资料 screens and REST resources: estate, building, unit, owner, department, staff."""

from __future__ import annotations

from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2Widget
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, NumberRange, Optional

from app.scope import ScopedInterface, like_escape
from models.master import (
    Building,
    Department,
    DepartmentKind,
    Estate,
    EstateKind,
    Owner,
    OwnerKind,
    Staff,
    Unit,
    phone_error,
)
from views import add_screen
from views.base import AreaFilter
from views.rest import ScopedModelRestApi
from views.scoped_view import ScopedModelView


class PhoneCheck:
    """WTForms adapter for the model's phone rule."""

    def __init__(self, required: bool = True):
        self.required = required

    def __call__(self, form, field):
        from wtforms.validators import ValidationError

        err = phone_error(field.data, self.required)
        if err:
            raise ValidationError(err)


class FilterOwnerQuick(AreaFilter):
    """One box for a busy front desk: part of a name, a phone number or a room."""

    name = _l("姓名/电话/房号")
    arg_name = "q"

    def apply(self, query, value):
        value = str(value if value is not None else "").strip()
        if not value:
            return query
        like = f"%{like_escape(value)}%"
        if not query.column_descriptions or Unit not in [d.get("entity") for d in query.column_descriptions]:
            query = query.outerjoin(Unit, Owner.unit_id == Unit.id)
        return query.filter(
            or_(Owner.name.like(like, escape="\\"), Owner.phone.like(like, escape="\\"), Unit.room.like(like, escape="\\"))
        )


def _enum_select(enum_cls, label):
    return SelectField(label, choices=enum_cls.choices(), validators=[DataRequired()], widget=Select2Widget())


MASTER_LABELS = {
    "name": _l("名称"),
    "kind": _l("类型"),
    "kind_label": _l("类型"),
    "address": _l("地址"),
    "households": _l("户数"),
    "complaint_phone_day": _l("投诉电话(白天)"),
    "complaint_phone_night": _l("投诉电话(晚间)"),
    "estate": _l("小区/大厦"),
    "building": _l("楼栋"),
    "floors": _l("层数"),
    "unit": _l("房屋"),
    "room": _l("房号"),
    "area": _l("建筑面积(㎡)"),
    "phone": _l("电话"),
    "company": _l("住户单位"),
    "note": _l("备注"),
    "head": _l("负责人"),
    "department": _l("部门"),
    "position": _l("职务"),
    "active": _l("在职"),
    "user": _l("登录账号"),
    "estates": _l("负责小区/大厦"),
    "created_on": _l("创建时间"),
    "changed_on": _l("修改时间"),
}


class EstateView(ScopedModelView):
    datamodel = ScopedInterface(Estate)
    class_permission_name = "Estate"
    list_title = _l("小区/大厦")
    show_title = _l("小区/大厦详情")
    add_title = _l("新增小区/大厦")
    edit_title = _l("编辑小区/大厦")
    label_columns = MASTER_LABELS
    list_columns = ["name", "kind_label", "households", "address", "complaint_phone_day", "complaint_phone_night"]
    add_columns = edit_columns = ["name", "kind", "households", "address", "complaint_phone_day", "complaint_phone_night"]
    show_columns = add_columns + ["created_on", "changed_on"]
    search_columns = ["name", "kind", "address"]
    base_order = ("name", "asc")
    add_form_extra_fields = edit_form_extra_fields = {
        "kind": _enum_select(EstateKind, _l("类型")),
        "complaint_phone_day": StringField(_l("投诉电话(白天)"), validators=[Optional(), PhoneCheck(False)], widget=BS3TextFieldWidget()),
        "complaint_phone_night": StringField(_l("投诉电话(晚间)"), validators=[Optional(), PhoneCheck(False)], widget=BS3TextFieldWidget()),
    }
    validators_columns = {"households": [NumberRange(min=0, message=_l("户数不能为负数"))]}


class BuildingView(ScopedModelView):
    datamodel = ScopedInterface(Building)
    class_permission_name = "Building"
    list_title = _l("楼栋")
    show_title = _l("楼栋详情")
    add_title = _l("新增楼栋")
    edit_title = _l("编辑楼栋")
    label_columns = MASTER_LABELS
    list_columns = ["estate", "name", "floors"]
    add_columns = edit_columns = ["estate", "name", "floors"]
    show_columns = list_columns
    search_columns = ["estate", "name"]
    base_order = ("name", "asc")


class UnitView(ScopedModelView):
    datamodel = ScopedInterface(Unit)
    class_permission_name = "Unit"
    list_title = _l("房屋")
    show_title = _l("房屋详情")
    add_title = _l("新增房屋")
    edit_title = _l("编辑房屋")
    label_columns = MASTER_LABELS
    list_columns = ["estate", "building", "room", "area"]
    add_columns = edit_columns = ["building", "room", "area"]
    show_columns = ["estate", "building", "room", "area"]
    search_columns = ["estate", "building", "room"]
    base_order = ("room", "asc")


class OwnerView(ScopedModelView):
    datamodel = ScopedInterface(Owner)
    class_permission_name = "Owner"
    list_title = _l("业户")
    show_title = _l("业户详情")
    add_title = _l("新增业户")
    edit_title = _l("编辑业户")
    label_columns = MASTER_LABELS | {"name": _l("姓名"), "kind_label": _l("业主/租户"), "kind": _l("业主/租户")}
    list_columns = ["name", "phone", "estate", "unit", "kind_label", "company"]
    add_columns = edit_columns = ["unit", "name", "phone", "kind", "company", "note"]
    show_columns = ["estate", "unit", "name", "phone", "kind_label", "company", "note", "created_on", "changed_on"]
    search_columns = ["name", "phone", "estate", "unit", "kind"]
    search_filters = {"name": [FilterOwnerQuick]}
    base_order = ("name", "asc")
    add_form_extra_fields = edit_form_extra_fields = {
        "phone": StringField(_l("电话"), validators=[DataRequired(message=_l("请填写电话号码")), PhoneCheck()], widget=BS3TextFieldWidget()),
        "kind": _enum_select(OwnerKind, _l("业主/租户")),
    }
    export_title = _l("业户名册")
    export_columns = [
        ("estate.name", _l("小区/大厦")),
        ("unit.building.name", _l("楼栋")),
        ("unit.room", _l("房号")),
        ("name", _l("姓名")),
        ("phone", _l("电话")),
        ("kind_label", _l("业主/租户")),
        ("company", _l("住户单位")),
    ]


class DepartmentView(ScopedModelView):
    datamodel = ScopedInterface(Department)
    class_permission_name = "Department"
    list_title = _l("部门/处")
    show_title = _l("部门详情")
    add_title = _l("新增部门")
    edit_title = _l("编辑部门")
    label_columns = MASTER_LABELS | {"estate": _l("所属小区/大厦(空为全公司)")}
    list_columns = ["name", "kind_label", "estate", "head", "phone"]
    add_columns = edit_columns = ["name", "kind", "estate", "head", "phone"]
    show_columns = list_columns
    search_columns = ["name", "kind", "estate"]
    base_order = ("name", "asc")
    add_form_extra_fields = edit_form_extra_fields = {
        "kind": _enum_select(DepartmentKind, _l("类型")),
        "phone": StringField(_l("电话"), validators=[Optional(), PhoneCheck(False)], widget=BS3TextFieldWidget()),
    }


class StaffView(ScopedModelView):
    datamodel = ScopedInterface(Staff)
    class_permission_name = "Staff"
    list_title = _l("员工")
    show_title = _l("员工详情")
    add_title = _l("新增员工")
    edit_title = _l("编辑员工")
    label_columns = MASTER_LABELS | {"name": _l("姓名")}
    list_columns = ["name", "department", "position", "phone", "user", "active"]
    add_columns = edit_columns = ["name", "department", "position", "phone", "user", "estates", "active"]
    show_columns = add_columns
    search_columns = ["name", "department", "active"]
    base_order = ("name", "asc")
    # the login column names the account (its name is the staff member's, in the first column)
    formatters_columns = {"user": lambda user: user.username if user is not None else ""}
    add_form_extra_fields = edit_form_extra_fields = {
        "phone": StringField(_l("电话"), validators=[Optional(), PhoneCheck(False)], widget=BS3TextFieldWidget()),
    }


# ---------------------------------------------------------------- REST resources
class EstateApi(ScopedModelRestApi):
    resource_name = "estate"
    class_permission_name = "Estate"
    datamodel = ScopedInterface(Estate)
    list_columns = show_columns = ["id", "name", "kind", "households", "address", "complaint_phone_day", "complaint_phone_night"]
    add_columns = edit_columns = ["name", "kind", "households", "address", "complaint_phone_day", "complaint_phone_night"]
    search_columns = ["name", "kind"]
    order_columns = ["id", "name"]


class BuildingApi(ScopedModelRestApi):
    resource_name = "building"
    class_permission_name = "Building"
    datamodel = ScopedInterface(Building)
    list_columns = show_columns = ["id", "estate_id", "name", "floors"]
    add_columns = edit_columns = ["estate_id", "name", "floors"]
    search_columns = ["estate_id", "name"]
    order_columns = ["id", "name"]


class UnitApi(ScopedModelRestApi):
    resource_name = "unit"
    class_permission_name = "Unit"
    datamodel = ScopedInterface(Unit)
    list_columns = show_columns = ["id", "estate_id", "building_id", "room", "area"]
    add_columns = edit_columns = ["building_id", "room", "area"]
    search_columns = ["estate_id", "building_id", "room"]
    order_columns = ["id", "room"]


class OwnerApi(ScopedModelRestApi):
    resource_name = "owner"
    class_permission_name = "Owner"
    datamodel = ScopedInterface(Owner)
    list_columns = show_columns = ["id", "estate_id", "unit_id", "name", "phone", "kind", "company", "note"]
    add_columns = edit_columns = ["unit_id", "name", "phone", "kind", "company", "note"]
    search_columns = ["estate_id", "unit_id", "name", "phone", "kind"]
    search_filters = {"name": [FilterOwnerQuick]}
    order_columns = ["id", "name"]


class DepartmentApi(ScopedModelRestApi):
    resource_name = "department"
    class_permission_name = "Department"
    datamodel = ScopedInterface(Department)
    list_columns = show_columns = ["id", "estate_id", "name", "kind", "head_id", "phone"]
    add_columns = edit_columns = ["estate_id", "name", "kind", "head_id", "phone"]
    search_columns = ["estate_id", "kind", "name"]
    order_columns = ["id", "name"]


class StaffApi(ScopedModelRestApi):
    resource_name = "staff"
    class_permission_name = "Staff"
    datamodel = ScopedInterface(Staff)
    list_columns = show_columns = ["id", "name", "phone", "user_id", "department_id", "position", "active", "estates.id"]
    add_columns = edit_columns = ["name", "phone", "user_id", "department_id", "position", "active", "estates"]
    search_columns = ["department_id", "name", "active"]
    order_columns = ["id", "name"]


def register(appbuilder) -> None:
    add_screen(appbuilder, EstateView, "Estates", _l("小区/大厦"), "MasterData", "fa-building")
    add_screen(appbuilder, BuildingView, "Buildings", _l("楼栋"), "MasterData", "fa-th-large")
    add_screen(appbuilder, UnitView, "Units", _l("房屋"), "MasterData", "fa-home")
    add_screen(appbuilder, OwnerView, "Owners", _l("业户"), "MasterData", "fa-users")
    add_screen(appbuilder, DepartmentView, "Departments", _l("部门/处"), "MasterData", "fa-sitemap")
    add_screen(appbuilder, StaffView, "StaffList", _l("员工"), "MasterData", "fa-id-badge")
    for api in (EstateApi, BuildingApi, UnitApi, OwnerApi, DepartmentApi, StaffApi):
        appbuilder.add_api(api)

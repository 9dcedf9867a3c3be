"""The forms of the repair screens: registering an order and one form per move.

Numbers are taken as text and checked by the model (so a bad quantity or a negative price gets
the model's Chinese message on the field); times are the shared `LocalDateTimeField` (Asia/Shanghai
wall time).
"""

from __future__ import annotations

from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from models.repair import (
    DelayKind,
    EmergencyReason,
    MaterialProvider,
    RepairCategory,
    RepairKind,
    RepairSource,
    Urgency,
)
from views.fields import LocalDateTimeField

FC = {"class": "form-control"}
FC_AREA = {"class": "form-control", "rows": 3}


def _choices(enum_cls, blank: bool = False):
    choices = enum_cls.choices()
    return ([("", "—")] if blank else []) + choices


def choice_field(label, choices=None, required: bool = False, message=None, select2: bool = False, **kw):
    validators = [DataRequired(message=message or _l("请选择"))] if required else [Optional()]
    if select2:
        kw["widget"] = Select2Widget()
    return SelectField(label, choices=choices or [], validators=validators, validate_choice=False, **kw)


class RegisterForm(FlaskForm):
    """登记维修单 (物业维修 / 返修申请表 upper half)."""

    source = SelectField(_l("来源"), choices=_choices(RepairSource), default="hotline", render_kw=FC)
    urgency = SelectField(_l("紧急程度"), choices=_choices(Urgency), default="normal", render_kw=FC)
    emergency_reason = SelectField(
        _l("急修原因"), choices=_choices(EmergencyReason, blank=True), validators=[Optional()], description=_l("急修须选择;一般报修不填"), render_kw=FC
    )
    category = SelectField(_l("类别"), choices=_choices(RepairCategory, blank=True), validators=[DataRequired(message=_l("请选择类别"))], render_kw=FC)
    kind = SelectField(_l("维修/服务"), choices=_choices(RepairKind), default="repair", render_kw=FC)
    paid = BooleanField(_l("有偿服务"), description=_l("有偿的须在开工前按收费标准报价并征得业主同意"))
    owner_id = choice_field(_l("业户"), select2=True, description=_l("选了业户可不选房屋、不填电话,自动带出"))
    unit_id = choice_field(_l("房屋"), select2=True)
    estate_id = choice_field(_l("小区/大厦"), description=_l("公共区域报修(不选房屋)时必选"), render_kw=FC)
    location = StringField(_l("位置/地址"), validators=[Optional(), Length(max=200)], description=_l("公共区域或房屋内的具体位置"), render_kw=FC)
    contact_name = StringField(_l("联系人"), validators=[Optional(), Length(max=40)], render_kw=FC)
    contact_phone = StringField(_l("联系电话"), validators=[Optional(), Length(max=30)], render_kw=FC)
    problem = TextAreaField(_l("报修内容"), validators=[DataRequired(message=_l("请填写报修内容"))], render_kw=FC_AREA)
    appointment_at = LocalDateTimeField(_l("预约维修时间"), render_kw=FC)
    recorded_at = LocalDateTimeField(_l("登记时间"), description=_l("补办手续(急修事后登记)时填写实际时间;不填为现在"), render_kw=FC)
    department_id = choice_field(_l("立即派给"), description=_l("急修可在登记时直接派单"), render_kw=FC)
    assignee_id = choice_field(_l("维修人员"), render_kw=FC)
    note = TextAreaField(_l("备注"), validators=[Optional(), Length(max=2000)], render_kw=FC_AREA)


REGISTER_COLUMNS = [
    "source", "urgency", "emergency_reason", "category", "kind", "paid", "owner_id", "unit_id", "estate_id", "location",
    "contact_name", "contact_phone", "problem", "appointment_at", "recorded_at", "department_id", "assignee_id", "note",
]


class DispatchForm(FlaskForm):
    department_id = choice_field(_l("维修部门(处)"), required=True, message=_l("请选择维修部门"))
    assignee_id = choice_field(_l("维修人员"), description=_l("可不选,由处主任取单后指派"))
    dispatched_at = LocalDateTimeField(_l("派单时间"), description=_l("补办手续时填写实际派单时间;不填为现在"))
    note = StringField(_l("说明"), validators=[Optional(), Length(max=500)])


class AcceptForm(FlaskForm):
    assignee_id = choice_field(_l("指派维修人员"), description=_l("可在取单时一并指派"))
    note = StringField(_l("说明"), validators=[Optional(), Length(max=500)])


class AssignForm(FlaskForm):
    assignee_id = choice_field(_l("维修人员"), required=True, message=_l("请选择维修人员"))
    note = StringField(_l("说明"), validators=[Optional(), Length(max=500)])


class TransferForm(FlaskForm):
    department_id = choice_field(_l("转给哪个处"), description=_l("只换维修人员时可不选"))
    assignee_id = choice_field(_l("转给维修人员"))
    reason = TextAreaField(_l("转单原因"), validators=[DataRequired(message=_l("请填写转单原因"))])


class ItemForm(Form):
    name = StringField(_l("物品名称"))
    spec = StringField(_l("规格"))
    quantity = StringField(_l("数量"))
    unit = StringField(_l("单位"))


class ReportDelayForm(FlaskForm):
    kind = SelectField(_l("延期原因类别"), choices=_choices(DelayKind))
    reason = TextAreaField(_l("原因"), validators=[DataRequired(message=_l("请填写延期原因"))])
    new_due_at = LocalDateTimeField(_l("新的回单期限"), description=_l("由总值班室确定;不填则按原期限(缺料期间计时暂停)"))
    items = FieldList(FormField(ItemForm), label=_l("请购物品(缺材料时填写)"), min_entries=4)


class StartForm(FlaskForm):
    fee_standard_id = choice_field(_l("收费标准项目"), select2=True, description=_l("有偿维修按收费标准报价"))
    fee_quantity = StringField(_l("数量"), description=_l("按收费标准的计价单位,默认 1"))
    quoted_amount = StringField(_l("报价(元)"), description=_l("不填则按收费标准 × 数量计算"))
    owner_consent = BooleanField(_l("业主已认可报价"))
    started_at = LocalDateTimeField(_l("开工时间"), description=_l("不填为现在"))


class MaterialForm(Form):
    name = StringField(_l("名称"))
    provider = SelectField(_l("材料提供方"), choices=[("company", _l("公司")), ("owner", _l("业主"))], default="company")
    spec = StringField(_l("规格"))
    quantity = StringField(_l("数量"))
    unit_price = StringField(_l("单价(元)"))


class CompleteForm(FlaskForm):
    cause = TextAreaField(_l("造成维修原因、责任"), validators=[DataRequired(message=_l("请填写造成维修原因、责任"))])
    work_hours = StringField(_l("维修工时(小时)"), validators=[DataRequired(message=_l("请填写维修工时(小时)"))])
    service_fee = StringField(_l("服务费(元)"), description=_l("有偿维修不填则按报价;无偿填 0"))
    completed_at = LocalDateTimeField(_l("完工时间"), description=_l("不填为现在"))
    materials = FieldList(FormField(MaterialForm), label=_l("使用维修材料"), min_entries=5)


class SignOffForm(FlaskForm):
    signed_by = StringField(_l("业户签字"), validators=[DataRequired(message=_l("请填写签字确认的业户姓名"))])
    satisfied = SelectField(_l("验收意见"), choices=[("1", _l("满意")), ("0", _l("不满意"))], default="1")
    signed_at = LocalDateTimeField(_l("验收时间"), description=_l("不填为现在"))
    note = StringField(_l("说明"), validators=[Optional(), Length(max=500)])


class RejectForm(FlaskForm):
    reason = TextAreaField(_l("退单理由"), validators=[DataRequired(message=_l("退单必须写明理由"))])


class ApproveRejectForm(FlaskForm):
    approved = SelectField(_l("签署意见"), choices=[("1", _l("同意退单")), ("0", _l("不同意,退回原处继续处理"))], default="1")
    opinion = TextAreaField(_l("意见"), validators=[Optional(), Length(max=1000)])


class CancelForm(FlaskForm):
    reason = TextAreaField(_l("取消原因"), validators=[DataRequired(message=_l("请填写取消原因"))])


class UrgeForm(FlaskForm):
    by = StringField(_l("催单人"), validators=[Optional(), Length(max=40)], description=_l("如业户本人、接待员"))
    note = StringField(_l("催单内容"), validators=[Optional(), Length(max=500)])


class MergeForm(FlaskForm):
    into_id = choice_field(_l("合并到维修单"), required=True, message=_l("请选择要合并到的维修单"), select2=True)


class RectifyForm(FlaskForm):
    notice = TextAreaField(_l("整改通知"), validators=[DataRequired(message=_l("请填写整改通知内容"))])


class NoteForm(FlaskForm):
    note = StringField(_l("说明"), validators=[Optional(), Length(max=500)])


TRANSITION_FORMS = {
    "dispatch": DispatchForm,
    "accept": AcceptForm,
    "assign": AssignForm,
    "transfer": TransferForm,
    "report_delay": ReportDelayForm,
    "start": StartForm,
    "complete": CompleteForm,
    "sign_off": SignOffForm,
    "reject": RejectForm,
    "approve_reject": ApproveRejectForm,
    "cancel": CancelForm,
    "urge": UrgeForm,
    "merge": MergeForm,
    "rectify": RectifyForm,
}

# Sub-form fields and their labels, for naming a bad value in a material or item line.
LINE_LABELS = {
    "name": _l("名称"),
    "provider": _l("材料提供方"),
    "spec": _l("规格"),
    "quantity": _l("数量"),
    "unit_price": _l("单价"),
    "unit": _l("单位"),
}


class BuyForm(FlaskForm):
    note = StringField(_l("说明"), validators=[Optional(), Length(max=500)], description=_l("如供货商、到货时间"))


class UnavailableForm(FlaskForm):
    reason = TextAreaField(_l("买不到的原因"), validators=[DataRequired(message=_l("请说明买不到的原因"))])


class RequisitionCancelForm(FlaskForm):
    reason = TextAreaField(_l("撤销原因"), validators=[DataRequired(message=_l("请填写撤销原因"))])


REQUISITION_FORMS = {"buy": BuyForm, "report_unavailable": UnavailableForm, "cancel": RequisitionCancelForm}

__all__ = ["MaterialProvider", "REGISTER_COLUMNS", "RegisterForm", "TRANSITION_FORMS", "REQUISITION_FORMS", "LINE_LABELS"]

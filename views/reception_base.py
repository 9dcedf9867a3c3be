"""What the reception screens share: the interface that runs a record's `on_created` in the same
transaction, REST resources that create and correct records through the model's own parsing (Chinese
errors naming the field) and offer the one-click follow-ups, local-time form fields, estate-scoped
dropdowns, record pages with their history and links, and the follow-up pages."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from flask import abort, request, url_for
from flask_appbuilder.api import expose as api_expose
from flask_appbuilder.api import protect, safe
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.scope import ScopedInterface, allowed_estate_ids, scope_condition
from models.base import TZ, DomainError, ValidationError, utcnow
from models.master import Department, Staff, staff_estate
from models.reception_common import installed_model
from views.base import PERMISSION_MAP, AreaFilter, current_actor
from views.documents import DocumentViewMixin
from views.fields import LocalDateTimeField, LocalDateTimeWidget  # noqa: F401  (re-exported)
from views.rest import BadRequest, ScopedModelRestApi

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------- shared machinery
class RecordInterface(ScopedInterface):
    """Adds a record and runs its `on_created` (tasks, who received it) in one transaction."""

    def after_write(self, item, session) -> None:
        if not sa_inspect(item).pending:
            return  # a correction of a record already saved
        session.flush()
        if hasattr(item, "on_created"):
            item.on_created(session, current_actor(), utcnow())
            session.flush()


class RecordApi(ScopedModelRestApi):
    """Create (POST) through the model's `register`, correct (PUT) through its `amend`.

    The model parses every field itself, so a missing, malformed or unknown field is answered
    with a Chinese message naming it, and nothing is written."""

    method_permission_name = PERMISSION_MAP | {"report": "read"}

    def post_headless(self):
        return self.write_response(self._register)

    def put_headless(self, pk):
        return self.write_response(self._amend, pk)

    def _register(self, body, _item):
        session = self.datamodel.session
        item = self.datamodel.obj.register(session, current_actor(), utcnow(), body)
        session.commit()
        return item

    def _amend(self, body, item):
        item.amend(self.datamodel.session, body)
        self.datamodel.edit(item)
        return item


class FollowUpApi(RecordApi):
    """`POST /<id>/register_repair` and `/<id>/register_complaint`: the one-click follow-ups over REST."""

    method_permission_name = RecordApi.method_permission_name | {"register_repair": "write", "register_complaint": "write"}

    def _follow_up(self, pk: int, kind: str):
        from models.reception_desk import register_complaint_from, register_repair_from

        session = self.datamodel.session
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            return self.response_404()
        try:
            body = self.json_body() if request.data else {}
            if not isinstance(body, dict):
                raise ValidationError("body", _l("请求体必须是 JSON 对象"))
            register = register_repair_from if kind == "repair" else register_complaint_from
            created = register(session, current_actor(), utcnow(), item, **body)
            session.commit()
        except BadRequest as err:
            return self.response_400(message=err.message)
        except DomainError as error:
            return self._domain_response(error)
        except TypeError as error:  # a key the follow-up does not take
            session.rollback()
            return self.response_422(message={"body": [str(_l("请求参数不正确:%(e)s", e=str(error).split("argument")[-1].strip()))]})
        session.refresh(item)
        return self.response(
            201,
            id=item.id,
            result=self.show_model_schema.dump(item),
            created={"object_type": created.__tablename__, "id": created.id, "number": getattr(created, "number", None)},
        )

    @api_expose("/<int:pk>/register_repair", methods=["POST"])
    @protect()
    @safe
    @permission_name("register_repair")
    def register_repair(self, pk: int):
        """Register a repair order from this record (owner, unit, phone and text filled in)
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    category: {type: string}
                    urgency: {type: string}
                    emergency_reason: {type: string}
                    paid: {type: boolean}
                    appointment_at: {type: string}
                    location: {type: string}
          responses:
            201:
              description: the record (with repair_order_id) and the order created
        """
        return self._follow_up(pk, "repair")

    @api_expose("/<int:pk>/register_complaint", methods=["POST"])
    @protect()
    @safe
    @permission_name("register_complaint")
    def register_complaint(self, pk: int):
        """Register a complaint from this record (channel, owner, unit, phone and text filled in)
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    category: {type: string}
                    content: {type: string}
          responses:
            201:
              description: the record (with complaint_id) and the complaint created
        """
        return self._follow_up(pk, "complaint")


class FilterUserEstates(AreaFilter):
    """Dropdowns list only what belongs to the user's estates."""

    name = "scope"
    arg_name = "scope"

    def apply(self, query, value):
        cond = scope_condition(self.model, allowed_estate_ids())
        return query if cond is None else query.filter(cond)


class FilterStaffOfUserEstates(AreaFilter):
    """Active staff working for one of the user's estates."""

    name = "staff scope"
    arg_name = "staffscope"

    def apply(self, query, value):
        query = query.filter(Staff.active.is_(True))
        ids = allowed_estate_ids()
        if ids is None:
            return query
        return query.filter(Staff.id.in_(select(staff_estate.c.staff_id).where(staff_estate.c.estate_id.in_(ids or {0}))))


SCOPED_REL = [["id", FilterUserEstates, None]]
STAFF_REL = [["id", FilterStaffOfUserEstates, None]]


def enum_select(enum_cls, label, required=True):
    choices = enum_cls.choices() if required else [("", "—")] + enum_cls.choices()
    return SelectField(label, choices=choices, validators=[DataRequired()] if required else [Optional()])


def staff_choices(estate_id: int | None, blank: bool = True) -> list[tuple[str, str]]:
    from app.extensions import db

    query = select(Staff).where(Staff.active.is_(True)).order_by(Staff.name)
    if estate_id is not None:
        query = query.where(Staff.id.in_(select(staff_estate.c.staff_id).where(staff_estate.c.estate_id == estate_id)))
    people = db.session.scalars(query).all()
    choices = [(str(s.id), f"{s.name}({s.department.name})" if s.department else s.name) for s in people]
    return ([("", "—")] if blank else []) + choices


def department_choices(estate_id: int | None) -> list[tuple[str, str]]:
    from app.extensions import db

    query = select(Department).order_by(Department.name)
    if estate_id is not None:
        query = query.where((Department.estate_id == estate_id) | Department.estate_id.is_(None))
    return [("", "—")] + [
        (str(d.id), _("%(dept)s(负责人:%(head)s)", dept=d.name, head=d.head.name) if d.head else d.name) for d in db.session.scalars(query).all()
    ]


def parse_day(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


def day_range(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) Asia/Shanghai as aware datetimes."""
    return datetime.combine(start, time.min, TZ), datetime.combine(end + timedelta(days=1), time.min, TZ)


class RecordViewMixin(DocumentViewMixin):
    """Reception screens: the record with its one-click follow-ups, links and history; lists with the
    print (接待记录表, with `list_print`) and export bar."""

    show_template = "wuye/reception_show.html"
    list_template = "wuye/reception_list.html"


# ---------------------------------------------------------------- one-click follow-ups
FOLLOW_UP_KINDS = {"repair": (_l("登记维修单"), "fa-wrench"), "complaint": (_l("登记投诉"), "fa-bullhorn")}


def follow_up_form(kind: str, record):
    """The few things the clerk adds to register a repair order or a complaint from a record."""
    from models.reception_desk import FOLLOW_UP, record_phone

    spec = FOLLOW_UP[record.__tablename__]
    text = getattr(record, spec["text"]) or getattr(record, "suggestions", None) or ""
    who = getattr(record, spec["name"]) if spec["name"] else ""
    filled = _("自动带入:%(who)s %(place)s 电话 %(phone)s", who=who or "", place=str(record.unit or ""), phone=record_phone(record) or "—")
    if kind == "repair":
        from models.repair import EmergencyReason, RepairCategory, RepairKind, Urgency

        class RepairFollowUp(FlaskForm):
            problem = TextAreaField(_l("报修内容"), default=text, description=filled, validators=[DataRequired(message=_l("请填写报修内容"))])
            category = SelectField(_l("维修类别"), choices=RepairCategory.choices(), validators=[DataRequired()])
            kind = SelectField(_l("维修/服务"), choices=RepairKind.choices(), validators=[DataRequired()])
            urgency = SelectField(_l("紧急程度"), choices=Urgency.choices(), validators=[DataRequired()])
            emergency_reason = SelectField(_l("急修原因"), choices=[("", "—")] + EmergencyReason.choices(), validators=[Optional()])
            paid = BooleanField(_l("有偿服务"))
            appointment_at = LocalDateTimeField(_l("预约维修时间"), validators=[Optional()])
            location = StringField(_l("位置"), validators=[Optional(), Length(max=200)], description=_l("公共区域报修必填"))

        return RepairFollowUp()
    from models.complaint import ComplaintCategory

    class ComplaintFollowUp(FlaskForm):
        content = TextAreaField(_l("投诉内容"), default=text, description=filled, validators=[DataRequired(message=_l("请填写投诉内容"))])
        category = SelectField(_l("投诉类别"), choices=ComplaintCategory.choices(), validators=[DataRequired()])

    return ComplaintFollowUp()


class FollowUpViewMixin:
    """登记维修单 / 登记投诉 from a record's page: owner, unit, phone and text filled in, linked both ways."""

    def follow_up_kinds(self, item) -> list[str]:
        sm = self.appbuilder.sm
        kinds = []
        if item.repair_order_id is None and installed_model("models.repair", "RepairOrder") is not None and sm.has_access("can_write", "RepairOrder"):
            kinds.append("repair")
        if item.complaint_id is None and installed_model("models.complaint", "Complaint") is not None and sm.has_access("can_write", "Complaint"):
            kinds.append("complaint")
        if not sm.has_access("can_write", self.class_permission_name):
            return []
        return kinds

    def show_buttons(self, item):
        name = self.__class__.__name__
        return [
            (FOLLOW_UP_KINDS[k][0], url_for(f"{name}.follow_up", pk=item.id, kind=k), FOLLOW_UP_KINDS[k][1])
            for k in self.follow_up_kinds(item)
        ]

    def show_links(self, item):
        from views.reception_desk import show_url

        links = []
        order_cls = installed_model("models.repair", "RepairOrder")
        if item.repair_order_id and order_cls is not None:
            order = self.datamodel.session.get(order_cls, item.repair_order_id)
            if order is not None:
                links.append((_("维修单 %(n)s(%(s)s)", n=order.number, s=order.status_label), show_url("repair_order", order.id)))
        complaint_cls = installed_model("models.complaint", "Complaint")
        if item.complaint_id and complaint_cls is not None:
            complaint = self.datamodel.session.get(complaint_cls, item.complaint_id)
            if complaint is not None:
                links.append((_("投诉 %(n)s(%(s)s)", n=str(complaint), s=complaint.status_label), show_url("complaint", complaint.id)))
        return links

    @expose("/follow_up/<int:pk>/<string:kind>", methods=["GET", "POST"])
    @has_access
    @permission_name("follow_up")
    def follow_up(self, pk, kind):
        from types import SimpleNamespace

        from flask import flash, redirect

        from models.reception_desk import register_complaint_from, register_repair_from
        from views.reception_desk import show_url

        item = self.datamodel.get(pk, self._base_filters)
        if item is None or kind not in FOLLOW_UP_KINDS:
            abort(404)
        if kind not in self.follow_up_kinds(item):
            flash(_("该记录已登记过,或您没有登记的权限"), "warning")
            return redirect(url_for(f"{self.__class__.__name__}.show", pk=pk))
        form = follow_up_form(kind, item)
        transition = SimpleNamespace(label=FOLLOW_UP_KINDS[kind][0])
        if request.method == "POST" and form.validate():
            params = {k: v for k, v in form.data.items() if k != "csrf_token"}
            session = self.datamodel.session
            try:
                if kind == "repair":
                    created = register_repair_from(session, current_actor(), utcnow(), item, **params)
                else:
                    created = register_complaint_from(session, current_actor(), utcnow(), item, **params)
                session.commit()
            except DomainError as error:
                session.rollback()
                field = getattr(form, error.field, None) if error.field else None
                if field is not None:
                    field.errors = list(field.errors or []) + [error.message]
                else:
                    flash(error.message, "danger")
            else:
                flash(_("已登记 %(what)s", what=str(created)), "success")
                target = show_url(created.__tablename__, created.id)
                return redirect(target or url_for(f"{self.__class__.__name__}.show", pk=pk))
        return self.render_template("wuye/transition_form.html", form=form, items=[item], transition=transition, view=self)


RECEPTION_LABELS = {
    "estate": _l("小区/大厦"),
    "estate_id": _l("小区/大厦"),
    "unit_id": _l("房屋"),
    "owner_id": _l("业户"),
    "repair_order_id": _l("维修单"),
    "complaint_id": _l("投诉"),
    "unit": _l("房屋"),
    "place": _l("房屋"),
    "owner": _l("业户"),
    "category": _l("类别"),
    "category_label": _l("类别"),
    "status": _l("状态"),
    "status_label": _l("状态"),
    "period": _l("月份"),
    "created_on": _l("登记时间"),
    "changed_on": _l("修改时间"),
    "created_by": _l("登记人"),
}

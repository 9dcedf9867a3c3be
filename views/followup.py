"""回访与投诉 (FollowUp): what the revisit and complaint screens share, and their registration.

- `BodyApi`: REST create/update that parses the JSON body field by field with the model's rules,
  so a missing, malformed or unknown field is answered in Chinese naming it, and nothing is written.
- form fields in Asia/Shanghai time, estate-scoped dropdowns, the show page with the event log.
"""

from __future__ import annotations

import logging
from datetime import date

from flask_appbuilder.fieldwidgets import BS3TextAreaFieldWidget, Select2Widget
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Optional

from app.scope import allowed_estate_ids, scope_condition
from models.base import ValidationError, parse_int
from models.master import Department
from models.reception_common import opt_text
from views.base import PERMISSION_MAP, AreaFilter
from views.documents import DocumentViewMixin
from views.fields import LocalDateField, LocalDateTimeField, LocalDateTimeWidget  # noqa: F401  (re-exported)
from views.rest import BadRequest, ScopedModelRestApi

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- REST bodies
def read_body(obj, body, parsers: dict, required: tuple[str, ...] = (), partial: bool = False) -> set[str]:
    """Set the fields of `obj` from a JSON body with one parser per field `(field, value) -> value`."""
    if not isinstance(body, dict):
        raise BadRequest(_("请求体必须是 JSON 对象"))
    unknown = [k for k in body if k not in parsers]
    if unknown:
        raise ValidationError(unknown[0], _l("未知字段 %(f)s;可以填写:%(fields)s", f=unknown[0], fields=", ".join(parsers)))
    if not partial:
        for field in required:
            if body.get(field) in (None, ""):
                raise ValidationError(field, _l("请填写此项"))
    for key, value in body.items():
        setattr(obj, key, parsers[key](key, value))
    return set(body)


def p_int(field, value):
    return parse_int(field, value, required=False)


p_text = opt_text  # optional text of at most n characters


def p_code(enum_cls):
    def parse(field, value):
        if value is None or value == "":
            return None
        codes = [m.value for m in enum_cls]
        if value not in codes:
            raise ValidationError(field, _l("取值不正确,可选:%(codes)s", codes=", ".join(codes)))
        return value

    return parse


def p_datetime(field, value):
    from models.base import parse_dt

    return parse_dt(field, value)


def p_date(field, value):
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10]) if len(value.strip()) == 10 else date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError(field, _l("日期格式不正确,应为 YYYY-MM-DD,如 2026-11-29"))


class BodyApi(ScopedModelRestApi):
    """POST/PUT through `body_parsers` (Chinese errors naming the field), then the scoped interface
    (estate rules, the model's `validate`) in one transaction."""

    body_parsers: dict = {}
    body_required: tuple[str, ...] = ()
    edit_parsers: dict | None = None

    def new_item(self):
        return self.datamodel.obj()

    def post_headless(self):
        return self.write_response(self._create)

    def put_headless(self, pk):
        return self.write_response(self._correct, pk)

    def _create(self, body, _item):
        item = self.new_item()
        read_body(item, body, self.body_parsers, self.body_required)
        self.datamodel.add(item)
        return item

    def _correct(self, body, item):
        if isinstance(body, dict):
            version = body.pop("version", None)
            if version is not None:
                from models.base import check_version

                check_version(item, version)
        with self.datamodel.session.no_autoflush:
            read_body(item, body, self.edit_parsers if self.edit_parsers is not None else self.body_parsers, partial=True)
        self.datamodel.edit(item)
        return item


# ---------------------------------------------------------------- forms
def enum_select(enum_cls, label, required: bool = True, blank=None):
    choices = enum_cls.choices() if required and blank is None else [("", blank or "—")] + enum_cls.choices()
    validators = [DataRequired(message=_l("请选择"))] if required else [Optional()]
    return SelectField(label, choices=choices, validators=validators, widget=Select2Widget())


def text_area(label, required_message=None, **kw):
    validators = [DataRequired(message=required_message)] if required_message else [Optional()]
    return TextAreaField(label, validators=validators, widget=BS3TextAreaFieldWidget(), **kw)


class FilterUserEstates(AreaFilter):
    """Dropdowns list only what belongs to the user's estates."""

    name = "scope"
    arg_name = "scope"

    def apply(self, query, value):
        cond = scope_condition(self.model, allowed_estate_ids())
        return query if cond is None else query.filter(cond)


SCOPED_REL = [["id", FilterUserEstates, None]]


def department_choices(estate_id: int | None) -> list[tuple[str, str]]:
    from app.extensions import db

    query = select(Department).order_by(Department.name)
    if estate_id is not None:
        query = query.where((Department.estate_id == estate_id) | Department.estate_id.is_(None))
    return [("", "—")] + [(str(d.id), _("%(dept)s(负责人:%(head)s)", dept=d.name, head=d.head.name) if d.head else d.name) for d in db.session.scalars(query)]


class EventLogMixin(DocumentViewMixin):
    """Follow-up screens: the record with its related follow-up and 处理记录 (event log); lists with an Excel export."""

    show_template = "wuye/followup_show.html"
    list_template = "wuye/followup_list.html"


FOLLOWUP_PERMISSIONS = PERMISSION_MAP


def register(appbuilder) -> None:
    from views import complaint, revisit

    revisit.register(appbuilder)
    complaint.register(appbuilder)

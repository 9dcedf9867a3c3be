"""Form fields every screen shares: times entered and shown as Asia/Shanghai wall time; multiple
selects of related records that refuse unknown ids."""

from __future__ import annotations

from datetime import datetime

from flask_appbuilder import fields as fab_fields
from flask_babel import gettext as _
from markupsafe import Markup
from wtforms import DateField, DateTimeField
from wtforms.fields.core import UnboundField
from wtforms.validators import Optional
from wtforms.widgets import html_params

from models.base import TZ, local, person_name


class LocalDateTimeWidget:
    """The browser's own date-and-time input (datetime-local): a calendar and a time picker, and typing
    in fixed parts, so a clerk cannot enter a time the server does not understand."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        kwargs.setdefault("name", field.name)
        classes = ["form-control"] + [c for c in str(kwargs.pop("class", "")).split() if c != "form-control"]
        return Markup(f"<input {html_params(type='datetime-local', value=field._value(), class_=' '.join(classes), **kwargs)}>")


class LocalDateTimeField(DateTimeField):
    """A time entered and shown as Asia/Shanghai wall time (the stored value is UTC); empty is allowed
    unless the validators say otherwise."""

    widget = LocalDateTimeWidget()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("format", ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"])
        super().__init__(label, validators or [Optional()], **kwargs)

    def _value(self):
        if isinstance(self.data, datetime):
            return local(self.data).strftime("%Y-%m-%dT%H:%M")
        return " ".join(self.raw_data) if self.raw_data else ""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_("时间格式不正确,应为 2026-11-29 14:30")) from exc
        if isinstance(self.data, datetime) and self.data.tzinfo is None:
            self.data = self.data.replace(tzinfo=TZ)


class LocalDateField(DateField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_("日期格式不正确,应为 2026-11-29")) from exc


def login_label(user) -> str:
    """A login in a choice list: the name as Chinese offices write it, and the user name (two people
    may share a name)."""
    name = person_name(user)
    return name if name == user.username else f"{name}({user.username})"


class StrictQuerySelectMultipleField(fab_fields.QuerySelectMultipleField):
    """FAB's multiple select of related records, refusing a submitted id that is not among the choices
    (a record deleted meanwhile, a crafted request): FAB looks for such ids before it reads the
    submitted ones, so it dropped them and saved the rest."""

    def pre_validate(self, form):
        self._get_data()  # reads the submitted ids, marking those not among the choices
        super().pre_validate(form)


def strict_multiple_selects(*forms) -> None:
    """Every multiple select of related records in these generated forms refuses unknown ids."""
    for form in forms:
        for name in dir(form):
            field = getattr(form, name, None)
            if isinstance(field, UnboundField) and field.field_class is fab_fields.QuerySelectMultipleField:
                field.field_class = StrictQuerySelectMultipleField

"""Form fields every screen shares: times typed and shown as Asia/Shanghai wall time."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from markupsafe import Markup
from wtforms import DateField, DateTimeField
from wtforms.widgets import html_params

from models.base import TZ, fmt_dt


class LocalDateTimeWidget:
    """FAB's date-time picker showing the value in Asia/Shanghai without seconds."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        kwargs.setdefault("name", field.name)
        return Markup(
            '<div class="input-group date appbuilder_datetime" data-provide="datepicker">'
            '<span class="input-group-addon"><i class="fa fa-calendar cursor-hand"></i></span>'
            f'<input class="form-control" data-format="yyyy-MM-dd hh:mm" {html_params(type="text", value=field._value(), **kwargs)} />'
            "</div>"
        )


class LocalDateTimeField(DateTimeField):
    """A time typed as Asia/Shanghai wall time, shown the same way."""

    widget = LocalDateTimeWidget()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("format", ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"])
        super().__init__(label, validators, **kwargs)

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        return fmt_dt(self.data) if isinstance(self.data, datetime) else ""

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

"""Job run records and the administrator's settings."""

from __future__ import annotations

import json
from datetime import datetime

from flask import current_app
from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from models.base import LabeledEnum, UTCDateTime, ValidationError, code_column, fmt_dt


class RunOutcome(LabeledEnum):
    running = "running"
    ok = "ok"
    failed = "failed"

    @classmethod
    def labels(cls):
        return {"running": _l("运行中"), "ok": _l("成功"), "failed": _l("失败")}


class JobRun(Model):
    """One run of a scheduled job: name, as-of time, start, end, outcome, counts, error."""

    __tablename__ = "job_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = code_column(RunOutcome, nullable=False, default="running")
    summary: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"{self.name} {fmt_dt(self.as_of)}"

    @property
    def outcome_label(self) -> str:
        return RunOutcome.label_of(self.outcome)

    @property
    def summary_text(self) -> str:
        return "、".join(f"{k} {v}" for k, v in json.loads(self.summary).items()) if self.summary else ""


SETTINGS = {
    # key: (label, type, config default key)
    "pickup_hours": (_l("取单时限(小时)"), int, "PICKUP_HOURS"),
    "return_days": (_l("回单时限(天)"), int, "RETURN_DAYS"),
    "material_report_days": (_l("缺料上报时限(天)"), int, "MATERIAL_REPORT_DAYS"),
    "purchase_days": (_l("采购时限(天)"), int, "PURCHASE_DAYS"),
    "urge_cooldown_minutes": (_l("催单间隔(分钟)"), int, "URGE_COOLDOWN_MINUTES"),
    "rectify_hours": (_l("整改通知时限(小时)"), int, "RECTIFY_HOURS"),
    "complaint_reply_hours": (_l("投诉答复时限(小时)"), int, "COMPLAINT_REPLY_HOURS"),
    "price_margin_limit": (_l("便民服务利润率上限"), str, "PRICE_MARGIN_LIMIT"),
}


class Setting(Model):
    """A business setting the administrator may change (defaults come from config)."""

    __tablename__ = "setting"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    value: Mapped[str] = mapped_column(String(200), nullable=False)

    def __repr__(self) -> str:
        return self.key

    @property
    def label(self) -> str:
        return str(SETTINGS[self.key][0]) if self.key in SETTINGS else self.key

    def validate(self, session) -> None:
        if self.key not in SETTINGS:
            raise ValidationError("key", _l("未知的参数"))
        kind = SETTINGS[self.key][1]
        try:
            value = kind(self.value)
        except (TypeError, ValueError) as exc:
            raise ValidationError("value", _l("参数值格式不正确")) from exc
        if kind is int and value < 0:
            raise ValidationError("value", _l("参数值不能为负数"))


def setting(session, key: str):
    """The current value of a setting: the database row, else the config default."""
    label, kind, config_key = SETTINGS[key]
    row = session.scalar(select(Setting.value).where(Setting.key == key))
    return kind(row) if row is not None else kind(current_app.config[config_key])

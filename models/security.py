"""Failed logins: the audit trail behind the temporary lock-out (app.security)."""

from __future__ import annotations

from datetime import datetime

from flask_appbuilder.models.sqla import Model
from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import UTCDateTime, fmt_dt, utcnow


class LoginFailure(Model):
    """One failed login attempt (page or API), kept per user name whether or not the name exists."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_name_at", "username", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(10), nullable=False, default="web")

    def __repr__(self) -> str:
        return f"{self.username} {fmt_dt(self.at)}"

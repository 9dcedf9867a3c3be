"""Failed logins: the audit trail behind the temporary lock-out (app.security)."""

from __future__ import annotations

from datetime import datetime

from flask_appbuilder.models.sqla import Model
from sqlalchemy import DDL, BigInteger, Index, String, event
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


class SecurityStamp(Model):
    """One row whose number every transaction changes that changes roles' permissions or who works
    for which estate: the processes keep those per role and per user while the number stays the
    same (app/security_stamp.py), and read the number with the user on every request. A new number
    is drawn at random, not counted up: a database restored from a backup does not meet a number
    it had before."""

    __tablename__ = "security_stamp"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=1)

    def __repr__(self) -> str:
        return f"security stamp {self.version}"


# a schema made by create_all (tests, the benchmark) starts with the row the migration inserts
event.listen(SecurityStamp.__table__, "after_create", DDL("INSERT INTO security_stamp (id, version) VALUES (1, 1)"))

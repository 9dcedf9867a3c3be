"""Staff sign-in and sign-out at the office (便民 一.2): report to the 管理处 before going out to
work and sign in again when the work is done; the daily sheet shows who did."""

from __future__ import annotations

from datetime import date, datetime

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import EstateOwned, UTCDateTime, ValidationError, fmt_dt, local, local_date, parse_text

SHEET_DEPARTMENTS = ("service", "management")  # staff expected on the office's daily sheet


class Attendance(EstateOwned, Model):
    """One staff member's day: reported at, what they went out to do, back at, what was done."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("staff_id", "work_date", name="uq_attendance_staff_day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), nullable=False, index=True)
    work_date: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    signed_in_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    plan: Mapped[str | None] = mapped_column(String(300))
    signed_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[str | None] = mapped_column(String(300))
    staff = relationship("Staff", foreign_keys=[staff_id], lazy="joined")

    def __repr__(self) -> str:
        return f"{self.staff.name if self.staff else ''} {self.work_date}"

    @property
    def state_label(self) -> str:
        return str(_l("已签退")) if self.signed_out_at else str(_l("外出工作中"))

    @property
    def hours(self) -> str:
        if not self.signed_out_at:
            return ""
        minutes = int((self.signed_out_at - self.signed_in_at).total_seconds() // 60)
        return f"{minutes // 60}:{minutes % 60:02d}"


def today_record(session, staff_id: int, now: datetime) -> Attendance | None:
    return session.scalar(
        select(Attendance).where(Attendance.staff_id == staff_id, Attendance.work_date == local_date(now))
    )


def sign_in(session, staff, now: datetime, estate_id: int | None = None, plan=None) -> Attendance:
    """报到: once a day, at one of the staff member's estates. The caller commits."""
    if staff is None:
        raise ValidationError("staff_id", _l("您的账号没有关联员工档案,不能签到"))
    estates = staff.estate_ids
    if estate_id in (None, ""):
        if len(estates) != 1:
            raise ValidationError("estate_id", _l("请选择报到的管理处(小区/大厦)"))
        estate_id = next(iter(estates))
    try:
        estate_id = int(estate_id)
    except (TypeError, ValueError):
        raise ValidationError("estate_id", _l("小区/大厦编号不正确")) from None
    if estates and estate_id not in estates:
        raise ValidationError("estate_id", _l("您不在该小区/大厦工作"))
    existing = today_record(session, staff.id, now)
    if existing is not None:
        raise ValidationError("signed_in_at", _l("今天已于 %(t)s 报到", t=f"{local(existing.signed_in_at):%H:%M}"))
    record = Attendance(staff_id=staff.id, staff=staff, estate_id=estate_id, work_date=local_date(now),
                        signed_in_at=now, plan=parse_text("plan", plan, 300))
    session.add(record)
    session.flush()
    return record


def sign_out(session, staff, now: datetime, summary=None) -> Attendance:
    """工作结束后签到: closes today's record. The caller commits."""
    if staff is None:
        raise ValidationError("staff_id", _l("您的账号没有关联员工档案,不能签退"))
    record = today_record(session, staff.id, now)
    if record is None:
        raise ValidationError("signed_out_at", _l("今天还没有报到,不能签退"))
    if record.signed_out_at is not None:
        raise ValidationError("signed_out_at", _l("今天已于 %(t)s 签退", t=f"{local(record.signed_out_at):%H:%M}"))
    record.signed_out_at = now
    record.summary = parse_text("summary", summary, 300)
    session.flush()
    return record


def daily_sheet(session, estate_id: int, day: date) -> list[dict]:
    """The office's sheet for a day: everyone who reported, and the office staff who did not."""
    from models.master import Department, Staff, staff_estate

    records = {
        r.staff_id: r
        for r in session.scalars(select(Attendance).where(Attendance.estate_id == estate_id, Attendance.work_date == day))
    }
    expected = session.scalars(
        select(Staff)
        .join(staff_estate, staff_estate.c.staff_id == Staff.id)
        .join(Department, Department.id == Staff.department_id)
        .where(staff_estate.c.estate_id == estate_id, Staff.active.is_(True), Department.kind.in_(SHEET_DEPARTMENTS))
    ).all()
    people = {s.id: s for s in expected}
    people.update({r.staff_id: r.staff for r in records.values()})
    rows = []
    for staff in sorted(people.values(), key=lambda s: s.name):
        r = records.get(staff.id)
        rows.append({
            "staff": staff.name,
            "department": staff.department.name if staff.department else "",
            "signed_in": fmt_dt(r.signed_in_at)[-5:] if r else "",
            "plan": (r.plan or "") if r else "",
            "signed_out": fmt_dt(r.signed_out_at)[-5:] if r and r.signed_out_at else "",
            "summary": (r.summary or "") if r else "",
            "hours": r.hours if r else "",
            "state": r.state_label if r else str(_l("未报到")),
        })
    return rows

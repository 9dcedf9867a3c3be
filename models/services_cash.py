"""Cash handed to finance (便民 二.4(8)): what service staff collected on deliveries, counted in
by finance with the difference kept (短款/长款), and the monthly reconciliation per staff member."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, String, func, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    AuditMixinNullable,
    DomainError,
    EstateOwned,
    Money,
    UTCDateTime,
    ValidationError,
    fmt_dt,
    money,
    parse_dt,
    parse_int,
    parse_money,
    utcnow,
)
from models.billing import period_bounds, period_of
from models.services_delivery import ServiceDelivery
from models.workflow import Actor


# ---------------------------------------------------------------- cash handed to finance
class CashHandover(EstateOwned, AuditMixinNullable, Model):
    """Cash collected by service staff handed to finance (便民 二.4(8)); the difference is kept."""

    __tablename__ = "cash_handover"
    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), nullable=False, index=True)
    handed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    collected: Mapped[Decimal] = mapped_column(Money, nullable=False)
    handed_in: Mapped[Decimal] = mapped_column(Money, nullable=False)
    receipt_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    note: Mapped[str | None] = mapped_column(String(300))
    staff = relationship("Staff", foreign_keys=[staff_id], lazy="joined")
    received_by = relationship("User", foreign_keys=[received_by_id])
    deliveries = relationship("ServiceDelivery", back_populates="handover", foreign_keys="ServiceDelivery.handover_id")

    def __repr__(self) -> str:
        return f"{self.staff.name if self.staff else ''} {fmt_dt(self.handed_at)}"

    @property
    def difference(self) -> Decimal:
        """Handed in minus collected: negative is 短款, positive 长款."""
        return money(self.handed_in) - money(self.collected)

    @property
    def result_label(self) -> str:
        diff = self.difference
        if diff == 0:
            return str(_l("相符"))
        if diff < 0:
            return str(_l("短款 %(a)s", a=f"{-diff:.2f}"))
        return str(_l("长款 %(a)s", a=f"{diff:.2f}"))

    @property
    def period(self) -> str:
        return period_of(self.handed_at) if self.handed_at else ""

    @property
    def delivery_count(self) -> int:
        return len(self.deliveries)

    def validate(self, session) -> None:
        """On registering: the cash counted, every outstanding cash delivery of the staff member
        settled by it, and what they collected; afterwards only the note may change."""
        from models.base import current_user_id
        from models.master import Staff

        if self.note is not None and not isinstance(self.note, str):
            raise ValidationError("note", _l("备注必须是文字"))
        self.note = (self.note or "").strip()[:300] or None
        if self.id is not None:
            committed = session.execute(
                select(CashHandover.staff_id, CashHandover.handed_in, CashHandover.estate_id, CashHandover.receipt_no)
                .where(CashHandover.id == self.id)
            ).one()
            if (self.staff_id, money(self.handed_in), self.estate_id, self.receipt_no) != (
                committed[0], money(committed[1]), committed[2], committed[3]
            ):
                raise DomainError(_l("交款已登记,只能修改备注;金额有误请另行登记差额"))
            return
        now = utcnow()
        staff_id = parse_int("staff_id", self.staff_id if self.staff_id is not None else (self.staff.id if self.staff else None))
        staff = session.get(Staff, staff_id)
        if staff is None:
            raise ValidationError("staff_id", _l("员工不存在"))
        self.staff_id, self.staff = staff.id, staff
        if not self.estate_id:
            raise ValidationError("estate_id", _l("请选择所属小区/大厦"))
        self.handed_in = parse_money("handed_in", self.handed_in)
        self.handed_at = parse_dt("handed_at", self.handed_at) or now
        if self.handed_at > now + timedelta(minutes=5):
            raise ValidationError("handed_at", _l("交款时间不能晚于现在"))
        if self.receipt_no is not None and not isinstance(self.receipt_no, str):
            raise ValidationError("receipt_no", _l("收据号必须是文字"))
        self.receipt_no = (self.receipt_no or "").strip()[:40] or None
        if self.receipt_no and session.scalar(select(CashHandover.id).where(CashHandover.receipt_no == self.receipt_no)):
            raise ValidationError("receipt_no", _l("收据号 %(no)s 已登记过", no=self.receipt_no))
        deliveries = outstanding_cash(session, self.estate_id, staff.id, self.handed_at)
        if not deliveries and self.handed_in == 0:
            raise ValidationError("staff_id", _l("%(n)s 没有待交的现金", n=staff.name))
        self.collected = sum((d.collected for d in deliveries), Decimal("0.00"))
        self.deliveries = deliveries
        if self.received_by_id is None:
            self.received_by_id = current_user_id()


def outstanding_cash(session, estate_id: int, staff_id: int, until: datetime) -> list[ServiceDelivery]:
    """Cash deliveries of a staff member not yet handed in, up to a moment."""
    return list(
        session.scalars(
            select(ServiceDelivery)
            .where(
                ServiceDelivery.estate_id == estate_id,
                ServiceDelivery.staff_id == staff_id,
                ServiceDelivery.settlement == "cash",
                ServiceDelivery.handover_id.is_(None),
                ServiceDelivery.delivered_at <= until,
            )
            .order_by(ServiceDelivery.delivered_at)
        )
    )


def register_handover(session, actor: Actor, estate_id, staff_id, handed_in, receipt_no=None, handed_at=None,
                      note=None) -> CashHandover:
    """Finance counts the cash a staff member hands in (the rules are CashHandover.validate). The caller commits."""
    from app.scope import prepare_write

    handover = CashHandover(estate_id=parse_int("estate_id", estate_id), staff_id=staff_id, handed_in=handed_in,
                            receipt_no=receipt_no, handed_at=handed_at, note=note, received_by_id=actor.user_id)
    with session.no_autoflush:
        prepare_write(handover, session)
    session.add(handover)
    session.flush()
    return handover


def reconciliation(session, estate_ids: set[int] | None, period: str) -> list[dict]:
    """Per estate, staff member and month, all in Decimal:

    - opening: cash the staff member held at the start of the month (collected, not yet handed in);
    - collected: cash taken on deliveries during the month;
    - due: what the month's hand-ins settled (the deliveries they cover), handed_in: what was counted;
    - difference = handed_in − due (negative 短款, positive 长款);
    - closing = opening + collected − due: cash still held at the end of the month.
    """
    from models.base import TZ
    from models.master import Estate, Staff

    start, end = period_bounds(period)
    lo = datetime.combine(start, datetime.min.time(), tzinfo=TZ)
    hi = datetime.combine(end, datetime.min.time(), tzinfo=TZ)
    cash = (ServiceDelivery.settlement == "cash",)
    scope_d = (ServiceDelivery.estate_id.in_(estate_ids),) if estate_ids is not None else ()
    scope_h = (CashHandover.estate_id.in_(estate_ids),) if estate_ids is not None else ()
    keys = (ServiceDelivery.estate_id, ServiceDelivery.staff_id)

    def held_at(moment):
        """Cash collected before `moment` and not handed in before it."""
        handed_before = select(CashHandover.id).where(CashHandover.handed_at < moment)
        return (
            select(*keys, func.coalesce(func.sum(ServiceDelivery.fee), 0))
            .where(*cash, *scope_d, ServiceDelivery.delivered_at < moment,
                   or_(ServiceDelivery.handover_id.is_(None), ServiceDelivery.handover_id.not_in(handed_before)))
            .group_by(*keys)
        )

    collected_q = (
        select(*keys, func.count(ServiceDelivery.id), func.coalesce(func.sum(ServiceDelivery.fee), 0))
        .where(*cash, *scope_d, ServiceDelivery.delivered_at >= lo, ServiceDelivery.delivered_at < hi)
        .group_by(*keys)
    )
    handed_q = (
        select(CashHandover.estate_id, CashHandover.staff_id, func.count(CashHandover.id),
               func.coalesce(func.sum(CashHandover.collected), 0), func.coalesce(func.sum(CashHandover.handed_in), 0))
        .where(*scope_h, CashHandover.handed_at >= lo, CashHandover.handed_at < hi)
        .group_by(CashHandover.estate_id, CashHandover.staff_id)
    )
    zero = Decimal("0.00")
    rows: dict[tuple, dict] = {}

    def row(estate_id, staff_id):
        return rows.setdefault((estate_id, staff_id), {
            "estate_id": estate_id, "staff_id": staff_id, "period": period, "opening": zero, "deliveries": 0,
            "collected": zero, "handovers": 0, "due": zero, "handed_in": zero, "closing": zero,
        })

    for estate_id, staff_id, amount in session.execute(held_at(lo)):
        row(estate_id, staff_id)["opening"] = money(amount)
    for estate_id, staff_id, count, amount in session.execute(collected_q):
        r = row(estate_id, staff_id)
        r["deliveries"], r["collected"] = count, money(amount)
    for estate_id, staff_id, count, due, handed in session.execute(handed_q):
        r = row(estate_id, staff_id)
        r["handovers"], r["due"], r["handed_in"] = count, money(due), money(handed)
    for estate_id, staff_id, amount in session.execute(held_at(hi)):
        row(estate_id, staff_id)["closing"] = money(amount)
    names = dict(session.execute(select(Staff.id, Staff.name)).all())
    estates = dict(session.execute(select(Estate.id, Estate.name)).all())
    result = []
    for (estate_id, staff_id), r in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if not any((r["opening"], r["collected"], r["handovers"], r["closing"])):
            continue
        r["estate"] = estates.get(estate_id, "")
        r["staff"] = names.get(staff_id, str(_l("(未指定)")))
        r["difference"] = r["handed_in"] - r["due"]
        result.append(r)
    return result

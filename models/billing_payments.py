"""Money in: the payment request's moves — payments registered by finance, overdue, 上门收款
— the reversal (冲红) of a payment, the overdue scan with its collection tasks, and the accounts of
what was billed and collected."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from models.base import (
    TZ,
    ValidationError,
    fmt_dt,
    local_date,
    money,
    parse_choice,
    parse_dt,
    parse_money,
    require_text,
)
from models.billing import (
    OPEN_STATUSES,
    Payment,
    PaymentMethod,
    PaymentRequest,
    PaymentStatus,
    RequestStatus,
    period_bounds,
    period_of,
)
from models.task import close_stale_tasks, close_tasks, ensure_task
from models.workflow import Actor, Workflow, register_workflow

COLLECTOR_ROLE = "接待员"  # 逾期由业务员上门收款


# ---------------------------------------------------------------- the payment request's moves
payment_request_flow = register_workflow(
    Workflow(object_type="payment_request", permission_view="PaymentRequest", status_labels=RequestStatus.label_of)
)


def _lock_request(session, request: PaymentRequest) -> None:
    """Serialise payments of one request (row lock on PostgreSQL; SQLite serialises writers)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(PaymentRequest.id).where(PaymentRequest.id == request.id).with_for_update())
    session.refresh(request)


@payment_request_flow.add("pay", OPEN_STATUSES + ("paid",), None, _l("登记收款"))
def _pay(request: PaymentRequest, actor: Actor, now: datetime, session, amount=None, method=None, receipt_no=None,
         paid_at=None, note=None):
    """Finance registers money received: never more than the balance, each receipt once."""
    amount = parse_money("amount", amount, allow_zero=False)
    method = parse_choice("method", method, PaymentMethod)
    if receipt_no is not None and not isinstance(receipt_no, str):
        receipt_no = str(receipt_no) if isinstance(receipt_no, int) and not isinstance(receipt_no, bool) else None
    receipt_no = require_text("receipt_no", receipt_no, 40, _l("请填写收据号"))
    if note is not None and not isinstance(note, str):
        raise ValidationError("note", _l("备注必须是文字"))
    paid_at = parse_dt("paid_at", paid_at) or now
    if paid_at > now + timedelta(minutes=5):
        raise ValidationError("paid_at", _l("收款时间不能晚于现在"))
    _lock_request(session, request)
    balance = request.balance
    if balance <= 0:
        raise ValidationError("amount", _l("该付款请求书已付清,不能再收款"))
    if amount > balance:
        raise ValidationError(
            "amount", _l("收款金额 %(a)s 元超过未付余额 %(b)s 元", a=f"{amount:.2f}", b=f"{balance:.2f}")
        )
    if session.scalar(select(Payment.id).where(Payment.receipt_no == receipt_no)):
        raise ValidationError("receipt_no", _l("收据号 %(no)s 已登记过,不能重复登记", no=receipt_no))
    payment = Payment(
        payment_request_id=request.id,
        payment_request=request,
        estate_id=request.estate_id,
        amount=amount,
        method=method,
        receipt_no=receipt_no,
        paid_at=paid_at,
        registered_by_id=actor.user_id,
        note=(note or "").strip()[:200] or None,
    )
    session.add(payment)
    session.flush()
    request.paid_amount = money(
        session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.payment_request_id == request.id))
    )
    request.last_payment = payment  # the caller (the payment API) answers with it
    if request.balance == 0:
        close_tasks(session, "payment_overdue", "payment_request", request.id, now, str(_l("已付清")))
        target = "paid"
    elif request.status == "issued":
        target = "partly_paid"
    elif request.status == "overdue":
        target = "collecting"  # money is coming in on an overdue request: collection under way
    else:
        target = request.status
    text = _l(
        "收款 %(a)s 元(%(m)s,收据号 %(no)s),未付余额 %(b)s 元",
        a=f"{amount:.2f}",
        m=PaymentMethod.label_of(method),
        no=receipt_no,
        b=f"{request.balance:.2f}",
    )
    return str(text), target


@payment_request_flow.add("overdue", ("issued", "partly_paid"), "overdue", _l("逾期"))
def _overdue(request: PaymentRequest, actor: Actor, now: datetime, session):
    if local_date(now) <= request.due_on:
        raise ValidationError("due_on", _l("付款期限 %(d)s 尚未过去", d=fmt_dt(request.due_on)))
    return str(_l("%(d)s 前未付清,转为逾期", d=fmt_dt(request.due_on)))


@payment_request_flow.add("collect", ("overdue",), "collecting", _l("上门收款"))
def _collect(request: PaymentRequest, actor: Actor, now: datetime, session, note=None):
    """A clerk takes the collection on: the task becomes theirs."""
    if note is not None and not isinstance(note, str):
        raise ValidationError("note", _l("备注必须是文字"))
    if actor.staff is not None:
        request.collector_id = actor.staff_id
        task, _created = ensure_task(
            session, "payment_overdue", "payment_request", request.id, collection_title(request),
            estate_id=request.estate_id, role_name=COLLECTOR_ROLE, due_at=collection_due(now), now=now,
        )
        task.assignee_id = actor.staff_id
    return (note or "").strip()[:200] or None


def register_payment(session, request: PaymentRequest, actor: Actor, now: datetime | None = None, **params) -> Payment:
    """Register a payment through the request's `pay` move (state, right, event log); returns the payment."""
    payment_request_flow.apply(session, request, "pay", actor, now, params)
    return request.last_payment


# logged by the payment's `reverse` move (the right is `can_reverse` on Payment), never applied directly
payment_request_flow.add("reverse_payment", (), None, _l("冲红收款"))(lambda *a, **k: None)


def status_after_reversal(request: PaymentRequest, now: datetime) -> str:
    """What a request is once a payment is taken back: paid, or open as the due date says."""
    if request.balance <= 0:
        return "paid"
    if local_date(now) > request.due_on:
        return "collecting" if request.collector_id is not None else "overdue"
    return "partly_paid" if money(request.paid_amount or 0) > 0 else "issued"


payment_flow = register_workflow(Workflow(object_type="payment", permission_view="Payment", status_labels=PaymentStatus.label_of))


@payment_flow.add("reverse", ("registered",), "reversed", _l("冲红"))
def _reverse(payment: Payment, actor: Actor, now: datetime, session, reason=None):
    """冲红: a counter-entry of the negative amount, the request's paid amount and state put back."""
    reason = require_text("reason", reason, 200, _l("请填写冲红原因"))
    request = payment.payment_request
    _lock_request(session, request)
    before = request.status
    counter = Payment(
        payment_request_id=request.id,
        payment_request=request,
        estate_id=payment.estate_id,
        amount=-money(payment.amount),
        method=payment.method,
        receipt_no=None,
        paid_at=now,
        registered_by_id=actor.user_id,
        note=reason,
        status=PaymentStatus.reversal.value,
        reverses_id=payment.id,
    )
    session.add(counter)
    session.flush()
    request.paid_amount = money(
        session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.payment_request_id == request.id))
    )
    request.status = status_after_reversal(request, now)
    if request.status in ("overdue", "collecting"):
        task, created = ensure_task(
            session, "payment_overdue", "payment_request", request.id, collection_title(request),
            estate_id=request.estate_id, assignee_id=request.collector_id, role_name=COLLECTOR_ROLE,
            due_at=collection_due(now), now=now,
        )
        if not created:
            task.title = collection_title(request)[:200]
    text = str(
        _l(
            "冲红收据 %(no)s 的收款 %(a)s 元,原因:%(r)s;未付余额 %(b)s 元",
            no=payment.receipt_no, a=f"{money(payment.amount):.2f}", r=reason, b=f"{request.balance:.2f}",
        )
    )
    event = payment_request_flow.log(session, request, "reverse_payment", actor, now, note=text,
                                     params={"payment_id": payment.id, "reason": reason})
    event.from_status = before
    payment.reversal = counter
    return text


def reverse_payment(session, payment: Payment, actor: Actor, reason, now: datetime | None = None):
    """Reverse a payment through its `reverse` move (state, right, event log); returns the counter-entry."""
    payment_flow.apply(session, payment, "reverse", actor, now, {"reason": reason})
    return payment.reversal


# ---------------------------------------------------------------- overdue collection
def collection_title(request: PaymentRequest) -> str:
    return str(
        _l("上门收款:%(no)s %(unit)s 未付 %(b)s 元", no=request.number, unit=request.unit or "", b=f"{request.balance:.2f}")
    )


def collection_due(now: datetime) -> datetime:
    """Collect within the month: the last day of the month at 18:00 (at least 3 days away)."""
    today = local_date(now)
    start_next = period_bounds(period_of(today))[1]
    due = datetime.combine(start_next - timedelta(days=1), datetime.min.time().replace(hour=18), tzinfo=TZ)
    return max(due, datetime.combine(today + timedelta(days=3), datetime.min.time().replace(hour=18), tzinfo=TZ))


def mark_overdue_payments(session, now: datetime) -> dict:
    """Requests still unpaid after their due day become overdue, each with a 上门收款 task for a clerk."""
    today = local_date(now)
    actor = Actor.system_actor()
    marked = created = 0
    late = session.scalars(
        select(PaymentRequest).where(PaymentRequest.status.in_(("issued", "partly_paid")), PaymentRequest.due_on < today)
    ).all()
    for request in late:
        payment_request_flow.apply(session, request, "overdue", actor, now)
        marked += 1
    open_ids = set()
    for request in session.scalars(select(PaymentRequest).where(PaymentRequest.status.in_(("overdue", "collecting")))):
        open_ids.add(request.id)
        _task, new = ensure_task(
            session,
            "payment_overdue",
            "payment_request",
            request.id,
            collection_title(request),
            estate_id=request.estate_id,
            assignee_id=request.collector_id,
            role_name=COLLECTOR_ROLE,
            due_at=collection_due(now),
            detail=str(
                _l(
                    "%(payer)s 的付款请求书 %(no)s(%(period)s)应于 %(due)s 前付清,合计 %(t)s 元,已付 %(p)s 元。",
                    payer=request.payer,
                    no=request.number,
                    period=request.period,
                    due=fmt_dt(request.due_on),
                    t=f"{request.total:.2f}",
                    p=f"{request.paid_amount:.2f}",
                )
            ),
            now=now,
        )
        created += int(new)
    closed = close_stale_tasks(session, "payment_overdue", "payment_request", open_ids, now)
    return {"overdue": marked, "tasks_created": created, "tasks_closed": closed, "outstanding": len(open_ids)}


# ---------------------------------------------------------------- accounts
def accounts(session, estate_ids: set[int] | None, period_from: str | None = None, period_to: str | None = None) -> list[dict]:
    """What is owed and collected per estate and period (billing-period basis, plus cash received in the month)."""
    from models.master import Estate

    query = (
        select(
            PaymentRequest.estate_id,
            PaymentRequest.period,
            func.count(PaymentRequest.id),
            func.coalesce(func.sum(PaymentRequest.total), 0),
            func.coalesce(func.sum(PaymentRequest.paid_amount), 0),
        )
        .group_by(PaymentRequest.estate_id, PaymentRequest.period)
        .order_by(PaymentRequest.period.desc(), PaymentRequest.estate_id)
    )
    overdue_q = (
        select(
            PaymentRequest.estate_id,
            PaymentRequest.period,
            func.count(PaymentRequest.id),
            func.coalesce(func.sum(PaymentRequest.total - PaymentRequest.paid_amount), 0),
        )
        .where(PaymentRequest.status.in_(("overdue", "collecting")))
        .group_by(PaymentRequest.estate_id, PaymentRequest.period)
    )
    if estate_ids is not None:
        query = query.where(PaymentRequest.estate_id.in_(estate_ids))
        overdue_q = overdue_q.where(PaymentRequest.estate_id.in_(estate_ids))
    if period_from:
        query = query.where(PaymentRequest.period >= period_from)
    if period_to:
        query = query.where(PaymentRequest.period <= period_to)
    overdue = {(e, p): (n, money(a)) for e, p, n, a in session.execute(overdue_q)}
    names = dict(session.execute(select(Estate.id, Estate.name)).all())
    rows = []
    for estate_id, period, count, billed, collected in session.execute(query):
        billed, collected = money(billed), money(collected)
        od_count, od_amount = overdue.get((estate_id, period), (0, Decimal("0.00")))
        rows.append(
            {
                "estate_id": estate_id,
                "estate": names.get(estate_id, ""),
                "period": period,
                "requests": count,
                "billed": billed,
                "collected": collected,
                "outstanding": billed - collected,
                "overdue_count": od_count,
                "overdue_amount": od_amount,
                "rate": (collected / billed * 100).quantize(Decimal("0.1")) if billed else None,
                "received_in_month": received_in_month(session, estate_id, period),
            }
        )
    return rows


def received_in_month(session, estate_id: int, period: str) -> Decimal:
    """Cash-basis: payments received during the calendar month, whatever period they settle."""
    start, end = period_bounds(period)
    start_dt = datetime.combine(start, datetime.min.time(), tzinfo=TZ)
    end_dt = datetime.combine(end, datetime.min.time(), tzinfo=TZ)
    return money(
        session.scalar(
            select(func.coalesce(func.sum(Payment.amount), 0)).where(
                Payment.estate_id == estate_id, Payment.paid_at >= start_dt, Payment.paid_at < end_dt
            )
        )
    )

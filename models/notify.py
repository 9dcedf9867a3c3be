"""Outgoing notifications: per-estate group robots (企业微信, 钉钉), an outbox, delivery with back-off.

Events worth waking someone for — a new emergency order, an overdue task, an overdue payment — are
put in the outbox (one message per robot and object, so scanning twice changes nothing) and sent by
the scheduler process (`notify_dispatch`, every minute). A failed delivery is retried with
exponential back-off; every attempt is logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    UTCDateTime,
    ValidationError,
    code_column,
    fmt_dt,
    utcnow,
)

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 10
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
# A robot is not told about what happened long before it was set up (no flood on first use).
LOOKBACK = timedelta(hours=24)


class RobotKind(LabeledEnum):
    wecom = "wecom"
    dingtalk = "dingtalk"

    @classmethod
    def labels(cls):
        return {"wecom": _l("企业微信群机器人"), "dingtalk": _l("钉钉群机器人")}


class NotifyEvent(LabeledEnum):
    emergency_order = "emergency_order"
    task_overdue = "task_overdue"
    payment_overdue = "payment_overdue"
    test = "test"

    @classmethod
    def labels(cls):
        return {
            "emergency_order": _l("新急修单"),
            "task_overdue": _l("事项超期"),
            "payment_overdue": _l("逾期未付款"),
            "test": _l("测试消息"),
        }


SUBSCRIBABLE = [e.value for e in NotifyEvent if e is not NotifyEvent.test]


class MessageState(LabeledEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"

    @classmethod
    def labels(cls):
        return {"pending": _l("待发送"), "delivered": _l("已送达"), "failed": _l("已放弃")}


class Webhook(EstateOwned, AuditMixinNullable, Model):
    """A group robot of one estate that receives the chosen events."""

    __tablename__ = "notify_webhook"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    kind: Mapped[str] = code_column(RobotKind, nullable=False, default=RobotKind.wecom.value)
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    secret: Mapped[str | None] = mapped_column(String(200))  # 钉钉「加签」
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    events: Mapped[str] = mapped_column(String(200), nullable=False, default=",".join(SUBSCRIBABLE))
    messages = relationship("NotifyMessage", back_populates="webhook", passive_deletes="all")

    def __repr__(self) -> str:
        return self.name

    @property
    def kind_label(self) -> str:
        return RobotKind.label_of(self.kind)

    @property
    def event_list(self) -> list[str]:
        return [e for e in (self.events or "").split(",") if e]

    @property
    def events_label(self) -> str:
        return "、".join(NotifyEvent.label_of(e) for e in self.event_list)

    @property
    def url_masked(self) -> str:
        """The address without its key, for lists that many people read."""
        parts = urllib.parse.urlsplit(self.url or "")
        return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")

    def wants(self, event: str) -> bool:
        return self.enabled and event in self.event_list

    def validate(self, session) -> None:
        if not (self.name or "").strip():
            raise ValidationError("name", _l("请填写名称"))
        self.kind = self.kind or RobotKind.wecom.value
        if self.kind not in {k.value for k in RobotKind}:
            raise ValidationError("kind", _l("类型只能是企业微信(wecom)或钉钉(dingtalk)"))
        url = (self.url or "").strip()
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError("url", _l("Webhook 地址应以 https:// 开头,如 https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"))
        self.url = url
        events = self.event_list
        unknown = [e for e in events if e not in SUBSCRIBABLE]
        if unknown:
            raise ValidationError("events", _l("未知的事件:%(e)s", e=",".join(unknown)))
        if not events:
            raise ValidationError("events", _l("请至少选择一个事件"))
        self.events = ",".join(e for e in SUBSCRIBABLE if e in events)
        if self.secret is not None:
            self.secret = self.secret.strip() or None


class NotifyMessage(Model):
    """One message to one robot: what, when to try next, how it went."""

    __tablename__ = "notify_message"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event", "object_type", "object_id", name="uq_notify_message_object"),
        Index("ix_notify_message_due", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("notify_webhook.id", ondelete="CASCADE"), nullable=False, index=True)
    estate_id: Mapped[int | None] = mapped_column(ForeignKey("estate.id"), index=True)
    event: Mapped[str] = code_column(NotifyEvent, nullable=False)
    object_type: Mapped[str | None] = mapped_column(String(30))
    object_id: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = code_column(MessageState, nullable=False, default=MessageState.pending.value)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    webhook = relationship("Webhook", back_populates="messages", lazy="joined")
    estate = relationship("Estate", foreign_keys=[estate_id], lazy="joined")
    deliveries = relationship("NotifyDelivery", back_populates="message", order_by="NotifyDelivery.id", passive_deletes="all")

    @classmethod
    def estate_scope_column(cls):
        return cls.estate_id

    def __repr__(self) -> str:
        return self.title

    @property
    def event_label(self) -> str:
        return NotifyEvent.label_of(self.event)

    @property
    def state_label(self) -> str:
        return MessageState.label_of(self.state)


class NotifyDelivery(Model):
    """One attempt to deliver a message: when, the answer, how long it took."""

    __tablename__ = "notify_delivery"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("notify_message.id", ondelete="CASCADE"), nullable=False, index=True)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    message = relationship("NotifyMessage", back_populates="deliveries")

    def __repr__(self) -> str:
        return f"#{self.attempt} {fmt_dt(self.at)}"


# ---------------------------------------------------------------- message bodies
def robot_body(kind: str, title: str, lines: list[str]) -> dict:
    """The JSON a group robot expects: markdown for 企业微信 (`content`) and 钉钉 (`title` + `text`)."""
    text = "\n".join([f"### {title}", *[f"> {line}" if line else "" for line in lines]])
    if kind == RobotKind.dingtalk.value:
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    return {"msgtype": "markdown", "markdown": {"content": text[:4000]}}


def enqueue(
    session,
    webhook: Webhook,
    event: str,
    title: str,
    lines: list[str],
    *,
    object_type: str | None = None,
    object_id: int | None = None,
    now: datetime | None = None,
) -> NotifyMessage | None:
    """Put one message for a robot in the outbox unless it is already there; returns the new message."""
    if object_type is not None:
        exists = session.scalar(
            select(NotifyMessage.id).where(
                NotifyMessage.webhook_id == webhook.id,
                NotifyMessage.event == event,
                NotifyMessage.object_type == object_type,
                NotifyMessage.object_id == object_id,
            )
        )
        if exists:
            return None
    now = now or utcnow()
    message = NotifyMessage(
        webhook_id=webhook.id,
        estate_id=webhook.estate_id,
        event=event,
        object_type=object_type,
        object_id=object_id,
        title=str(title)[:200],
        payload=json.dumps(robot_body(webhook.kind, str(title), [str(x) for x in lines]), ensure_ascii=False),
        state=MessageState.pending.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message


def robots_for(session, estate_id: int | None, event: str) -> list[Webhook]:
    """Enabled robots of an estate that subscribe to an event."""
    if estate_id is None:
        return []
    hooks = session.scalars(select(Webhook).where(Webhook.estate_id == estate_id, Webhook.enabled.is_(True)))
    return [h for h in hooks if h.wants(event)]


def notify(session, estate_id, event, title, lines, *, object_type=None, object_id=None, now=None) -> int:
    """Queue an event for every robot of the estate that wants it; returns the number queued."""
    return sum(
        1
        for hook in robots_for(session, estate_id, event)
        if enqueue(session, hook, event, title, lines, object_type=object_type, object_id=object_id, now=now)
    )


# ---------------------------------------------------------------- delivery
@dataclass
class Answer:
    ok: bool
    status_code: int | None
    response: str | None
    error: str | None
    duration_ms: int


def signed_url(webhook: Webhook, now: datetime) -> str:
    """钉钉「加签」: timestamp and HMAC-SHA256 signature of "timestamp\\nsecret" appended to the URL."""
    if webhook.kind != RobotKind.dingtalk.value or not webhook.secret:
        return webhook.url
    timestamp = str(int(now.timestamp() * 1000))
    digest = hmac.new(webhook.secret.encode(), f"{timestamp}\n{webhook.secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    joiner = "&" if "?" in webhook.url else "?"
    return f"{webhook.url}{joiner}timestamp={timestamp}&sign={sign}"


def post_json(url: str, body: str, timeout: float = TIMEOUT_SECONDS) -> Answer:
    """POST a JSON body; a robot answers HTTP 200 with {"errcode": 0} when it took the message."""
    started = time.monotonic()
    request = urllib.request.Request(
        url, data=body.encode("utf-8"), method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https checked on save)
            status = response.status
            text = response.read(4096).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        text = exc.read(500).decode("utf-8", "replace") if exc.fp else ""
        return Answer(False, exc.code, text[:500], f"HTTP {exc.code}", _ms(started))
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Answer(False, None, None, f"{type(exc).__name__}: {reason}"[:500], _ms(started))
    try:
        answer = json.loads(text) if text.strip() else {}
    except ValueError:
        answer = {}
    errcode = answer.get("errcode", 0) if isinstance(answer, dict) else 0
    if errcode not in (0, "0"):
        return Answer(False, status, text[:500], f"errcode {errcode}: {answer.get('errmsg', '')}"[:500], _ms(started))
    return Answer(True, status, text[:500], None, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4, 8 … minutes, at most 6 hours."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def deliver(session, message: NotifyMessage, now: datetime, sender=post_json) -> bool:
    """Try one message once, log the attempt and schedule the next one on failure."""
    hook = message.webhook
    message.attempts = (message.attempts or 0) + 1
    if hook is None or not hook.enabled:
        answer = Answer(False, None, None, str(_l("机器人已停用")), 0)
    else:
        answer = sender(signed_url(hook, now), message.payload)
    session.add(
        NotifyDelivery(
            message_id=message.id,
            attempt=message.attempts,
            at=now,
            ok=answer.ok,
            status_code=answer.status_code,
            response=answer.response,
            error=answer.error,
            duration_ms=answer.duration_ms,
        )
    )
    if answer.ok:
        message.state = MessageState.delivered.value
        message.delivered_at = now
        message.next_attempt_at = None
        message.last_error = None
        logger.info("notify %s delivered to %s (attempt %s)", message.id, hook.name, message.attempts)
        return True
    message.last_error = answer.error
    if message.attempts >= MAX_ATTEMPTS:
        message.state = MessageState.failed.value
        message.next_attempt_at = None
        logger.warning("notify %s given up after %s attempts: %s", message.id, message.attempts, answer.error)
    else:
        message.next_attempt_at = now + backoff(message.attempts)
        logger.info("notify %s failed (attempt %s): %s", message.id, message.attempts, answer.error)
    return False


def retry_now(message: NotifyMessage, now: datetime) -> None:
    """An administrator asks for another try at once (also after giving up)."""
    if message.state == MessageState.delivered.value:
        return
    message.state = MessageState.pending.value
    message.next_attempt_at = now
    if message.attempts >= MAX_ATTEMPTS:
        message.attempts = MAX_ATTEMPTS - 1


def dispatch(session, now: datetime, limit: int = 50, sender=post_json) -> dict:
    """Send the messages whose time has come; a robot that fails is skipped for the rest of the run."""
    due = session.scalars(
        select(NotifyMessage)
        .where(NotifyMessage.state == MessageState.pending.value, NotifyMessage.next_attempt_at <= now)
        .order_by(NotifyMessage.next_attempt_at, NotifyMessage.id)
        .limit(limit)
    ).all()
    sent = failed = skipped = 0
    broken: set[int] = set()
    for message in due:
        if message.webhook_id in broken:
            skipped += 1
            continue
        if deliver(session, message, now, sender=sender):
            sent += 1
        else:
            failed += 1
            broken.add(message.webhook_id)
        session.commit()  # each attempt is kept even if a later one crashes the run
    return {"sent": sent, "failed": failed, "postponed": skipped}


def send_test(session, webhook: Webhook, now: datetime) -> NotifyMessage:
    """Queue a test message for a robot (the next dispatch sends it)."""
    from models.master import Estate

    estate = session.get(Estate, webhook.estate_id)
    message = enqueue(
        session,
        webhook,
        NotifyEvent.test.value,
        str(_l("测试消息:%(estate)s 物业服务通知", estate=estate.name if estate else "")),
        [str(_l("机器人「%(name)s」已接入物业业户服务管理系统。", name=webhook.name)), str(_l("发送时间:%(t)s", t=fmt_dt(now)))],
        now=now,
    )
    return message


# ---------------------------------------------------------------- what goes into the outbox
# Task kinds that mean "something is late" (SPEC §9 overdue scan) and those about unpaid money.
OVERDUE_TASK_KINDS = (
    "not_picked_up",
    "not_returned",
    "material_not_reported",
    "requisition_not_bought",
    "revisit_overdue",
    "rectification_overdue",
    "complaint_reply_overdue",
    "walkin_not_handed_over",
    "month_end_not_returned",
    "manager_visits_short",
)
PAYMENT_TASK_KINDS = ("payment_overdue",)
# How far back a scan looks (a scheduler that was down for a day still reports what it missed).
SCAN_WINDOW = timedelta(days=7)

# event -> functions (session, webhook, since, now) -> number queued; areas may add their own.
SOURCES: dict[str, list] = {}


def source(event: str):
    def register(func):
        SOURCES.setdefault(event, []).append(func)
        return func

    return register


def _task_lines(task) -> list[str]:
    lines = [task.title]
    if task.detail:
        lines.append(task.detail[:300])
    if task.who:
        lines.append(str(_l("负责人:%(who)s", who=task.who)))
    if task.due_at:
        lines.append(str(_l("期限:%(t)s", t=fmt_dt(task.due_at))))
    return lines


def _queue_tasks(session, webhook: Webhook, since: datetime, now: datetime, kinds, event: str) -> int:
    from models.task import Task, TaskKind

    tasks = session.scalars(
        select(Task).where(
            Task.estate_id == webhook.estate_id,
            Task.kind.in_(kinds),
            Task.done_at.is_(None),
            Task.created_at >= since,
            Task.created_at <= now,
        ).order_by(Task.id)
    )
    count = 0
    for task in tasks:
        estate = webhook.estate.name if webhook.estate else ""
        title = f"【{estate}】{TaskKind.label_of(task.kind)}"
        if event == NotifyEvent.payment_overdue.value and task.object_type:
            key = (task.object_type, task.object_id)
        else:
            key = ("task", task.id)
        if enqueue(session, webhook, event, title, _task_lines(task), object_type=key[0], object_id=key[1], now=now):
            count += 1
    return count


@source(NotifyEvent.task_overdue.value)
def overdue_tasks(session, webhook: Webhook, since: datetime, now: datetime) -> int:
    return _queue_tasks(session, webhook, since, now, OVERDUE_TASK_KINDS, NotifyEvent.task_overdue.value)


@source(NotifyEvent.payment_overdue.value)
def overdue_payments(session, webhook: Webhook, since: datetime, now: datetime) -> int:
    return _queue_tasks(session, webhook, since, now, PAYMENT_TASK_KINDS, NotifyEvent.payment_overdue.value)


@source(NotifyEvent.emergency_order.value)
def emergency_orders(session, webhook: Webhook, since: datetime, now: datetime) -> int:
    """New 急修 orders of the estate (接待 六.4): the duty room's group hears of them at once."""
    from models.kpi import area_module

    repair = area_module("models.repair")
    if repair is None:
        return 0
    order = repair.RepairOrder
    orders = session.scalars(
        select(order)
        .where(
            order.estate_id == webhook.estate_id,
            order.urgency == repair.Urgency.emergency.value,
            order.created_on >= since,
            order.created_on <= now,
        )
        .order_by(order.id)
    )
    count = 0
    for o in orders:
        estate = webhook.estate.name if webhook.estate else ""
        title = f"【{estate}】{NotifyEvent.label_of(NotifyEvent.emergency_order.value)} {o.number}"
        place = " ".join(str(x) for x in (o.unit, o.location) if x)
        lines = [
            str(_l("急修原因:%(r)s", r=repair.EmergencyReason.label_of(o.emergency_reason) or "—")),
            str(_l("类别:%(c)s", c=repair.RepairCategory.label_of(o.category))),
            str(_l("地点:%(p)s", p=place or "—")),
            str(_l("问题:%(p)s", p=(o.problem or "")[:200])),
            str(_l("报修时间:%(t)s", t=fmt_dt(o.recorded_at))),
        ]
        if o.contact_phone:
            lines.append(str(_l("联系电话:%(p)s", p=o.contact_phone)))
        if getattr(o, "backdated", False):
            lines.append(str(_l("(事后补录)")))
        if enqueue(session, webhook, NotifyEvent.emergency_order.value, title, lines, object_type="repair_order", object_id=o.id, now=now):
            count += 1
    return count


def collect(session, now: datetime) -> dict:
    """Queue what happened since each robot was set up (at most SCAN_WINDOW back); idempotent."""
    counts: dict[str, int] = {}
    hooks = session.scalars(select(Webhook).where(Webhook.enabled.is_(True)).order_by(Webhook.id)).all()
    for hook in hooks:
        since = max(hook.created_on, now - SCAN_WINDOW) if hook.created_on else now - SCAN_WINDOW
        for event in hook.event_list:
            for func in SOURCES.get(event, []):
                queued = func(session, hook, since, now) or 0
                if queued:
                    counts[event] = counts.get(event, 0) + queued
    return counts

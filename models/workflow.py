"""Transitions live here: allowed moves per entity, one apply function, the event log."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.exc import StaleDataError

from models.base import (
    DomainError,
    NotFound,
    PermissionDenied,
    UTCDateTime,
    check_version,
    fmt_dt,
    stale_conflict,
    utcnow,
)

logger = logging.getLogger(__name__)


class TransitionRefused(DomainError):
    """A move the state machine forbids (HTTP 409)."""

    status = 409


class Event(Model):
    """One row per transition: who, when, from, to, note."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_object", "object_type", "object_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    object_type: Mapped[str] = mapped_column(String(30), nullable=False)
    object_id: Mapped[int] = mapped_column(Integer, nullable=False)
    transition: Mapped[str] = mapped_column(String(30), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    user = relationship("User", foreign_keys=[user_id], lazy="joined")

    def __repr__(self) -> str:
        return f"{self.transition} {fmt_dt(self.at)}"

    def to_api(self, workflow: Workflow | None = None) -> dict[str, Any]:
        label = workflow.transitions[self.transition].label if workflow and self.transition in workflow.transitions else None
        return {
            "id": self.id,
            "transition": self.transition,
            "transition_label": str(label) if label else self.transition,
            "from_status": self.from_status,
            "to_status": self.to_status,
            "note": self.note,
            "data": json.loads(self.data) if self.data else None,
            "user": self.user.username if self.user else None,
            "at": self.at.isoformat() if self.at else None,
        }


@dataclass
class Actor:
    """Who performs a move: a login user (with roles and staff record) or the system (jobs)."""

    user: Any = None
    system: bool = False

    @classmethod
    def system_actor(cls) -> Actor:
        return cls(user=None, system=True)

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user is not None else None

    @property
    def role_names(self) -> set[str]:
        return {r.name for r in self.user.roles} if self.user is not None else set()

    def can(self, permission: str, view: str) -> bool:
        if self.system:
            return True
        if self.user is None:
            return False
        sm = current_app.appbuilder.sm
        return sm._has_view_access(self.user, permission, view)

    @property
    def staff(self):
        if self.user is None:
            return None
        from models.master import Staff

        cache = self.__dict__.setdefault("_staff_cache", {})
        if "staff" not in cache:
            cache["staff"] = current_app.appbuilder.session.scalar(select(Staff).where(Staff.user_id == self.user.id))
        return cache["staff"]

    @property
    def staff_id(self) -> int | None:
        return self.staff.id if self.staff is not None else None


@dataclass
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str | None  # None keeps the state (e.g. report_delay)
    label: Any
    handler: Callable[..., str | None] | None = None
    permission: str | None = None

    @property
    def permission_name(self) -> str:
        return self.permission or f"can_{self.name}"


@dataclass
class Workflow:
    """The allowed-transition table of one entity and the one function that applies a move."""

    object_type: str
    permission_view: str
    status_labels: Callable[[str], str]
    transitions: dict[str, Transition] = field(default_factory=dict)
    status_attr: str = "status"
    listeners: dict[str, list[Callable]] = field(default_factory=dict)

    def on(self, name: str):
        """Register `fn(obj, event, actor, now, session)` to run after a transition, in the same
        transaction (e.g. the revisit plan when a repair order is completed)."""

        def register(fn):
            bucket = self.listeners.setdefault(name, [])
            if fn not in bucket:
                bucket.append(fn)
            return fn

        return register

    def add(self, name, sources, target, label, permission=None):
        """Decorator registering the handler of a transition."""

        def register(handler):
            self.transitions[name] = Transition(name, tuple(sources), target, label, handler, permission)
            return handler

        return register

    def available(self, obj, actor: Actor) -> list[Transition]:
        state = getattr(obj, self.status_attr)
        return [t for t in self.transitions.values() if state in t.sources and actor.can(t.permission_name, self.permission_view)]

    def apply(
        self,
        session,
        obj,
        name: str,
        actor: Actor,
        now: datetime | None = None,
        params: dict | None = None,
        version: int | str | None = None,
    ) -> Event:
        """Check state and right, run the move's rule, set the new state and log the event.

        `version` is the record version the caller saw: a move based on an older read is refused
        (409) instead of acting on a record someone else changed meanwhile."""
        transition = self.transitions.get(name)
        if transition is None:
            raise NotFound(_l("没有「%(name)s」这个操作", name=name))
        if not actor.can(transition.permission_name, self.permission_view):
            raise PermissionDenied(_l("您没有「%(label)s」的权限", label=transition.label))
        check_version(obj, version)
        state = getattr(obj, self.status_attr)
        if state not in transition.sources:
            raise TransitionRefused(
                _l(
                    "当前状态为「%(state)s」,不能执行「%(label)s」",
                    state=self.status_labels(state),
                    label=transition.label,
                )
            )
        now = now or utcnow()
        params = dict(params or {})
        note = transition.handler(obj, actor=actor, now=now, session=session, **params) if transition.handler else None
        new_state = transition.target or getattr(obj, self.status_attr)
        if isinstance(note, tuple):  # a handler may choose the target: (note, state)
            note, new_state = note
        setattr(obj, self.status_attr, new_state)
        event = Event(
            object_type=self.object_type,
            object_id=obj.id,
            transition=name,
            from_status=state,
            to_status=new_state,
            note=note,
            data=json.dumps(_jsonable(params), ensure_ascii=False) if params else None,
            user_id=actor.user_id,
            at=now,
        )
        session.add(event)
        try:
            session.flush()
        except StaleDataError as exc:  # changed by someone else between our read and this write
            raise stale_conflict() from exc
        for listener in self.listeners.get(name, []):
            listener(obj, event=event, actor=actor, now=now, session=session)
        logger.info("%s %s: %s %s -> %s", self.object_type, obj.id, name, state, new_state)
        return event

    def log(self, session, obj, name: str, actor: Actor, now: datetime, note: str | None = None, params=None) -> Event:
        """Log an action that does not change the state (urge, merge, edits of note)."""
        state = getattr(obj, self.status_attr)
        event = Event(
            object_type=self.object_type,
            object_id=obj.id,
            transition=name,
            from_status=state,
            to_status=state,
            note=note,
            data=json.dumps(_jsonable(params), ensure_ascii=False) if params else None,
            user_id=actor.user_id,
            at=now,
        )
        session.add(event)
        return event

    def events(self, session, obj_id: int) -> list[Event]:
        return list(
            session.scalars(
                select(Event).where(Event.object_type == self.object_type, Event.object_id == obj_id).order_by(Event.id)
            )
        )


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


WORKFLOWS: dict[str, Workflow] = {}


def register_workflow(workflow: Workflow) -> Workflow:
    WORKFLOWS[workflow.object_type] = workflow
    return workflow

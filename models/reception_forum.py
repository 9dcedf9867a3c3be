"""业户座谈会 (接待 一.4): date, topic, invited or voluntary participants, minutes, action items as tasks."""

from __future__ import annotations

from datetime import datetime

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    UTCDateTime,
    ValidationError,
    as_utc,
    code_column,
    fmt_dt,
    parse_int,
    require_text,
    utcnow,
)
from models.reception_common import (
    active_staff,
    amend_body,
    choice_of,
    create,
    not_in_future,
    opt_dt,
    opt_int,
    opt_text,
    period_of,
    read_body,
    sync_foreign_keys,
)
from models.task import Task, TaskKind, ensure_staff_task, task_flow
from models.workflow import Actor, Workflow, register_workflow


class ForumMode(LabeledEnum):
    invited = "invited"
    voluntary = "voluntary"

    @classmethod
    def labels(cls):
        return {"invited": _l("邀请代表"), "voluntary": _l("自愿参加")}


class ForumStatus(LabeledEnum):
    planned = "planned"
    held = "held"

    @classmethod
    def labels(cls):
        return {"planned": _l("筹备中"), "held": _l("已召开")}


class Forum(EstateOwned, AuditMixinNullable, Model):
    """业户座谈会 (接待 一.4): date, topic, participants, minutes, action items."""

    __tablename__ = "forum"
    id: Mapped[int] = mapped_column(primary_key=True)
    held_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    period: Mapped[str] = mapped_column(String(7), nullable=False, index=True)
    topic: Mapped[str] = mapped_column(String(200), nullable=False)
    venue: Mapped[str | None] = mapped_column(String(100))
    mode: Mapped[str] = code_column(ForumMode, nullable=False, default="invited")
    host_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    participants: Mapped[str | None] = mapped_column(Text)
    participant_count: Mapped[int | None] = mapped_column(Integer)
    minutes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = code_column(ForumStatus, nullable=False, default="planned", index=True)
    host = relationship("Staff", foreign_keys=[host_id])
    actions = relationship("ForumAction", back_populates="forum", order_by="ForumAction.id")

    API_FIELDS = {
        "estate_id": opt_int,
        "held_at": opt_dt,
        "topic": opt_text(200),
        "venue": opt_text(100),
        "mode": choice_of(ForumMode),
        "host_id": opt_int,
        "participants": opt_text(4000),
        "participant_count": opt_int,
        "minutes": opt_text(20000),
    }
    API_REQUIRED = ("estate_id", "held_at", "topic")
    API_EDITABLE = ("held_at", "topic", "venue", "mode", "host_id", "participants", "participant_count")

    def __repr__(self) -> str:
        return f"{fmt_dt(self.held_at)} {self.topic}"

    @property
    def status_label(self) -> str:
        return ForumStatus.label_of(self.status)

    @property
    def mode_label(self) -> str:
        return ForumMode.label_of(self.mode)

    @property
    def open_actions(self) -> int:
        return sum(1 for a in self.actions if a.done_at is None)

    def derive_estate(self, session) -> None:
        sync_foreign_keys(self)

    def validate(self, session) -> None:
        if self.estate_id is None:
            raise ValidationError("estate_id", _l("请选择所属小区/大厦"))
        from models.master import Estate

        if session.get(Estate, self.estate_id) is None:
            raise ValidationError("estate_id", _l("小区/大厦不存在"))
        self.topic = require_text("topic", self.topic, 200, _l("请填写座谈会主题"))
        if self.held_at is None:
            raise ValidationError("held_at", _l("请填写座谈会时间"))
        self.held_at = as_utc(self.held_at)
        self.period = period_of(self.held_at)
        self.mode = self.mode or ForumMode.invited.value
        choice_of(ForumMode)("mode", self.mode)
        if self.host_id is not None:
            active_staff(session, "host_id", self.host_id, self.estate_id)
        if self.participant_count is not None and not 0 <= self.participant_count <= 100000:
            raise ValidationError("participant_count", _l("参加人数不正确"))
        if self.id is None:  # recorded with minutes after the meeting: it has been held
            self.status = ForumStatus.held.value if self.minutes else ForumStatus.planned.value
            if self.minutes:
                not_in_future("held_at", self.held_at, utcnow())

    @classmethod
    def register(cls, session, actor: Actor, now: datetime, body: dict) -> Forum:
        """A forum, with `actions: [{content, assignee_id, due_at}]` when recorded after it was held."""
        body = dict(body) if isinstance(body, dict) else body
        actions = body.pop("actions", None) if isinstance(body, dict) else None
        if actions is not None and not isinstance(actions, list):
            raise ValidationError("actions", _l("待办事项必须是列表"))
        forum = cls()
        read_body(forum, body, cls.API_FIELDS, cls.API_REQUIRED)
        if forum.host_id is None:
            forum.host_id = actor.staff_id
        create(session, forum, actor, now)
        if actions:
            if forum.status != ForumStatus.held:
                raise ValidationError("actions", _l("座谈会召开并记录纪要后才能布置待办事项"))
            for i, item in enumerate(actions):
                if not isinstance(item, dict):
                    raise ValidationError(f"actions[{i}]", _l("待办事项格式不正确"))
                forum_flow.apply(session, forum, "add_action", actor, now, item)
        return forum

    def amend(self, session, body: dict) -> None:
        amend_body(self, body, _l("登记后不能修改此项(纪要请用「记录纪要」)"))


class ForumAction(EstateOwned, Model):
    """A 座谈会 action item: a task for the person who must carry it out."""

    __tablename__ = "forum_action"
    id: Mapped[int] = mapped_column(primary_key=True)
    forum_id: Mapped[int] = mapped_column(ForeignKey("forum.id"), nullable=False, index=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    assignee_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), nullable=False, index=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_note: Mapped[str | None] = mapped_column(String(200))
    forum = relationship("Forum", back_populates="actions")
    assignee = relationship("Staff", foreign_keys=[assignee_id], lazy="joined")

    def __repr__(self) -> str:
        return self.content[:40]

    @property
    def status_label(self) -> str:
        return str(_l("已完成")) if self.done_at else str(_l("待办"))


forum_flow = register_workflow(Workflow(object_type="forum", permission_view="Forum", status_labels=ForumStatus.label_of))


@forum_flow.add("hold", ["planned"], "held", _l("记录纪要"))
def _hold(forum: Forum, actor, now, session, minutes=None, participants=None, participant_count=None):
    """The forum took place: minutes (and who came) are recorded."""
    if forum.held_at > now:
        raise ValidationError("minutes", _l("座谈会时间未到,不能记录纪要"))
    forum.minutes = require_text("minutes", minutes, 20000, _l("请填写会议纪要"))
    if participants not in (None, ""):
        forum.participants = opt_text(4000)("participants", participants)
    count = parse_int("participant_count", participant_count, required=False)
    if count is not None:
        if count > 100000:
            raise ValidationError("participant_count", _l("参加人数不正确"))
        forum.participant_count = count
    return None


@forum_flow.add("add_action", ["held"], None, _l("布置待办事项"))
def _add_action(forum: Forum, actor, now, session, content=None, assignee_id=None, due_at=None):
    """An action item decided at the forum becomes a task for the person named."""
    from models.base import parse_dt

    text = require_text("content", content, 2000, _l("请填写待办事项内容"))
    assignee = active_staff(session, "assignee_id", assignee_id, forum.estate_id, required=True)
    due = parse_dt("due_at", due_at)
    if due is not None and due < now:
        raise ValidationError("due_at", _l("完成期限不能早于现在"))
    action = ForumAction(forum_id=forum.id, estate_id=forum.estate_id, content=text, assignee_id=assignee.id, due_at=due)
    session.add(action)
    session.flush()
    task, _ = ensure_staff_task(
        session,
        TaskKind.meeting_action.value,
        "forum_action",
        action.id,
        str(_l("座谈会待办:%(text)s", text=text[:80])),
        staff_id=assignee.id,
        estate_id=forum.estate_id,
        due_at=due,
        detail=str(_l("来自 %(forum)s", forum=str(forum))),
        now=now,
    )
    action.task_id = task.id
    return f"{text}({assignee.name})"


@task_flow.on("done")
def _action_done(task: Task, event, actor, now, session) -> None:
    if task.kind == TaskKind.meeting_action.value and task.object_type == "forum_action":
        action = session.get(ForumAction, task.object_id)
        if action is not None and action.done_at is None:
            action.done_at = now
            action.done_note = task.done_note


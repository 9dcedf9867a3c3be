"""Tasks 待办: what a person or a role must do, created idempotently by jobs and transitions."""

from __future__ import annotations

from datetime import datetime

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, Integer, String, Text, and_, or_, select, text, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import EstateOwned, LabeledEnum, PermissionDenied, UTCDateTime, ValidationError, code_column, utcnow
from models.workflow import Workflow, register_workflow


class TaskKind(LabeledEnum):
    not_picked_up = "not_picked_up"
    not_returned = "not_returned"
    material_not_reported = "material_not_reported"
    requisition_not_bought = "requisition_not_bought"
    revisit_due = "revisit_due"
    revisit_overdue = "revisit_overdue"
    rectification_overdue = "rectification_overdue"
    complaint_reply_overdue = "complaint_reply_overdue"
    walkin_not_handed_over = "walkin_not_handed_over"
    payment_overdue = "payment_overdue"
    manager_visits_short = "manager_visits_short"
    month_end_not_returned = "month_end_not_returned"
    message = "message"
    price_list_draft = "price_list_draft"
    walkin_handover = "walkin_handover"
    complaint_escalated = "complaint_escalated"
    reject_approval = "reject_approval"
    requisition = "requisition"
    meeting_action = "meeting_action"
    collection = "collection"

    @classmethod
    def labels(cls):
        return {
            "not_picked_up": _l("维修单超时未取"),
            "not_returned": _l("维修单超期未回单"),
            "material_not_reported": _l("缺料未按时上报"),
            "requisition_not_bought": _l("请购超期未购"),
            "revisit_due": _l("待回访"),
            "revisit_overdue": _l("回访超期"),
            "rectification_overdue": _l("整改超期"),
            "complaint_reply_overdue": _l("投诉超 24 小时未答复"),
            "walkin_not_handed_over": _l("来访事项未当天移交"),
            "payment_overdue": _l("逾期未付款(上门收款)"),
            "manager_visits_short": _l("物业经理走访不足 3 次"),
            "month_end_not_returned": _l("月末维修单未交回"),
            "message": _l("转告留言"),
            "price_list_draft": _l("拟定便民服务项目及价格表"),
            "walkin_handover": _l("来访事项待处理"),
            "complaint_escalated": _l("投诉上报待处理"),
            "reject_approval": _l("退单待签署"),
            "requisition": _l("请购单待采购"),
            "meeting_action": _l("座谈会待办事项"),
            "collection": _l("上门收款"),
        }


class Task(EstateOwned, Model):
    """A to-do for one staff member or for a role (within an estate)."""

    __tablename__ = "task"
    estate_shared = True
    __table_args__ = (
        Index(
            "uq_task_open_object",
            "kind",
            "object_type",
            "object_id",
            unique=True,
            sqlite_where=text("done_at IS NULL"),
            postgresql_where=text("done_at IS NULL"),
        ),
        Index("ix_task_assignee_open", "assignee_id", "done_at"),
        Index("ix_task_role_open", "role_name", "done_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = code_column(TaskKind, nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
    object_type: Mapped[str | None] = mapped_column(String(30))
    object_id: Mapped[int | None] = mapped_column(Integer)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    role_name: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    done_note: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="open", index=True)
    assignee = relationship("Staff", foreign_keys=[assignee_id], lazy="joined")
    done_by = relationship("User", foreign_keys=[done_by_id])

    def __repr__(self) -> str:
        return self.title

    @property
    def kind_label(self) -> str:
        return TaskKind.label_of(self.kind)

    @property
    def status_label(self) -> str:
        return str(TASK_STATUS.get(self.status, self.status))

    @property
    def overdue(self) -> bool:
        return self.done_at is None and self.due_at is not None and self.due_at < utcnow()

    @property
    def who(self) -> str:
        if self.assignee is not None:
            return self.assignee.name
        return self.role_name or ""

    def belongs_to(self, actor) -> bool:
        if actor.system:
            return True
        if self.assignee_id is not None:
            return self.assignee_id == actor.staff_id
        return self.role_name in actor.role_names


TASK_STATUS = {"open": _l("待办"), "done": _l("已完成")}

task_flow = register_workflow(
    Workflow(object_type="task", permission_view="Task", status_labels=lambda s: str(TASK_STATUS.get(s, s)))
)


@task_flow.add("done", ["open"], "done", _l("完成"))
def _done(task: Task, actor, now, session, note: str | None = None):
    """Only the person (or a holder of the role) the task is for may finish it; company roles too."""
    from app.scope import company_roles

    if not task.belongs_to(actor) and not (actor.role_names & company_roles()):
        raise PermissionDenied(_l("这条待办不是分派给您的"))
    if note is not None and not isinstance(note, str):
        raise ValidationError("note", _l("备注必须是文字"))
    task.done_at = now
    task.done_by_id = actor.user_id
    task.done_note = (note or "")[:200] or None
    return note


def ensure_task(
    session,
    kind: str,
    object_type: str | None,
    object_id: int | None,
    title: str,
    *,
    estate_id: int | None = None,
    assignee_id: int | None = None,
    role_name: str | None = None,
    due_at: datetime | None = None,
    detail: str | None = None,
    now: datetime | None = None,
) -> tuple[Task, bool]:
    """The open task of this kind for this object, created if there is none. Returns (task, created)."""
    existing = session.scalar(
        select(Task).where(
            Task.kind == kind,
            Task.object_type == object_type,
            Task.object_id == object_id,
            Task.done_at.is_(None),
        )
    )
    if existing is not None:
        return existing, False
    task = Task(
        kind=kind,
        object_type=object_type,
        object_id=object_id,
        title=str(title)[:200],
        detail=detail,
        estate_id=estate_id,
        assignee_id=assignee_id,
        role_name=role_name,
        due_at=due_at,
        created_at=now or utcnow(),
    )
    session.add(task)
    session.flush()
    return task, True


def task_estate(session, staff_id: int | None, estate_id: int | None) -> int | None:
    """The estate a task for this person is filed under: the record's, unless the person works for
    no estate in particular — then the task is company-wide, so that they can see and finish it."""
    from app.scope import company_roles
    from models.master import Staff

    staff = session.get(Staff, staff_id) if staff_id else None
    if staff is None or staff.estate_ids:
        return estate_id
    company_user = staff.user is not None and bool({r.name for r in staff.user.roles} & company_roles())
    return estate_id if company_user else None


def ensure_staff_task(
    session,
    kind: str,
    object_type: str,
    object_id: int,
    title: str,
    *,
    staff_id: int | None,
    estate_id: int | None,
    role_name: str | None = None,
    due_at: datetime | None = None,
    detail: str | None = None,
    now: datetime | None = None,
) -> tuple[Task, bool]:
    """`ensure_task` for a staff member (with none, for `role_name`), filed under the record's estate
    where that person can see it (`task_estate`)."""
    return ensure_task(
        session,
        kind,
        object_type,
        object_id,
        title,
        estate_id=task_estate(session, staff_id, estate_id),
        assignee_id=staff_id,
        role_name=None if staff_id else role_name,
        due_at=due_at,
        detail=detail,
        now=now,
    )


def close_tasks(session, kind: str | list[str], object_type: str, object_id: int, now: datetime | None = None, note: str | None = None) -> int:
    """Close the open tasks of a kind for an object whose cause is gone."""
    kinds = [kind] if isinstance(kind, str) else list(kind)
    result = session.execute(
        update(Task)
        .where(Task.kind.in_(kinds), Task.object_type == object_type, Task.object_id == object_id, Task.done_at.is_(None))
        .values(done_at=now or utcnow(), status="done", done_note=note or str(_l("原因已消除,系统自动关闭")))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def close_stale_tasks(session, kind: str, object_type: str, keep_ids: set[int], now: datetime) -> int:
    """Close every open task of `kind` whose object is no longer in `keep_ids` (set-based, for jobs)."""
    query = update(Task).where(Task.kind == kind, Task.object_type == object_type, Task.done_at.is_(None))
    if keep_ids:
        query = query.where(Task.object_id.not_in(keep_ids))
    result = session.execute(
        query.values(done_at=now, status="done", done_note=str(_l("原因已消除,系统自动关闭"))).execution_options(
            synchronize_session=False
        )
    )
    return result.rowcount or 0


def sync_tasks(session, kind: str, object_type: str, rows: list[dict], now: datetime, keep=None, close_note: str | None = None) -> tuple[int, int]:
    """Set-based `ensure_task` + `close_stale_tasks` for a job: one open task of `kind` for each row
    (`object_id`, `title` and any of `estate_id`, `assignee_id`, `role_name`, `due_at`, `detail`),
    the open ones whose object is not among `rows` (or not selected by `keep`, a SELECT of ids)
    closed. A few statements however many objects are late. Returns (created, closed)."""
    from sqlalchemy import insert

    open_ids = set(
        session.scalars(select(Task.object_id).where(Task.kind == kind, Task.object_type == object_type, Task.done_at.is_(None)))
    )
    fields = ("estate_id", "assignee_id", "role_name", "due_at", "detail")
    new, seen = [], set()
    for row in rows:
        oid = row["object_id"]
        if oid in open_ids or oid in seen:
            continue
        seen.add(oid)
        values = {f: row.get(f) for f in fields}
        values.update(kind=kind, object_type=object_type, object_id=oid, title=str(row["title"])[:200], created_at=now, status="open")
        new.append(values)
    if new:
        session.execute(insert(Task), new)
    stale = update(Task).where(Task.kind == kind, Task.object_type == object_type, Task.done_at.is_(None))
    stale = stale.values(done_at=now, status="done", done_note=close_note or str(_l("原因已消除,系统自动关闭")))
    stale = stale.execution_options(synchronize_session=False)
    if keep is not None:
        return len(new), session.execute(stale.where(Task.object_id.not_in(keep))).rowcount or 0
    gone = sorted(open_ids - {r["object_id"] for r in rows})
    closed = 0
    for start in range(0, len(gone), 5000):
        closed += session.execute(stale.where(Task.object_id.in_(gone[start : start + 5000]))).rowcount or 0
    return len(new), closed


def tasks_for_user_clause(staff_id: int | None, role_names: set[str]):
    """SQL condition: tasks assigned to this staff member or to one of the user's roles."""
    conds = []
    if staff_id is not None and (not isinstance(staff_id, int) or staff_id):  # an id or a scalar subquery
        conds.append(Task.assignee_id == staff_id)
    if role_names:
        conds.append(and_(Task.assignee_id.is_(None), Task.role_name.in_(role_names)))
    return or_(*conds) if conds else Task.id.is_(None)

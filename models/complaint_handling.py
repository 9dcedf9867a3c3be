"""Handling a complaint: the moves of `complaint_flow` — assign, escalate, reply,
revisit done or reopened, close, turn into a repair order — the revisit hook that moves it on,
registration from another area's record, and the scan of replies overdue."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models.base import ValidationError, parse_choice, parse_dt, parse_int, parse_text, require_text, utcnow
from models.complaint import (
    ESCALATION_ALIASES,
    LEADERSHIP_ROLE,
    OFFICE_HEAD_ROLE,
    OPEN_STATES,
    Complaint,
    ComplaintStatus,
    EscalationTarget,
    complaint_flow,
)
from models.master import Department, Owner
from models.revisit import Revisit, RevisitStatus, Satisfaction, revisit_flow, revisits_of, schedule_revisit
from models.task import close_tasks, ensure_task
from models.workflow import Actor, TransitionRefused

logger = logging.getLogger(__name__)

REVISIT_DAYS_DEFAULT = 3  # a complaint's revisit is due this many days after the reply unless set


@complaint_flow.add("assign", OPEN_STATES, ComplaintStatus.processing.value, _l("交办部门"))
def _assign(c: Complaint, actor, now, session, department_id=None, note=None):
    """Hand the complaint to the department responsible (处理中)."""
    dept_id = parse_int("department_id", department_id)
    dept = session.get(Department, dept_id)
    if dept is None:
        raise ValidationError("department_id", _l("部门不存在"))
    if dept.estate_id not in (None, c.estate_id):
        raise ValidationError("department_id", _l("该部门不属于投诉所在的小区/大厦"))
    c.department_id = dept.id
    c.department = dept
    note = parse_text("note", note, 500)
    return f"交 {dept.name} 处理" + (f":{note}" if note else "")


@complaint_flow.add("escalate", OPEN_STATES, ComplaintStatus.processing.value, _l("上报"))
def _escalate(c: Complaint, actor, now, session, to=None, note=None):
    """上报: what the department cannot handle goes to its head or to the company's leadership."""
    if isinstance(to, str):
        to = ESCALATION_ALIASES.get(to.strip(), to.strip())
    target = parse_choice("to", to, EscalationTarget)
    note = parse_text("note", note, 500)
    assignee_id, role = None, None
    if target == EscalationTarget.department_head.value:
        head_id = c.department.head_id if c.department is not None else None
        if head_id is not None:
            assignee_id = head_id
        else:
            role = OFFICE_HEAD_ROLE
    else:
        role = LEADERSHIP_ROLE
    close_tasks(session, "complaint_escalated", "complaint", c.id, now, note=str(_l("已再次上报")))
    who = EscalationTarget.label_of(target)
    ensure_task(
        session,
        "complaint_escalated",
        "complaint",
        c.id,
        f"投诉 {c.number} 上报{who}:{c.content[:60]}",
        estate_id=c.estate_id,
        assignee_id=assignee_id,
        role_name=role,
        due_at=max(c.reply_due_at, now + timedelta(hours=4)) if c.replied_at is None else None,
        detail=note,
        now=now,
    )
    c.escalated_to = target
    c.escalated_at = now
    c.escalation_note = note
    return f"上报{who}" + (f":{note}" if note else "")


@complaint_flow.add("reply", OPEN_STATES, ComplaintStatus.replied.value, _l("答复"))
def _reply(c: Complaint, actor, now, session, reply=None, revisit_due_at=None):
    """答复 the complainant; a revisit follows (due `revisit_due_at`, by default 3 days on)."""
    text = require_text("reply", reply, 2000, _l("请填写答复内容"))
    due = parse_dt("revisit_due_at", revisit_due_at)
    if due is None:
        due = now + timedelta(days=int(current_app.config.get("COMPLAINT_REVISIT_DAYS", REVISIT_DAYS_DEFAULT)))
    if due <= now:
        raise ValidationError("revisit_due_at", _l("回访期限必须晚于答复时间"))
    if due > now + timedelta(days=60):
        raise ValidationError("revisit_due_at", _l("回访期限不能超过答复后 60 天"))
    first = c.replied_at is None
    c.reply = text
    if first:  # the 24-hour rule is about the first answer; a later one follows a failed revisit
        c.replied_at = now
        c.replied_by_id = actor.user_id
    close_tasks(session, ["complaint_reply_overdue", "complaint_escalated"], "complaint", c.id, now, note=str(_l("已答复")))
    _schedule_complaint_revisit(session, c, now, due)
    late = "" if not first or c.replied_at <= c.reply_due_at else "(超过答复时限)"
    return f"{'答复' if first else '再次答复'}{late}:{text[:100]}"


def _schedule_complaint_revisit(session, c: Complaint, now: datetime, due: datetime) -> Revisit:
    rounds = [r.round for r in revisits_of(session, "complaint", c.id)]
    return schedule_revisit(
        session,
        "complaint",
        c.id,
        estate_id=c.estate_id,
        not_before=now,
        due_at=due,
        round=max(rounds, default=0) + 1,
        subject=f"投诉 {c.number} {c.category_label}:{c.content[:40]}",
        contact_name=c.who,
        contact_phone=c.phone,
        complaint_id=c.id,
    )


@complaint_flow.add("revisit_done", [ComplaintStatus.replied.value], ComplaintStatus.revisited.value, _l("回访完成"))
def _revisit_done(c: Complaint, actor, now, session, revisit_id=None):
    return str(_l("回访完成,业户意见已记录"))


@complaint_flow.add("reopen", [ComplaintStatus.replied.value], ComplaintStatus.processing.value, _l("回访发现问题,重新处理"))
def _reopen(c: Complaint, actor, now, session, problem=None):
    """The revisit found the problem unsolved: back to 处理中 for another answer and another revisit."""
    return f"回访发现问题:{problem or ''}"


@complaint_flow.add("close", [ComplaintStatus.replied.value, ComplaintStatus.revisited.value], ComplaintStatus.closed.value, _l("关闭"))
def _close(c: Complaint, actor, now, session, valid=None, satisfaction=None, note=None):
    """关闭: decide whether it was a valid complaint (有效投诉) and record the complainant's satisfaction."""
    if valid is None or valid == "":
        raise ValidationError("valid", _l("关闭投诉前必须判定是否为有效投诉(valid:true 或 false)"))
    if isinstance(valid, bool):
        decided = valid
    elif isinstance(valid, str) and valid.strip().lower() in ("true", "1", "yes", "是", "有效"):
        decided = True
    elif isinstance(valid, str) and valid.strip().lower() in ("false", "0", "no", "否", "无效"):
        decided = False
    else:
        raise ValidationError("valid", _l("是否有效投诉只能是 true 或 false"))
    last = _last_revisit(session, c)
    satisfaction = parse_choice("satisfaction", satisfaction, Satisfaction, required=False)
    if satisfaction is None and last is not None and last.status == RevisitStatus.done.value:
        satisfaction = last.satisfaction
    if satisfaction is None:
        raise ValidationError("satisfaction", _l("请填写业户满意度(satisfied / basically_satisfied / dissatisfied)"))
    note = parse_text("note", note, 500)
    if c.status != ComplaintStatus.revisited.value:
        raise TransitionRefused(_l("投诉答复后还没有回访,不能关闭:请先在回访台登记回访"))
    c.valid = decided
    c.satisfaction = satisfaction
    c.closed_at = now
    c.close_note = note
    close_tasks(session, ["complaint_reply_overdue", "complaint_escalated"], "complaint", c.id, now)
    return f"{c.valid_label},{Satisfaction.label_of(satisfaction)}" + (f";{note}" if note else "")


@complaint_flow.add("spawn_repair", [*OPEN_STATES, ComplaintStatus.replied.value, ComplaintStatus.revisited.value], None, _l("转维修单"))
def _spawn_repair(c: Complaint, actor, now, session, category=None, urgency=None, problem=None, emergency_reason=None, location=None):
    """A complaint about something broken becomes a repair order (source 投诉), linked both ways."""
    if c.spawned_order_id is not None:
        raise TransitionRefused(_l("这条投诉已经转过维修单了"))
    from models.rectification import register_repair_from_complaint

    order = register_repair_from_complaint(
        session, c, actor, now, category=category, urgency=urgency, problem=problem, emergency_reason=emergency_reason, location=location
    )
    c.spawned_order_id = order.id
    return f"已转维修单 {order.number}"


def _last_revisit(session, c: Complaint) -> Revisit | None:
    rows = revisits_of(session, "complaint", c.id)
    return rows[-1] if rows else None


@revisit_flow.on("record")
def _complaint_revisited(revisit: Revisit, event, actor, now, session) -> None:
    """A recorded revisit of a complaint moves it to 已回访, or back to 处理中 when a problem remains."""
    if revisit.object_type != "complaint":
        return
    complaint = session.get(Complaint, revisit.object_id)
    if complaint is None or complaint.status != ComplaintStatus.replied.value:
        return
    system = Actor.system_actor()
    if revisit.has_problem:
        complaint_flow.apply(session, complaint, "reopen", system, now, {"problem": revisit.problem})
    else:
        complaint_flow.apply(session, complaint, "revisit_done", system, now, {"revisit_id": revisit.id})


def register_complaint(session, actor, now: datetime | None = None, **fields) -> Complaint:
    """Create a complaint from another record (a walk-in visit, a call, a survey answer)."""
    from app.scope import prepare_write

    complaint = Complaint(**fields)
    if complaint.received_at is None:
        complaint.received_at = now or utcnow()
    with session.no_autoflush:
        prepare_write(complaint, session)
    session.add(complaint)
    session.flush()
    complaint_flow.log(session, complaint, "register", actor, now or utcnow(), note=str(_l("受理投诉")))
    return complaint


def register_complaint_from_source(session, actor: Actor, now: datetime, source, source_type: str, *, category: str,
                                   content: str, channel: str, received_at: datetime, complainant: str | None = None,
                                   phone: str | None = None, department_id=None) -> Complaint:
    """登记投诉 from another area's record (a walk-in visit, a call, an owner visit, a survey answer):
    the complaint takes the record's estate, unit and owner and names the record as its source; the
    record is linked to it (`complaint_id`). The caller has checked the record and the actor's right."""
    complaint = register_complaint(
        session,
        actor,
        now,
        estate_id=source.estate_id,
        unit_id=source.unit_id,
        owner_id=source.owner_id,
        channel=channel,
        category=category,
        content=content,
        complainant=complainant,
        phone=phone,
        received_at=received_at,
        source_type=source_type,
        source_id=source.id,
        department_id=parse_int("department_id", department_id, required=False),
    )
    source.complaint_id = complaint.id
    return complaint


# ---------------------------------------------------------------- overdue
def scan_reply_overdue(session, now: datetime) -> dict[str, int]:
    """complaint_reply_overdue: not answered 24 h after receipt → a task for the department head
    (or the 管理处主任 when no head is known). Set-based: a few statements however many are late."""
    from sqlalchemy import and_

    from models.task import sync_tasks

    late = and_(Complaint.status.in_(OPEN_STATES), Complaint.replied_at.is_(None), Complaint.reply_due_at < now)
    query = (
        select(Complaint.id, Complaint.number, Complaint.complainant, Complaint.content, Complaint.estate_id,
               Complaint.reply_due_at, Department.head_id, Owner.name.label("owner_name"))
        .outerjoin(Department, Department.id == Complaint.department_id)
        .outerjoin(Owner, Owner.id == Complaint.owner_id)
        .where(late)
    )
    rows = []
    for c in session.execute(query):
        who = c.complainant or c.owner_name or str(_l("未留名"))
        rows.append(
            {
                "object_id": c.id,
                "title": f"投诉 {c.number} 超过 24 小时未答复:{who} {c.content[:40]}",
                "estate_id": c.estate_id,
                "assignee_id": c.head_id,
                "role_name": None if c.head_id else OFFICE_HEAD_ROLE,
                "due_at": c.reply_due_at,
            }
        )
    created, closed = sync_tasks(session, "complaint_reply_overdue", "complaint", rows, now, keep=select(Complaint.id).where(late))
    return {"complaint_reply_overdue": created, "complaint_reply_overdue_closed": closed}

"""The moves of a 维修单 (SPEC §4/§11), registered on `models.repair.repair_flow`.

Each handler checks the input and the actor's relation to the order (section heads act for
their own section, repair staff only on their own orders), changes the row, and opens or closes
the tasks the move creates or ends. `Workflow.apply` has already checked the state and the
permission `can_<move>` on `RepairOrder`, and writes the event.

Choices where the handbook is silent:
- an emergency is dispatched straight to 已接单 (no pick-up, 维修单 一.8);
- `rectify` is allowed from 已回访 and from 已回单 (a revisit found a problem before all revisits
  of the order were done); `revisit_done` is the follow-up's system move (duty room may do it);
- a 退单 the manager does not sign goes back to the state it came from;
- merging a duplicate cancels it with a pointer to the order it was merged into;
- an objective delay without a new due time stops the return clock; with one, that is the due time.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from models.base import (
    PermissionDenied,
    ValidationError,
    fmt_dt,
    fmt_money,
    money,
    parse_bool,
    parse_decimal,
    parse_dt,
    parse_int,
    parse_money,
    require_text,
)
from models.master import Department, Staff
from models.repair import (
    CLOCK_TOLERANCE,
    OBJECT_TYPE,
    OPEN_STATES,
    TERMINAL,
    ZERO,
    DelayKind,
    MaterialProvider,
    RepairAssignment,
    RepairMaterial,
    RepairOrder,
    can_backdate,
    optional_text,
    parse_code,
    repair_flow,
)
from models.repair import (
    RepairStatus as S,
)
from models.repair_purchase import (
    PurchaseRequisition,
    file_requisition,
    parse_items,
    requisition_flow,
    resume_clock,
)
from models.system import setting
from models.task import close_tasks, ensure_task
from models.workflow import Actor, TransitionRefused

SECTION_HEAD = "处主任"
REPAIR_STAFF = "维修人员"
DUTY_ROOM = "总值班员"
RECEPTION = "接待员"
ORDER_TASK_KINDS = [
    "not_picked_up",
    "not_returned",
    "material_not_reported",
    "month_end_not_returned",
    "reject_approval",
    "message",
]
SECTION_KINDS = ("section", "engineering")
MAX_MATERIAL_LINES = 50


# ---------------------------------------------------------------- who may act on this order
def is_company(actor) -> bool:
    from app.scope import company_roles  # app.scope imports models: import at use, not at load

    return actor.system or bool(actor.role_names & company_roles())


def check_own(order: RepairOrder, actor, may_take: bool = False) -> None:
    """Repair staff start and complete only the orders assigned to them. An order of their section
    that nobody was assigned to becomes theirs when they start it (`may_take`)."""
    if is_company(actor):
        return
    if order.assignee_id is None:
        if may_take and can_take(order, actor):
            return
        raise PermissionDenied(_l("这张维修单还没有指派维修人员,请处主任先指派"))
    if order.assignee_id != actor.staff_id:
        raise PermissionDenied(_l("只能处理派给自己的维修单(本单维修人员:%(name)s)", name=order.assignee_name))


def can_take(order: RepairOrder, actor) -> bool:
    """A repair worker of the order's section (or of no section) may take an unassigned order."""
    staff = actor.staff
    if staff is None or not staff.active or order.assignee_id is not None:
        return False
    return staff.department_id is None or staff.department_id == order.department_id


def check_section(order: RepairOrder, actor) -> None:
    """A section head acts for their own section; the duty room and company roles for any."""
    if is_company(actor) or DUTY_ROOM in actor.role_names or SECTION_HEAD not in actor.role_names:
        return
    staff = actor.staff
    if staff is not None and staff.department_id and order.department_id and staff.department_id != order.department_id:
        raise PermissionDenied(_l("这张维修单派给了「%(dept)s」,只有该处可以处理", dept=order.department))


def section_target(order: RepairOrder) -> tuple[int | None, str | None]:
    """Tasks for the section go to its head, or to the section-head role when it has none."""
    if order.department is not None and order.department.head_id:
        return order.department.head_id, None
    return None, SECTION_HEAD


def manager_role(order: RepairOrder) -> str:
    """退单 are signed by the 大厦管理部经理 for a commercial building, else the 工程部经理."""
    return "大厦管理部经理" if order.estate is not None and order.estate.kind == "commercial" else "工程部经理"


# ---------------------------------------------------------------- input
def stated_time(field: str, value, now: datetime, earliest: datetime | None = None, earliest_msg=None, backdate_actor=None) -> datetime:
    """A time written on the form (开工时间, 完工时间, a back-dated dispatch); default now."""
    at = parse_dt(field, value)
    if at is None:
        return max(now, earliest) if earliest is not None else now
    if at > now + CLOCK_TOLERANCE:
        raise ValidationError(field, _l("时间不能晚于现在"))
    if earliest is not None and at < earliest:
        raise ValidationError(field, earliest_msg or _l("时间早于上一步"))
    if backdate_actor is not None and at < now - CLOCK_TOLERANCE and not can_backdate(backdate_actor):
        raise ValidationError(field, _l("只有总值班员或系统管理员可以补录以前的时间"))
    return at


def stated_note(label, at: datetime, now: datetime) -> str:
    """「(实际开工 2026-11-20 08:50)」 when a time written on the form differs from when it was entered."""
    return str(_l("(实际%(l)s %(t)s)", l=label, t=fmt_dt(at))) if abs(now - at) > CLOCK_TOLERANCE else ""


def load_department(session, order: RepairOrder, value, field: str = "department_id") -> Department:
    if value is None or value == "":
        raise ValidationError(field, _l("请选择维修部门(处)"))
    dept = session.get(Department, parse_int(field, value))
    if dept is None:
        raise ValidationError(field, _l("部门不存在"))
    if dept.kind not in SECTION_KINDS:
        raise ValidationError(field, _l("「%(d)s」不是维修处,只能派给维修处(如水电处)或工程部", d=dept.name))
    if dept.estate_id is not None and dept.estate_id != order.estate_id:
        raise ValidationError(field, _l("「%(d)s」属于其他小区/大厦,不能派到这里", d=dept.name))
    return dept


def load_staff(session, order: RepairOrder, value, dept: Department | None, field: str = "assignee_id") -> Staff:
    if value is None or value == "":
        raise ValidationError(field, _l("请选择维修人员"))
    staff = session.get(Staff, parse_int(field, value))
    if staff is None or not staff.active:
        raise ValidationError(field, _l("员工不存在或已离职"))
    if dept is not None and staff.department_id and staff.department_id != dept.id:
        raise ValidationError(field, _l("%(name)s 不属于「%(dept)s」", name=staff.name, dept=dept.name))
    if staff.estates and order.estate_id not in staff.estate_ids:
        raise ValidationError(field, _l("%(name)s 不负责该小区/大厦", name=staff.name))
    if staff.user is not None and not Actor(user=staff.user).can("can_complete", "RepairOrder"):
        raise ValidationError(field, _l("%(name)s 没有维修人员的权限(不能开工、完工)", name=staff.name))
    return staff


def parse_materials(value) -> list[dict]:
    """使用维修材料 lines: [{name, provider: owner/company, spec, quantity, unit_price}]."""
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise ValidationError("materials", _l("材料明细必须是列表"))
    if len(value) > MAX_MATERIAL_LINES:
        raise ValidationError("materials", _l("材料最多 %(n)s 行", n=MAX_MATERIAL_LINES))
    lines = []
    for i, row in enumerate(value):
        prefix = f"materials[{i}]"
        if not isinstance(row, dict):
            raise ValidationError(prefix, _l("每行材料必须是对象"))
        extra = sorted(set(row) - {"name", "provider", "spec", "quantity", "unit_price"})
        if extra:
            raise ValidationError(f"{prefix}.{extra[0]}", _l("不认识的字段"))
        name = require_text(f"{prefix}.name", row.get("name"), 60, _l("请填写材料名称"))
        provider = parse_code(f"{prefix}.provider", row.get("provider") or MaterialProvider.company.value, MaterialProvider)
        quantity = parse_decimal(f"{prefix}.quantity", row.get("quantity"), required=False, positive=True)
        if quantity is None:
            raise ValidationError(f"{prefix}.quantity", _l("请填写数量"))
        price = parse_money(f"{prefix}.unit_price", row.get("unit_price"), required=provider == MaterialProvider.company.value)
        lines.append(
            {
                "name": name,
                "provider": provider,
                "spec": optional_text(f"{prefix}.spec", row.get("spec"), 60),
                "quantity": quantity,
                "unit_price": price if price is not None else ZERO,
            }
        )
    return lines


# ---------------------------------------------------------------- assignment history, tasks
def end_assignment(session, order: RepairOrder, at: datetime, reason: str) -> None:
    session.execute(
        update(RepairAssignment)
        .where(RepairAssignment.repair_order_id == order.id, RepairAssignment.ended_at.is_(None))
        .values(ended_at=at, end_reason=reason)
        .execution_options(synchronize_session=False)
    )


def hand_to(session, order: RepairOrder, staff: Staff, at: datetime, end_reason: str = "reassigned") -> None:
    end_assignment(session, order, at, end_reason)
    order.assignee_id = staff.id
    order.assignee = staff
    session.add(RepairAssignment(repair_order_id=order.id, staff_id=staff.id, department_id=order.department_id, started_at=at))


def wind_down(session, order: RepairOrder, now: datetime, reason: str) -> None:
    """The order leaves the work: its tasks close, the assignment ends, waiting requisitions are withdrawn."""
    close_tasks(session, ORDER_TASK_KINDS, OBJECT_TYPE, order.id, now)
    end_assignment(session, order, now, reason)
    waiting = session.scalars(
        select(PurchaseRequisition).where(
            PurchaseRequisition.repair_order_id == order.id, PurchaseRequisition.status.in_(["pending", "unavailable"])
        )
    ).all()
    for req in waiting:
        requisition_flow.apply(session, req, "cancel", Actor.system_actor(), now, {"reason": str(_l("维修单「%(s)s」,请购撤销", s=S.label_of(reason)))})
    order.paused_since = None


def _days(session, key: str) -> timedelta:
    return timedelta(days=setting(session, key))


def _who(dept: Department | None, staff: Staff | None) -> str:
    return " / ".join(x for x in [dept.name if dept else "", staff.name if staff else ""] if x)


# ---------------------------------------------------------------- labels of logged actions that are not moves
repair_flow.add("register", [], S.registered.value, _l("登记"))(lambda *a, **k: None)
repair_flow.add("merged", [], None, _l("合并了重复报修"))(lambda *a, **k: None)


# ---------------------------------------------------------------- the moves
@repair_flow.add("dispatch", [S.registered], S.dispatched.value, _l("派单"))
def _dispatch(order: RepairOrder, actor, now, session, department_id=None, assignee_id=None, dispatched_at=None, note=None):
    dept = load_department(session, order, department_id)
    staff = load_staff(session, order, assignee_id, dept) if assignee_id not in (None, "") else None
    at = stated_time("dispatched_at", dispatched_at, now, order.recorded_at, _l("派单时间不能早于登记时间"), backdate_actor=actor)
    note = optional_text("note", note, 500)
    order.department_id = dept.id
    order.department = dept
    order.dispatched_at = at
    order.dispatched_by_id = actor.user_id
    order.return_due_at = at + _days(session, "return_days")
    if staff is not None:
        hand_to(session, order, staff, at)
    text = str(_l("派给 %(who)s", who=_who(dept, staff))) + stated_note(_l("派单"), at, now)
    if note:
        text += f";{note}"
    if order.is_emergency:
        # 急修: the section sends someone at once, nobody comes to pick the order up
        order.pickup_due_at = None
        order.picked_up_at = at
        order.picked_up_by_id = actor.user_id
        order.material_due_at = at + _days(session, "material_report_days")
        return text + str(_l("(急修:立即派人赶赴现场,不必取单)")), S.accepted.value
    order.pickup_due_at = at + timedelta(hours=setting(session, "pickup_hours"))
    return text


@repair_flow.add("accept", [S.dispatched], S.accepted.value, _l("取单"))
def _accept(order: RepairOrder, actor, now, session, assignee_id=None, note=None):
    check_section(order, actor)
    if assignee_id not in (None, ""):
        hand_to(session, order, load_staff(session, order, assignee_id, order.department), now)
    order.picked_up_at = now
    order.picked_up_by_id = actor.user_id
    order.material_due_at = now + _days(session, "material_report_days")
    close_tasks(session, "not_picked_up", OBJECT_TYPE, order.id, now)
    late = order.pickup_due_at is not None and now > order.pickup_due_at
    parts = [str(_l("维修人员:%(n)s", n=order.assignee_name))] if order.assignee_id else []
    if late:
        parts.append(str(_l("超过取单期限 %(t)s", t=fmt_dt(order.pickup_due_at))))
    if note:
        parts.append(optional_text("note", note, 500) or "")
    return ";".join(p for p in parts if p) or None


@repair_flow.add("assign", [S.dispatched, S.accepted, S.in_progress, S.rectifying], None, _l("指派维修人员"))
def _assign(order: RepairOrder, actor, now, session, assignee_id=None, note=None):
    check_section(order, actor)
    staff = load_staff(session, order, assignee_id, order.department)
    if staff.id == order.assignee_id:
        raise ValidationError("assignee_id", _l("这张维修单已经派给 %(n)s", n=staff.name))
    previous = order.assignee_name
    hand_to(session, order, staff, now)
    return str(_l("%(a)s → %(b)s", a=previous or "—", b=staff.name))


@repair_flow.add("transfer", [S.dispatched, S.accepted, S.in_progress], None, _l("转单"))
def _transfer(order: RepairOrder, actor, now, session, reason=None, department_id=None, assignee_id=None):
    check_section(order, actor)
    reason = require_text("reason", reason, 500, _l("请填写转单原因"))
    if department_id in (None, "") and assignee_id in (None, ""):
        raise ValidationError("department_id", _l("请选择转给哪个处或哪位维修人员"))
    dept = load_department(session, order, department_id) if department_id not in (None, "") else order.department
    staff = load_staff(session, order, assignee_id, dept) if assignee_id not in (None, "") else None
    moved = dept is not None and dept.id != order.department_id
    if not moved and (staff is None or staff.id == order.assignee_id):
        raise ValidationError("department_id", _l("转单对象与当前相同"))
    before = _who(order.department, order.assignee)
    order.transfer_count = (order.transfer_count or 0) + 1
    target = None
    if moved:
        end_assignment(session, order, now, "transferred")
        order.department_id = dept.id
        order.department = dept
        order.assignee_id = None
        order.assignee = None
        order.started_at = None
        if order.is_emergency:
            order.picked_up_at = now
            order.picked_up_by_id = actor.user_id
            order.material_due_at = now + _days(session, "material_report_days")
            target = S.accepted.value
        else:
            order.picked_up_at = None
            order.picked_up_by_id = None
            order.material_due_at = None
            order.pickup_due_at = now + timedelta(hours=setting(session, "pickup_hours"))
            target = S.dispatched.value
        close_tasks(session, ["not_picked_up", "material_not_reported", "message"], OBJECT_TYPE, order.id, now)
    if staff is not None:
        hand_to(session, order, staff, now, "transferred")
    note = str(_l("%(a)s → %(b)s;原因:%(r)s", a=before or "—", b=_who(order.department, order.assignee), r=reason))
    return (note, target) if target else note


@repair_flow.add("report_delay", [S.in_progress, S.rectifying], None, _l("报告延期"))
def _report_delay(order: RepairOrder, actor, now, session, kind=None, reason=None, new_due_at=None, items=None):
    check_section(order, actor)
    kind = parse_code("kind", kind, DelayKind)
    reason = require_text("reason", reason, 1000, _l("请填写延期原因"))
    new_due = parse_dt("new_due_at", new_due_at)
    if new_due is not None and new_due <= now:
        raise ValidationError("new_due_at", _l("新的回单期限必须晚于现在"))
    lines = parse_items(items)
    if kind == DelayKind.objective.value and lines:
        raise ValidationError("items", _l("只有缺材料/备件才填写请购物品"))
    late = order.material_due_at is not None and now > order.material_due_at and order.delay_reported_at is None
    order.delay_kind = kind
    order.delay_reason = reason
    order.delay_reported_at = now
    parts = [f"{DelayKind.label_of(kind)}:{reason}"]
    if kind == DelayKind.objective.value:
        order.return_due_at = new_due
        parts.append(str(_l("新回单期限 %(t)s", t=fmt_dt(new_due))) if new_due else str(_l("未定新期限")))
    else:
        if new_due is not None:
            order.return_due_at = new_due
            parts.append(str(_l("新回单期限 %(t)s", t=fmt_dt(new_due))))
        requisition = file_requisition(session, order, actor, now, reason, lines)
        if order.paused_since is None:
            order.paused_since = now
        order.material_reported_late = order.material_reported_late or late
        parts.append(str(_l("已填请购单 %(n)s,等待材料期间回单计时暂停", n=requisition.number)))
        if late:
            parts.append(str(_l("超过接单后 3 天才上报缺料")))
    close_tasks(session, ["material_not_reported", "not_returned"], OBJECT_TYPE, order.id, now)
    return ";".join(parts)


@repair_flow.add("start", [S.accepted], S.in_progress.value, _l("开工"))
def _start(order: RepairOrder, actor, now, session, quoted_amount=None, owner_consent=None, fee_standard_id=None, fee_quantity=None, started_at=None):
    check_own(order, actor, may_take=True)
    fee = None
    if fee_standard_id not in (None, ""):
        from models.billing import FeeStandard  # 维修收费标准 (set by the administrator, kept by billing)

        fee = session.get(FeeStandard, parse_int("fee_standard_id", fee_standard_id))
        if fee is None or not fee.active or (fee.estate_id is not None and fee.estate_id != order.estate_id):
            raise ValidationError("fee_standard_id", _l("收费标准项目不存在、已停用或不适用于本小区/大厦"))
    quote = parse_money("quoted_amount", quoted_amount, required=False)
    if quote is None and fee is not None:
        quantity = parse_decimal("fee_quantity", 1 if fee_quantity in (None, "") else fee_quantity, positive=True)
        quote = money(fee.labour_price * quantity)
    consent = parse_bool("owner_consent", owner_consent, required=False)
    if order.paid:
        if quote is None:
            raise ValidationError("quoted_amount", _l("有偿维修开工前须按收费标准向业主报价"))
        if not consent:
            raise ValidationError("owner_consent", _l("有偿维修须征得业主认可报价后才能开工"))
    at = stated_time("started_at", started_at, now, order.picked_up_at or order.dispatched_at, _l("开工时间不能早于接单时间"))
    taken = order.assignee_id is None and actor.staff is not None and not actor.system
    if taken:
        hand_to(session, order, actor.staff, now)
    order.started_at = at
    order.quoted_amount = quote
    order.fee_standard_id = fee.id if fee is not None else None
    order.owner_consent = bool(consent)
    order.consent_at = now if consent else None
    when = stated_note(_l("开工"), at, now)
    if taken:
        when = str(_l("%(n)s 接手本单", n=actor.staff.name)) + when
    if quote is None:
        return when or None
    text = str(_l("报价 %(a)s 元", a=fmt_money(quote)))
    return text + (str(_l(",业主已认可")) if consent else "") + when


@repair_flow.add("complete", [S.in_progress, S.rectifying], S.awaiting_acceptance.value, _l("完工"))
def _complete(order: RepairOrder, actor, now, session, cause=None, work_hours=None, service_fee=None, materials=None, completed_at=None):
    check_own(order, actor)
    cause = require_text("cause", cause, 1000, _l("请填写造成维修原因、责任"))
    hours = parse_decimal("work_hours", work_hours, required=False)
    if hours is None:
        raise ValidationError("work_hours", _l("请填写维修工时(小时)"))
    if hours > 1000:
        raise ValidationError("work_hours", _l("维修工时不合理"))
    fee = parse_money("service_fee", service_fee, required=False)
    rectifying = order.status == S.rectifying
    if fee is None:
        fee = order.quoted_amount if (order.paid and not rectifying and order.quoted_amount is not None) else ZERO
    lines = parse_materials(materials)
    earliest = order.rectify_noticed_at if rectifying else order.started_at
    at = stated_time(
        "completed_at", completed_at, now, earliest, _l("完工时间不能早于整改通知时间") if rectifying else _l("完工时间不能早于开工时间")
    )
    round_no = (order.rectify_count or 0) + 1 if rectifying else 1
    for line in lines:
        order.materials.append(RepairMaterial(round=round_no, **line))
    if rectifying:
        order.service_fee = (order.service_fee or ZERO) + fee
        order.work_hours = (order.work_hours or 0) + hours
        order.cause = f"{order.cause or ''}\n{_l('整改')}:{cause}".strip()
    else:
        order.service_fee = fee
        order.work_hours = hours
        order.cause = cause
    order.completed_at = at
    resume_clock(order, now)
    order.recompute_totals()
    close_tasks(session, ["material_not_reported", "message"], OBJECT_TYPE, order.id, now)
    return str(_l("合计 %(a)s 元(%(w)s)", a=fmt_money(order.total), w=order.total_in_words)) + stated_note(_l("完工"), at, now)


@repair_flow.add("sign_off", [S.awaiting_acceptance], S.completed.value, _l("业主验收"))
def _sign_off(order: RepairOrder, actor, now, session, signed_by=None, satisfied=None, signed_at=None, note=None):
    if REPAIR_STAFF in actor.role_names and not actor.role_names & {RECEPTION, DUTY_ROOM}:
        check_own(order, actor)
    signed_by = require_text("signed_by", signed_by, 40, _l("请填写签字确认的业户姓名"))
    happy = parse_bool("satisfied", satisfied, required=False)
    happy = True if happy is None else happy
    at = stated_time("signed_at", signed_at, now, order.completed_at, _l("验收时间不能早于完工时间"))
    order.owner_signed_by = signed_by
    order.owner_signed_at = at
    order.satisfied = happy
    text = str(_l("%(who)s 签字确认,%(s)s", who=signed_by, s=order.satisfied_label))
    note = optional_text("note", note, 500)
    return f"{text};{note}" if note else text


@repair_flow.add("return", [S.completed], S.returned.value, _l("回单"))
def _return(order: RepairOrder, actor, now, session, note=None):
    order.returned_at = now
    order.returned_by_id = actor.user_id
    close_tasks(session, ["not_returned", "month_end_not_returned", "message"], OBJECT_TYPE, order.id, now)
    late = order.return_due_at is not None and now > order.return_due_at
    parts = [str(_l("超过回单期限 %(t)s", t=fmt_dt(order.return_due_at)))] if late else []
    if note:
        parts.append(optional_text("note", note, 500) or "")
    return ";".join(p for p in parts if p) or None


@repair_flow.add("reject", [S.dispatched, S.accepted], S.reject_pending.value, _l("退单"))
def _reject(order: RepairOrder, actor, now, session, reason=None):
    check_section(order, actor)
    reason = require_text("reason", reason, 1000, _l("退单必须写明理由"))
    order.reject_reason = reason
    order.reject_from_status = order.status
    order.reject_requested_at = now
    close_tasks(session, ["not_picked_up", "material_not_reported"], OBJECT_TYPE, order.id, now)
    ensure_task(
        session,
        "reject_approval",
        OBJECT_TYPE,
        order.id,
        _l("退单待签署:%(n)s(%(d)s)", n=order.number, d=order.department),
        estate_id=order.estate_id,
        role_name=manager_role(order),
        detail=reason,
        now=now,
    )
    return reason


@repair_flow.add("approve_reject", [S.reject_pending], S.rejected.value, _l("签署退单"))
def _approve_reject(order: RepairOrder, actor, now, session, approved=None, opinion=None):
    approved = parse_bool("approved", approved, required=False)
    approved = True if approved is None else approved
    opinion = optional_text("opinion", opinion, 1000)
    if not approved and not opinion:
        raise ValidationError("opinion", _l("不同意退单时请写明意见"))
    order.reject_decided_at = now
    order.reject_decided_by_id = actor.user_id
    order.reject_opinion = opinion
    close_tasks(session, "reject_approval", OBJECT_TYPE, order.id, now)
    if not approved:
        back = order.reject_from_status or S.dispatched.value
        if back == S.dispatched.value and order.pickup_due_at is not None:
            order.pickup_due_at = now + timedelta(hours=setting(session, "pickup_hours"))
        return str(_l("不同意退单:%(o)s", o=opinion)), back
    wind_down(session, order, now, S.rejected.value)
    return str(_l("同意退单")) + (f":{opinion}" if opinion else "")


@repair_flow.add("cancel", OPEN_STATES, S.cancelled.value, _l("取消"))
def _cancel(order: RepairOrder, actor, now, session, reason=None):
    reason = require_text("reason", reason, 500, _l("请填写取消原因"))
    order.cancel_reason = reason
    order.cancelled_at = now
    wind_down(session, order, now, S.cancelled.value)
    return reason


@repair_flow.add("urge", [S.registered, S.dispatched, S.accepted, S.in_progress, S.rectifying], None, _l("催单"))
def _urge(order: RepairOrder, actor, now, session, note=None, by=None):
    minutes = setting(session, "urge_cooldown_minutes")
    if order.last_urged_at is not None and now < order.last_urged_at + timedelta(minutes=minutes):
        wait = math.ceil((order.last_urged_at + timedelta(minutes=minutes) - now).total_seconds() / 60)
        raise TransitionRefused(
            _l("%(m)s 分钟内只能催单一次(上次 %(t)s),请 %(w)s 分钟后再催", m=minutes, t=fmt_dt(order.last_urged_at), w=wait)
        )
    note = optional_text("note", note, 500)
    by = optional_text("by", by, 40)
    order.urge_count = (order.urge_count or 0) + 1
    order.last_urged_at = now
    if order.assignee_id:
        assignee_id, role = order.assignee_id, None
    elif order.status == S.registered:
        assignee_id, role = None, DUTY_ROOM
    else:
        assignee_id, role = section_target(order)
    title = _l("业户催单(第 %(n)s 次):%(no)s %(addr)s", n=order.urge_count, no=order.number, addr=order.address)
    task, created = ensure_task(
        session, "message", OBJECT_TYPE, order.id, title, estate_id=order.estate_id, assignee_id=assignee_id, role_name=role, detail=note, now=now
    )
    if not created:
        task.title = str(title)[:200]
        task.detail = note or task.detail
    parts = [str(_l("第 %(n)s 次催单", n=order.urge_count))]
    if by:
        parts.append(str(_l("催单人:%(b)s", b=by)))
    if note:
        parts.append(note)
    return ";".join(parts)


@repair_flow.add("merge", [S.registered, S.dispatched, S.accepted], S.cancelled.value, _l("合并到已有维修单"))
def _merge(order: RepairOrder, actor, now, session, into_id=None, into_number=None):
    if into_id not in (None, ""):
        target = session.get(RepairOrder, parse_int("into_id", into_id))
        field = "into_id"
    elif isinstance(into_number, str) and into_number.strip():
        target = session.scalar(select(RepairOrder).where(RepairOrder.number == into_number.strip()))
        field = "into_number"
    else:
        raise ValidationError("into_id", _l("请选择要合并到的维修单"))
    if target is None or target.estate_id != order.estate_id:
        raise ValidationError(field, _l("同一小区/大厦中没有这张维修单"))
    if target.id == order.id:
        raise ValidationError(field, _l("不能合并到自己"))
    if target.status in TERMINAL or target.merged_into_id:
        raise ValidationError(field, _l("维修单 %(n)s 已%(s)s,不能合并进去", n=target.number, s=target.status_label))
    order.merged_into_id = target.id
    order.cancel_reason = str(_l("重复报修,已合并到 %(n)s", n=target.number))
    order.cancelled_at = now
    wind_down(session, order, now, S.cancelled.value)
    extra = str(_l("重复报修 %(n)s(%(who)s %(phone)s):%(p)s", n=order.number, who=order.resident_name, phone=order.contact_phone or "", p=order.problem[:100]))
    target.note = f"{target.note}\n{extra}" if target.note else extra
    repair_flow.log(session, target, "merged", actor, now, note=extra)
    return order.cancel_reason


@repair_flow.add("revisit_done", [S.returned], S.revisited.value, _l("回访完成"))
def _revisit_done(order: RepairOrder, actor, now, session, note=None):
    order.revisited_at = now
    return optional_text("note", note, 500)


@repair_flow.add("rectify", [S.revisited, S.returned], S.rectifying.value, _l("整改"))
def _rectify(order: RepairOrder, actor, now, session, notice=None):
    notice = require_text("notice", notice, 2000, _l("请填写整改通知内容"))
    order.rectify_count = (order.rectify_count or 0) + 1
    order.rectify_notice = notice
    order.rectify_noticed_at = now
    return str(_l("第 %(n)s 次整改:%(t)s", n=order.rectify_count, t=notice))


@repair_flow.add("close", [S.revisited], S.closed.value, _l("关闭"))
def _close(order: RepairOrder, actor, now, session, note=None):
    order.closed_at = now
    return optional_text("note", note, 500)


def allowed_for(order: RepairOrder, actor, name: str) -> bool:
    """Whether the show page offers a move to this actor: own orders for repair staff, own section
    for section heads (the permission and the state are checked by the workflow)."""
    try:
        if name in ("start", "complete"):
            check_own(order, actor, may_take=name == "start")
        elif name == "sign_off" and REPAIR_STAFF in actor.role_names and not actor.role_names & {RECEPTION, DUTY_ROOM}:
            check_own(order, actor)
        elif name in ("accept", "assign", "transfer", "report_delay", "reject"):
            check_section(order, actor)
    except PermissionDenied:
        return False
    return True

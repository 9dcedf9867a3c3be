"""What is late on the repair side (overdue scan) and what is not back at month end (维修单 一.6).

Set-based: each rule is one SELECT of the late orders (the SQL twin of the order's pure deadline
rule), one SELECT of the open tasks of that kind, one INSERT of the missing tasks and one UPDATE
closing the tasks whose cause is gone — a few queries however many orders there are.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, insert, select, update

from models.base import fmt_dt, local
from models.master import Department, Estate
from models.repair import OBJECT_TYPE, PROCESSED_NOT_BACK, RepairOrder
from models.repair import RepairStatus as S
from models.repair_purchase import PurchaseRequisition, RequisitionStatus
from models.task import Task

SECTION_HEAD = "处主任"
DUTY_ROOM = "总值班员"


def _sync(session, kind: str, object_type: str, condition, rows: list[dict], now: datetime) -> tuple[int, int]:
    """Open a task for each late object without one; close the open ones no longer late.

    `rows` are task values for the late objects; `condition` selects the ids of the late objects
    (the same rule, so the closing UPDATE never needs a list of ids)."""
    open_ids = set(
        session.scalars(select(Task.object_id).where(Task.kind == kind, Task.object_type == object_type, Task.done_at.is_(None)))
    )
    new = [r for r in rows if r["object_id"] not in open_ids]
    if new:
        session.execute(
            insert(Task),
            [dict(r, kind=kind, object_type=object_type, created_at=now, status="open") for r in new],
        )
    closed = session.execute(
        update(Task)
        .where(Task.kind == kind, Task.object_type == object_type, Task.done_at.is_(None), Task.object_id.not_in(condition))
        .values(done_at=now, status="done", done_note=str(_l("原因已消除,系统自动关闭")))
        .execution_options(synchronize_session=False)
    ).rowcount or 0
    return len(new), closed


def _order_rows(session, where, title: Callable, due: Callable, target: Callable) -> list[dict]:
    query = (
        select(
            RepairOrder.id,
            RepairOrder.number,
            RepairOrder.estate_id,
            RepairOrder.status,
            RepairOrder.pickup_due_at,
            RepairOrder.return_due_at,
            RepairOrder.material_due_at,
            Department.name.label("department"),
            Department.head_id,
            Estate.kind.label("estate_kind"),
        )
        .outerjoin(Department, Department.id == RepairOrder.department_id)
        .join(Estate, Estate.id == RepairOrder.estate_id)
        .where(where)
    )
    rows = []
    for r in session.execute(query):
        assignee_id, role = target(r)
        rows.append(
            {
                "object_id": r.id,
                "estate_id": r.estate_id,
                "title": str(title(r))[:200],
                "due_at": due(r),
                "assignee_id": assignee_id,
                "role_name": role,
            }
        )
    return rows


def _section(r) -> tuple[int | None, str | None]:
    return (r.head_id, None) if r.head_id else (None, SECTION_HEAD)


def _duty_room(r) -> tuple[None, str]:
    return None, DUTY_ROOM


def _manager(r) -> tuple[None, str]:
    return None, "大厦管理部经理" if r.estate_kind == "commercial" else "工程部经理"


def scan_orders(session, now: datetime) -> dict[str, int]:
    """The repair part of `overdue_scan`: orders not picked up, not returned, material not reported,
    requisitions not bought."""
    summary: dict[str, int] = {}
    rules = [
        (
            "not_picked_up",
            RepairOrder.pickup_overdue_clause(now),
            lambda r: _l("维修单 %(n)s 派给%(d)s 超时未取(期限 %(t)s)", n=r.number, d=r.department or "", t=fmt_dt(r.pickup_due_at)),
            lambda r: r.pickup_due_at,
            _section,
        ),
        (
            "not_returned",
            RepairOrder.return_overdue_clause(now),
            lambda r: _l("维修单 %(n)s(%(d)s)超期未回单(期限 %(t)s)", n=r.number, d=r.department or "", t=fmt_dt(r.return_due_at)),
            lambda r: r.return_due_at,
            _duty_room,
        ),
        (
            "material_not_reported",
            RepairOrder.material_overdue_clause(now),
            lambda r: _l("维修单 %(n)s 接单满 3 天未完工,如缺材料请上报并填请购单", n=r.number),
            lambda r: r.material_due_at,
            _section,
        ),
    ]
    for kind, clause, title, due, target in rules:
        rows = _order_rows(session, clause, title, due, target)
        created, closed = _sync(session, kind, OBJECT_TYPE, select(RepairOrder.id).where(clause), rows, now)
        summary[kind] = len(rows)
        summary[f"{kind}_tasks_created"] = created
        summary[f"{kind}_tasks_closed"] = closed

    # requisitions not bought in 3 days: one task per order (its requisitions named in the title)
    late = and_(PurchaseRequisition.status == RequisitionStatus.pending.value, PurchaseRequisition.due_at < now)
    per_order: dict[int, dict] = {}
    query = (
        select(PurchaseRequisition.repair_order_id, PurchaseRequisition.number, PurchaseRequisition.estate_id, PurchaseRequisition.due_at, RepairOrder.number)
        .join(RepairOrder, RepairOrder.id == PurchaseRequisition.repair_order_id)
        .where(late)
        .order_by(PurchaseRequisition.id)
    )
    for order_id, req_number, estate_id, due_at, order_no in session.execute(query):
        row = per_order.setdefault(order_id, {"object_id": order_id, "estate_id": estate_id, "due_at": due_at, "numbers": [], "order": order_no})
        row["numbers"].append(req_number)
        row["due_at"] = min(row["due_at"], due_at)
    req_rows = [
        {
            "object_id": r["object_id"],
            "estate_id": r["estate_id"],
            "title": str(_l("请购单 %(n)s(维修单 %(o)s)超过 3 天未购到,请采购或向供应处主任报告", n="、".join(r["numbers"]), o=r["order"]))[:200],
            "due_at": r["due_at"],
            "assignee_id": None,
            "role_name": "采购员",
        }
        for r in per_order.values()
    ]
    condition = select(PurchaseRequisition.repair_order_id).where(late)
    created, closed = _sync(session, "requisition_not_bought", OBJECT_TYPE, condition, req_rows, now)
    summary["requisition_not_bought"] = sum(len(r["numbers"]) for r in per_order.values())
    summary["requisition_not_bought_tasks_created"] = created
    summary["requisition_not_bought_tasks_closed"] = closed
    return summary


def month_of(now: datetime) -> str:
    return local(now).strftime("%Y-%m")


def not_back_clause(now: datetime):
    """Processed (work done, or 退单 waiting for signature) but not back at the duty room."""
    return and_(RepairOrder.status.in_([s.value for s in PROCESSED_NOT_BACK]), RepairOrder.dispatched_at <= now)


def month_end_check(session, now: datetime, write_sheet: bool = True) -> dict:
    """维修单 一.6: on the last day every processed order must be back at the duty room. Lists and
    flags those that are not (a task for the section, or for the manager who must sign a 退单),
    closes the tasks of orders that came back, and builds the month's order sheet."""
    month = month_of(now)
    clause = not_back_clause(now)

    def title(r):
        if r.status == S.reject_pending:
            return _l("月末:退单 %(n)s 尚未签署返还总值班室", n=r.number)
        return _l("月末:维修单 %(n)s(%(d)s)已处理未交回总值班室", n=r.number, d=r.department or "")

    def target(r):
        return _manager(r) if r.status == S.reject_pending else _section(r)

    rows = _order_rows(session, clause, title, lambda r: now, target)
    created, closed = _sync(session, "month_end_not_returned", OBJECT_TYPE, select(RepairOrder.id).where(clause), rows, now)
    flagged = session.execute(
        update(RepairOrder).where(clause).values(month_end_flag=month).execution_options(synchronize_session=False)
    ).rowcount or 0
    summary = {
        "month": month,
        "month_end_not_returned": len(rows),
        "flagged": flagged,
        "tasks_created": created,
        "tasks_closed": closed,
    }
    if write_sheet:
        from models.repair_reports import write_monthly_orders

        folder = os.path.join(current_app.instance_path, "exports")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"monthly_orders-{month}.xlsx")
        summary["sheet"] = path
        summary["sheet_rows"] = write_monthly_orders(session, month, path)
    return summary

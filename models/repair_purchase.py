"""请购单 (维修单 一.5): material a section asks for when a repair order is short of it.

A section head short of material files a requisition with the material delay; while any
requisition of an order waits, the order's return clock stands still. The purchaser buys it or,
when that is impossible, reports so: the 供应处主任 is told, and the section head, the 工程部主管
and the 大厦管理部经理 are informed (维修单 一.5).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, Numeric, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    AuditMixinNullable,
    EstateOwned,
    LabeledEnum,
    UTCDateTime,
    ValidationError,
    code_column,
    fmt_dt,
    local,
    parse_decimal,
    require_text,
)
from models.repair import (
    ZERO,
    RepairOrder,
    _qty,
    next_number,
    optional_text,
)
from models.system import setting
from models.task import close_tasks, ensure_task
from models.workflow import Workflow, register_workflow


# ---------------------------------------------------------------- 请购单
class RequisitionStatus(LabeledEnum):
    pending = "pending"
    bought = "bought"
    unavailable = "unavailable"
    cancelled = "cancelled"

    @classmethod
    def labels(cls):
        return {"pending": _l("待采购"), "bought": _l("已购到"), "unavailable": _l("无法采购"), "cancelled": _l("已撤销")}


WAITING = (RequisitionStatus.pending.value, RequisitionStatus.unavailable.value)


class PurchaseRequisition(EstateOwned, AuditMixinNullable, Model):
    """请购单: material a section needs for a repair order."""

    __tablename__ = "purchase_requisition"
    __table_args__ = (Index("ix_requisition_status_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    repair_order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id"), nullable=False, index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = code_column(RequisitionStatus, nullable=False, default="pending", index=True)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    bought_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bought_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    unavailable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unavailable_reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    order = relationship("RepairOrder", back_populates="requisitions", lazy="joined")
    department = relationship("Department", foreign_keys=[department_id], lazy="joined")
    filed_by = relationship("User", foreign_keys=[filed_by_id])
    bought_by = relationship("User", foreign_keys=[bought_by_id])
    items = relationship(
        "RequisitionItem", back_populates="requisition", cascade="all, delete-orphan", order_by="RequisitionItem.id", lazy="selectin"
    )

    def __repr__(self) -> str:
        return self.number or "请购单"

    @property
    def status_label(self) -> str:
        return RequisitionStatus.label_of(self.status)

    @property
    def order_number(self) -> str:
        return self.order.number if self.order is not None else ""

    @property
    def items_text(self) -> str:
        return ";".join(str(i) for i in self.items)

    @property
    def item_lines(self) -> list[dict]:
        return [i.to_api() for i in self.items]

    @property
    def waiting(self) -> bool:
        return self.status in WAITING

    def overdue(self, now: datetime) -> bool:
        return self.status == RequisitionStatus.pending.value and now > self.due_at

    def derive_estate(self, session) -> None:
        if self.repair_order_id and self.order is None:
            self.order = session.get(RepairOrder, self.repair_order_id)
        if self.order is not None:
            self.estate_id = self.order.estate_id

    def validate(self, session) -> None:
        if self.status not in WAITING:
            raise ValidationError("status", _l("请购单已%(s)s,不能再修改", s=self.status_label))
        self.reason = require_text("reason", self.reason, 1000, _l("请填写请购原因"))

    def check_delete(self, session) -> None:
        raise ValidationError("id", _l("请购单不能删除,请用「撤销」"))


class RequisitionItem(Model):
    """请购物品: 名称, 规格, 数量, 单位."""

    __tablename__ = "requisition_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    requisition_id: Mapped[int] = mapped_column(ForeignKey("purchase_requisition.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    spec: Mapped[str | None] = mapped_column(String(60))
    quantity: Mapped[Decimal] = mapped_column(Numeric(10, 2), nullable=False)
    unit: Mapped[str | None] = mapped_column(String(10))
    requisition = relationship("PurchaseRequisition", back_populates="items")

    def __repr__(self) -> str:
        spec = f" {self.spec}" if self.spec else ""
        return f"{self.name}{spec} × {_qty(self.quantity)}{self.unit or ''}"

    def to_api(self) -> dict:
        return {"name": self.name, "spec": self.spec, "quantity": format(self.quantity, "f"), "unit": self.unit}


def parse_items(value, field: str = "items") -> list[dict]:
    """Requisition items from the API or a form: [{name, spec?, quantity, unit?}]."""
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise ValidationError(field, _l("请购物品必须是列表"))
    if len(value) > 50:
        raise ValidationError(field, _l("一张请购单最多 50 项"))
    items = []
    for i, row in enumerate(value):
        prefix = f"{field}[{i}]"
        if not isinstance(row, dict):
            raise ValidationError(prefix, _l("每一项必须是对象"))
        extra = sorted(set(row) - {"name", "spec", "quantity", "unit"})
        if extra:
            raise ValidationError(f"{prefix}.{extra[0]}", _l("不认识的字段"))
        quantity = parse_decimal(f"{prefix}.quantity", row.get("quantity"), required=False, positive=True)
        if quantity is None:
            raise ValidationError(f"{prefix}.quantity", _l("请填写数量"))
        items.append(
            {
                "name": require_text(f"{prefix}.name", row.get("name"), 60, _l("请填写物品名称")),
                "spec": optional_text(f"{prefix}.spec", row.get("spec"), 60),
                "quantity": quantity,
                "unit": optional_text(f"{prefix}.unit", row.get("unit"), 10),
            }
        )
    return items


def file_requisition(session, order: RepairOrder, actor, now: datetime, reason: str, items: list[dict]) -> PurchaseRequisition:
    """填写请购单 for an order and tell the purchasers; the order's clock is paused by the caller."""
    key = "QG-" + local(now).strftime("%Y%m")
    number = f"{key}-{next_number(session, key):04d}"
    days = setting(session, "purchase_days")
    requisition = PurchaseRequisition(
        number=number,
        repair_order_id=order.id,
        order=order,
        estate_id=order.estate_id,
        department_id=order.department_id,
        reason=reason,
        status=RequisitionStatus.pending.value,
        filed_at=now,
        filed_by_id=actor.user_id,
        due_at=now + timedelta(days=days),
    )
    requisition.items = [RequisitionItem(**item) for item in items]
    session.add(requisition)
    session.flush()
    ensure_task(
        session,
        "requisition",
        "requisition",
        requisition.id,
        _l("请购单 %(n)s 待采购(维修单 %(o)s)", n=number, o=order.number),
        estate_id=order.estate_id,
        role_name="采购员",
        due_at=requisition.due_at,
        detail=f"{reason}\n{requisition.items_text}".strip(),
        now=now,
    )
    return requisition


def waiting_requisitions(session, order_id: int, except_id: int | None = None) -> int:
    """Requisitions of an order still waiting (the one being decided left out)."""
    query = select(func.count(PurchaseRequisition.id)).where(
        PurchaseRequisition.repair_order_id == order_id, PurchaseRequisition.status.in_(WAITING)
    )
    if except_id is not None:
        query = query.where(PurchaseRequisition.id != except_id)
    return session.scalar(query) or 0


def close_not_bought(session, req: PurchaseRequisition, now: datetime) -> None:
    """The order's 请购超期未购 task ends when no other of its requisitions is still pending."""
    others = session.scalar(
        select(func.count(PurchaseRequisition.id)).where(
            PurchaseRequisition.repair_order_id == req.repair_order_id,
            PurchaseRequisition.status == RequisitionStatus.pending.value,
            PurchaseRequisition.id != req.id,
        )
    )
    if not others:
        close_tasks(session, "requisition_not_bought", "repair_order", req.repair_order_id, now)


def resume_clock(order: RepairOrder, now: datetime) -> None:
    """The material arrived (or the wait ended): the return clock runs again from where it stood."""
    if order.paused_since is None:
        return
    paused = max(now - order.paused_since, timedelta(0))
    if order.return_due_at is not None:
        order.return_due_at = order.return_due_at + paused
    order.paused_seconds = (order.paused_seconds or 0) + int(paused.total_seconds())
    order.paused_since = None


# ---------------------------------------------------------------- the requisition's moves
requisition_flow = register_workflow(
    Workflow(object_type="requisition", permission_view="Requisition", status_labels=RequisitionStatus.label_of)
)

# Who hears of an unavailable requisition (维修单 一.5), each as its own notice.
UNAVAILABLE_NOTICES = [
    ("requisition_supply", "供应处主任"),
    ("requisition_eng", "工程部经理"),
    ("requisition_bldg", "大厦管理部经理"),
]
NOTICE_TYPES = [t for t, _ in UNAVAILABLE_NOTICES] + ["requisition_section"]


def _section_head(order: RepairOrder) -> tuple[int | None, str | None]:
    if order.department is not None and order.department.head_id:
        return order.department.head_id, None
    return None, "处主任"


@requisition_flow.add("buy", ["pending", "unavailable"], "bought", _l("已购到"))
def _buy(req: PurchaseRequisition, actor, now, session, note=None):
    req.bought_at = now
    req.bought_by_id = actor.user_id
    note = optional_text("note", note, 500)
    if note:
        req.note = note
    close_tasks(session, "requisition", "requisition", req.id, now)
    for object_type in NOTICE_TYPES:
        close_tasks(session, "message", object_type, req.id, now)
    session.flush()
    order = req.order
    close_not_bought(session, req, now)
    if order is not None and waiting_requisitions(session, order.id, req.id) == 0:
        resume_clock(order, now)
    assignee_id, role = _section_head(order)
    ensure_task(
        session,
        "message",
        "requisition_section",
        req.id,
        _l("请购单 %(n)s 的材料已购到,请继续维修 %(o)s", n=req.number, o=order.number),
        estate_id=req.estate_id,
        assignee_id=assignee_id,
        role_name=role,
        now=now,
    )
    return note


@requisition_flow.add("report_unavailable", ["pending"], "unavailable", _l("报告无法采购"))
def _report_unavailable(req: PurchaseRequisition, actor, now, session, reason=None):
    reason = require_text("reason", reason, 1000, _l("请说明买不到的原因"))
    req.unavailable_at = now
    req.unavailable_reason = reason
    close_tasks(session, "requisition", "requisition", req.id, now)
    close_not_bought(session, req, now)
    order = req.order
    title = _l("请购单 %(n)s(维修单 %(o)s)无法采购:%(r)s", n=req.number, o=order.number, r=reason[:60])
    for object_type, role in UNAVAILABLE_NOTICES:
        ensure_task(session, "message", object_type, req.id, title, estate_id=req.estate_id, role_name=role, detail=req.items_text, now=now)
    assignee_id, role = _section_head(order)
    ensure_task(
        session, "message", "requisition_section", req.id, title, estate_id=req.estate_id, assignee_id=assignee_id, role_name=role, detail=req.items_text, now=now
    )
    return reason


@requisition_flow.add("cancel", ["pending", "unavailable"], "cancelled", _l("撤销"))
def _cancel(req: PurchaseRequisition, actor, now, session, reason=None):
    reason = require_text("reason", reason, 500, _l("请填写撤销原因"))
    close_tasks(session, "requisition", "requisition", req.id, now)
    close_not_bought(session, req, now)
    for object_type in NOTICE_TYPES:
        close_tasks(session, "message", object_type, req.id, now)
    session.flush()
    if req.order is not None and waiting_requisitions(session, req.order.id, req.id) == 0:
        resume_clock(req.order, now)
    return reason


def requisition_summary(req: PurchaseRequisition) -> str:
    return f"{req.number} {req.status_label} {fmt_dt(req.filed_at)}"


__all__ = [
    "PurchaseRequisition",
    "RequisitionItem",
    "RequisitionStatus",
    "ZERO",
    "file_requisition",
    "parse_items",
    "requisition_flow",
    "resume_clock",
]

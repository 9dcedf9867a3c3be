"""便民服务项目及价格表 (便民 二.3–二.4(2)): one per estate and year, drafted by the 物业经理 on the
previous year's summaries, priced 保本微利, approved or rejected by the 公司经理 only, announced
to owners. Only an announced list's prices are ever charged."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    TZ as TZ_SH,
)
from models.base import (
    AuditMixinNullable,
    DomainError,
    EstateOwned,
    LabeledEnum,
    Money,
    PermissionDenied,
    UTCDateTime,
    ValidationError,
    code_column,
    current_user_id,
    fmt_dt,
    local_date,
    money,
    parse_choice,
    parse_int,
    parse_money,
    require_text,
)
from models.services import ServiceItem, check_price, margin_of
from models.workflow import Actor, Workflow, register_workflow

APPROVER_ROLE = "公司经理"  # 物业公司经理负责审批《便民服务项目及价格表》


class PriceListStatus(LabeledEnum):
    draft = "draft"
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    announced = "announced"

    @classmethod
    def labels(cls):
        return {
            "draft": _l("拟定中"),
            "submitted": _l("待审批"),
            "approved": _l("已批准"),
            "rejected": _l("已退回"),
            "announced": _l("已公告"),
        }


class AnnounceMethod(LabeledEnum):
    office = "office"
    garden = "garden"

    @classmethod
    def labels(cls):
        return {"office": _l("在管理处醒目位置张贴"), "garden": _l("在花园宣传栏内张贴")}


def margin_limit(session) -> Decimal:
    """The 微利 limit (a fraction, e.g. 0.20) from 参数设置."""
    from models.system import setting

    try:
        value = Decimal(str(setting(session, "price_margin_limit")).strip().rstrip("%"))
    except (InvalidOperation, ValueError):
        value = Decimal("0.20")
    return value / 100 if value > 1 else value


class PriceList(EstateOwned, AuditMixinNullable, Model):
    """便民服务项目及价格表 of one estate and year."""

    __tablename__ = "price_list"
    __table_args__ = (UniqueConstraint("estate_id", "year", name="uq_price_list_estate_year"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    status: Mapped[str] = code_column(PriceListStatus, nullable=False, default="draft", index=True)
    basis: Mapped[str | None] = mapped_column(Text)
    drafted_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), default=current_user_id)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(String(300))
    announce_method: Mapped[str | None] = code_column(AnnounceMethod)
    announced_on: Mapped[date | None] = mapped_column(Date)
    announced_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    drafted_by = relationship("User", foreign_keys=[drafted_by_id])
    submitted_by = relationship("User", foreign_keys=[submitted_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])
    announced_by = relationship("User", foreign_keys=[announced_by_id])
    line_items = relationship(
        "PriceListLine", back_populates="price_list", order_by="PriceListLine.id", lazy="selectin",
        cascade="all, delete-orphan",
    )

    def __repr__(self) -> str:
        return str(_l("%(estate)s %(y)s 年价格表", estate=self.estate.name if self.estate else "", y=self.year)).strip()

    @property
    def title(self) -> str:
        return str(_l("%(e)s %(y)s 年度便民服务项目及价格表", e=self.estate.name if self.estate else "", y=self.year))

    @property
    def status_label(self) -> str:
        return PriceListStatus.label_of(self.status)

    @property
    def announce_method_label(self) -> str:
        return AnnounceMethod.label_of(self.announce_method)

    @property
    def lines(self) -> list[dict]:
        return [line.to_api() for line in self.line_items]

    @property
    def line_count(self) -> int:
        return len(self.line_items)

    def validate(self, session) -> None:
        if self.year is None:
            raise ValidationError("year", _l("请填写年度"))
        self.year = parse_int("year", self.year)
        if not 2000 <= self.year <= 2100:
            raise ValidationError("year", _l("年度应为 2000–2100 之间的四位年份"))
        if not self.estate_id:
            raise ValidationError("estate_id", _l("请选择所属小区/大厦"))
        self.status = self.status or "draft"
        if self.id is not None:
            committed = session.scalar(select(PriceList.status).where(PriceList.id == self.id))
            if committed not in (None, "draft"):
                raise DomainError(_l("价格表已提交审批,不能再修改"), "status")
        dup = session.scalar(
            select(PriceList.id).where(
                PriceList.estate_id == self.estate_id, PriceList.year == self.year, PriceList.id != (self.id or 0)
            )
        )
        if dup:
            raise ValidationError("year", _l("该小区/大厦 %(y)s 年度的价格表已存在", y=self.year))

    def check_delete(self, session) -> None:
        if self.status != "draft":
            raise DomainError(_l("只有拟定中的价格表可以删除"))

    def fill_lines(self, session) -> int:
        """Start the draft from the previous list of the estate, else from the catalogue's paid items."""
        if self.status != "draft":
            raise DomainError(_l("只有拟定中的价格表可以填充项目"))
        have = {line.service_item_id for line in self.line_items}
        previous = session.scalar(
            select(PriceList)
            .where(PriceList.estate_id == self.estate_id, PriceList.year < self.year,
                   PriceList.status.in_(("announced", "approved")))
            .order_by(PriceList.year.desc())
        )
        added = 0
        if previous is not None:
            sources = [(line.service_item, line.price, line.cost, line.unit, line.deposit, line.prepayment)
                       for line in previous.line_items if line.service_item.active]
        else:
            items = session.scalars(
                select(ServiceItem)
                .where(ServiceItem.kind == "paid", ServiceItem.active.is_(True),
                       or_(ServiceItem.estate_id.is_(None), ServiceItem.estate_id == self.estate_id))
                .order_by(ServiceItem.category, ServiceItem.id)
            )
            sources = [(i, i.price, i.cost, i.unit, i.deposit, i.prepayment) for i in items]
        for item, price, cost, unit, deposit, prepayment in sources:
            if item.id in have:
                continue
            self.line_items.append(
                PriceListLine(service_item_id=item.id, service_item=item, estate_id=self.estate_id, price=price,
                              cost=cost, unit=unit, deposit=deposit, prepayment=prepayment)
            )
            added += 1
        session.flush()
        return added


class PriceListLine(EstateOwned, Model):
    """One priced item of a list: price, cost, unit, deposit and prepayment."""

    __tablename__ = "price_list_line"
    __table_args__ = (UniqueConstraint("price_list_id", "service_item_id", name="uq_price_list_line_item"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    price_list_id: Mapped[int] = mapped_column(ForeignKey("price_list.id"), nullable=False, index=True)
    service_item_id: Mapped[int] = mapped_column(ForeignKey("service_item.id"), nullable=False, index=True)
    unit: Mapped[str | None] = mapped_column(String(20))
    price: Mapped[Decimal] = mapped_column(Money, nullable=False)
    cost: Mapped[Decimal] = mapped_column(Money, nullable=False)
    deposit: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal("0.00"))
    prepayment: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal("0.00"))
    note: Mapped[str | None] = mapped_column(String(200))
    price_list = relationship("PriceList", back_populates="line_items", lazy="joined")
    service_item = relationship("ServiceItem", foreign_keys=[service_item_id], lazy="joined")

    def __repr__(self) -> str:
        price = _l("%(price)s 元/%(unit)s", price=f"{money(self.price):.2f}", unit=self.unit or "")
        return f"{self.service_item.name if self.service_item else ''} {price}"

    @property
    def margin(self) -> Decimal | None:
        return margin_of(self.price, self.cost)

    @property
    def category_label(self) -> str:
        return self.service_item.category_label if self.service_item else ""

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "service_item_id": self.service_item_id,
            "name": self.service_item.name if self.service_item else None,
            "unit": self.unit,
            "price": f"{money(self.price):.2f}",
            "cost": f"{money(self.cost):.2f}",
            "deposit": f"{money(self.deposit or 0):.2f}",
            "prepayment": f"{money(self.prepayment or 0):.2f}",
            "note": self.note,
        }

    def derive_estate(self, session) -> None:
        if self.price_list_id and (self.price_list is None or self.price_list.id != self.price_list_id):
            self.price_list = session.get(PriceList, self.price_list_id)
        if self.price_list is not None:
            self.estate_id = self.price_list.estate_id

    def validate(self, session) -> None:
        if self.price_list is None:
            raise ValidationError("price_list_id", _l("请选择价格表"))
        if self.price_list.status != "draft":
            raise DomainError(_l("价格表当前状态为「%(s)s」,不能修改项目", s=self.price_list.status_label), "price_list_id")
        if self.service_item_id and (self.service_item is None or self.service_item.id != self.service_item_id):
            self.service_item = session.get(ServiceItem, self.service_item_id)
        item = self.service_item
        if item is None:
            raise ValidationError("service_item_id", _l("请选择服务项目"))
        if item.estate_id not in (None, self.price_list.estate_id):
            raise ValidationError("service_item_id", _l("该服务项目属于其他小区/大厦"))
        if item.kind != "paid":
            raise ValidationError("service_item_id", _l("「%(n)s」是无偿服务,不需要列入价格表", n=item.name))
        self.price = parse_money("price", self.price)
        self.cost = parse_money("cost", self.cost if self.cost is not None else item.cost)
        self.deposit = parse_money("deposit", self.deposit if self.deposit is not None else "0")
        self.prepayment = parse_money("prepayment", self.prepayment if self.prepayment is not None else "0")
        self.unit = (self.unit or item.unit or "").strip()[:20] or None
        check_price(self.price, self.cost, "price", margin_limit(session))
        dup = session.scalar(
            select(PriceListLine.id).where(
                PriceListLine.price_list_id == self.price_list.id,
                PriceListLine.service_item_id == item.id,
                PriceListLine.id != (self.id or 0),
            )
        )
        if dup:
            raise ValidationError("service_item_id", _l("「%(n)s」已在价格表中", n=item.name))

    def check_delete(self, session) -> None:
        if self.price_list is not None and self.price_list.status != "draft":
            raise DomainError(_l("价格表已提交审批,不能删除项目"))


def add_line(session, price_list: PriceList, service_item_id, price, cost=None, deposit=None, prepayment=None,
             unit=None, note=None) -> PriceListLine:
    """Add a priced item to a draft, with the catalogue's cost, unit, deposit and prepayment as defaults."""
    item_id = parse_int("service_item_id", service_item_id)
    item = session.get(ServiceItem, item_id)
    if item is None:
        raise ValidationError("service_item_id", _l("服务项目不存在"))
    if note is not None and not isinstance(note, str):
        raise ValidationError("note", _l("备注必须是文字"))
    if unit is not None and not isinstance(unit, str):
        raise ValidationError("unit", _l("计价单位必须是文字"))
    line = PriceListLine(
        price_list_id=price_list.id, price_list=price_list, service_item_id=item.id, service_item=item,
        estate_id=price_list.estate_id, price=price, cost=cost if cost is not None else item.cost,
        deposit=deposit if deposit is not None else item.deposit,
        prepayment=prepayment if prepayment is not None else item.prepayment, unit=unit, note=note,
    )
    with session.no_autoflush:
        line.validate(session)
    session.add(line)
    session.flush()
    return line


# ---------------------------------------------------------------- moves
price_list_flow = register_workflow(
    Workflow(object_type="price_list", permission_view="PriceList", status_labels=PriceListStatus.label_of)
)


def _check_lines(session, price_list: PriceList) -> None:
    if not price_list.line_items:
        raise ValidationError("lines", _l("价格表还没有任何服务项目"))
    limit = margin_limit(session)
    for line in price_list.line_items:
        try:
            check_price(money(line.price), money(line.cost), "price", limit)
        except ValidationError as err:
            raise ValidationError("lines", f"「{line.service_item.name}」:{err.message}") from None


def _note(field: str, value, required: bool, message=None) -> str | None:
    if value is None or value == "":
        if required:
            raise ValidationError(field, message or _l("请填写此项"))
        return None
    return require_text(field, value, 300, message)


@price_list_flow.add("submit", ["draft"], "submitted", _l("报公司经理审批"))
def _submit(price_list: PriceList, actor: Actor, now: datetime, session, note=None):
    """保本微利 is checked line by line before the list goes to the company manager."""
    _check_lines(session, price_list)
    price_list.submitted_by_id = actor.user_id
    price_list.submitted_at = now
    if price_list.drafted_by_id is None:
        price_list.drafted_by_id = actor.user_id
    from models.task import close_tasks

    close_tasks(session, "price_list_draft", "price_list", price_list.id, now, str(_l("已报公司经理审批")))
    return _note("note", note, False)


def _check_approver(price_list: PriceList, actor: Actor) -> None:
    if APPROVER_ROLE not in actor.role_names:
        raise PermissionDenied(_l("只有公司经理可以审批便民服务项目及价格表"))
    if actor.user_id is not None and actor.user_id in (price_list.drafted_by_id, price_list.submitted_by_id):
        raise PermissionDenied(_l("不能审批自己拟定或提交的价格表"))


@price_list_flow.add("approve", ["submitted"], "approved", _l("批准"))
def _approve(price_list: PriceList, actor: Actor, now: datetime, session, note=None):
    _check_approver(price_list, actor)
    _check_lines(session, price_list)
    price_list.decided_by_id = actor.user_id
    price_list.decided_at = now
    price_list.decision_note = _note("note", note, False)
    return price_list.decision_note


@price_list_flow.add("reject", ["submitted"], "rejected", _l("退回"))
def _reject(price_list: PriceList, actor: Actor, now: datetime, session, reason=None):
    _check_approver(price_list, actor)
    price_list.decided_by_id = actor.user_id
    price_list.decided_at = now
    price_list.decision_note = _note("reason", reason, True, _l("请填写退回原因"))
    return price_list.decision_note


@price_list_flow.add("revise", ["rejected"], "draft", _l("重新拟定"))
def _revise(price_list: PriceList, actor: Actor, now: datetime, session, note=None):
    price_list.submitted_by_id = None
    price_list.submitted_at = None
    return _note("note", note, False)


@price_list_flow.add("announce", ["approved"], "announced", _l("公告"))
def _announce(price_list: PriceList, actor: Actor, now: datetime, session, method=None, announced_on=None, note=None):
    """公告方式:管理处醒目位置或花园宣传栏张贴,with the date it goes up."""
    price_list.announce_method = parse_choice("method", method, AnnounceMethod)
    day = _parse_date("announced_on", announced_on) or local_date(now)
    if price_list.decided_at is not None and day < local_date(price_list.decided_at):
        raise ValidationError("announced_on", _l("公告日期不能早于批准日期 %(d)s", d=fmt_dt(local_date(price_list.decided_at))))
    if day.year > price_list.year:
        raise ValidationError("announced_on", _l("公告日期不能晚于价格表所属年度"))
    price_list.announced_on = day
    price_list.announced_by_id = actor.user_id
    return _note("note", note, False) or f"{price_list.announce_method_label} {day.isoformat()}"


def _parse_date(field: str, value) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return local_date(value)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise ValidationError(field, _l("日期格式不正确,应为 YYYY-MM-DD"))


# ---------------------------------------------------------------- prices in force
def list_in_force(session, estate_id: int, on: date) -> PriceList | None:
    """The estate's latest announced list whose year has begun and whose notice is up by `on`."""
    return session.scalar(
        select(PriceList)
        .where(
            PriceList.estate_id == estate_id,
            PriceList.status == "announced",
            PriceList.year <= on.year,
            PriceList.announced_on <= on,
        )
        .order_by(PriceList.year.desc())
    )


def price_in_force(session, estate_id: int, service_item_id: int, on: date) -> PriceListLine:
    """The announced price of an item, or a Chinese refusal naming the item (nothing else is ever charged)."""
    item = session.get(ServiceItem, service_item_id) if service_item_id else None
    if item is None:
        raise ValidationError("service_item_id", _l("服务项目不存在"))
    current = list_in_force(session, estate_id, on)
    if current is None:
        raise ValidationError(
            "service_item_id", _l("本小区/大厦 %(d)s 还没有已公告的便民服务项目及价格表,不能收费", d=on.isoformat())
        )
    for line in current.line_items:
        if line.service_item_id == item.id:
            return line
    raise ValidationError(
        "service_item_id",
        _l("「%(n)s」不在已公告的 %(y)s 年度价格表上,不能收费", n=item.name, y=current.year),
    )


def draft_price_list(session, estate_id, year, basis=None, lines=None, fill=False) -> PriceList:
    """Create a draft (with optional lines) — all or nothing; the caller commits."""
    from app.scope import prepare_write

    if basis is not None and not isinstance(basis, str):
        raise ValidationError("basis", _l("编制依据必须是文字"))
    if lines is not None and not isinstance(lines, list):
        raise ValidationError("lines", _l("lines 必须是服务项目的列表"))
    price_list = PriceList(estate_id=parse_int("estate_id", estate_id), year=year, basis=basis, status="draft")
    with session.no_autoflush:
        prepare_write(price_list, session)
    session.add(price_list)
    session.flush()
    for index, raw in enumerate(lines or []):
        if not isinstance(raw, dict):
            raise ValidationError("lines", _l("第 %(n)s 项格式不正确", n=index + 1))
        unknown = set(raw) - {"service_item_id", "price", "cost", "deposit", "prepayment", "unit", "note"}
        if unknown:
            raise ValidationError("lines", _l("第 %(n)s 项有未知字段:%(f)s", n=index + 1, f=", ".join(sorted(unknown))))
        try:
            add_line(session, price_list, **raw)
        except ValidationError as err:
            raise ValidationError(err.field, _l("第 %(n)s 项:%(m)s", n=index + 1, m=err.message)) from None
    if fill:
        price_list.fill_lines(session)
    return price_list


# ---------------------------------------------------------------- the January reminder
DRAFTER_ROLE = "物业经理"
# (label, module, function) of last year's summaries the drafter works from (便民 二.4(1)); the
# reception area provides them. Each function is `(session, estate_id, year) -> str` (a short
# text) and may be missing while that area is not installed.
SUMMARY_SOURCES: list[tuple[object, str, str]] = [
    (_l("访问业户记录总结"), "models.reception_summary", "visit_summary_text"),
    (_l("业户请求记录总结"), "models.reception_summary", "request_summary_text"),
]
# (label, export name) of the same summaries in the report centre
SUMMARY_EXPORTS: list[tuple[object, str]] = [
    (_l("访问业户记录总结"), "visit_summary"),
    (_l("业户请求记录总结"), "request_summary"),
]
# the reception area's screen of the summaries: endpoint and its `kind` argument
SUMMARY_SCREEN = ("ReceptionSummaryView.index", "/reception/summary/", ("visit", "request"))


def summary_links(estate_id: int, year: int) -> list[tuple[str, str]]:
    """(label, path) of last year's summaries on the reception screens, where that area is installed."""
    from flask import current_app

    endpoint, path, kinds = SUMMARY_SCREEN
    if endpoint not in current_app.view_functions:
        return []
    return [
        (str(_l("%(y)s 年%(label)s", y=year - 1, label=label)), f"{path}?kind={kind}&year={year - 1}&estate_id={estate_id}")
        for (label, _module, _func), kind in zip(SUMMARY_SOURCES, kinds, strict=True)
    ]


def previous_year_summaries(session, estate_id: int, year: int) -> list[tuple[str, str]]:
    """Last year's 访问业户记录总结 and 业户请求记录总结 for an estate: (label, text or where to find it)."""
    import importlib

    from app.exports import load_exports

    exports = load_exports()
    screens = dict((i, link) for i, link in enumerate(summary_links(estate_id, year)))
    result = []
    for index, ((label, module, func), (_label, export_name)) in enumerate(zip(SUMMARY_SOURCES, SUMMARY_EXPORTS, strict=True)):
        text = None
        try:
            fn = getattr(importlib.import_module(module), func, None)
        except ModuleNotFoundError:
            fn = None
        if fn is not None:
            text = fn(session, estate_id, year - 1)
        where = []
        if index in screens:
            where.append(str(_l("查看:%(p)s", p=screens[index][1])))
        if export_name in exports:
            where.append(str(_l("导出:报表中心「%(n)s」,期间 %(y)s", n=exports[export_name].label, y=year - 1)))
        text = "\n".join([t for t in [text, *where] if t])
        result.append((str(label), text or str(_l("(系统中尚无 %(y)s 年度的记录)", y=year - 1))))
    return result


def remind_price_lists(session, now: datetime) -> dict:
    """In January each estate's 物业经理 drafts the year's list: the job starts the draft (from last
    year's list or the catalogue) and gives the estate's 物业经理 a task with last year's summaries."""
    from models.master import Estate
    from models.task import close_tasks, ensure_task

    today = local_date(now)
    year = today.year
    due = datetime(year, 1, 31, 18, 0, tzinfo=TZ_SH)
    created = tasks = 0
    for estate in session.scalars(select(Estate).order_by(Estate.id)):
        price_list = session.scalar(select(PriceList).where(PriceList.estate_id == estate.id, PriceList.year == year))
        summaries = previous_year_summaries(session, estate.id, year)
        if price_list is None:
            basis = "\n".join(f"{label}:{text}" for label, text in summaries)
            price_list = PriceList(estate_id=estate.id, year=year, status="draft", basis=basis, drafted_by_id=None)
            session.add(price_list)
            session.flush()
            price_list.fill_lines(session)
            created += 1
        if price_list.status in ("draft", "rejected"):
            detail = "\n".join(
                [str(_l("请根据上一年度的总结,衡量提供各项长期便民服务的必要性和可行性,按保本微利原则拟定本年度价格表,报公司经理审批。")),
                 str(_l("草稿:便民服务 → 便民服务项目及价格表 → %(t)s(编号 %(id)s)", t=price_list.title, id=price_list.id))]
                + [f"{label}:{text}" for label, text in summaries]
            )
            _task, new = ensure_task(
                session, "price_list_draft", "price_list", price_list.id,
                str(_l("拟定 %(e)s %(y)s 年度便民服务项目及价格表", e=estate.name, y=year)),
                estate_id=estate.id, role_name=DRAFTER_ROLE, due_at=max(due, now), detail=detail, now=now,
            )
            tasks += int(new)
        else:
            close_tasks(session, "price_list_draft", "price_list", price_list.id, now)
    return {"year": year, "drafts_created": created, "tasks_created": tasks}

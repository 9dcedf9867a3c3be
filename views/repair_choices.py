"""What the repair screens offer to choose from: the ledger's filters, dropdown choices within the
user's estates, and the filter bar's lists (shared per request and, briefly, between users)."""

from __future__ import annotations

import logging

from flask import has_request_context, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import lazyload

from app.scope import allowed_estate_ids, scoped
from app.screen_cache import cached_lookup
from models.base import utcnow
from models.master import Department, Estate, Owner, Staff, Unit
from models.repair import RepairCategory, RepairOrder, period_of
from models.repair_transitions import SECTION_KINDS
from views.base import AreaFilter
from views.repair_roles import RO

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- filters
class FilterCode(AreaFilter):
    """Exact match on a code column (status, category, ...), chosen from a list on the ledger."""

    name = _l("等于")
    arg_name = "code"

    def apply(self, query, value):
        if value in (None, ""):
            return query
        return query.filter(getattr(self.model, self.column_name) == value)


class FilterOverdue(AreaFilter):
    """超期: not picked up, not returned or material not reported in time (as of now)."""

    name = _l("超期")
    arg_name = "overdue"

    def apply(self, query, value):
        if value in (None, ""):
            return query
        clause = RepairOrder.overdue_clause(utcnow())
        return query.filter(clause if str(value) in ("1", "true", "是") else ~clause)


# ---------------------------------------------------------------- choices (within the user's estates)
def estate_choices() -> list[tuple[str, str]]:
    rows = g_session().scalars(scoped(select(Estate), Estate).order_by(Estate.name))
    return [("", "—")] + [(str(e.id), e.name) for e in rows]


def unit_choices() -> list[tuple[str, str]]:
    rows = g_session().scalars(scoped(select(Unit), Unit).order_by(Unit.estate_id, Unit.building_id, Unit.room))
    return [("", "—")] + [(str(u.id), u.label) for u in rows]


def owner_choices() -> list[tuple[str, str]]:
    rows = g_session().scalars(scoped(select(Owner), Owner).order_by(Owner.estate_id, Owner.unit_id, Owner.name))
    return [("", "—")] + [(str(o.id), f"{o.name} · {o.unit.label if o.unit else ''} · {o.phone}") for o in rows]


def department_choices(estate_ids: set[int]) -> list[tuple[str, str]]:
    query = (
        select(Department.id, Department.name)
        .where(Department.kind.in_(SECTION_KINDS))
        .where(or_(Department.estate_id.is_(None), Department.estate_id.in_(sorted(estate_ids))))
        .order_by(Department.name)
    )
    return [("", "—")] + [(str(i), name) for i, name in g_session().execute(query)]


def staff_choices(estate_ids: set[int], department_id: int | None = None) -> list[tuple[str, str]]:
    """Active section staff of these estates (or of none) whose login may complete an order: two
    queries, not three per person (every page of the ledger draws this list)."""
    from flask import current_app
    from sqlalchemy.orm import contains_eager

    query = (
        select(Staff)
        .join(Department, Department.id == Staff.department_id)
        .where(Staff.active.is_(True), Department.kind.in_(SECTION_KINDS))
        .where(or_(~Staff.estates.any(), Staff.estates.any(Estate.id.in_(sorted(estate_ids)))))
        .options(lazyload("*"), contains_eager(Staff.department))
    )
    if department_id:
        query = query.where(Staff.department_id == department_id)
    able = current_app.appbuilder.sm.user_ids_with_permission("can_complete", RO)
    rows = []
    for staff in g_session().scalars(query.order_by(Department.name, Staff.name)):
        if staff.user_id is not None and staff.user_id not in able:
            continue
        rows.append((str(staff.id), f"{staff.name}({staff.department.name})"))
    return [("", "—")] + rows


def g_session():
    from app.extensions import db

    return db.session


def guess_department(choices, category: str) -> str | None:
    """水电 → 水电处: preselect the section named after the category."""
    label = RepairCategory.label_of(category)
    for value, text in choices:
        if value and label and str(text).startswith(label):
            return value
    return None


def per_request(key: str, fn):
    """A value computed once per request (the bar and the search menu share their choices)."""
    if not has_request_context():
        return fn()
    cache = request.environ.setdefault("wuye.repair", {})
    if key not in cache:
        cache[key] = fn()
    return cache[key]


def bar_staff() -> list[tuple[str, str]]:
    """The filter bar's and search menu's repair staff, shared by users of the same estates for a few
    seconds (app/screen_cache.py: dropped when anything is saved)."""
    return per_request("staff", lambda: cached_lookup("repair.staff", lambda: staff_choices(allowed_or_all())))


def bar_departments() -> list[tuple[str, str]]:
    return per_request("departments", lambda: cached_lookup("repair.departments", lambda: department_choices(allowed_or_all())))


def bar_estates() -> list[tuple[str, str]]:
    return cached_lookup("repair.estates", estate_choices)


def allowed_or_all() -> set[int]:
    ids = allowed_estate_ids()
    if ids is None:
        return {e for e in g_session().scalars(select(Estate.id))}
    return set(ids)


def recent_periods(now, months: int = 14) -> list[str]:
    """The current period and the ones before it, newest first."""
    current = period_of(now)
    year, month = int(current[:4]), int(current[5:])
    periods = []
    for _ in range(months):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return periods

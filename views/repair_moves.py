"""The moves on a 维修单 from the screens: grid actions that open a move's page, and the page's
choices, parameters and per-line error messages (the rules are `repair_flow`'s)."""

from __future__ import annotations

import logging
import re

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder.actions import action
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from models.base import ValidationError
from models.repair import TERMINAL, RepairOrder, can_backdate
from views.base import current_actor
from views.repair_choices import department_choices, g_session, guess_department, staff_choices
from views.repair_display import short
from views.repair_forms import LINE_LABELS

logger = logging.getLogger(__name__)


# Moves a clerk makes on a batch of orders with one form; the others are made one order at a time.
BATCH_MOVES = {"dispatch", "accept", "assign", "return", "urge", "cancel", "approve_reject", "revisit_done", "close", "buy"}


def order_action(name: str, label, icon: str = "fa-play", view: str | None = None):
    """A grid action opening the move's page for the selected rows (the show page draws its own buttons)."""

    @action(name, label, None, icon, multiple=True, single=False)
    def _act(self, items):
        items = [i for i in (items if isinstance(items, list) else [items]) if i is not None]
        if not items:
            abort(404)
        if len(items) > 1 and name not in BATCH_MOVES:
            flash(str(_l("「%(label)s」须逐张办理,请只选一张维修单", label=label)), "warning")
            return redirect(url_for(f"{self.__class__.__name__}.list"))
        ids = ",".join(str(i.id) for i in items)
        return redirect(url_for(f"{view or self.__class__.__name__}.do_transition", name=name, pk=ids))

    _act.__name__ = f"action_{name}"
    return _act


LINE_ERROR = re.compile(r"^(materials|items)\[(\d+)\]\.?(\w*)$")


class RepairMovesMixin:
    """The `/do/<move>/<ids>` page of the ledger: choices within the orders' estates, the move's
    parameters without empty lines, and errors naming the line of the form they belong to."""

    def prepare_transition_form(self, name, form, items):
        item = items[0]
        estates = {i.estate_id for i in items}
        actor = current_actor()
        if "department_id" in form:
            form.department_id.choices = department_choices(estates)
            if request.method == "GET" and name == "dispatch" and len(items) == 1:
                form.department_id.data = guess_department(form.department_id.choices, item.category)
        if "assignee_id" in form:
            dept = item.department_id if name in ("accept", "assign") and len({i.department_id for i in items}) == 1 else None
            form.assignee_id.choices = staff_choices(estates, dept)
        if name == "dispatch" and not can_backdate(actor):
            del form["dispatched_at"]
        if name == "start":
            from models.billing import FeeStandard

            fees = g_session().scalars(
                select(FeeStandard)
                .where(FeeStandard.active.is_(True), or_(FeeStandard.estate_id.is_(None), FeeStandard.estate_id == item.estate_id))
                .order_by(FeeStandard.name)
            )
            form.fee_standard_id.choices = [("", "—")] + [(str(f.id), str(f)) for f in fees]
        if name == "merge":
            query = (
                select(RepairOrder)
                .where(RepairOrder.estate_id == item.estate_id, RepairOrder.id != item.id, RepairOrder.status.not_in([s.value for s in TERMINAL]))
                .order_by(RepairOrder.recorded_at.desc())
                .limit(200)
            )
            form.into_id.choices = [("", "—")] + [
                (str(o.id), f"{o.number} {o.address} {short(o.problem, 20)}({o.status_label})") for o in g_session().scalars(query)
            ]
        if name == "sign_off" and request.method == "GET":
            form.signed_by.data = item.resident_name

    def _form_params(self, form) -> dict:
        data = super()._form_params(form)
        rows_of = {}
        for key in ("materials", "items"):
            if key in data:
                kept, where = [], []
                for i, row in enumerate(data[key]):
                    row = {k: v for k, v in row.items() if v not in (None, "")}
                    if set(row) - {"provider"}:
                        kept.append(row)
                        where.append(i)
                data[key] = kept
                rows_of[key] = where
        g.repair_line_rows = rows_of
        return {k: v for k, v in data.items() if v is not None and v != ""}

    def apply_transition(self, item, name: str, params: dict | None = None) -> bool:
        try:
            return super().apply_transition(item, name, params)
        except ValidationError as error:
            match = LINE_ERROR.match(error.field or "")
            if not match:
                raise
            key, index, column = match.group(1), int(match.group(2)), match.group(3)
            rows = g.get("repair_line_rows", {}).get(key, [])
            line = rows[index] + 1 if index < len(rows) else index + 1
            label = LINE_LABELS.get(column, "")
            raise ValidationError(key, _l("第 %(n)s 行%(f)s:%(m)s", n=line, f=label, m=error.message)) from error

"""Field-level history: every create, change and delete of a domain record (who, when, which field,
old → new), written in the same transaction as the change itself.

Every model with `history_enabled = True` (all `AuditMixinNullable` models) is tracked by one
session listener; areas get it without writing anything. Bulk `update()`/`delete()` statements
bypass the ORM and are not recorded: domain code changes records through the ORM.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import date, datetime
from decimal import Decimal

from flask import has_request_context, request
from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, Integer, String, Text, event, insert, inspect, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.properties import ColumnProperty, RelationshipProperty

from models.base import UTCDateTime, current_user_id, fmt_dt, utcnow

logger = logging.getLogger(__name__)

# Bookkeeping columns that change on every write and say nothing a clerk needs in the history.
SKIPPED = {"created_on", "changed_on", "created_by_fk", "changed_by_fk", "version"}
MAX_VALUE = 2000

ACTIONS = {"create": _l("新建"), "update": _l("修改"), "delete": _l("删除")}
SOURCES = {"web": _l("网页"), "api": _l("接口"), "system": _l("系统/定时任务")}


class ChangeLog(Model):
    """One row per created, changed or deleted record; `changes` maps field → [old, new]."""

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_object", "object_type", "object_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    object_type: Mapped[str] = mapped_column(String(60), nullable=False)
    object_id: Mapped[int] = mapped_column(Integer, nullable=False)
    object_label: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(10), nullable=False)
    changes: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    estate_id: Mapped[int | None] = mapped_column(Integer, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    source: Mapped[str] = mapped_column(String(10), nullable=False, default="system")
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    user = relationship("User", foreign_keys=[user_id], lazy="joined")

    def __repr__(self) -> str:
        return f"{self.object_type} #{self.object_id} {self.action_label} {fmt_dt(self.at)}"

    @property
    def action_label(self) -> str:
        return str(ACTIONS.get(self.action, self.action))

    @property
    def source_label(self) -> str:
        return str(SOURCES.get(self.source, self.source))

    @property
    def user_name(self) -> str:
        return self.user.username if self.user is not None else str(_l("系统"))

    @property
    def change_map(self) -> dict:
        try:
            return json.loads(self.changes or "{}")
        except ValueError:
            return {}

    @property
    def changes_text(self) -> str:
        return ";".join(f"{k}: {_show(v[0])} → {_show(v[1])}" for k, v in self.change_map.items())

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "action": self.action,
            "at": self.at.isoformat() if self.at else None,
            "user": self.user.username if self.user is not None else None,
            "source": self.source,
            "changes": {k: {"old": v[0], "new": v[1]} for k, v in self.change_map.items()},
        }


def _show(value) -> str:
    return "" if value is None else str(value)


# ---------------------------------------------------------------- recording
def _tracked(obj) -> bool:
    return bool(getattr(type(obj), "history_enabled", False)) and not isinstance(obj, ChangeLog)


def _plain(value):
    """A JSON-safe form of a column value."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    text = str(value)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…"


def _columns(mapper):
    for prop in mapper.iterate_properties:
        if isinstance(prop, ColumnProperty) and prop.key not in SKIPPED and len(prop.columns) == 1:
            if prop.columns[0].primary_key:
                continue
            yield prop


def _collections(mapper):
    """Many-to-many collections (e.g. a staff member's estates): recorded as lists of ids."""
    for prop in mapper.iterate_properties:
        if isinstance(prop, RelationshipProperty) and prop.secondary is not None and not prop.viewonly:
            yield prop


def _ids(objs) -> list:
    out = []
    for o in objs or ():
        ident = inspect(o).identity
        out.append(ident[0] if ident and len(ident) == 1 else None)
    return sorted(i for i in out if i is not None)


def _many_to_one_fk(mapper, prop) -> str | None:
    if prop.direction.name != "MANYTOONE" or prop.viewonly or len(prop.local_columns) != 1:
        return None
    column = next(iter(prop.local_columns))
    for col_prop in _columns(mapper):
        if col_prop.columns[0] is column:
            return col_prop.key
    return None


def _snapshot(state, mapper) -> dict:
    values = {}
    for prop in _columns(mapper):
        value = state.dict.get(prop.key)
        if value is not None and value != "":
            values[prop.key] = [None, _plain(value)]
    return values


def _diff(state, mapper) -> dict:
    changes: dict = {}
    for prop in _columns(mapper):
        hist = state.attrs[prop.key].history
        if not hist.added:
            continue
        old = hist.deleted[0] if hist.deleted else None
        new = hist.added[0]
        if _plain(old) != _plain(new):
            changes[prop.key] = [_plain(old), _plain(new)]
    for prop in mapper.relationships:
        fk = _many_to_one_fk(mapper, prop)
        if fk is None or fk in changes:
            continue
        hist = state.attrs[prop.key].history
        if not hist.added and not hist.deleted:
            continue
        old = _ids([o for o in hist.deleted if o is not None])
        new = _ids([o for o in hist.added if o is not None])
        old_id, new_id = (old[0] if old else None), (new[0] if new else None)
        if old_id != new_id and (hist.deleted or old_id is None):
            changes[fk] = [old_id, new_id]
    for prop in _collections(mapper):
        hist = state.attrs[prop.key].history
        if not hist.added and not hist.deleted:
            continue
        before = _ids(list(hist.unchanged) + list(hist.deleted))
        after = _ids(list(hist.unchanged) + list(hist.added))
        if before != after:
            changes[prop.key] = [before, after]
    return changes


def _source() -> str:
    if not has_request_context():
        return "system"
    return "api" if request.path.startswith("/api/") else "web"


def _estate_id(obj, state):
    if "estate_id" in state.mapper.columns:
        return state.dict.get("estate_id")
    if getattr(type(obj), "estate_scope_column", None) is not None:  # the estate itself
        return state.dict.get("id")
    return None


@event.listens_for(Session, "after_flush")
def record_changes(session, flush_context) -> None:
    rows = []
    who: list = []  # the user is looked up once, only when something is recorded
    pending = [(o, "create") for o in session.new] + [(o, "update") for o in session.dirty] + [
        (o, "delete") for o in session.deleted
    ]
    for obj, action in pending:
        if not _tracked(obj):
            continue
        state = inspect(obj)
        mapper = state.mapper
        if action == "create":
            changes = _snapshot(state, mapper)
        elif action == "delete":
            changes = {k: [v[1], None] for k, v in _snapshot(state, mapper).items()}
        else:
            changes = _diff(state, mapper)
            if not changes:
                continue
        pk_column = mapper.primary_key[0]
        object_id = state.dict.get(mapper.get_property_by_column(pk_column).key)
        if object_id is None:
            continue
        if not who:
            who.append(current_user_id())
        rows.append(
            {
                "object_type": mapper.local_table.name,
                "object_id": object_id,
                "object_label": None if action == "delete" else _safe_label(obj),
                "action": action,
                "changes": json.dumps(changes, ensure_ascii=False, sort_keys=True),
                "estate_id": _estate_id(obj, state),
                "user_id": who[0],
                "source": _source(),
                "at": utcnow(),
            }
        )
    if rows:
        session.connection().execute(insert(ChangeLog.__table__), rows)


def record_created(session, model, rows: list[dict], labels: list[str | None] | None = None) -> None:
    """The `create` history of rows a job wrote with one bulk INSERT (which bypasses the flush
    listener): the same entries `record_changes` writes for records created one by one."""
    if not rows or not getattr(model, "history_enabled", False):
        return
    mapper = inspect(model)
    keys = [prop.key for prop in _columns(mapper)]
    user_id, source, at = current_user_id(), _source(), utcnow()
    entries = []
    for i, row in enumerate(rows):
        changes = {k: [None, _plain(row[k])] for k in keys if row.get(k) is not None and row.get(k) != ""}
        entries.append(
            {
                "object_type": mapper.local_table.name,
                "object_id": row["id"],
                "object_label": labels[i] if labels else None,
                "action": "create",
                "changes": json.dumps(changes, ensure_ascii=False, sort_keys=True),
                "estate_id": row.get("estate_id"),
                "user_id": user_id,
                "source": source,
                "at": at,
            }
        )
    session.execute(insert(ChangeLog.__table__), entries)


def _safe_label(obj) -> str | None:
    """The record as a clerk names it, without loading anything during the flush."""
    state = inspect(obj)
    unloaded = state.unloaded
    for prop in state.mapper.relationships:
        if prop.key in unloaded:
            return None
    try:
        return str(obj)[:200]
    except Exception:
        return None


# ---------------------------------------------------------------- reading
def history_of(session, obj, limit: int = 200) -> list[ChangeLog]:
    """The changes of one record, newest first."""
    state = inspect(obj)
    return list(
        session.scalars(
            select(ChangeLog)
            .where(ChangeLog.object_type == state.mapper.local_table.name, ChangeLog.object_id == state.identity[0])
            .order_by(ChangeLog.id.desc())
            .limit(limit)
        )
    )


def describe(session, model, entry: ChangeLog, labels: dict | None = None) -> list[dict]:
    """The entry's field changes as a clerk reads them: field label, old value, new value."""
    labels = labels or {}
    mapper = inspect(model)
    fk_targets = {}
    for prop in mapper.relationships:
        fk = _many_to_one_fk(mapper, prop)
        if fk:
            fk_targets[fk] = (prop.key, prop.mapper.class_)
    collections = {p.key: p.mapper.class_ for p in _collections(mapper)}
    lines = []
    for field, (old, new) in entry.change_map.items():
        rel = fk_targets.get(field)
        # a foreign key without its own label reads as its relation (FAB only prettifies "x_id")
        label = _given(labels, field) or (_given(labels, rel[0]) if rel else None) or labels.get(field) or field
        column = mapper.columns.get(field)
        enum_cls = column.info.get("enum") if column is not None else None

        def show(value, rel=rel, enum_cls=enum_cls, field=field, column=column):
            if value is None or value == "":
                return ""
            if rel is not None:
                return _related_label(session, rel[1], value)
            if field in collections:
                return "、".join(_related_label(session, collections[field], v) for v in value)
            if enum_cls is not None:
                return enum_cls.label_of(value)
            if isinstance(value, bool):
                return str(_l("是")) if value else str(_l("否"))
            if column is not None and isinstance(value, str) and "T" in value and _is_datetime(column):
                try:
                    return fmt_dt(datetime.fromisoformat(value))
                except ValueError:
                    return value
            return str(value)

        lines.append({"field": field, "label": str(label), "old": show(old), "new": show(new)})
    return lines


def _given(labels: dict, key: str):
    """The label a screen gives a column, not the one FAB makes up from its name ("repair_order_id" → "Repair Order Id")."""
    label = labels.get(key)
    if label is None or str(label) == re.sub("[._]", " ", key).title():
        return None
    return label


def _is_datetime(column) -> bool:
    try:
        return column.type.python_type is datetime
    except NotImplementedError:
        return False


def _related_label(session, cls, ident) -> str:
    try:
        obj = session.get(cls, ident)
    except Exception:
        obj = None
    return str(obj) if obj is not None else f"#{ident}"

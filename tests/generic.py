"""Discovery for the cross-cutting tests: every screen, REST resource and estate-owned model the app
registers (areas keep adding them), and a generic row maker for models the tests do not know."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_appbuilder import ModelRestApi, ModelView
from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, String, Text, inspect
from sqlalchemy.orm import Mapper

from app.extensions import db
from models.base import utcnow

MISSING_ID = 987654321
_counter = itertools.count(1)


def model_views(app) -> list[ModelView]:
    return [v for v in app.appbuilder.baseviews if isinstance(v, ModelView)]


def rest_apis(app) -> list[ModelRestApi]:
    return [v for v in app.appbuilder.baseviews if isinstance(v, ModelRestApi)]


def estate_owned_models() -> list[type]:
    """Every mapped model whose rows belong to an estate (filtered by app.scope)."""
    out = []
    for mapper in db.Model.registry.mappers:
        cls = mapper.class_
        if hasattr(cls, "estate_scope_column") and cls.__name__ not in SKIP_ROWS:
            out.append(cls)
    return sorted(out, key=lambda c: c.__name__)


def model_for_table(table_name: str):
    for mapper in db.Model.registry.mappers:
        if mapper.local_table.name == table_name:
            return mapper.class_
    return None


@dataclass
class Route:
    view: object
    endpoint: str
    method_name: str
    rule: object

    @property
    def methods(self) -> set[str]:
        return set(self.rule.methods) - {"HEAD", "OPTIONS"}


def routes_of(app, view) -> list[Route]:
    prefix = view.blueprint.name + "."
    return [
        Route(view, rule.endpoint, rule.endpoint[len(prefix):], rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(prefix)
    ]


# ---------------------------------------------------------------- rows
# Models whose rows the generic maker does not create (bookkeeping, not screens of estate data).
SKIP_ROWS = {"LoginFailure"}


class RowMaker:
    """Builds a row of any model straight through the session (no screen rules), filling required
    columns; required parents are made in the same estate. String columns carry `marker` so a page
    or file that shows the row can be recognised."""

    def __init__(self, session, user_id: int | None = None):
        self.session = session
        self.user_id = user_id
        self.parents: dict = {}

    def make(self, model, estate, marker: str, overrides: dict | None = None):
        overrides = overrides or {}
        mapper: Mapper = inspect(model)
        values = {}
        for column in mapper.local_table.columns:
            key = _attr_key(mapper, column)
            if key is None:
                continue
            if key in overrides:
                values[key] = overrides[key]
                continue
            if column.primary_key and column.autoincrement in (True, "auto") and isinstance(column.type, Integer):
                continue
            if column.name == "version":
                continue
            if column.name == "estate_id":
                values[key] = estate.id
                continue
            if column.foreign_keys:
                fk = next(iter(column.foreign_keys))
                target = fk.column.table.name
                if target == "ab_user":
                    if not column.nullable:
                        values[key] = self.user_id
                    continue
                if column.nullable:
                    continue
                parent_model = model_for_table(target)
                if parent_model is not None and parent_model.__name__ == "Estate":
                    values[key] = estate.id
                    continue
                values[key] = self.parent(parent_model, estate, marker).id
                continue
            if column.nullable and column.default is None and not isinstance(column.type, (String, Text)):
                continue
            if column.default is not None and not isinstance(column.type, (String, Text)):
                continue
            values[key] = self.value(column, marker)
        obj = model(**values)
        if model.__name__ == "Estate":
            obj.name = f"{marker}小区{next(_counter)}"
        self.session.add(obj)
        self.session.flush()
        owned = hasattr(model, "estate_scope_column")
        self.parents.setdefault((model, estate.id if owned else None), obj)
        return obj

    def parent(self, model, estate, marker: str):
        owned = hasattr(model, "estate_scope_column")
        key = (model, estate.id if owned else None)
        if key not in self.parents:
            self.parents[key] = self.make(model, estate, marker if owned else "共用")
        return self.parents[key]

    @staticmethod
    def value(column, marker: str):
        enum_cls = column.info.get("enum")
        if enum_cls is not None:
            return next(iter(enum_cls)).value
        kind = column.type
        if isinstance(kind, (String, Text)):
            length = getattr(kind, "length", None) or 200
            return f"{marker}{next(_counter)}"[:length]
        if isinstance(kind, Boolean):
            return False
        if isinstance(kind, Numeric):
            return Decimal("1.00")
        n = next(_counter)
        if isinstance(kind, Integer):
            return 2000 + n  # distinct (unique keys such as a year) and plausible
        if isinstance(kind, DateTime) or getattr(kind, "impl", None) is DateTime or "DateTime" in type(kind).__name__:
            return utcnow() - timedelta(minutes=n)
        if isinstance(kind, Date):
            return date.today() - timedelta(days=n)
        try:
            python_type = kind.python_type
        except NotImplementedError:
            return None
        if python_type is datetime:
            return utcnow() - timedelta(minutes=n)
        if python_type is date:
            return date.today() - timedelta(days=n)
        return None


def _attr_key(mapper, column):
    try:
        return mapper.get_property_by_column(column).key
    except Exception:
        return None

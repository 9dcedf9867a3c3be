"""Estate scoping: one mechanism every estate-owned model gets, in lists, pages, actions and the API.

A user whose staff record names estates sees and touches only rows of those estates; users with
a company-level role see all; jobs and the CLI (no request) see all.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

from flask import current_app, g, has_request_context, request
from flask_appbuilder.exceptions import DatabaseException
from flask_appbuilder.models.sqla import filters as fab_filters
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l
from sqlalchemy import false, func, literal_column, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError

from models.base import MAX_ID, PermissionDenied, ValidationError, stale_conflict

COMPANY_ROLES_DEFAULT = ("系统管理员", "公司经理")
ALL = None


def company_roles() -> set[str]:
    return set(current_app.config.get("COMPANY_ROLES", COMPANY_ROLES_DEFAULT))


def user_estate_ids(user) -> set[int] | None:
    """The estates a user may see; None means every estate."""
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    if {r.name for r in user.roles} & company_roles():
        return ALL
    from app.security_stamp import cache_of
    from models.master import Staff, staff_estate

    def read() -> frozenset[int]:
        # the estate ids alone, in one statement (a user without a staff record works for no estate)
        return frozenset(
            current_app.appbuilder.session.scalars(
                select(staff_estate.c.estate_id).join(Staff, Staff.id == staff_estate.c.staff_id).where(Staff.user_id == user.id)
            )
        )

    # kept across requests while the security stamp stays the same (app/security_stamp.py)
    return set(cache_of("user_estates").get(user.id, read))


def request_user():
    """The user of this request, logged in by the session cookie or by a JWT; None if anonymous."""
    if not has_request_context():
        return None
    try:
        user = current_app.appbuilder.sm.current_user
    except RuntimeError:
        user = None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def allowed_estate_ids() -> set[int] | None:
    """For the current request; None outside a request or for company roles."""
    if not has_request_context():
        return ALL
    user = request_user()
    # once per request (not per application context: tests run many requests in one)
    cache = request.environ.setdefault("wuye.estate_ids", {})
    key = user.id if user is not None else None
    if key not in cache:
        cache[key] = user_estate_ids(user)
    return cache[key]


def scope_condition(model, ids: set[int] | None):
    if ids is None or not hasattr(model, "estate_scope_column"):
        return None
    column = model.estate_scope_column()
    if not ids:
        return (column.is_(None)) if getattr(model, "estate_shared", False) else false()
    if getattr(model, "estate_shared", False):
        return or_(column.in_(ids), column.is_(None))
    return column.in_(ids)


def scoped(query_or_select, model, ids: set[int] | None | str = "current"):
    """Restrict a query or select to the current user's estates."""
    if ids == "current":
        ids = allowed_estate_ids()
    cond = scope_condition(model, ids)
    return query_or_select if cond is None else query_or_select.where(cond)


def check_estate_write(item, session) -> None:
    """Refuse writing a row into an estate the user does not work for."""
    ids = allowed_estate_ids()
    if ids is None or not hasattr(item, "estate_scope_column"):
        return
    estate_id = getattr(item, "estate_id", None)
    if estate_id is None:
        if getattr(item, "estate_shared", False) and not ids:
            return
        if getattr(item, "estate_shared", False):
            raise PermissionDenied(_l("只有公司级角色可以登记全公司通用的记录"), "estate_id")
        if type(item).__name__ == "Estate":
            raise PermissionDenied(_l("只有公司级角色可以新建小区/大厦"), "estate_id")
        raise ValidationError("estate_id", _l("请选择所属小区/大厦"))
    if estate_id not in ids:
        raise PermissionDenied(_l("您无权操作其他小区/大厦的数据"), "estate_id")


INT_MAX = MAX_ID


def check_integer_ranges(item) -> None:
    """Integers beyond what the column holds (32 bits, 64 for BigInteger) overflow the database
    driver: refuse them as invalid input."""
    from sqlalchemy import BigInteger, Integer, inspect

    for column in inspect(type(item)).columns:
        if isinstance(column.type, Integer):
            limit = 2**63 - 1 if isinstance(column.type, BigInteger) else MAX_ID
            value = getattr(item, column.key, None)
            if isinstance(value, int) and not -limit <= value <= limit:
                raise ValidationError(column.key, _l("数值超出范围"))


# a write the database refused for a unique or foreign key
CONFLICT = _l("数据与已有记录冲突(重复或引用不存在的记录)")
MISSING_REFERENCE = _l("所选的记录不存在(可能已被删除),请重新选择")


_KEYED_CLASSES: dict = {}


def _keyed_class(mapper, column):
    """The mapped class whose single-column primary key `column` is, or None."""
    if column not in _KEYED_CLASSES:
        _KEYED_CLASSES[column] = next(
            (m.class_ for m in mapper.registry.mappers
             if m.local_table is column.table and m.inherits is None and tuple(m.primary_key) == (column,)),
            None,
        )
    return _KEYED_CLASSES[column]


def check_references(item, session) -> None:
    """A reference to a record that does not exist is refused naming its field: a key column set or
    changed to an id no row has, and a related record given by an unknown id (the API's deserializer
    makes a new, empty one of it, which the write would try to insert). The database refuses both too,
    but without saying which field."""
    from sqlalchemy import inspect
    from sqlalchemy.orm.base import NO_VALUE

    state = inspect(item)
    mapper = state.mapper
    for prop in mapper.column_attrs:
        if len(prop.columns) != 1 or len(prop.columns[0].foreign_keys) != 1:
            continue
        value = state.attrs[prop.key].value
        if value is None or not (state.transient or state.pending or state.attrs[prop.key].history.has_changes()):
            continue
        target = next(iter(prop.columns[0].foreign_keys)).column
        cls = _keyed_class(mapper, target)
        with session.no_autoflush:
            if cls is not None:  # through the identity map: the row is at hand when the write reads it next
                found = session.get(cls, value) is not None
            else:
                found = session.execute(select(literal_column("1")).select_from(target.table).where(target == value).limit(1)).first() is not None
        if not found:
            raise ValidationError(prop.key, MISSING_REFERENCE)
    for rel in mapper.relationships:
        loaded = state.attrs[rel.key].loaded_value
        if loaded is NO_VALUE or loaded is None:
            continue
        for related in loaded if rel.uselist else (loaded,):
            related_state = inspect(related)
            if related_state.persistent or related_state.deleted or related_state.detached:
                continue
            key = related_state.mapper.primary_key_from_instance(related)
            if any(k is not None for k in key):  # a new object named by an id: it must be a stored one
                with session.no_autoflush:
                    if session.get(related_state.mapper.class_, key) is None:
                        raise ValidationError(rel.key, MISSING_REFERENCE)


def prepare_write(item, session) -> None:
    """Derive the estate, check the row's rules and the user's estates (used by every write path)."""
    check_integer_ranges(item)
    check_references(item, session)
    if hasattr(item, "derive_estate"):
        item.derive_estate(session)
    if hasattr(item, "validate"):
        item.validate(session)
    check_estate_write(item, session)


# ---------------------------------------------------------------- literal text search
def like_escape(value) -> str:
    """Search text taken literally: `%`, `_` and the escape character match themselves."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _literal_like(fab_filter, pattern: str, negate: bool = False):
    """A FAB text filter (same name and URL/API code) whose value is matched literally."""

    def apply(self, query, value):
        query, field = fab_filters.get_field_setup_query(query, self.model, self.column_name)
        condition = field.ilike(pattern.format(like_escape(value)), escape="\\")
        return query.filter(~condition if negate else condition)

    return type(fab_filter.__name__, (fab_filter,), {"apply": apply, "__doc__": fab_filter.__doc__})


LITERAL_FILTERS = {
    fab_filters.FilterStartsWith: _literal_like(fab_filters.FilterStartsWith, "{}%"),
    fab_filters.FilterNotStartsWith: _literal_like(fab_filters.FilterNotStartsWith, "{}%", negate=True),
    fab_filters.FilterEndsWith: _literal_like(fab_filters.FilterEndsWith, "%{}"),
    fab_filters.FilterNotEndsWith: _literal_like(fab_filters.FilterNotEndsWith, "%{}", negate=True),
    fab_filters.FilterContains: _literal_like(fab_filters.FilterContains, "%{}%"),
    fab_filters.FilterNotContains: _literal_like(fab_filters.FilterNotContains, "%{}%", negate=True),
}


class LiteralFilterConverter(fab_filters.SQLAFilterConverter):
    """FAB's filters, with `%` and `_` in search boxes and API filters matched as typed."""

    conversion_table = tuple(
        (kind, [LITERAL_FILTERS.get(f, f) for f in classes])
        for kind, classes in fab_filters.SQLAFilterConverter.conversion_table
    )

    def convert(self, col_name):
        # FAB builds a Filters object (every column's filters) several times per list request; a
        # column's filters hold no request state, so they are made once per interface and column
        made = self.datamodel.__dict__.setdefault("_converted_filters", {})
        if col_name not in made:
            made[col_name] = super().convert(col_name)
        return list(made[col_name]) if made[col_name] is not None else None


def capped_count(query, limit: int):
    """`SELECT count(*) FROM (SELECT 1 FROM … LIMIT limit + 1)`: at most limit + 1 rows counted, and
    nothing read of them (a key read per row costs SQLite a third more than a constant)."""
    rows = query.order_by(None).statement.with_only_columns(literal_column("1"), maintain_column_froms=True)
    return select(func.count()).select_from(rows.limit(limit + 1).subquery())


class ScopedInterface(SQLAInterface):
    """SQLAInterface that filters every read by estate and checks every write.

    A list page (screen or REST) may be read with loader options (what its columns need, eagerly,
    and nothing else) and a capped count: `with datamodel.listing(options, count_limit): ...`
    (`ScopedModelView.list_options` / `list_count_limit` and the same on `ScopedModelRestApi`).
    A capped count reads at most `count_limit + 1` keys: a filter matching a million rows answers
    `count_limit + 1` ("more than count_limit") in the time of a small one.
    """

    filter_converter_class = LiteralFilterConverter

    def __init__(self, obj, session=None):
        super().__init__(obj, session)
        self._list_options: tuple = ()
        self._count_limit: int | None = None
        self._list_values = None

    @contextmanager
    def listing(self, options=(), count_limit: int | None = None, values=None):
        """Loader options, a capped count and (optionally) `values(items, columns)`, the grid's cells
        (as FAB's `get_values`), for one list page."""
        saved = self._list_options, self._count_limit, self._list_values
        self._list_options, self._count_limit, self._list_values = tuple(options or ()), count_limit, values
        try:
            yield self
        finally:
            self._list_options, self._count_limit, self._list_values = saved

    def get_values(self, lst, list_columns):
        if self._list_values is not None:
            return self._list_values(lst, list_columns)
        return super().get_values(lst, list_columns)

    def get_related_obj(self, col_name, value):
        """FAB's relation filter (`?_flt_0_estate=1`) reads the related row for the page's count and
        again for its rows: the row is kept for the rest of the request (the session's identity map
        holds it only while something refers to it). The key is given its column's type first (a value
        that does not convert is passed on as it was)."""
        columns = self.get_related_model(col_name).__mapper__.primary_key
        if len(columns) == 1 and isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value):
            try:
                is_int = columns[0].type.python_type is int
            except NotImplementedError:
                is_int = False
            if is_int and -INT_MAX <= int(value) <= INT_MAX:
                value = int(value)
        if not has_request_context() or not isinstance(value, (int, str)):
            return super().get_related_obj(col_name, value)
        held = g.__dict__.setdefault("_related_rows", {})
        key = (self.obj, col_name, value)
        row = held.get(key)
        if row is None or row not in self.session:
            row = held[key] = super().get_related_obj(col_name, value)
        return row

    def apply_all(self, query, *args, **kwargs):
        query = super().apply_all(query, *args, **kwargs)
        return query.options(*self._list_options) if self._list_options else query

    def query_count(self, query, filters=None, select_columns=None) -> int:
        if not self._count_limit:
            return super().query_count(query, filters, select_columns)
        keys = self._apply_inner_all(query.with_entities(*self.obj.__mapper__.primary_key), filters, aliases_mapping={})
        return self.session.scalar(capped_count(keys, self._count_limit))

    def get_related_interface(self, col_name: str):
        """A relation's rows (dropdowns, search menus) scoped by estate only: a subclass's own narrowing
        (my tasks, my orders) is about its model and would join the related rows to it unconstrained."""
        return ScopedInterface(self.get_related_model(col_name), self.session)

    def _scope(self, query):
        cond = scope_condition(self.obj, allowed_estate_ids())
        return query if cond is None else query.filter(cond)

    def get(self, id, filters=None, select_columns=None, outer_default_load=False):
        try:
            if not -INT_MAX <= int(id) <= INT_MAX:
                return None
        except (TypeError, ValueError):
            return None
        return super().get(id, filters, select_columns, outer_default_load)

    def _apply_inner_all(self, query, *args, **kwargs):
        return super()._apply_inner_all(self._scope(query), *args, **kwargs)

    def _get_base_query(self, query, *args, **kwargs):
        return super()._get_base_query(self._scope(query), *args, **kwargs)

    def _write(self, item, commit: bool, merge: bool) -> None:
        session = self.session
        try:
            with session.no_autoflush:
                self.before_write(item, session)
            if merge:
                item = session.merge(item)
            else:
                session.add(item)
            self.after_write(item, session)
            if commit:
                session.commit()
        except StaleDataError as ex:
            session.rollback()
            raise stale_conflict() from ex
        except IntegrityError as ex:
            session.rollback()
            raise ValidationError("id", CONFLICT) from ex
        except SQLAlchemyError as ex:
            session.rollback()
            raise DatabaseException(str(_l("数据库错误,未保存"))) from ex
        except Exception:
            session.rollback()
            raise

    def before_write(self, item, session) -> None:
        """Derive and check the row before it is written (`prepare_write`); run without autoflush."""
        prepare_write(item, session)

    def after_write(self, item, session) -> None:
        """Runs once the row is added (or merged), in the same transaction and before the commit:
        what a write must bring about with it. Does nothing here."""

    def add(self, item, commit: bool = True) -> None:
        self._write(item, commit, merge=False)

    def edit(self, item, commit: bool = True) -> None:
        self._write(item, commit, merge=True)

    def delete(self, item, commit: bool = True) -> None:
        session = self.session
        try:
            check_estate_write(item, session)
            if hasattr(item, "check_delete"):
                item.check_delete(session)
            session.delete(item)
            if commit:
                session.commit()
        except StaleDataError as ex:
            session.rollback()
            raise stale_conflict() from ex
        except IntegrityError as ex:
            session.rollback()
            raise ValidationError("id", _l("该记录仍被其他记录引用,不能删除")) from ex
        except Exception:
            session.rollback()
            raise

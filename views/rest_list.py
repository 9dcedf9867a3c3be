"""The REST list (`GET /api/v1/<resource>/`) without FAB's per-request machinery.

For every list request FAB builds filter objects for each searchable column, one load option per
listed column and a marshmallow dump of every field of every row: most of a list's time, far more
than its two statements. `lean_list_response` answers the common request — the model's own columns
and properties, filters on its own columns — with the same JSON from what is prepared once per
resource: the filter instances by column and operator, one serializer per field, the load options.
Anything else (dotted or related columns, filters through relations, arguments FAB refuses, with
its own 400 message) returns None and takes FAB's path. Same permission check (the decorators run
before), same estate scope, order, paging and count cap. `tests/test_rest_lean_list.py` compares
both answers for every registered resource.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from decimal import Decimal

from flask import g, has_request_context
from flask_appbuilder.const import (
    API_FILTERS_RIS_KEY,
    API_ORDER_COLUMN_RIS_KEY,
    API_SELECT_COLUMNS_RIS_KEY,
)
from flask_appbuilder.models.filters import map_args_filter
from flask_babel import lazy_gettext as _l
from marshmallow import fields as ma_fields
from marshmallow import utils as ma_utils
from sqlalchemy import func, select
from sqlalchemy.orm import ColumnProperty, load_only

from app.scope import ScopedInterface, capped_count

logger = logging.getLogger(__name__)
_MISSING = object()

# marshmallow fields whose `_serialize(value, attr, obj)` depends on the value only
_VALUE_FIELDS = (
    ma_fields.String, ma_fields.Integer, ma_fields.Float, ma_fields.Decimal, ma_fields.Boolean, ma_fields.DateTime,
    ma_fields.Date, ma_fields.Time, ma_fields.Raw, ma_fields.Inferred, ma_fields.Enum, ma_fields.UUID,
)
# exact classes whose conversion of None is None
_NONE_IS_NONE = {ma_fields.String, ma_fields.Integer, ma_fields.Float, ma_fields.Decimal, ma_fields.Boolean,
                 ma_fields.DateTime, ma_fields.Date, ma_fields.Time, ma_fields.Inferred, ma_fields.Enum}
_ANY = "any"
_LIST_OPERATORS = {"in", "not_in"}
_NOT_VALUE_FIELDS = (ma_fields.Nested, ma_fields.Function, ma_fields.Method, ma_fields.List, ma_fields.Dict)
# the interface methods a list goes through: a datamodel overriding any of them keeps FAB's path
_QUERY_METHODS = ("query", "query_count", "apply_all", "_apply_inner_all", "_get_base_query", "_scope",
                  "apply_filters", "apply_order_by", "apply_pagination", "get_keys")


class LeanPlan:
    """What a resource's list needs, prepared once: columns, serializers, filters, load options."""

    def __init__(self, api, interface_cls):
        datamodel = api.datamodel
        self.ok = all(getattr(type(datamodel), m, None) is getattr(interface_cls, m, None) for m in _QUERY_METHODS)
        self.model = model = datamodel.obj
        mapper = model.__mapper__
        self.pk_name = datamodel.get_pk_name() if not datamodel.is_pk_composite() else None
        self.ok = self.ok and isinstance(self.pk_name, str)
        self.column_names = {p.key for p in mapper.iterate_properties if isinstance(p, ColumnProperty)}
        schema = api.list_model_schema
        self.ok = self.ok and not schema._hooks.get(("post_dump", False)) and not schema._hooks.get(("post_dump", True)) \
            and not schema._hooks.get(("pre_dump", False)) and not schema._hooks.get(("pre_dump", True))
        # field name -> (answer key, attribute, to_json(value, attr, obj)) or None when the field needs FAB
        self.serializers = {name: self._serializer(name, field) for name, field in schema.dump_fields.items()}
        self.default_columns = list(schema.dump_fields)
        self.filter_cache: dict = {}
        self.load_cache: dict = {}
        # rows read as plain column values (no ORM entities) into objects of `row_class`, which has the
        # model's methods and properties; given up for good when a property needs more than columns
        simple = [p for p in mapper.column_attrs if len(p.columns) == 1 and p.columns[0].table is mapper.local_table]
        self.column_attrs = {p.key: getattr(model, p.key) for p in simple}
        self.rows_ok = len(simple) == len(mapper.column_attrs) and mapper.inherits is None and mapper.polymorphic_on is None
        self.row_class = _row_class(model, mapper) if self.rows_ok else None

    def _serializer(self, name, field):
        """(answer key, attribute, values answered as they are, answered by isoformat(), Decimals answered
        as they are when finite, marshmallow's conversion): the common values skip marshmallow, with the
        result marshmallow gives them."""
        if not isinstance(field, _VALUE_FIELDS) or isinstance(field, _NOT_VALUE_FIELDS) or "." in name:
            return None
        attr = field.attribute or name
        if "." in attr:
            return None
        if attr not in self.column_names and not hasattr(getattr(self.model, attr, None), "fget"):
            return None  # a relation or a model function: FAB knows
        cls = type(field)
        as_is: tuple = ()
        if cls is ma_fields.Raw:
            as_is = _ANY
        elif cls is ma_fields.String or cls is ma_fields.Str:
            as_is = (str,)
        elif cls is ma_fields.Integer and not field.as_string:
            as_is = (int,)
        elif cls is ma_fields.Boolean:
            as_is = (bool,)
        elif cls is ma_fields.Inferred:
            as_is = (str, int, bool)
        iso = cls is ma_fields.DateTime and (field.format or field.DEFAULT_FORMAT) == "iso" \
            and field.SERIALIZATION_FUNCS.get("iso") is ma_utils.isoformat
        if cls in _NONE_IS_NONE:
            as_is = as_is if as_is is _ANY else (*as_is, type(None))
        # marshmallow answers a finite Decimal as an equal Decimal with the field's places: a value that
        # has them already (what a Numeric column reads) is answered as it is; _ANY: a field without places
        dec = None
        if cls is ma_fields.Decimal and not field.as_string:
            dec = _ANY if field.places is None else field.places.as_tuple().exponent
        key = field.data_key if field.data_key is not None else name
        return key, attr, as_is, iso, dec, field._serialize

    def load_option(self, select_columns):
        """`load_only` of the listed columns the table has (FAB's per-column options, as one)."""
        key = tuple(select_columns or ())
        option = self.load_cache.get(key)
        if option is None and key:
            names = [c for c in key if c in self.column_names]
            if names:
                option = load_only(*[getattr(self.model, c) for c in names])
                if len(self.load_cache) < 64:
                    self.load_cache[key] = option
        return option

    def row_columns(self, select_columns):
        """The columns read for the rows: the key and the listed columns the table has (FAB's load_only)."""
        names = [c for c in select_columns or () if c in self.column_attrs] or list(self.column_attrs)
        if self.pk_name not in names:
            names.insert(0, self.pk_name)
        return names

    def filter_instance(self, api, col, filter_cls):
        key = (col, filter_cls)
        instance = self.filter_cache.get(key)
        if instance is None:
            instance = filter_cls(col, api.datamodel)
            self.filter_cache[key] = instance
        return instance


def refused_filter(api, args) -> str | None:
    """A Chinese 400 message for `?q=` filters FAB would fail on with a 500: `in`/`not_in` with a single
    value instead of a list, or with numbers on a text column (PostgreSQL refuses to compare them)."""
    rison_filters = args.get(API_FILTERS_RIS_KEY) if isinstance(args, dict) else None
    for item in rison_filters if isinstance(rison_filters, list) else []:
        if not isinstance(item, dict) or item.get("opr") not in _LIST_OPERATORS or "value" not in item:
            continue
        col, opr, value = item.get("col"), item["opr"], item["value"]
        if not isinstance(value, list):
            return str(_l("筛选条件「%(col)s」的运算「%(opr)s」需要一组值,如 value:!(1,2)", col=col, opr=opr))
        text = isinstance(col, str) and (api.datamodel.is_string(col) or api.datamodel.is_text(col))
        if text and not all(isinstance(v, str) for v in value):
            return str(_l("筛选条件「%(col)s」的值必须是文字", col=col))
    return None


class _NeedsEntity(Exception):
    """A property of a plain row read something that is not one of its columns (a relation, the ORM state)."""


def _row_getattr(self, name):
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(name)
    raise _NeedsEntity(name)


_KEEP_DUNDERS = {"__str__", "__repr__", "__format__"}
_NOT_COPIED = {"query", "query_class", "metadata", "registry"}


def _row_class(model, mapper):
    """A plain class with the model's methods and properties (not its columns, relations or ORM
    machinery): its instances hold one row's column values in `__dict__`."""
    from sqlalchemy.orm import MapperProperty, QueryableAttribute
    from sqlalchemy.schema import Column

    orm_names = set(mapper.all_orm_descriptors.keys()) | set(mapper.attrs.keys())
    namespace: dict = {}
    for klass in reversed(model.__mro__[:-1]):
        for name, value in vars(klass).items():
            if name in orm_names or name in _NOT_COPIED or name.startswith("_sa_"):
                continue
            if name.startswith("__") and name.endswith("__") and name not in _KEEP_DUNDERS:
                continue
            if isinstance(value, (QueryableAttribute, MapperProperty, Column)) or type(value).__name__ == "declared_attr":
                continue
            namespace[name] = value
    namespace["__getattr__"] = _row_getattr
    namespace["__module__"] = __name__
    return type(f"{model.__name__}Row", (), namespace)


def _verify_token_once(verify):
    """FAB's `protect` verifies the request's token again after app/hardening.py did (decoding it and
    loading the user a second time); within one request the second look answers what the first found:
    a valid access token and its user. Any other call verifies as usual."""

    @functools.wraps(verify)
    def verify_jwt_in_request(*args, **kwargs):
        if not args and not kwargs and has_request_context():
            data = g.get("_jwt_extended_jwt")
            user = g.get("_jwt_extended_jwt_user") or {}
            if data and data.get("type") == "access" and user.get("loaded_user") is not None:
                return g.get("_jwt_extended_jwt_header"), data
        return verify(*args, **kwargs)

    verify_jwt_in_request.verified_once = True
    return verify_jwt_in_request


def verify_token_once() -> None:
    import flask_appbuilder.security.decorators as fab_decorators

    if not getattr(fab_decorators.verify_jwt_in_request, "verified_once", False):
        fab_decorators.verify_jwt_in_request = _verify_token_once(fab_decorators.verify_jwt_in_request)


def _plan(api) -> LeanPlan:
    plan = api.__dict__.get("_lean_plan")
    if plan is None:
        plan = api.__dict__["_lean_plan"] = LeanPlan(api, ScopedInterface)
    return plan


def _request_filters(api, plan, rison_filters):
    """[(filter instance, value)] as FAB's `Filters.rest_add_filters` would add them; None where FAB
    must answer (an unknown column or operator: its 400) or a column through a relation."""
    search_columns = api._filters.search_columns
    search_filters = api._filters._search_filters
    out = []
    for item in rison_filters:
        try:
            opr, col, value = item["opr"], item["col"], item["value"]
        except (KeyError, TypeError):
            return None
        if not isinstance(col, str) or "." in col:
            return None
        filter_cls = map_args_filter.get(opr, None)
        if filter_cls:
            if col not in search_columns or not any(f.arg_name == opr for f in search_filters.get(col, [])):
                return None
            out.append((plan.filter_instance(api, col, filter_cls), value))
            continue
        candidates = search_filters.get(col)
        if not candidates:
            return None
        for candidate in candidates:
            if candidate.arg_name == opr:
                # a resource's own filters are classes there (FAB instantiates them per request)
                instance = plan.filter_instance(api, col, candidate) if isinstance(candidate, type) else candidate
                out.append((instance, value))
                break
    return out


def _serialize(items, serializers) -> list[dict]:
    result = []
    for item in items:
        row = {}
        loaded = item.__dict__  # the column values (what the instrumented attributes answer)
        for key, attr, as_is, iso, dec, to_json in serializers:
            value = loaded[attr] if attr in loaded else getattr(item, attr, _MISSING)
            if value is _MISSING:  # marshmallow leaves out what the object does not have
                continue
            if as_is is _ANY or type(value) in as_is:
                row[key] = value
            elif iso and type(value) is datetime:
                row[key] = value.isoformat()
            elif dec is not None and type(value) is Decimal and value.is_finite() \
                    and (dec is _ANY or value.as_tuple().exponent == dec):
                row[key] = value
            else:
                row[key] = to_json(value, attr, item)
        result.append(row)
    return result


def lean_list_response(api, args: dict):
    """The list answer of `api` for the rison `args`, or None when FAB's path must give it."""
    plan = _plan(api)
    if not plan.ok or not isinstance(args, dict):
        return None
    try:
        select_columns, pruned = api._handle_columns_args(args, api.list_select_columns, api.list_columns)
    except Exception:
        return None
    serializers = []
    for name in pruned or plan.default_columns:
        entry = plan.serializers.get(name)
        if entry is None:
            return None
        serializers.append(entry)
    if any("." in c for c in select_columns or ()):
        return None
    rison_filters = args.get(API_FILTERS_RIS_KEY, [])
    filters = _request_filters(api, plan, rison_filters if isinstance(rison_filters, list) else [])
    if filters is None:
        return None
    order_column = args.get(API_ORDER_COLUMN_RIS_KEY, "")
    if not isinstance(order_column, str) or "." in order_column:
        return None
    try:
        order_column, order_direction = api._handle_order_args(args)
    except Exception:
        return None
    if "." in (order_column or ""):
        return None
    page, page_size = api._handle_page_args(args)

    response: dict = {}
    api.set_response_key_mappings(response, api.get_list, args, **{API_SELECT_COLUMNS_RIS_KEY: pruned})

    datamodel = api.datamodel
    session = datamodel.session
    query = datamodel._scope(session.query(plan.model))
    base = api._base_filters
    for flt, value in filters + list(zip(base.filters, base.values, strict=False)):
        # as FAB's `Filters.apply_all`: a list applies the filter once per item, except for (not) in
        if isinstance(value, list) and flt.arg_name not in _LIST_OPERATORS:
            for item in value:
                query = flt.apply(query, item)
        else:
            query = flt.apply(query, value)

    # the count (capped: at most limit + 1 keys are counted) travels with the rows as a subquery, and
    # is asked alone only when the page has no rows
    limit = getattr(api, "list_count_limit", None)
    if limit:
        count_select = capped_count(query.with_entities(*plan.model.__mapper__.primary_key), limit)
    else:
        count_select = select(func.count()).select_from(query.order_by(None).subquery())  # what Query.count() counts
    count_column = count_select.correlate(None).scalar_subquery().label("lean_list_count")

    query = datamodel.apply_engine_specific_hack(query, page, page_size, order_column)
    query = datamodel.apply_order_by(query, order_column, order_direction, aliases_mapping={}, bypass_many_to_many=True,
                                     add_pk=True)
    query = datamodel.apply_pagination(query, page, page_size)
    result = None
    if plan.rows_ok:
        names = plan.row_columns(select_columns)
        rows = query.with_entities(count_column, *[plan.column_attrs[n] for n in names]).all()
        count = rows[0][0] if rows else session.scalar(count_select)
        items = []
        for row in rows:
            item = object.__new__(plan.row_class)
            item.__dict__.update(zip(names, row[1:], strict=True))
            items.append(item)
        try:
            result = _serialize(items, serializers)
        except _NeedsEntity as needed:
            plan.rows_ok = False
            logger.info("%s: list rows read as entities (a listed property reads %s)", plan.model.__name__, needed)
    if result is None:
        options = list(getattr(api, "list_options", ()) or ())
        load = plan.load_option(select_columns)
        if load is not None:
            options.append(load)
        if options:
            query = query.options(*options)
        rows = query.add_columns(count_column).all()
        count = rows[0][1] if rows else session.scalar(count_select)
        items = [row[0] for row in rows]
        result = _serialize(items, serializers)

    pk_name = plan.pk_name
    response["result"] = result
    response["ids"] = [getattr(item, pk_name) for item in items]
    response["count"] = count
    api.pre_get_list(response)
    return api.response(200, **response)

"""The floor: the ledger rows of the REST API through a minimal Flask endpoint and bare SQL.

`GET /api/v1/repair_order/?estate_id=1&status=in_progress&page_size=25` answers exactly what
`/api/v1/repair_order/?q=(filters:!(...),order_column:recorded_at,order_direction:desc,
page_size:25,keys:!(none))` answers (the same `count`, `ids` and `result`), from two hand-written
statements on the same driver: no FAB, no ORM, no login, no marshmallow. What the application
spends beyond this is the price of its framework, security and estate scoping.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask, jsonify, request
from sqlalchemy import Numeric, create_engine

from models.base import amount_in_words, utcnow


def _columns():
    from models.repair import RepairOrder
    from views.repair import API_READ

    table = RepairOrder.__table__
    names = [c for c in API_READ if c in table.c] + ["version"]
    return table, names


def _converter(column, dialect: str):
    """How the API writes a stored value: ISO times with offset, decimals as text with their scale."""
    kind = column.type
    python = getattr(kind, "python_type", None) if not isinstance(kind, Numeric) else Decimal
    if python is datetime or getattr(kind, "impl", None) is not None and "DateTime" in type(kind.impl).__name__:
        if dialect == "sqlite":
            return lambda v: None if v is None else datetime.fromisoformat(v).replace(tzinfo=UTC).isoformat()
        return lambda v: None if v is None else v.replace(tzinfo=UTC).isoformat()
    if isinstance(kind, Numeric):
        exp = Decimal(1).scaleb(-(kind.scale or 0))
        return lambda v: None if v is None else str(Decimal(str(v)).quantize(exp))
    if python is bool:
        return lambda v: None if v is None else bool(v)
    return lambda v: v


def create_floor_app(url: str, count_limit: int | None = None) -> Flask:
    """A Flask app with the one endpoint, on its own connection pool to the benchmark database."""
    from models.repair import OVERDUE_LABELS, RETURN_PENDING, RepairStatus

    app = Flask("bench_floor")
    engine = create_engine(url, pool_size=2)
    dialect = engine.dialect.name
    table, names = _columns()
    converters = [_converter(table.c[n], dialect) for n in names]
    mark = "?" if dialect == "sqlite" else "%s"
    cols = ", ".join(names)
    where = f"estate_id = {mark} AND status = {mark}"
    rows_sql = f"SELECT {cols} FROM repair_order WHERE {where} ORDER BY recorded_at DESC, id DESC LIMIT {mark} OFFSET {mark}"
    if count_limit:
        count_sql = f"SELECT count(*) FROM (SELECT 1 FROM repair_order WHERE {where} LIMIT {int(count_limit) + 1}) AS capped"
    else:
        count_sql = f"SELECT count(*) FROM repair_order WHERE {where}"
    ix = {n: i for i, n in enumerate(names)}
    return_pending = {s.value for s in RETURN_PENDING}
    status_labels = {s.value: RepairStatus.label_of(s.value) for s in RepairStatus}  # read once, as the API shows them
    assert OVERDUE_LABELS  # the same three clocks as RepairOrder.overdue_kinds

    def overdue(row, now):
        status = row[ix["status"]]
        kinds = []
        pickup, ret, material = row[ix["pickup_due_at"]], row[ix["return_due_at"]], row[ix["material_due_at"]]
        if status == "dispatched" and pickup is not None and now > pickup:
            kinds.append("not_picked_up")
        if status in return_pending and ret is not None and row[ix["paused_since"]] is None and now > ret:
            kinds.append("not_returned")
        if status in ("accepted", "in_progress") and material is not None and row[ix["delay_reported_at"]] is None and now > material:
            kinds.append("material_not_reported")
        return kinds

    @app.get("/api/v1/repair_order/")
    def ledger():
        estate_id = int(request.args["estate_id"])
        status = request.args["status"]
        size = int(request.args.get("page_size", 25))
        page = int(request.args.get("page", 0))
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(count_sql, (estate_id, status))
            count = cur.fetchone()[0]
            cur.execute(rows_sql, (estate_id, status, size, page * size))
            rows = cur.fetchall()
            cur.close()
        finally:
            raw.close()
        now = utcnow()
        result = []
        for row in rows:
            item = {n: conv(v) for n, conv, v in zip(names, converters, row, strict=True)}
            when = {k: (datetime.fromisoformat(item[k]) if item[k] else None) for k in ("pickup_due_at", "return_due_at", "material_due_at")}
            item["overdue"] = overdue([when.get(n, item[n]) if n in when else item[n] for n in names], now)
            item["status_label"] = status_labels.get(item["status"], item["status"])
            item["total_in_words"] = amount_in_words(item["total"])
            result.append(item)
        return jsonify(count=count, ids=[r["id"] for r in result], result=result)

    return app

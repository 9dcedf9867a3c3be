"""Bulk loading for the benchmark data: executemany on SQLite, COPY on PostgreSQL.

Rows are plain tuples of Python values (naive UTC datetimes, Decimals, bools, dates), converted once
per value to what the driver stores, which is what SQLAlchemy itself writes (so the ORM reads the
rows back exactly as if the application had written them). Columns the generator leaves out get
their model default (a scalar, or a callable called once for the whole load) or stay empty.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Table, text

from models.base import utcnow

logger = logging.getLogger(__name__)

BATCH = 20_000


def _sqlite_value(value):
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _fill_values(table: Table, given: Sequence[str]) -> tuple[list[str], list]:
    """Model defaults for the columns a loader does not give (one value for the whole load)."""
    names, values = [], []
    for column in table.columns:
        if column.name in given or column.primary_key:
            continue
        default = column.default
        if default is not None and getattr(default, "is_scalar", False):
            names.append(column.name)
            values.append(default.arg)
        elif default is not None and getattr(default, "is_callable", False):
            try:
                value = default.arg(None)  # SQLAlchemy wraps every callable default as fn(context)
            except Exception:  # noqa: BLE001 - a default that needs a request: leave the column empty
                value = None
            if value is None and not column.nullable:
                raise RuntimeError(f"{table.name}.{column.name}: no value for a required column")
            names.append(column.name)
            values.append(_naive(value))
        elif column.server_default is not None or column.nullable:
            continue
        else:
            raise RuntimeError(f"{table.name}.{column.name}: the benchmark generator gives no value for this required column")
    return names, values


def _naive(value):
    if isinstance(value, datetime) and value.tzinfo is not None:
        from datetime import UTC

        return value.astimezone(UTC).replace(tzinfo=None)
    return value


class Loader:
    """Writes many rows into one table at a time through the raw driver connection."""

    def __init__(self, engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self.raw = engine.raw_connection()
        self.counts: dict[str, int] = {}
        if self.dialect == "sqlite":
            cur = self.raw.cursor()
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY", "foreign_keys=OFF"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

    def load(self, table: Table, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
        extra_names, extra_values = _fill_values(table, columns)
        names = list(columns) + extra_names
        extra = tuple(extra_values)
        count = 0
        if self.dialect == "sqlite":
            sql = f'INSERT INTO "{table.name}" ({", ".join(names)}) VALUES ({", ".join("?" * len(names))})'
            cur = self.raw.cursor()
            convert_extra = tuple(_sqlite_value(v) for v in extra)
            batch = []
            for row in rows:
                batch.append(tuple(_sqlite_value(v) for v in row) + convert_extra)
                if len(batch) >= BATCH:
                    cur.executemany(sql, batch)
                    count += len(batch)
                    batch.clear()
            if batch:
                cur.executemany(sql, batch)
                count += len(batch)
            cur.close()
        else:
            cols = ", ".join(f'"{n}"' for n in names)
            cur = self.raw.cursor()
            with cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(tuple(row) + extra)
                    count += 1
            cur.close()
        self.counts[table.name] = self.counts.get(table.name, 0) + count
        return count

    def commit(self) -> None:
        self.raw.commit()

    def close(self) -> None:
        self.raw.commit()
        self.raw.close()


def drop_indexes(engine, tables: Iterable[Table]) -> list:
    """Secondary indexes off while loading (building them once afterwards is much faster)."""
    dropped = []
    with engine.begin() as conn:
        for table in tables:
            for index in list(table.indexes):
                if index.unique:
                    continue
                index.drop(conn, checkfirst=True)
                dropped.append(index)
    return dropped


def create_indexes(engine, indexes: Iterable) -> None:
    with engine.begin() as conn:
        for index in indexes:
            index.create(conn, checkfirst=True)


def reset_sequences(engine, tables: Iterable[Table]) -> None:
    """PostgreSQL: identity sequences continue after the ids the generator gave explicitly."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in tables:
            pk = [c for c in table.primary_key.columns]
            if len(pk) != 1 or not pk[0].autoincrement:
                continue
            seq = conn.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk[0].name})
            if seq:
                conn.execute(
                    text(f'SELECT setval(:s, COALESCE((SELECT MAX("{pk[0].name}") FROM "{table.name}"), 0) + 1, false)'),
                    {"s": seq},
                )


def now_naive() -> datetime:
    return utcnow().replace(tzinfo=None)

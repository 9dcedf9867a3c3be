"""The application as the benchmark runs it: one database URL, test-friendly settings."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

INSTANCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "instance", "bench")


def database_url(orders: int) -> str:
    """Where the data of one size lives: `DATABASE_URL`'s server (database `<name>_<orders>`) or a SQLite file."""
    base = os.environ.get("DATABASE_URL")
    if base and base.startswith("postgresql"):
        url = make_url(base)
        return url.set(database=f"{url.database or 'wuye_bench'}_{orders}").render_as_string(hide_password=False)
    os.makedirs(INSTANCE, exist_ok=True)
    return f"sqlite:///{os.path.join(INSTANCE, f'wuye-bench-{orders}.db')}"


def ensure_database(url: str) -> None:
    """PostgreSQL: create the database when it does not exist yet."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": parsed.database}):
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def bench_app(url: str, untuned: bool = False):
    """The application on a benchmark database (with the untuned comparison screen when asked)."""
    from app import create_app

    ensure_database(url)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-secret-key-of-at-least-32-bytes",
            "RATELIMIT_ENABLED": False,
            "AUTH_RATE_LIMITED": False,
            "WTF_CSRF_ENABLED": False,
            "SERVER_NAME": None,
        }
    )
    if untuned:
        from bench.untuned import register_untuned

        register_untuned(app)
    return app

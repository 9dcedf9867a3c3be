"""The benchmark code at a tiny scale (no timings asserted: benchmarks are not tests).

Generates 200 orders for 4 estates into a scratch SQLite file, then runs every measurement the
runner makes (REST ledger and its floor, the clerk's screen, the untuned screen, overdue_scan,
payment_requests, the monthly sheet) and the report, so `make bench` keeps working.
"""

from __future__ import annotations

import io
import json
import os
from datetime import datetime

import pytest


@pytest.fixture(scope="module")
def bench_db(tmp_path_factory):
    from bench.generate import generate

    path = tmp_path_factory.mktemp("bench") / "bench.db"
    url = f"sqlite:///{path}"
    meta = generate(url, 200, households=400, estates=5)
    yield url, meta
    if os.path.exists(path):
        os.unlink(path)


def test_generated_company(bench_db):
    from sqlalchemy import create_engine, text

    url, meta = bench_db
    engine = create_engine(url)
    with engine.connect() as conn:
        count = lambda table: conn.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: E731
        assert count("repair_order") == 200
        assert count("unit") == count("owner") == 400
        assert count("estate") == 5
        assert count("event") > 200
        assert count("service_delivery") == 400
        statuses = {s for (s,) in conn.execute(text("SELECT DISTINCT status FROM repair_order"))}
        assert "closed" in statuses and statuses & {"dispatched", "accepted", "in_progress", "registered"}
        numbers = conn.execute(text("SELECT count(DISTINCT number), count(*) FROM repair_order")).one()
        assert numbers[0] == numbers[1]
    engine.dispose()
    assert meta["orders"] == 200 and meta["open_period"]


def test_rows_read_back_as_the_application_wrote_them(bench_db):
    """Bulk-loaded times, money and codes come back through the ORM like any order."""
    from bench.appctx import bench_app
    from models.repair import RepairOrder, period_of

    url, _meta = bench_db
    app = bench_app(url)
    with app.app_context():
        from app.extensions import db

        orders = db.session.query(RepairOrder).order_by(RepairOrder.id).limit(50).all()
        for order in orders:
            assert order.recorded_at.tzinfo is not None
            assert order.period == period_of(order.recorded_at)
            assert order.total == order.service_fee + order.material_total
        db.session.remove()
        db.engine.dispose()


def test_every_measurement_runs(bench_db):
    from bench import measure
    from bench.appctx import bench_app
    from bench.runner import count_limit, figures, print_table

    url, meta = bench_db
    app = bench_app(url, untuned=True)
    web = measure.web_figures(app, url, iterations=2, count_limit=count_limit(app))
    assert web["floor_same_json"], "the floor must answer the same JSON as the REST API"
    assert web["api"]["statements"] and web["screen"]["statements"]
    scan = measure.overdue_scan(app, datetime.fromisoformat(meta["now"]), runs=1)
    assert len(scan["statements"]) == 1
    billing = measure.payment_requests(app, datetime.fromisoformat(meta["bill_at"]), meta["open_period"])
    assert billing["issued"] == 400  # every household has a charge in the open month
    period, _n = measure.busiest_period(app, target=50)
    export = measure.export_probe(url, period)
    assert export["rows"] > 0
    with app.app_context():
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()

    large = {"orders": 200, "web": web, "overdue_scan": scan, "payment_requests": billing, "export": export}
    records = figures(large, None, "sqlite")
    names = {r["figure"] for r in records}
    assert {"api_median_ms", "screen_median_ms", "untuned_ratio", "overdue_scan_s", "payment_requests_s", "export_s"} <= names
    out = io.StringIO()
    print_table(records, out)
    assert "screen_median_ms" in out.getvalue()
    json.dumps(records, ensure_ascii=False, default=str)
    # with a smaller database the scale figures name its size in their goal
    scaled = figures(large, {"orders": 100, "web": web, "overdue_scan": scan}, "sqlite")
    assert {r["figure"]: r["goal"] for r in scaled}["api_scale"] == "≤ 1.5 × (100)"

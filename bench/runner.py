"""`make bench`: every figure of the performance goals, printed as a table and as JSON lines.

Sizes come from the environment: BENCH_ORDERS (the large database, default 1,000,000) and
BENCH_SMALL (default 10,000); BENCH_ITER requests per timing (default 100); BENCH_SKIP a comma
list of figure groups to leave out (web, jobs, billing, export, load). `DATABASE_URL` set to a
PostgreSQL server runs everything there (databases `<name>_<orders>`), else SQLite files in
instance/bench/. A database generated before (same size, same generator) is reused.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import datetime

from bench import measure
from bench.appctx import bench_app, database_url
from bench.generate import GENERATOR_VERSION, generate, read_meta

logger = logging.getLogger(__name__)

GOALS = {
    "api_median_ms": "≤ 3 × floor",
    "api_p95_ms": "",
    "api_statements": "constant",
    "screen_median_ms": "≤ 60 ms",
    "screen_p95_ms": "",
    "screen_statements": "constant",
    "untuned_ratio": "≤ 0.5",
    "api_scale": "≤ 1.5 × ({small})",
    "screen_scale": "≤ 1.5 × ({small})",
    "overdue_scan_s": "≤ 2 s",
    "overdue_scan_statements": "independent of N",
    "payment_requests_s": "≤ 30 s",
    "export_s": "≤ 5 s",
    "export_peak_mb": "≤ 200 MB",
    "load_rps": "",
    "load_p95_ms": "≤ 250 ms",
}


def _size(orders: int) -> str:
    """10,000 → "10k", 1,000,000 → "1M"."""
    if orders % 1_000_000 == 0:
        return f"{orders // 1_000_000}M"
    return f"{orders // 1000}k" if orders % 1000 == 0 else f"{orders:,}"


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value.replace("_", "")) if value else default


def ensure_data(orders: int) -> tuple[str, dict]:
    url = database_url(orders)
    app = bench_app(url)
    from app.extensions import db

    with app.app_context():
        meta = read_meta(db.engine)
        db.session.remove()
        db.engine.dispose()
    if meta and meta.get("orders") == orders and meta.get("generator") == GENERATOR_VERSION:
        logger.info("reusing %s (%s orders, generated %s)", url, orders, meta.get("now"))
        upgrade_indexes(url)
        return url, meta
    print(f"… generating {orders:,} orders into {url} (once; reused afterwards)", file=sys.stderr, flush=True)
    meta = generate(url, orders)
    print(f"… generated in {meta['seconds']} s: {meta['steps']}", file=sys.stderr, flush=True)
    return url, meta


def upgrade_indexes(url: str) -> None:
    """A database generated before the models gained an index gets it (as a migration would)."""
    from sqlalchemy import create_engine, inspect, text

    from app.extensions import db

    engine = create_engine(url)
    existing = {ix["name"] for table in inspect(engine).get_table_names() for ix in inspect(engine).get_indexes(table)}
    missing = [ix for table in db.metadata.tables.values() for ix in table.indexes if ix.name not in existing]
    if missing:
        print(f"… adding {len(missing)} new index(es): {', '.join(ix.name for ix in missing)}", file=sys.stderr, flush=True)
        with engine.begin() as conn:
            for ix in missing:
                ix.create(conn, checkfirst=True)
            conn.execute(text("ANALYZE"))
    engine.dispose()


def count_limit(app) -> int | None:
    from views.repair import RepairOrderApi

    return getattr(RepairOrderApi, "list_count_limit", None)


def measure_size(orders: int, iterations: int, skip: set[str], large: bool) -> dict:
    url, meta = ensure_data(orders)
    app = bench_app(url, untuned=True)
    result: dict = {"orders": orders, "url": url.split("@")[-1], "generated": meta.get("now"), "generate_s": meta.get("seconds")}
    now = datetime.fromisoformat(meta["now"])
    if "web" not in skip:
        result["web"] = measure.web_figures(app, url, iterations, count_limit(app))
    if "jobs" not in skip:
        result["overdue_scan"] = measure.overdue_scan(app, now)
    if large and "billing" not in skip:
        result["payment_requests"] = measure.payment_requests(app, datetime.fromisoformat(meta["bill_at"]), meta["open_period"])
    if large and "export" not in skip:
        period, n = measure.busiest_period(app)
        result["export"] = measure.export_figure(url, period)
    if large and "load" not in skip:
        result["load"] = measure.concurrency(url)
    with app.app_context():
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()
    return result


def figures(large: dict, small: dict | None, dialect: str) -> list[dict]:
    """One record per figure: value, goal, floor and ratio where there is one, met or not."""
    out = []

    def add(name, value, unit, goal_ok=None, floor=None, ratio=None, orders=None, **extra):
        record = {"figure": name, "db": dialect, "orders": orders or large["orders"], "value": value, "unit": unit,
                  "goal": GOALS.get(name, "").format(small=_size(small["orders"]) if small else "")}
        if floor is not None:
            record["floor"] = floor
        if ratio is not None:
            record["ratio"] = ratio
        if goal_ok is not None:
            record["met"] = bool(goal_ok)
        record.update(extra)
        out.append(record)

    for data in filter(None, (small, large)):
        web = data.get("web")
        if not web:
            continue
        n = data["orders"]
        api, floor, screen, untuned = web["api"], web["floor"], web["screen"], web["untuned"]
        ratio = round(api["median"] / floor["median"], 2)
        add("api_median_ms", api["median"], "ms", ratio <= 3, floor=floor["median"], ratio=ratio, orders=n,
            rows=web["api_rows"], same_json=web["floor_same_json"], cpu_ms=api["cpu_median"], floor_cpu_ms=floor["cpu_median"])
        add("api_p95_ms", api["p95"], "ms", floor=floor["p95"], ratio=round(api["p95"] / floor["p95"], 2), orders=n)
        add("api_statements", api["statements"], "statements", len(api["statements"]) == 1, orders=n)
        add("screen_median_ms", screen["median"], "ms", screen["median"] <= 60, orders=n, cpu_ms=screen["cpu_median"])
        add("screen_p95_ms", screen["p95"], "ms", orders=n)
        add("screen_statements", screen["statements"], "statements", len(screen["statements"]) == 1, orders=n)
        ur = round(screen["median"] / untuned["median"], 3)
        add("untuned_ratio", ur, "×", ur <= 0.5, orders=n, ours_ms=screen["median"], untuned_ms=untuned["median"],
            untuned_statements=untuned["statements"])
    if small and small.get("web") and large.get("web"):
        for key, name in (("api", "api_scale"), ("screen", "screen_scale")):
            r = round(large["web"][key]["median"] / small["web"][key]["median"], 2)
            add(name, r, "×", r <= 1.5, small_ms=small["web"][key]["median"], large_ms=large["web"][key]["median"],
                small_orders=small["orders"])
    for data in filter(None, (small, large)):
        scan = data.get("overdue_scan")
        if scan:
            add("overdue_scan_s", scan["median_s"], "s", scan["median_s"] <= 2, orders=data["orders"], first_s=scan["first_s"],
                late=scan["late"])
    if small and small.get("overdue_scan") and large.get("overdue_scan"):
        a, b = small["overdue_scan"]["statements"], large["overdue_scan"]["statements"]
        add("overdue_scan_statements", b, "statements", a == b, small_statements=a, small_orders=small["orders"])
    if large.get("payment_requests"):
        p = large["payment_requests"]
        add("payment_requests_s", p["seconds"], "s", p["seconds"] <= 30, issued=p["issued"], lines=p["lines"],
            statements=p["statements"])
    if large.get("export"):
        e = large["export"]
        add("export_s", e["seconds"], "s", e["seconds"] <= 5, rows=e["rows"], period=e["period"], file_mb=e["file_mb"])
        add("export_peak_mb", e["peak_mb"], "MB", e["peak_mb"] <= 200, start_mb=e["start_mb"], rows=e["rows"])
    if large.get("load"):
        ld = large["load"]
        add("load_rps", ld["rps"], "req/s", clients=ld["clients"], workers=ld["workers"], requests=ld["requests"],
            errors=ld["errors"] + ld["non2xx"])
        add("load_p95_ms", ld["p95_ms"], "ms", ld["p95_ms"] <= 250 and not ld["errors"] and not ld["non2xx"],
            p50_ms=ld["p50_ms"], p99_ms=ld["p99_ms"])
    return out


def print_table(records: list[dict], stream=sys.stdout) -> None:
    head = f"{'figure':26} {'db':10} {'orders':>9} {'value':>16} {'goal':>16} {'floor':>9} {'ratio':>7}  met"
    print(head, file=stream)
    print("-" * len(head), file=stream)
    for r in records:
        value = r["value"]
        shown = ",".join(map(str, value)) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else str(value)
        met = "" if "met" not in r else ("yes" if r["met"] else "NO")
        print(f"{r['figure']:26} {r['db']:10} {r['orders']:>9,} {shown + ' ' + r['unit']:>16} {r['goal']:>16} "
              f"{r.get('floor', ''):>9} {r.get('ratio', ''):>7}  {met}", file=stream)


def run() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    large_n = env_int("BENCH_ORDERS", 1_000_000)
    small_n = env_int("BENCH_SMALL", 10_000)
    iterations = env_int("BENCH_ITER", 100)
    skip = {s.strip() for s in os.environ.get("BENCH_SKIP", "").split(",") if s.strip()}
    dialect = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgresql") else "sqlite"
    started = time.perf_counter()
    host = measure.machine()
    small = measure_size(small_n, iterations, skip, large=False) if small_n and small_n != large_n else None
    large = measure_size(large_n, iterations, skip, large=True)
    records = figures(large, small, dialect)
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    for r in records:
        r["at"] = stamp
    print_table(records)
    for r in records:
        print(json.dumps(r, ensure_ascii=False, default=str))
    summary = {"figure": "run", "db": dialect, "at": stamp, "seconds": round(time.perf_counter() - started, 1), "machine": host,
               "load_after": [round(x, 2) for x in os.getloadavg()], "raw": {"large": large, "small": small}}
    print(json.dumps(summary, ensure_ascii=False, default=str))
    os.makedirs(os.path.join(measure.ROOT, "instance", "bench"), exist_ok=True)
    with open(os.path.join(measure.ROOT, "instance", "bench", f"results-{dialect}.jsonl"), "a") as fh:
        for r in records + [summary]:
            fh.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    return 0

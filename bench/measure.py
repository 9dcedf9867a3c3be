"""Measurements of one database: request timings with statement counts, jobs, export, load."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

from sqlalchemy import event, text

from bench.generate import CLERK, PASSWORD

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ESTATE = 1
STATUS = "closed"  # an estate's closed orders: rows at 10,000 orders too, more than 10,000 at a million
PAGE = 25
LEDGER_SCREEN = f"/repairorderview/list/?_flt_0_estate={ESTATE}&_flt_0_status={STATUS}"
API_QUERY = (
    f"/api/v1/repair_order/?q=(filters:!((col:estate_id,opr:eq,value:{ESTATE}),(col:status,opr:eq,value:{STATUS})),"
    f"order_column:recorded_at,order_direction:desc,page:0,page_size:{PAGE},keys:!(none))"
)
FLOOR_QUERY = f"/api/v1/repair_order/?estate_id={ESTATE}&status={STATUS}&page_size={PAGE}"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class StatementCounter:
    """Counts the SQL statements an engine runs (a request, a job)."""

    def __init__(self, engine):
        self.n = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *args, **kwargs):
        self.n += 1

    def take(self) -> int:
        n, self.n = self.n, 0
        return n


def time_requests(client, url: str, iterations: int, warmup: int = 10, headers=None, counter=None) -> dict:
    """Median and p95 of `iterations` GETs after a warm-up (past the driver's preparing of statements:
    psycopg prepares a statement on its fifth run); statements of each request."""
    return time_side_by_side([(client, url, headers, counter)], iterations, warmup)[0]


def time_side_by_side(sides, iterations: int, warmup: int = 10) -> list[dict]:
    """`time_requests` of several (client, url, headers, counter) at once, their requests taken in turn:
    a slow moment of a shared machine falls on every side alike, so their ratio holds steadier than
    when one side is timed after the other."""
    for client, url, headers, _counter in sides:
        for _ in range(warmup):
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:500])
    samples = [([], [], set()) for _ in sides]
    gc.collect()
    for _ in range(iterations):
        for (client, url, headers, counter), (times, cpu, statements) in zip(sides, samples, strict=True):
            if counter is not None:
                counter.take()
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get(url, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            if counter is not None:
                statements.add(counter.take())
    return [
        {
            "median": round(statistics.median(times), 2),
            "p95": round(percentile(times, 95), 2),
            # this process's CPU (SQLite's too): less sensitive to a busy machine
            "cpu_median": round(statistics.median(cpu), 2),
            "statements": sorted(statements),
            "n": iterations,
        }
        for times, cpu, statements in samples
    ]


def login(client, username: str = CLERK) -> None:
    response = client.post("/login/", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.status_code


def api_headers(client, username: str = CLERK) -> dict:
    response = client.post("/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def untuned_url(app) -> str:
    """The same filter on the plain FAB screen (FAB's own filter positions: equal, relation equal)."""
    from flask_appbuilder.models.sqla.filters import FilterEqual

    view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "BenchUntunedLedgerView")
    status_filters = view._filters.get_search_filters()["status"]
    index = next(i for i, f in enumerate(status_filters) if type(f) is FilterEqual)
    return f"/benchuntunedledgerview/list/?_flt_0_estate={ESTATE}&_flt_{index}_status={STATUS}"


# ---------------------------------------------------------------- web figures
def web_figures(app, url: str, iterations: int, count_limit: int | None) -> dict:
    """Ledger through the REST API, its floor, the clerk's screen and the untuned screen."""
    from app.extensions import db
    from bench.floor import create_floor_app
    from bench.untuned import grant_untuned

    grant_untuned(app, "接待员")
    with app.app_context():
        counter = StatementCounter(db.engine)
    client = app.test_client()
    headers = api_headers(client)
    api_json = client.get(API_QUERY, headers=headers).json
    floor_app = create_floor_app(url, count_limit)
    floor_client = floor_app.test_client()
    floor_json = floor_client.get(FLOOR_QUERY).json
    out = {"api_rows": len(api_json["result"]), "api_count": api_json["count"], "floor_same_json": api_json == floor_json}
    out["api"], out["floor"] = time_side_by_side(
        [(client, API_QUERY, headers, counter), (floor_client, FLOOR_QUERY, None, None)], iterations
    )
    screen = app.test_client()
    login(screen)
    out["screen"] = time_requests(screen, LEDGER_SCREEN, iterations, counter=counter)
    # the untuned screen takes seconds to a minute a request (it loads every unit and owner): few samples
    out["untuned"] = time_requests(screen, untuned_url(app), max(2, iterations // 20), warmup=1, counter=counter)
    return out


# ---------------------------------------------------------------- jobs
def overdue_scan(app, at: datetime, runs: int = 3) -> dict:
    """One run to settle the tasks, then `runs` timed runs as of the same moment (steady state)."""
    from app.extensions import db
    from jobs import run_job

    with app.app_context():
        counter = StatementCounter(db.engine)
        started = time.perf_counter()
        first = run_job(db.session, "overdue_scan", at)
        first_s = time.perf_counter() - started
        first_statements = counter.take()
        assert first["outcome"] == "ok", first
        times, statements = [], set()
        for _ in range(runs):
            started = time.perf_counter()
            summary = run_job(db.session, "overdue_scan", at)
            times.append(time.perf_counter() - started)
            statements.add(counter.take())
            assert summary["outcome"] == "ok", summary
        db.session.remove()
    late = {k: v for k, v in summary.items() if isinstance(v, int) and not k.endswith(("_created", "_closed"))}
    return {
        "first_s": round(first_s, 3),
        "first_statements": first_statements,
        "median_s": round(statistics.median(times), 3),
        "statements": sorted(statements),
        "late": late,
    }


def payment_requests(app, at: datetime, period: str) -> dict:
    """The 15th's run for every household; the requests it made are removed again afterwards."""
    from app.extensions import db
    from jobs import run_job

    with app.app_context():
        counter = StatementCounter(db.engine)
        undo_payment_requests(db, period)
        started = time.perf_counter()
        summary = run_job(db.session, "payment_requests", at)
        seconds = time.perf_counter() - started
        statements = counter.take()
        assert summary["outcome"] == "ok", summary
        undo_payment_requests(db, period)
        db.session.remove()
    return {"seconds": round(seconds, 2), "issued": summary.get("issued"), "lines": summary.get("lines"), "statements": statements}


def undo_payment_requests(db, period: str) -> None:
    with db.engine.begin() as conn:
        ids = f"SELECT id FROM payment_request WHERE period = '{period}'"
        conn.execute(text(f"DELETE FROM change_log WHERE object_type = 'payment_request' AND object_id IN ({ids})"))
        conn.execute(text(f"DELETE FROM change_log WHERE object_type = 'payment_request_line' AND object_id IN "
                          f"(SELECT id FROM payment_request_line WHERE payment_request_id IN ({ids}))"))
        conn.execute(text(f"DELETE FROM payment_request_line WHERE payment_request_id IN ({ids})"))
        conn.execute(text(f"DELETE FROM payment_request WHERE period = '{period}'"))


# ---------------------------------------------------------------- export
def busiest_period(app, target: int = 50_000) -> tuple[str, int]:
    """The period whose order count is closest to `target`."""
    from app.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        rows = conn.execute(text("SELECT period, count(*) FROM repair_order GROUP BY period")).all()
    return min(rows, key=lambda r: abs(r[1] - target))


def export_figure(url: str, period: str) -> dict:
    """The monthly order sheet in a fresh process: seconds and the process's peak memory."""
    cmd = [sys.executable, "-m", "bench", "export-probe", "--url", url, "--period", period]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"export probe failed: {out.stderr[-2000:]}")
    return json.loads(line)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it is not inherited across exec
    from the parent that started the probe)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def export_probe(url: str, period: str) -> dict:
    """Run in its own process by `export_figure`."""
    from bench.appctx import bench_app

    app = bench_app(url)
    with app.app_context():
        from app.exports import load_exports
        from app.extensions import db

        exports = load_exports()
        before = peak_rss_mb()
        handle, path = tempfile.mkstemp(suffix=".xlsx")
        os.close(handle)
        started = time.perf_counter()
        rows = exports["monthly_orders"].func(db.session, period, path)
        seconds = time.perf_counter() - started
        peak = peak_rss_mb()
        size = os.path.getsize(path)
        os.unlink(path)
    return {"seconds": round(seconds, 2), "rows": rows, "peak_mb": round(peak, 1), "start_mb": round(before, 1),
            "file_mb": round(size / 2**20, 1), "period": period}


# ---------------------------------------------------------------- concurrent clients
LUA = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH {\\"requests\\": %d, \\"seconds\\": %.3f, \\"p50_ms\\": %.2f, \\"p95_ms\\": %.2f, \\"p99_ms\\": %.2f, "
    .. "\\"errors\\": %d, \\"non2xx\\": %d}\\n", summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def concurrency(url: str, clients: int = 20, workers: int = 2, seconds: int = 20) -> dict:
    """`clients` connections on the clerk's ledger screen against gunicorn with `workers` sync workers."""
    import urllib.request
    from http.cookiejar import CookieJar

    port = free_port()
    env = dict(os.environ, BENCH_DATABASE_URL=url, PYTHONWARNINGS="ignore")
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    server = subprocess.Popen(
        [gunicorn, "-w", str(workers), "-k", "sync", "-b", f"127.0.0.1:{port}", "--backlog", "256", "--log-level", "warning",
         "bench.wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(base + "/login/", timeout=2).read()
                break
            time.sleep(0.5)
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        data = f"username={CLERK}&password={PASSWORD}".encode()
        opener.open(base + "/login/", data=data, timeout=30).read()
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        for _ in range(2 * workers * 3):  # every worker warm
            opener.open(base + LEDGER_SCREEN, timeout=30).read()
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(LUA)
        wrk = subprocess.run(
            ["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s", "-s", script.name,
             "-H", f"Cookie: {cookie}", base + LEDGER_SCREEN],
            capture_output=True, text=True, check=True,
        )
        os.unlink(script.name)
        line = next(ln for ln in wrk.stdout.splitlines() if ln.startswith("BENCH "))
        result = json.loads(line[6:])
        result["rps"] = round(result["requests"] / result["seconds"], 1)
        result.update(clients=clients, workers=workers)
        return result
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def machine() -> dict:
    info = {"cores": os.cpu_count()}
    with contextlib.suppress(OSError):
        text_ = open("/proc/cpuinfo").read()
        model = re.search(r"model name\s*:\s*(.+)", text_)
        info["cpu"] = model.group(1).strip() if model else None
    with contextlib.suppress(OSError):
        mem = re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read())
        info["memory_gb"] = round(int(mem.group(1)) / 2**20, 1) if mem else None
    info["load"] = [round(x, 2) for x in os.getloadavg()]
    return info

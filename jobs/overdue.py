"""overdue_scan: every 15 minutes each handbook area flags what is late and opens or closes tasks.

Areas add a part with `scan_part`; the job runs them all in one transaction and merges the counts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from jobs import job

SCAN_PARTS: list[tuple[str, Callable]] = []
# Modules that contribute parts (each handbook area adds its own).
SCAN_MODULES: list[str] = ["jobs.reception", "jobs.followup", "jobs.repair"]


def scan_part(name: str):
    def register(func):
        if name not in [n for n, _ in SCAN_PARTS]:
            SCAN_PARTS.append((name, func))
        return func

    return register


@job("overdue_scan", "超期扫描", trigger="interval", minutes=15)
def overdue_scan(session, now) -> dict:
    for module in SCAN_MODULES:
        importlib.import_module(module)
    summary: dict[str, int] = {}
    for _name, part in SCAN_PARTS:
        for key, value in (part(session, now) or {}).items():
            summary[key] = summary.get(key, 0) + value
    return summary

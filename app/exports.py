"""Named exports (`flask export NAME --period YYYY-MM -o FILE` and the report centre)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

# Modules that define exports (each handbook area adds its own).
EXPORT_MODULES: list[str] = ["models.kpi", "models.billing_exports", "models.reception_summary", "models.complaint", "models.repair_reports"]


@dataclass
class Export:
    name: str
    label: str
    func: Callable  # (session, period, path, estate_id=None) -> rows written
    needs_period: bool = True
    period_kind: str = "month"  # the report centre's picker: "month" (YYYY-MM) or "year" (YYYY)


EXPORTS: dict[str, Export] = {}


def export(name: str, label: str, needs_period: bool = True, period_kind: str = "month"):
    def register(func):
        EXPORTS[name] = Export(name, label, func, needs_period, period_kind)
        return func

    return register


def load_exports() -> dict[str, Export]:
    for module in EXPORT_MODULES:
        importlib.import_module(module)
    return EXPORTS

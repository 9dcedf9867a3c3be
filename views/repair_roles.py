"""Who may do what on a 维修单: the concept `RepairOrder`, its moves, and the handbook's duties
(接待 六, 维修单 一) granted to each role."""

from __future__ import annotations

import logging

from app import roles

logger = logging.getLogger(__name__)


RO = "RepairOrder"
ORDER_MOVES = [
    "dispatch", "accept", "assign", "transfer", "start", "report_delay", "complete", "sign_off", "return",
    "reject", "approve_reject", "urge", "merge", "cancel", "revisit_done", "rectify", "close",
]
BASE = ("read",)
FRONT_DESK = ("read", "write", "export", "dispatch", "urge", "merge", "cancel", "sign_off", "return", "rectify", "close")

# The handbook's duties (接待 六, 维修单 一): who registers, dispatches, picks up, works, signs, buys.
roles.extend(
    {
        "接待员": {RO: FRONT_DESK, "Requisition": BASE, "RepairStats": BASE},
        "总值班员": {
            RO: FRONT_DESK + ("transfer", "report_delay", "revisit_done", "backdate"),
            "Requisition": BASE,
            "RepairStats": BASE,
        },
        "处主任": {
            RO: ("read", "export", "accept", "assign", "transfer", "report_delay", "reject"),
            "MyRepairOrder": BASE,
            "Requisition": ("read", "cancel"),
            "RepairStats": BASE,
        },
        "维修人员": {RO: ("read", "start", "complete", "sign_off"), "MyRepairOrder": BASE},
        "工程部经理": {RO: ("read", "export", "approve_reject"), "Requisition": BASE, "RepairStats": BASE},
        "大厦管理部经理": {RO: ("read", "export", "approve_reject"), "Requisition": BASE, "RepairStats": BASE},
        "采购员": {RO: BASE, "Requisition": ("read", "buy", "report_unavailable")},
        "供应处主任": {RO: BASE, "Requisition": ("read", "export", "buy", "report_unavailable", "cancel")},
        "财务内勤": {RO: ("read", "export")},
        "物业管理员": {RO: BASE},
    }
)

"""Faults of the teaching machine: no hardware takes them, so there is no syndrome register —
the fault is its stage, level and reason, said in one sentence."""

from __future__ import annotations

from ..faults import GUEST_WALK, Fault
from .base import FaultReason

ARCH = "teach"
_WHY = {
    FaultReason.NOT_PRESENT: "is not valid (V=0)",
    FaultReason.PERMISSION: "does not allow the access",
}


def syndrome(fault: Fault) -> dict[str, int | None]:
    return {}  # a teaching machine has no syndrome registers


def explain(fault: Fault) -> str:
    stage = "guest (stage 1)" if fault.stage == 1 else "host (stage 2)"
    tail = " (a teaching machine: no hardware syndrome)"
    if fault.depth is None:
        where = f"{fault.gva:#x}" if fault.stage == 1 else f"gPA {fault.gpa or 0:#x}"
        return f"{fault.reason} fault in the {stage} table: {where} is beyond its input{tail}"
    head = f"{fault.reason} fault at stage {fault.stage}, level {fault.level_name}"
    cause = _WHY.get(fault.reason, f"is {fault.reason}")
    if fault.reason is FaultReason.PERMISSION and fault.rule:
        cause += f": {fault.rule}"
    if fault.stage == 2:
        doing = "reading the guest's table at" if fault.during == GUEST_WALK else "accessing"
        head += f" while the guest was {doing} gPA {fault.gpa or 0:#x}"
    return f"{head}: the {stage} {fault.level_name} entry {cause}{tail}."

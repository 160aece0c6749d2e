"""What a command did (`StepResult`) and the JSON shape of results and walks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..engine import PagingError, Walk, hx
from .command import Command


@dataclass(slots=True)
class StepResult:
    """What one command did. `data` holds the op's JSON fields (addresses as hex strings)."""

    index: int
    command: Command
    error: PagingError | None = None
    walk: Walk | None = None
    data: dict[str, Any] = field(default_factory=dict)
    passed: bool = True
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def checked(self) -> bool:
        return "expect" in self.command.args or self.command.op == "expect" or not self.ok

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "op": self.command.op,
            "line": self.command.line,
        }
        if self.walk is not None and self.error is None:
            out.update(walk_json(self.walk))
        else:
            out["ok"] = self.ok
        out.update(self.data)
        if self.error is not None:
            out["error"] = {"kind": self.error.kind, "message": self.error.message}
        if self.checked:
            out["expect"] = {"passed": self.passed, "mismatches": self.mismatches}
        return out


def walk_json(walk: Walk) -> dict[str, Any]:
    return {
        "result": "ok" if walk.ok else "fault",
        "gva": hx(walk.gva),
        "gpa": hx(walk.gpa),
        "hpa": hx(walk.hpa),
        "page_size": walk.page_size if walk.ok else None,
        "refs": walk.refs,
        "mem_refs": walk.mem_refs,
        "writes": walk.writes,
        "tlb": walk.tlb,
        "stale": walk.stale,
        "fault": None if walk.fault is None else walk.fault.to_json(),
        "walk": [s.to_json() for s in walk.steps],
    }

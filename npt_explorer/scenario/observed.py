"""What a step was observed to do, as the `expect` table that holds exactly then: `save
--expect` turns a session into a regression test (`replay --check` fails once a result
changes, e.g. when the bug a saved reproduction shows is fixed)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..engine import Walk, hx
from .command import Command
from .results import StepResult

#: `trace` statistics an expectation can name (SCENARIO_FORMAT.md, values.EXPECT_KEYS)
TRACE_KEYS = ("walks", "hits", "refs", "mem_refs", "hit_rate")
#: ops saved as written: a note, and the `expect` op (an assertion on state, no results)
AS_WRITTEN = ("note", "expect")


def _number(value: int | str | None) -> int | str:
    """An expected number as TOML holds it: "null" for nothing to report."""
    return "null" if value is None else value


def _walk_expect(walk: Walk, op: str) -> dict[str, Any]:
    out: dict[str, Any] = {"result": "ok" if walk.ok else "fault"}
    if walk.ok:
        out.update(gpa=hx(walk.gpa), hpa=hx(walk.hpa), page_size=hx(walk.page_size))
    out.update(refs=walk.refs, writes=walk.writes)
    if walk.mem_refs != walk.refs:  # walk caches served some references
        out["mem_refs"] = walk.mem_refs
    if op == "access":  # translate neither looks up nor fills the TLB
        out.update(tlb=walk.tlb, stale=walk.stale)
    fault = walk.fault
    if fault is not None:
        out.update(
            fault_stage=fault.stage,
            fault_reason=str(fault.reason),
            fault_depth=_number(fault.depth),
        )
        if fault.stage == 2:
            out["fault_during"] = fault.during
        syndrome = fault.to_json()["syndrome"]
        if syndrome:
            out["syndrome"] = {k: _number(v) for k, v in syndrome.items()}
    return out


def observed_expect(result: StepResult) -> dict[str, Any] | None:
    """The `expect` table that `result` satisfies, with every key its op can check; None for
    an op that reports nothing beyond success (a step that succeeds without `expect` is
    already checked: a failure would fail the replay)."""
    if result.error is not None:
        return {"error": result.error.kind}
    op = result.command.op
    if result.walk is not None:
        return _walk_expect(result.walk, op)
    if op == "handle-fault":
        return {"handled": result.data["handled"]}
    if op == "query":
        data = result.data
        return {"paddr": data["paddr"], "flags": data["flags"], "page_size": data["page_size"]}
    if op == "trace":
        stats = result.data["trace"]
        return {k: stats[k] for k in TRACE_KEYS}
    return None


def with_observed(result: StepResult) -> Command:
    """`result`'s command with its `expect` replaced by what was observed (the `expect` op,
    an assertion on state, stays as written)."""
    command = result.command
    if command.op in AS_WRITTEN:
        return command
    args = {k: v for k, v in command.args.items() if k != "expect"}
    expect = observed_expect(result)
    if expect is not None:
        args["expect"] = expect
    return replace(command, args=args)

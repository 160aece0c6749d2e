"""Expectations: compare what a command did with its `expect` table (and the `expect` op's
checks of machine state); mismatches go on the `StepResult`."""

from __future__ import annotations

from typing import Any

from ..engine import COMBINED, STAGE2, Machine, MappingFlags, PagingError, Walk, hx
from .results import StepResult
from .values import CommandError, parse_number


def _mismatch(r: StepResult, key: str, expected: Any, actual: Any) -> None:
    r.mismatches.append({"key": key, "expected": expected, "actual": actual})


def _same_number(expected: Any, actual: int | None, key: str) -> bool:
    if actual is None:
        return expected is None or str(expected).lower() in ("null", "none")
    try:
        return parse_number(expected, key, size=True) == actual
    except CommandError:
        return False


def check(machine: Machine, r: StepResult) -> None:
    """Fill `r.passed`/`r.mismatches` from the command's `expect` (and the `expect` op)."""
    args = r.command.args
    expect = dict(args.get("expect", {}))
    wanted_error = expect.pop("error", None)
    if r.error is not None or wanted_error is not None:
        actual = None if r.error is None else r.error.kind
        if actual != wanted_error:
            _mismatch(r, "error", wanted_error, actual)
        r.passed = not r.mismatches
        return
    try:
        _compare(machine, r, args, expect)
    except (CommandError, PagingError, KeyError, TypeError, ValueError) as err:
        # values are checked when the command is built; this guards commands built by hand
        _mismatch(r, "expect", expect or args, f"cannot compare: {err}")
    r.passed = not r.mismatches


def _compare(machine: Machine, r: StepResult, args: dict[str, Any], expect: dict[str, Any]) -> None:
    if r.walk is not None:
        _check_walk(r, r.walk, expect)
    elif r.command.op == "handle-fault" and "handled" in expect:
        if expect["handled"] != r.data["handled"]:
            _mismatch(r, "handled", expect["handled"], r.data["handled"])
    elif r.command.op == "query":
        _check_query(r, expect)
    elif r.command.op == "trace":
        stats = r.data["trace"]
        for key, want in expect.items():
            got = stats[key]
            if key == "hit_rate":
                if abs(float(want) - got) > 0.005:
                    _mismatch(r, key, want, got)
            elif not _same_number(want, got, key):
                _mismatch(r, key, want, got)
    elif r.command.op == "expect":
        _check_state(machine, r, args)


def _check_walk(r: StepResult, walk: Walk, expect: dict[str, Any]) -> None:
    fault = walk.fault
    actual: dict[str, Any] = {
        "result": "ok" if walk.ok else "fault",
        "tlb": walk.tlb,
        "stale": walk.stale,
        "fault_stage": fault and fault.stage,
        "fault_reason": fault and str(fault.reason),
        "fault_during": fault and fault.during,
    }
    numbers = {
        "refs": walk.refs,
        "mem_refs": walk.mem_refs,
        "writes": walk.writes,
        "gpa": walk.gpa,
        "hpa": walk.hpa,
        "page_size": walk.page_size if walk.ok else None,
        "fault_depth": fault.depth if fault else None,
    }
    for key, want in expect.items():
        if key in numbers:
            if not _same_number(want, numbers[key], key):
                _mismatch(r, key, want, hx(numbers[key]) if key in ("gpa", "hpa") else numbers[key])
        elif key == "syndrome":
            got = fault.syndrome if fault else {}
            for sk, sv in dict(want).items():
                if sk not in got or not _same_number(sv, got[sk], f"syndrome.{sk}"):
                    _mismatch(r, f"syndrome.{sk}", sv, got.get(sk))
        elif actual.get(key) != want:
            _mismatch(r, key, want, actual.get(key))


def _check_query(r: StepResult, expect: dict[str, Any]) -> None:
    for key, want in expect.items():
        got = r.data.get(key)
        if key == "flags":
            if MappingFlags.parse(want).names() != got:
                _mismatch(r, key, want, got)
        elif key == "paddr":  # the query's own result: a hex string, never None
            if not _same_number(want, int(str(got), 16), key):
                _mismatch(r, key, want, got)
        elif not _same_number(want, got, key):
            _mismatch(r, key, want, got)


def _check_state(machine: Machine, r: StepResult, args: dict[str, Any]) -> None:
    entries = machine.tlb_entries()
    counts = {
        "tlb_entries": sum(e.kind == COMBINED for e in entries),
        "stale_entries": sum(e.stale for e in entries),
        "frames_in_use": machine.frames_in_use,
        "guest_pt_frames": machine.guest_pt_frames,
    }
    for key, count in counts.items():
        if key in args and args[key] != count:
            _mismatch(r, key, args[key], count)
    r.data["tlb"] = {
        "combined": counts["tlb_entries"],
        "stage2": sum(e.kind == STAGE2 for e in entries),
        "stale": counts["stale_entries"],
    }
    if "entry" not in args:
        return
    spec = args["entry"]
    stage = int(parse_number(spec["stage"], "entry.stage"))
    addr = parse_number(spec.get("gva" if stage == 1 else "gpa", 0), "entry address")
    depth = parse_number(spec["depth"], "entry.depth")
    try:
        ref, dec = machine.entry(stage, addr, depth)
    except PagingError as err:
        r.error = err
        _mismatch(r, "entry", spec, f"{err.kind}: {err.message}")
        return
    r.data["entry"] = {"addr": hx(ref.addr), "raw": hx(ref.raw), "kind": str(dec.kind)}
    if "raw" in args and args["raw"] != ref.raw:
        _mismatch(r, "raw", hx(args["raw"]), hx(ref.raw))
    for name, want in args.get("fields", {}).items():
        got = dec.field(name.upper()) if dec.has_field(name.upper()) else None
        if got is None or not _same_number(want, got, f"fields.{name}"):
            _mismatch(r, f"fields.{name}", want, got)
    if "flags" in args:
        got_flags = dec.mapping_flags
        if got_flags is None or got_flags != args["flags"]:
            _mismatch(
                r, "flags", args["flags"].names(), None if got_flags is None else got_flags.names()
            )

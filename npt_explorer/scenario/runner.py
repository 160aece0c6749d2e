"""Run commands against a `Machine` and check their expectations; the JSON shape of results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine import COMBINED, STAGE2, Machine, MappingFlags, PagingError, Walk, hx
from .command import Command
from .values import CommandError, parse_number
from .vocabulary import HYPERVISOR_ACCESSES


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


# ---------------------------------------------------------------------------- execution


def _addr(args: dict[str, Any]) -> int:
    return args["gva"] if args.get("stage", 1) == 1 and "gva" in args else args["gpa"]


def _do_map(m: Machine, a: dict[str, Any], r: StepResult) -> None:
    if a["stage"] == 1:
        m.map(1, a["gva"], a["size"], a["flags"], gpa=a["gpa"], huge=a.get("huge", False))
    else:
        m.map(
            2,
            a["gpa"],
            a["size"],
            a["flags"],
            backend=a["backend"],
            hpa=a.get("hpa"),
            populate=a.get("populate", True),
            huge=a.get("huge", False),
            name=a.get("name", ""),
        )


def _do_walk(m: Machine, a: dict[str, Any], r: StepResult) -> None:
    fn = m.access if r.command.op == "access" else m.translate
    access = a.get("access", "read")
    via = access if access in HYPERVISOR_ACCESSES else ""
    r.walk = fn(
        a["gva"],
        HYPERVISOR_ACCESSES.get(access, access),
        a.get("priv", "kernel"),
        ac=a.get("ac", False),
        via=via,
    )


def _do_query(m: Machine, a: dict[str, Any], r: StepResult) -> None:
    paddr, flags, size = m.query(a["stage"], _addr(a))
    r.data.update(paddr=hx(paddr), flags=flags.names(), page_size=size)


def _do_poke(m: Machine, a: dict[str, Any], r: StepResult) -> None:
    fields = {k: parse_number(v, f"fields.{k}") for k, v in a.get("fields", {}).items()}
    old, new = m.poke(
        a["stage"],
        _addr(a),
        a["depth"],
        value=a.get("value"),
        set=a.get("set", 0),
        clear=a.get("clear", 0),
        fields=fields,
    )
    r.data.update(old=hx(old), new=hx(new))


def _do_flush(m: Machine, a: dict[str, Any], r: StepResult) -> None:
    removed = m.flush(
        a["kind"],
        a.get("addr"),
        asid=a.get("asid"),
        vmid=a.get("vmid"),
        pcid=a.get("pcid"),
        type=a.get("type"),
        no_flush=a.get("no_flush", False),
    )
    r.data["removed"] = len(removed)


def _do_handle(m: Machine, a: dict[str, Any], r: StepResult) -> None:
    r.data["handled"] = m.handle_fault()


def _do_trace(m: Machine, a: dict[str, Any], r: StepResult) -> None:
    from ..engine import run_trace

    if "file" in a:
        r.data["trace"] = _file_trace(m, a).to_json()
        return
    stats = run_trace(
        m,
        a["gva"],
        a["size"],
        a["count"],
        pattern=a.get("pattern", "sequential"),
        stride=a.get("stride", 0x1000),
        seed=a.get("seed", 0),
        access=a.get("access", "read"),
        priv=a.get("priv", "kernel"),
    )
    r.data["trace"] = stats.to_json()


def _file_trace(m: Machine, a: dict[str, Any]) -> Any:
    """A program's trace on a fresh machine of this `[machine]` that maps its pages."""
    from ..traces.files import TraceFileError
    from ..traces.replay import run_file

    try:
        return run_file(
            m.config,
            a["file"],
            a.get("format"),
            s1_page=a.get("s1_page", "4K"),
            s2_page=a.get("s2_page", "4K"),
            native=a.get("native", False),
        )
    except TraceFileError as err:
        raise PagingError("InvalidRequest", str(err)) from None


_HANDLERS: dict[str, Callable[[Machine, dict[str, Any], StepResult], None]] = {
    "note": lambda m, a, r: None,
    "map": _do_map,
    "unmap": lambda m, a, r: m.unmap(a["stage"], _addr(a), a["size"]),
    "protect": lambda m, a, r: m.protect(a["stage"], _addr(a), a["size"], a["flags"]),
    "access": _do_walk,
    "translate": _do_walk,
    "handle-fault": _do_handle,
    "flush": _do_flush,
    "poke": _do_poke,
    "query": _do_query,
    "expect": lambda m, a, r: None,
    "context": lambda m, a, r: m.set_context(
        a.get("vmid"), a.get("asid"), a.get("pcid"), a.get("eptp")
    ),
    "control": lambda m, a, r: m.set_register(a["register"], a.get("field"), a["value"]),
    "trace": _do_trace,
}


def execute(machine: Machine, command: Command, index: int = 0) -> StepResult:
    """Run one command; engine errors become the result's `error`, never an exception."""
    result = StepResult(index, command)
    try:
        _HANDLERS[command.op](machine, command.args, result)
    except PagingError as err:
        result.error = err
    except CommandError as err:
        result.error = PagingError("InvalidRequest", err.message)
    check(machine, result)
    return result


# ---------------------------------------------------------------------------- expectations


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
        elif key == "paddr":
            if not _same_number(want, int(got, 16), key):
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
    for key, got in counts.items():
        if key in args and args[key] != got:
            _mismatch(r, key, args[key], got)
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

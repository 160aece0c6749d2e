"""Run commands against a `Machine`: one handler per op; `execute` runs one and checks its
expectations (scenario/expect.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine import Machine, PagingError, hx
from .command import Command
from .expect import check
from .results import StepResult
from .values import CommandError, parse_number
from .vocabulary import HYPERVISOR_ACCESSES


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

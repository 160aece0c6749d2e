"""The sentence of each machine-log `Event` (the engine logs data only: REDESIGN §5), one
function per kind; the TUI's log panel shows them. An image's workbench logs the same kinds
(its walks with `image=True`: it has no TLB; its control changes one named field)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine import Event


def _bytes(d: dict[str, Any]) -> str:
    return f"{d['addr']:#x}, {d['size']:#x} bytes"


def _map(d: dict[str, Any]) -> str:
    letters = d["flags"].letters()
    if d["stage"] == 1:
        return f"stage 1: gVA {d['addr']:#x} → gPA {d['gpa']:#x}, {d['size']:#x} bytes, {letters}"
    if d["backend"] == "linear":
        return (
            f"stage 2: gPA {d['addr']:#x} → hPA {d['hpa']:#x} (linear), {d['size']:#x} bytes, "
            f"{letters}"
        )
    how = "populated" if d["populate"] else "lazy"
    return f"stage 2: gPA {_bytes(d)} (alloc, {how}), {letters}"


def _walked(e: Event) -> str:
    w = e.data["walk"]
    if e.data.get("image"):
        tlb = "no TLB: an image"
    elif w.tlb is not None:
        tlb = f"TLB {w.tlb}"
    else:
        tlb = "TLB not looked up" if e.kind == "translate" else "TLB off"
    return (
        f"{e.kind} {w.access} gVA {w.gva:#x} → gPA {w.gpa:#x} → hPA {w.hpa:#x} "
        f"({w.refs} refs, {tlb})"
    )


def _fault(d: dict[str, Any]) -> str:
    w = d["walk"]
    return f"{d['op']} {w.access} gVA {w.gva:#x}: {w.fault.explanation}"


def _poke(d: dict[str, Any]) -> str:
    overlay = " (overlay)" if d.get("overlay") else ""
    return (
        f"stage {d['stage']} {d['level']} at {d['addr']:#x}: {d['old']:#x} → {d['new']:#x}{overlay}"
    )


def _context(d: dict[str, Any]) -> str:
    text = f"context VMID {d['vmid']}, ASID/VPID {d['asid']}"
    if "pcid" in d:
        text += f", PCID {d['pcid']}"
    if "stage2" in d:  # x86: which EPT of several (`context eptp = N`) and its EPTP
        name, index, tag = d["stage2"]
        text += f", {name} {index} ({tag:#x})"
    return text


def _control(d: dict[str, Any]) -> str:
    if "register" in d:  # an image: the one field toggled
        field = f".{d['field']}" if d["field"] else ""
        return f"control state: {d['register']}{field} = {d['value']:#x}"
    changed = ", ".join(f"{reg}.{name}={value}" for reg, name, value in d["changed"])
    flushed = d["flushed"]
    words = "" if flushed is None else f"; MOV to CR4 flushed {flushed} TLB entries"
    return "control state: " + (changed or "the defaults") + words


def _flush(d: dict[str, Any]) -> str:
    where = "" if d["addr"] is None else f" {d['addr']:#x}"
    n = d["removed"]
    return f"{d['op']}{where}: {n} TLB entr{'y' if n == 1 else 'ies'} removed"


def _handled(d: dict[str, Any]) -> str:
    verdict = "handled" if d["handled"] else "not handled"
    return f"handle_page_fault(gPA {d['gpa']:#x}, {d['flags'].short()}) → {verdict}"


#: kind → the sentence of its data
_TEXT: dict[str, Callable[[dict[str, Any]], str]] = {
    "map": _map,
    "unmap": lambda d: f"stage {d['stage']}: unmap {_bytes(d)}",
    "protect": lambda d: f"stage {d['stage']}: protect {_bytes(d)} → {d['flags'].letters()}",
    "poke": _poke,
    "fault": _fault,
    "context": _context,
    "control": _control,
    "flush": _flush,
    "handle-fault": _handled,
}


def event_text(event: Event) -> str:
    """The log line of `event`."""
    if event.kind in ("access", "translate"):
        return _walked(event)
    return _TEXT[event.kind](event.data)

"""The sentence of each machine-log `Event` (the engine logs typed data: engine/events.py,
REDESIGN §5), one function per shape; the TUI's log panel shows them. An image's workbench
logs the same shapes (its walks with `image=True`: it has no TLB), but for a control change:
a machine's line is its state (`ControlChanged`), an image's the write it took (`ControlSet`)."""

from __future__ import annotations

from functools import singledispatch

from ..engine import (
    ContextSet,
    ControlChanged,
    ControlSet,
    Event,
    Faulted,
    Flushed,
    Handled,
    Mapped,
    Poked,
    Protected,
    Unmapped,
    Walked,
)


def _bytes(addr: int, size: int) -> str:
    return f"{addr:#x}, {size:#x} bytes"


@singledispatch
def _text(data: object) -> str:
    raise TypeError(f"no sentence for {type(data).__name__}")


@_text.register
def _map(d: Mapped) -> str:
    letters = d.flags.letters()
    if d.stage == 1:
        return f"stage 1: gVA {d.addr:#x} → gPA {d.out:#x}, {d.size:#x} bytes, {letters}"
    if d.backend == "linear":
        return f"stage 2: gPA {d.addr:#x} → hPA {d.out:#x} (linear), {d.size:#x} bytes, {letters}"
    how = "populated" if d.populate else "lazy"
    return f"stage 2: gPA {_bytes(d.addr, d.size)} (alloc, {how}), {letters}"


@_text.register
def _unmap(d: Unmapped) -> str:
    return f"stage {d.stage}: unmap {_bytes(d.addr, d.size)}"


@_text.register
def _protect(d: Protected) -> str:
    return f"stage {d.stage}: protect {_bytes(d.addr, d.size)} → {d.flags.letters()}"


@_text.register
def _walked(d: Walked) -> str:
    w = d.walk
    if d.image:
        tlb = "no TLB: an image"
    elif w.tlb is not None:
        tlb = f"TLB {w.tlb}"
    else:
        tlb = "TLB not looked up" if d.kind == "translate" else "TLB off"
    return (
        f"{d.kind} {w.access} gVA {w.gva:#x} → gPA {w.gpa:#x} → hPA {w.hpa:#x} "
        f"({w.refs} refs, {tlb})"
    )


@_text.register
def _fault(d: Faulted) -> str:
    return f"{d.op} {d.walk.access} gVA {d.walk.gva:#x}: {d.fault.explanation}"


@_text.register
def _poke(d: Poked) -> str:
    overlay = " (overlay)" if d.overlay else ""
    return f"stage {d.stage} {d.level} at {d.addr:#x}: {d.old:#x} → {d.new:#x}{overlay}"


@_text.register
def _context(d: ContextSet) -> str:
    text = f"context VMID {d.vmid}, ASID/VPID {d.asid}"
    if d.pcid is not None:
        text += f", PCID {d.pcid}"
    if d.stage2 is not None:  # x86: which EPT of several (`context eptp = N`) and its EPTP
        name, index, tag = d.stage2
        text += f", {name} {index} ({tag:#x})"
    return text


@_text.register
def _control(d: ControlChanged) -> str:
    changed = ", ".join(f"{reg}.{name}={value}" for reg, name, value in d.changed)
    words = "" if d.flushed is None else f"; MOV to CR4 flushed {d.flushed} TLB entries"
    return "control state: " + (changed or "the defaults") + words


@_text.register
def _control_set(d: ControlSet) -> str:  # an image: the one field toggled
    field = f".{d.field}" if d.field else ""
    return f"control state: {d.register}{field} = {d.value:#x}"


@_text.register
def _flush(d: Flushed) -> str:
    where = "" if d.addr is None else f" {d.addr:#x}"
    n = d.removed
    return f"{d.op}{where}: {n} TLB entr{'y' if n == 1 else 'ies'} removed"


@_text.register
def _handled(d: Handled) -> str:
    verdict = "handled" if d.handled else "not handled"
    return f"handle_page_fault(gPA {d.gpa:#x}, {d.flags.short()}) → {verdict}"


def event_text(event: Event) -> str:
    """The log line of `event`."""
    return _text(event.data)

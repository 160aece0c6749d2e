"""A machine's state at one moment, as the diff compares it: every non-zero page-table entry
of both stages (raw bits, keyed by what it translates), the permissions per input range, the
TLB's entries and the frames in use.

Built from a `Machine` by reading its tables the way `regions` does (no walk, no side
effect), so it applies to any machine whose tables the engine can read — also one loaded
from a memory image.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import (
    EntryKind,
    Machine,
    PageTable,
    PagingFormat,
    TlbEntry,
    machine_regions,
    sign_extend,
    stage_table,
    table_entries,
)

#: (stage, depth, first input address the entry translates)
EntryKey = tuple[int, int, int]
#: (kind, vmid, asid, base)
TlbKey = tuple[str, int, int, int]


@dataclass(frozen=True, slots=True)
class EntryAt:
    """One non-zero entry: where it sits and its raw bits."""

    stage: int
    depth: int
    input: int  # first gVA (stage 1, canonical) or gPA (stage 2) it translates
    table: int  # its table's address (gPA for stage 1, hPA for stage 2)
    index: int
    raw: int

    @property
    def key(self) -> EntryKey:
        return (self.stage, self.depth, self.input)


@dataclass(frozen=True, slots=True)
class Range:
    """Input addresses [start, end) of one stage whose leaves grant `perms` (a machine's
    `MappingFlags` in short form, "R+W"; an image's per-privilege string)."""

    stage: int
    start: int
    end: int
    perms: str


@dataclass(frozen=True, slots=True)
class TlbLine:
    kind: str
    vmid: int
    asid: int
    base: int
    size: int
    gpa: int
    hpa: int
    perms: str
    stale: bool

    @property
    def key(self) -> TlbKey:
        return (self.kind, self.vmid, self.asid, self.base)


@dataclass(frozen=True, slots=True)
class MachineState:
    arch: str
    formats: dict[int, PagingFormat]  # stage → its format (decodes entries, names levels)
    entries: dict[EntryKey, EntryAt]
    ranges: tuple[Range, ...]
    tlb: dict[TlbKey, TlbLine]
    host_frames: frozenset[int]  # hPAs of the frames stage-2 tables and alloc backends hold
    guest_frames: frozenset[int]  # gPAs of the guest frames holding the guest's tables


def _entries(pt: PageTable, stage: int, out: dict[EntryKey, EntryAt]) -> None:
    fmt = pt.fmt
    signed = stage == 1 and fmt.signed_input

    def visit(table: int, depth: int, base: int) -> None:
        shift = fmt.levels[depth].shift
        for e in table_entries(pt, table, depth):
            start = base + (e.index << shift)
            shown = sign_extend(fmt, start) if signed else start
            entry = EntryAt(stage, depth, shown, table, e.index, e.raw)
            out[entry.key] = entry
            if e.decoded.kind == EntryKind.TABLE and e.paddr is not None:
                if depth < fmt.leaf_depth:
                    visit(e.paddr, depth + 1, start)

    visit(pt.root, 0, 0)


def _tlb_line(e: TlbEntry) -> TlbLine:
    return TlbLine(e.kind, e.vmid, e.asid, e.base, e.size, e.gpa, e.hpa, e.perms, e.stale)


def capture(machine: Machine) -> MachineState:
    """The state of `machine` now (reads only)."""
    entries: dict[EntryKey, EntryAt] = {}
    guest = stage_table(machine, 1)
    if guest is not None:
        _entries(guest, 1, entries)
    _entries(machine.npt, 2, entries)
    ranges = tuple(
        Range(r.stage, r.start, r.end, r.flags.short())
        for r in machine_regions(machine, contiguous=False)
    )
    return MachineState(
        arch=machine.arch,
        formats={1: machine.s1, 2: machine.s2},
        entries=entries,
        ranges=ranges,
        tlb={line.key: line for line in map(_tlb_line, machine.tlb_entries())},
        host_frames=frozenset(machine.host_frames.frames()),
        guest_frames=frozenset(machine.guest_frames.frames()),
    )

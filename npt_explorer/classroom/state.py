"""A machine's state at one moment, as the diff compares it: every non-zero page-table entry
of both stages (raw bits, keyed by what it translates), the permissions per input range, the
TLB's entries and the frames in use.

Built from a `Machine` by reading its tables the way `regions` does (no walk, no side
effect), so it applies to any machine whose tables the engine can read — also one loaded
from a memory image.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ..engine import (
    Access,
    AccessRequest,
    Decoded,
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
    #: per stage, what a walk through each leaf grants: the table entries' limits on the way
    #: down (x86 R/W, U/S, XD at every level; Arm APTable/XNTable) folded in, in the format's
    #: own words (`describe_perms`: "rwx u", "el1 rw- el0 ---")
    effective: tuple[Range, ...] = ()
    #: gVA ranges (stage 1), labelled "stage-1 effective / stage-2 effective" of the gPA
    #: behind them ("-" where stage 2 maps nothing): what the guest can do through both stages
    nested: tuple[Range, ...] = ()


@dataclass(frozen=True, slots=True)
class _Leaf:
    start: int  # input, as shown (stage 1 canonical)
    size: int
    out: int
    perms: str


#: the access the effective permissions are folded for (any: only the accumulator is kept)
_READ = AccessRequest(Access.READ)


def _entries(pt: PageTable, stage: int, out: dict[EntryKey, EntryAt], leaves: list[_Leaf]) -> None:
    fmt = pt.fmt
    signed = stage == 1 and fmt.signed_input

    def visit(table: int, depth: int, base: int, acc: object) -> None:
        shift = fmt.levels[depth].shift
        for e in table_entries(pt, table, depth):
            start = base + (e.index << shift)
            shown = sign_extend(fmt, start) if signed else start
            entry = EntryAt(stage, depth, shown, table, e.index, e.raw)
            out[entry.key] = entry
            kind, paddr = e.decoded.kind, e.paddr
            if kind == EntryKind.TABLE and paddr is not None and depth < fmt.leaf_depth:
                visit(paddr, depth + 1, start, fmt.descend(acc, e.decoded, _READ).acc)
            elif kind == EntryKind.LEAF and paddr is not None:
                leaves.append(_Leaf(shown, 1 << shift, paddr, perms(acc, e.decoded, depth)))

    memo: dict[tuple[object, int, int], str] = {}

    def perms(acc: object, dec: Decoded, depth: int) -> str:
        """The leaf's effective permissions; the address bits do not change them, so pages
        whose other bits match under one table are worked out once."""
        key = (acc, depth, dec.raw & ~fmt.addr_mask)
        try:
            return memo[key]
        except KeyError:
            text = memo[key] = fmt.describe_perms(fmt.leaf(acc, dec, _READ).acc)
            return text
        except TypeError:  # an accumulator that cannot be a key
            return fmt.describe_perms(fmt.leaf(acc, dec, _READ).acc)

    visit(pt.root, 0, 0, fmt.start())
    _join(leaves)


def _join(leaves: list[_Leaf]) -> None:
    """Merge, in place, leaves whose inputs and outputs both follow on with one label (a
    100k-page guest is a handful of runs for the range views)."""
    leaves.sort(key=lambda lf: lf.start)
    out: list[_Leaf] = []
    for lf in leaves:
        last = out[-1] if out else None
        if (
            last is not None
            and last.start + last.size == lf.start
            and last.out + last.size == lf.out
            and last.perms == lf.perms
        ):
            out[-1] = _Leaf(last.start, last.size + lf.size, last.out, last.perms)
        else:
            out.append(lf)
    leaves[:] = out


def _merged(stage: int, pieces: list[tuple[int, int, str]]) -> tuple[Range, ...]:
    """Consecutive pieces (start, end, label) with one label as one range."""
    out: list[Range] = []
    for start, end, label in sorted(pieces):
        last = out[-1] if out else None
        if last is not None and last.end == start and last.perms == label:
            out[-1] = Range(stage, last.start, end, label)
        else:
            out.append(Range(stage, start, end, label))
    return tuple(out)


def _nested(s1: list[_Leaf], s2: list[_Leaf]) -> tuple[Range, ...]:
    """Each stage-1 leaf's gVA range cut where the stage-2 leaves behind its gPAs change."""
    s2 = sorted(s2, key=lambda lf: lf.start)
    starts = [lf.start for lf in s2]
    pieces = []
    for a in s1:
        gpa, end = a.out, a.out + a.size
        i = max(bisect.bisect_right(starts, gpa) - 1, 0)
        while gpa < end:
            b = s2[i] if i < len(s2) else None
            if b is not None and b.start + b.size <= gpa:
                i += 1
                continue
            if b is None or b.start > gpa:  # a hole in stage 2 up to the next leaf
                hi, label = min(end, b.start if b else end), f"{a.perms} / -"
            else:
                hi, label = min(end, b.start + b.size), f"{a.perms} / {b.perms}"
            pieces.append((a.start + gpa - a.out, a.start + hi - a.out, label))
            gpa = hi
    return _merged(1, pieces)


def _tlb_line(e: TlbEntry) -> TlbLine:
    return TlbLine(e.kind, e.vmid, e.asid, e.base, e.size, e.gpa, e.hpa, e.perms, e.stale)


def capture(machine: Machine) -> MachineState:
    """The state of `machine` now (reads only)."""
    entries: dict[EntryKey, EntryAt] = {}
    leaves: dict[int, list[_Leaf]] = {1: [], 2: []}
    guest = stage_table(machine, 1)
    if guest is not None:
        _entries(guest, 1, entries, leaves[1])
    _entries(machine.npt, 2, entries, leaves[2])
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
        effective=tuple(
            r
            for stage in (1, 2)
            for r in _merged(
                stage, [(lf.start, lf.start + lf.size, lf.perms) for lf in leaves[stage]]
            )
        ),
        nested=_nested(leaves[1], leaves[2]),
    )

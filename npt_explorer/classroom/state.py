"""A machine's state at one moment, as the diff compares it: every non-zero page-table entry
of both stages (raw bits, keyed by what it translates), the permissions per input range, the
TLB's entries and the frames in use.

Built from a `Machine` by reading its tables the way `regions` does (no walk, no side
effect), so it applies to any machine whose tables the engine can read — also one loaded
from a memory image.
"""

from __future__ import annotations

import bisect
import copy
from dataclasses import dataclass

from ..engine import (
    Access,
    AccessRequest,
    Control,
    Decoded,
    EntryKind,
    Machine,
    PageTable,
    PagingFormat,
    Priv,
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
    `MappingFlags` in short form, "R+W"; an image's per-privilege string). The gVA ranges
    of the "through both stages" view also carry where `start` lands: its gPA and its hPA
    (None where stage 2 maps nothing); both run on contiguously to `end`."""

    stage: int
    start: int
    end: int
    perms: str
    gpa: int | None = None
    hpa: int | None = None


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
    #: the control state the effective labels assume, one line per stage that reads any
    #: (`controls_lines`)
    controls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Leaf:
    start: int  # input, as shown (stage 1 canonical)
    size: int
    out: int
    perms: str


#: the access the effective permissions are folded for (any: only the accumulator is kept)
_READ = AccessRequest(Access.READ)

#: the control bits that change what a leaf's effective bits allow *per access*, per (arch,
#: stage): (register, field, the name shown, the value the compact label `describe_perms`
#: silently assumes). SDM Vol. 3A 4.6.1 (WP, SMEP, SMAP with EFLAGS.AC, PKE); Arm ARM D8.4.2
#: (PAN, EPAN), D8.4.1.2 (WXN); RISC-V Priv. ISA 12.1.1 (SUM, MXR: vsstatus.MXR reaches the
#: VS-stage, the HS-level sstatus.MXR both stages).
_CONTROLS: dict[tuple[str, int], tuple[tuple[str, str, str, int], ...]] = {
    ("x86_64", 1): (
        ("cr0", "WP", "CR0.WP", 1),
        ("cr4", "SMEP", "CR4.SMEP", 0),
        ("cr4", "SMAP", "CR4.SMAP", 0),
        ("cr4", "PKE", "CR4.PKE", 0),
    ),
    ("aarch64", 1): (
        ("pan", "PAN", "PSTATE.PAN", 0),
        ("sctlr_el1", "EPAN", "SCTLR_EL1.EPAN", 0),
        ("sctlr_el1", "WXN", "SCTLR_EL1.WXN", 0),
    ),
    ("riscv64", 1): (
        ("vsstatus", "SUM", "vsstatus.SUM", 0),
        ("vsstatus", "MXR", "vsstatus.MXR", 0),
        ("sstatus", "MXR", "sstatus.MXR", 0),
    ),
    ("riscv64", 2): (("sstatus", "MXR", "sstatus.MXR", 0),),
}
_LETTERS = ((Access.READ, "r"), (Access.WRITE, "w"), (Access.EXEC, "x"))


def _control_rows(
    fmt: PagingFormat,
) -> tuple[Control | None, tuple[tuple[str, str, str, int], ...]]:
    control: Control | None = getattr(fmt, "control", None)
    if control is None:
        return None, ()
    return control, _CONTROLS.get((control.arch, fmt.stage), ())


def controls_line(fmt: PagingFormat) -> str | None:
    """What the stage's effective labels assume, e.g. "stage 1: CR0.WP=1 CR4.SMEP=0 CR4.SMAP=1
    CR4.PKE=0 EFLAGS.AC=0"; None for a stage no per-access control bit acts on."""
    control, rows = _control_rows(fmt)
    if control is None or not rows:
        return None
    text = " ".join(f"{shown}={control.get(reg, name)}" for reg, name, shown, _ in rows)
    if control.arch == "x86_64":  # SMAP spares an access with EFLAGS.AC=1 (stac); diffs assume clac
        text += " EFLAGS.AC=0"
    return f"stage {fmt.stage}: {text}"


class EffectiveLabels:
    """A stage's leaf labels: the leaf's effective permissions in the format's own words
    (`describe_perms`: the bits, read as a kernel access with the default controls). Where the
    machine sets a control bit that acts per access (SMAP, PAN, SUM, MXR, …) away from that
    default *and* that changes what some access to this leaf gets, the verdict per privilege
    follows — what each access really gets: "rwx u · K:--x U:rwx"."""

    def __init__(self, fmt: PagingFormat) -> None:
        self.fmt = fmt
        control, rows = _control_rows(fmt)
        # the same format read under the label's assumptions: only those bits put back
        self.plain: PagingFormat | None = None
        if control is not None and any(control.get(r, f) != d for r, f, _, d in rows):
            baseline = control
            for reg, name, _, default in rows:
                baseline = baseline.with_field(reg, name, default)
            self.plain = copy.copy(fmt)
            self.plain.configure(baseline)

    def __call__(self, acc: object) -> str:
        text = self.fmt.describe_perms(acc)
        if self.plain is None:
            return text
        verdict = self._verdict(self.fmt, acc)
        return text if verdict == self._verdict(self.plain, acc) else f"{text} · {verdict}"

    @staticmethod
    def _verdict(fmt: PagingFormat, acc: object) -> str:
        user = fmt.user_page(acc)

        def letters(priv: Priv) -> str:
            return "".join(
                "-" if fmt.allows(acc, AccessRequest(a, priv, guest_user_page=user)) else ch
                for a, ch in _LETTERS
            )

        if fmt.stage == 2:  # the guest's accesses, whatever its privilege
            return letters(Priv.KERNEL)
        return f"K:{letters(Priv.KERNEL)} U:{letters(Priv.USER)}"


def _entries(pt: PageTable, stage: int, out: dict[EntryKey, EntryAt], leaves: list[Leaf]) -> None:
    fmt = pt.fmt
    label = EffectiveLabels(fmt)
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
                leaves.append(Leaf(shown, 1 << shift, paddr, perms(acc, e.decoded, depth)))

    memo: dict[tuple[object, int, int], str] = {}

    def perms(acc: object, dec: Decoded, depth: int) -> str:
        """The leaf's effective permissions; the address bits do not change them, so pages
        whose other bits match under one table are worked out once."""
        key = (acc, depth, dec.raw & ~fmt.addr_mask)
        try:
            return memo[key]
        except KeyError:
            text = memo[key] = label(fmt.leaf(acc, dec, _READ).acc)
            return text
        except TypeError:  # an accumulator that cannot be a key
            return label(fmt.leaf(acc, dec, _READ).acc)

    visit(pt.root, 0, 0, fmt.start())
    join_leaves(leaves)


def join_leaves(leaves: list[Leaf]) -> None:
    """Merge, in place, leaves whose inputs and outputs both follow on with one label (a
    100k-page guest is a handful of runs for the range views)."""
    leaves.sort(key=lambda lf: lf.start)
    out: list[Leaf] = []
    for lf in leaves:
        last = out[-1] if out else None
        if (
            last is not None
            and last.start + last.size == lf.start
            and last.out + last.size == lf.out
            and last.perms == lf.perms
        ):
            out[-1] = Leaf(last.start, last.size + lf.size, last.out, last.perms)
        else:
            out.append(lf)
    leaves[:] = out


def _follows(last: int | None, size: int, nxt: int | None) -> bool:
    return last is None and nxt is None or (last is not None and last + size == nxt)


def _merged(stage: int, pieces: list[Range]) -> tuple[Range, ...]:
    """Consecutive pieces with one label (and outputs running on) as one range."""
    out: list[Range] = []
    for r in sorted(pieces, key=lambda r: r.start):
        last = out[-1] if out else None
        size = 0 if last is None else last.end - last.start
        if (
            last is not None
            and last.end == r.start
            and last.perms == r.perms
            and _follows(last.gpa, size, r.gpa)
            and _follows(last.hpa, size, r.hpa)
        ):
            out[-1] = Range(stage, last.start, r.end, r.perms, last.gpa, last.hpa)
        else:
            out.append(Range(stage, r.start, r.end, r.perms, r.gpa, r.hpa))
    return tuple(out)


def effective_ranges(leaves: dict[int, list[Leaf]]) -> tuple[Range, ...]:
    """Per stage, the labelled leaves as maximal ranges with one label."""
    return tuple(
        r
        for stage in (1, 2)
        for r in _merged(
            stage, [Range(stage, lf.start, lf.start + lf.size, lf.perms) for lf in leaves[stage]]
        )
    )


def nested_ranges(s1: list[Leaf], s2: list[Leaf]) -> tuple[Range, ...]:
    """Each stage-1 leaf's gVA range cut where the stage-2 leaves behind its gPAs change,
    with the gPA and hPA each piece starts at."""
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
                hi, label, hpa = min(end, b.start if b else end), f"{a.perms} / -", None
            else:
                hi, label = min(end, b.start + b.size), f"{a.perms} / {b.perms}"
                hpa = b.out + gpa - b.start
            va = a.start + gpa - a.out
            pieces.append(Range(1, va, a.start + hi - a.out, label, gpa, hpa))
            gpa = hi
    return _merged(1, pieces)


def _tlb_line(e: TlbEntry) -> TlbLine:
    return TlbLine(e.kind, e.vmid, e.asid, e.base, e.size, e.gpa, e.hpa, e.perms, e.stale)


def capture(machine: Machine) -> MachineState:
    """The state of `machine` now (reads only)."""
    entries: dict[EntryKey, EntryAt] = {}
    leaves: dict[int, list[Leaf]] = {1: [], 2: []}
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
        effective=effective_ranges(leaves),
        nested=nested_ranges(leaves[1], leaves[2]),
        controls=controls_lines((machine.s1, machine.s2)),
    )


def controls_lines(formats: tuple[PagingFormat, ...]) -> tuple[str, ...]:
    return tuple(line for fmt in formats if (line := controls_line(fmt)) is not None)

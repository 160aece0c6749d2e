"""A machine's mappings as ranges: stage-1 (gVA → gPA) and stage-2 (gPA → hPA) leaves folded
into regions, two ways (QEMU `info mem` / Linux ptdump): by input contiguity alone ("VA only")
or by input *and* output contiguity ("VA+PA"). (The Regions panel's filter words are the
TUI's: tui/region_filter.py.)

A region is what the tables hold, entry by entry: no walk is made, so a stage-1 region's gPA
need not be backed. Tables are read a frame at a time, and entries that differ only in their
output-address bits share one decode, so 100k mapped pages fold in a fraction of a second.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .addrspace import Area
from .flags import MappingFlags
from .formats import Decoded, EntryKind, PagingFormat
from .machine import Machine
from .memory import entry_words
from .page_table import PageTable
from .table_lister import Child, TableLister

_U64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Leaf:
    """One leaf entry: `size` bytes of input at `start` map to `out` — or a run of `pages`
    such entries in one table, inputs and outputs following each other, with the same flags."""

    stage: int
    start: int
    out: int
    size: int  # the page size
    depth: int
    flags: MappingFlags  # what the hardware grants through this entry alone
    seed_flags: MappingFlags | None  # the seed's read-back (None where it panics)
    problems: bool
    pages: int = 1

    @property
    def extent(self) -> int:
        return self.size * self.pages


@dataclass(frozen=True, slots=True)
class Region:
    """Consecutive leaves with the same flags (and, for VA+PA, consecutive outputs)."""

    stage: int
    start: int  # gVA (stage 1, sign-extended) or gPA (stage 2)
    size: int
    out: int  # output address of `start` (gPA or hPA)
    contiguous: bool  # each page's output follows the previous page's
    flags: MappingFlags
    seed_flags: MappingFlags | None
    page_sizes: tuple[int, ...]
    pages: int
    depth: int  # leaf depth of the first page (where `poke`/`expect entry` find it)
    backend: str  # stage 2: its area's backend; stage 1: the backend under its first gPA
    area: str  # that area's name ("" when unnamed, "unbacked" when none)
    problems: bool  # some leaf decodes with problems (reserved bits, seed disagreement)

    @property
    def end(self) -> int:
        return self.start + self.size

    def contains(self, addr: int) -> bool:
        return self.start <= addr < self.end

    def maps_to(self, addr: int) -> bool:
        """Does the region's output range hold `addr` (reverse lookup)?"""
        if self.contiguous:
            return self.out <= addr < self.out + self.size
        return False


# --------------------------------------------------------------------------- reading tables


def read_table(pt: PageTable, table: int, depth: int) -> np.ndarray:
    """The entries of the table at `table` (in `pt`'s own address space) as unsigned words of
    the format's entry width; an unbacked frame reads as zeros."""
    fmt = pt.fmt
    return entry_words(pt.mem, table, fmt.levels[depth].entries, fmt.entry_bytes)


def sign_extend(fmt: PagingFormat, addr: int) -> int:
    """A stage-1 input address as software writes it (canonical); stage 2 unchanged."""
    top = fmt.input_bits - 1
    if fmt.signed_input and addr >> top & 1:
        return (addr | (_U64 ^ ((1 << fmt.input_bits) - 1))) & _U64
    return addr


@dataclass(frozen=True, slots=True)
class TableEntry:
    """One non-zero entry of a table, as the hardware reads it at its depth.

    `decoded` is shared by the entries that differ only in their output address (decoding
    is the slow part; a 512-entry leaf table usually needs one), so its address field is
    the first such entry's: `paddr` is this entry's own."""

    index: int
    raw: int
    paddr: int | None
    decoded: Decoded

    @property
    def kind(self) -> EntryKind:
        return self.decoded.kind


def table_entries(pt: PageTable, table: int, depth: int) -> list[TableEntry]:
    """The non-zero entries of one table of `pt`, in index order."""
    decoder = EntryDecoder(pt.fmt)
    words = read_table(pt, table, depth)
    return [
        decoder.entry(index, int(words[index]), depth) for index in np.flatnonzero(words).tolist()
    ]


class EntryDecoder:
    """`fmt.decode`, once per class of entries that differ only in their output-address bits
    (at one depth). A listing makes one; `RegionFolder` keeps one per format while the control
    state is the same: which bits are free depends on it (x86's MAXPHYADDR)."""

    def __init__(self, fmt: PagingFormat) -> None:
        self.fmt = fmt
        self.groups: dict[tuple[int, int], Decoded] = {}
        self._free: dict[int, int] = {}

    def free(self, depth: int) -> int:
        """`PagingFormat.free_address_bits` at `depth`, as the format reads it now."""
        bits = self._free.get(depth)
        if bits is None:
            bits = self._free[depth] = self.fmt.free_address_bits(depth)
        return bits

    def decoded(self, raw: int, depth: int) -> Decoded:
        """The decode of `raw`'s class: made from the class's first entry met (its `raw`), so
        its address fields are that entry's."""
        key = (depth, raw & ~self.free(depth))
        rep = self.groups.get(key)
        if rep is None:
            rep = self.groups[key] = self.fmt.decode(raw, depth)
        return rep

    def entry(self, index: int, raw: int, depth: int) -> TableEntry:
        fmt = self.fmt
        free = self.free(depth)
        rep = self.decoded(raw, depth)
        paddr = rep.paddr
        if paddr is not None and raw != rep.raw:
            paddr += fmt.entry_paddr(raw & free) - fmt.entry_paddr(rep.raw & free)
        return TableEntry(index, raw, paddr, rep)


def leaves(pt: PageTable, stage: int) -> list[Leaf]:
    """Every leaf of `pt` in input-address order (tables as the hardware decodes them), one
    page at a time: the plain definition `region_fold` computes fast."""
    fmt, decoder = pt.fmt, EntryDecoder(pt.fmt)
    signed = stage == 1 and fmt.signed_input

    def judge(depth: int, va: int, raw: int, _: None) -> Child[None] | Leaf | None:
        e = decoder.entry(0, raw, depth)
        dec = e.decoded
        if e.paddr is None:
            return None
        if dec.kind == EntryKind.TABLE:
            return Child(e.paddr, None)
        if dec.kind != EntryKind.LEAF or not dec.page_size:
            return None
        start = sign_extend(fmt, va) if signed else va
        return Leaf(stage, start, e.paddr, dec.page_size, depth, dec.hw_flags,
                    dec.mapping_flags, bool(dec.problems))  # fmt: skip

    return list(TableLister(fmt, pt.mem, judge).leaves(pt.root, None))


# --------------------------------------------------------------------------- merging


@dataclass(slots=True)
class _Run:
    first: Leaf
    end: int
    out_end: int
    contiguous: bool
    sizes: set[int] = field(default_factory=set)
    pages: int = 0
    problems: bool = False


def _area_index(areas: list[Area]) -> tuple[list[int], list[Area]]:
    ordered = sorted(areas, key=lambda a: a.start)
    return [a.start for a in ordered], ordered


def _area_of(index: tuple[list[int], list[Area]], addr: int) -> Area | None:
    starts, ordered = index
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0 and ordered[i].contains(addr):
        return ordered[i]
    return None


def merge(
    items: Iterable[Leaf], areas: Iterable[Area] = (), *, contiguous: bool = True
) -> list[Region]:
    """Fold leaves (in input order) into regions. `contiguous=True` needs outputs to follow
    each other too (VA+PA); `False` merges on input and flags alone (VA only). Runs also break
    where the backing area changes (stage 2: the leaf's own area; stage 1: the area under its
    output)."""
    index = _area_index(list(areas))
    out: list[Region] = []
    run: _Run | None = None
    run_area: Area | None = None

    for leaf in items:
        where = leaf.start if leaf.stage == 2 else leaf.out
        area = (
            run_area
            if run_area is not None and run_area.contains(where)
            else _area_of(index, where)
        )
        follows = (
            run is not None
            and leaf.start == run.end
            and leaf.stage == run.first.stage
            and leaf.flags == run.first.flags
            and leaf.seed_flags == run.first.seed_flags
            and area is run_area
        )
        out_follows = run is not None and leaf.out == run.out_end
        if follows and (out_follows or not contiguous):
            assert run is not None
            run.end += leaf.extent
            run.out_end = leaf.out + leaf.extent
            run.contiguous &= out_follows
        else:
            if run is not None:
                out.append(_region(run, run_area))
            run, run_area = _Run(leaf, leaf.start + leaf.extent, leaf.out + leaf.extent, True), area
        run.sizes.add(leaf.size)
        run.pages += leaf.pages
        run.problems |= leaf.problems
    if run is not None:
        out.append(_region(run, run_area))
    return out


def _region(run: _Run, area: Area | None) -> Region:
    """The region one run of leaves makes (`area`: what backs it, if anything)."""
    f = run.first
    return Region(
        stage=f.stage,
        start=f.start,
        size=run.end - f.start,
        out=f.out,
        contiguous=run.contiguous,
        flags=f.flags,
        seed_flags=f.seed_flags,
        page_sizes=tuple(sorted(run.sizes)),
        pages=run.pages,
        depth=f.depth,
        backend=area.backend if area else "",
        area=(area.name if area else "unbacked"),
        problems=run.problems,
    )


def stage_table(machine: Machine, stage: int) -> PageTable | None:
    """The table of `stage`, or None while the guest has not built its own yet (with
    `map_pool = false` it is made by the first stage-1 map). Never creates it: looking
    must not change the machine (its root would take the pool's first frame)."""
    if stage == 1 and machine.guest_pt_frames == 0:
        return None
    return machine.table(stage)

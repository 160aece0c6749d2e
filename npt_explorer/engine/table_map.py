"""`map_region`: the seed's per-entry loop (one `map` a page) and the vectorised path that
fills whole runs of entries with numpy, side by side; both descend through cursor.py.

A vectorised call (here and in table_change.py) walks its region in address order and does,
run by run, what the per-entry loop would do. At the first thing it does not handle (an entry
in the way, a table entry the seed refuses, a huge page cut by the region, an entry shape the
probes did not find, a failed allocation) it hands the rest of the region, from that page on,
to the per-entry loop, which then raises the same error or carries on the same way. So
entries, errors, frames and flushes are the per-entry path's by construction; the table's
transaction journals whole frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import cursor
from .cursor import Handoff, Run, TableTree, vectorisable, writable
from .errors import PagingError
from .flags import MappingFlags
from .formats.shapes import PageTemplate
from .frame_blocks import frame_rows
from .memory import ENTRIES_PER_FRAME, PAGE_SIZE
from .table_core import TableCore

PaddrOf = Callable[[int], int]
_U64 = 0xFFFF_FFFF_FFFF_FFFF  # rows start before `lo`: numpy's u64 arithmetic wraps alike
_RAMP = np.arange(ENTRIES_PER_FRAME, dtype=np.uint64)
#: regions of at most this many 4 KiB pages go entry by entry (as fast, nothing to derive)
SMALL_REGION = 16


# ------------------------------------------------------------------------------ map_region


def _linear(vaddr: int, paddr: int) -> Callable[[int], int]:
    """The output address of `va` in a region mapped linearly from `vaddr` to `paddr`."""
    return lambda va: paddr + (va - vaddr)


def map_region(
    pt: TableCore,
    vaddr: int,
    paddr: int | PaddrOf,
    size: int,
    flags: MappingFlags | str,
    allow_huge: bool = False,
    vectorised: bool = True,
) -> None:
    """`TableCore.map_region`; `vectorised=False` runs the seed's per-entry loop alone."""
    flags = MappingFlags.parse(flags)
    granule = pt.fmt.granule
    if vaddr % granule or size % granule:
        raise PagingError(
            "NotAligned",
            f"map_region({vaddr:#x}, size={size:#x}) is not {granule >> 10} KiB aligned",
        )
    if size == 0:
        return
    pt.check_vaddr(vaddr, size)
    if callable(paddr):
        get_paddr = paddr
    else:
        pt.check_paddr(paddr)
        pt.check_paddr(paddr + size - 1)
        get_paddr = _linear(vaddr, paddr)
    sizes = sorted((s for s in pt.fmt.page_sizes if s != granule), reverse=True)
    with pt.atomic():
        start = vaddr
        if vectorised and size // PAGE_SIZE > SMALL_REGION and vectorisable(pt):
            try:
                if callable(paddr):
                    _map_pages(pt, vaddr, paddr, size, flags, allow_huge, sizes)
                else:
                    tree = TableTree(pt)
                    for seg in _segments(vaddr, paddr, size, allow_huge, sizes):
                        _map_segment(pt, tree, flags, *seg)
                return
            except Handoff as stop:
                start = stop.va
        _map_entries(pt, start, get_paddr, vaddr + size - start, flags, allow_huge, sizes)


def _choose(
    va: int, pa: int, remaining: int, allow_huge: bool, sizes: list[int], page: int = PAGE_SIZE
) -> int:
    """The seed's greedy page size: 1 GiB, then 2 MiB, where both sides are aligned; else the
    granule's `page`."""
    if allow_huge:
        for s in sizes:
            if va % s == 0 and pa % s == 0 and remaining >= s:
                return s
    return page


def _map_entries(
    pt: TableCore,
    va: int,
    get_paddr: PaddrOf,
    remaining: int,
    flags: MappingFlags,
    allow_huge: bool,
    sizes: list[int],
) -> None:
    """The seed's loop: one `map` per page."""
    while remaining:
        pa = get_paddr(va)
        page = _choose(va, pa, remaining, allow_huge, sizes, pt.fmt.granule)
        pt.map(va, pa, page, flags)
        va += page
        remaining -= page


def _segments(
    vaddr: int, paddr: int, size: int, allow_huge: bool, sizes: list[int]
) -> list[tuple[int, int, int, int]]:
    """The greedy page sequence of a linear region as runs (va, pa, count, page size)."""
    out = []
    va, pa, remaining = vaddr, paddr, size
    while remaining:
        page = _choose(va, pa, remaining, allow_huge, sizes)
        count = remaining // page
        for s in sizes if allow_huge else ():
            if s > page and (pa - va) % s == 0 and va % s:
                k = (s - va % s) // page  # pages until va (and pa) reach an s boundary
                if remaining - k * page >= s:
                    count = min(count, k)
        out.append((va, pa, count, page))
        va, pa, remaining = va + count * page, pa + count * page, remaining - count * page
    return out


@dataclass(frozen=True, slots=True)
class _Linear:
    """A linear run being mapped: the page at `va` maps `va + delta`; pages of `page` bytes,
    their leaves at depth `target`, written as `template`."""

    target: int
    delta: int
    page: int
    template: PageTemplate

    def entries(self, paddrs: np.ndarray, va: int) -> np.ndarray:
        """The leaves for `paddrs` (the run's output addresses from `va` on), in place: `map`
        aligns each address down to its page."""
        if self.page != PAGE_SIZE or (va + self.delta) % PAGE_SIZE:
            paddrs &= np.uint64(~(self.page - 1) & _U64)
        return self.template.vector(paddrs, out=paddrs)

    def fill(self, block: np.ndarray, span: int, va: int, w0: int, m: int) -> None:
        """Row r, column c of `block` (a row a table of `span` bytes): the leaf of the page
        (r * 512 + c - w0) pages from the one at `va`, right for the region's `m` pages (u64
        arithmetic wraps outside them, which the caller zeroes). One pass where the template
        adds (`PageTemplate.step`), else a ramp of addresses and the template over it."""
        page, per_row = self.page, span // self.page
        first = (va + self.delta) & ~(page - 1)  # `map` aligns each address down to its page
        step = self.template.step(first, first + (m - 1) * page, page)
        if step is None:
            origin, unit = (va - w0 * page + self.delta) & _U64, page
        else:
            origin, unit = (self.template.scalar(first) - w0 * step) & _U64, step
        rows = _RAMP[: len(block)] * np.uint64(per_row * unit & _U64)
        rows += np.uint64(origin)
        np.add(rows[:, None], _RAMP * np.uint64(unit), out=block)
        if step is None:
            self.entries(block, va)


def _map_segment(
    pt: TableCore, tree: TableTree, flags: MappingFlags, va: int, pa: int, count: int, page: int
) -> None:
    template = pt.fmt.page_template(flags, page != PAGE_SIZE, pt.encoding)
    run = _Linear(pt.depth_of(page), pa - va, page, template)
    _map_in(pt, tree, run, pt.root, 0, va, va + count * page)


def _map_in(
    pt: TableCore, tree: TableTree, run: _Linear, table: int, depth: int, lo: int, hi: int
) -> None:
    """Map [lo, hi) of `run` below `table`, creating tables as `map` does."""
    fmt = pt.fmt
    if depth == run.target:
        _fill_leaves(pt, run, table, depth, lo, hi)
        return
    last = depth + 1 == run.target and fmt.levels[run.target].entries == ENTRIES_PER_FRAME
    slots = Run.read(pt, table, depth, lo, hi)
    used = slots.used()
    k = 0
    for stop in [*used, slots.count]:
        if last:  # one level above the leaves: a run of unused slots is made at once
            _new_leaf_tables(pt, tree, run, slots, k, stop)
        else:
            for j in range(k, stop):  # unused: a new table, as `get_entry_or_create`
                _map_in(pt, tree, run, _new_table(pt, tree, slots, j), depth + 1, *slots.part(j))
        if stop == slots.count:
            return
        below = slots.child(pt, tree, stop)  # a slot in use leads to its table as `map` does
        if last:
            _fill_leaves(pt, run, below, depth + 1, *slots.part(stop))
        else:
            _map_in(pt, tree, run, below, depth + 1, *slots.part(stop))
        k = stop + 1


def _new_table(pt: TableCore, tree: TableTree, slots: Run, k: int) -> int:
    """A new table under the unused entry k of `slots` (Handoff: the allocator is out, `map`
    raises there)."""
    try:
        child = pt.alloc_table(slots.depth + 1)
    except PagingError:
        raise Handoff(slots.va(k)) from None
    pt.write_entry(slots.slot(k), pt.fmt.new_table_at(child, pt.encoding, slots.depth))
    tree.adopt(slots.slot(k), [child])
    return child


def _new_leaf_tables(
    pt: TableCore, tree: TableTree, run: _Linear, slots: Run, k: int, stop: int
) -> None:
    """Leaf tables for the unused entries k..stop-1 of `slots`, made and filled a frame of
    entries at a time (`_leaf_block`)."""
    while k < stop:
        made = _leaf_block(pt, tree, run, slots, k, stop)
        if not made:  # the allocator is out: `map` raises there
            raise Handoff(slots.va(k))
        k += made


def _leaf_block(pt: TableCore, tree: TableTree, run: _Linear, slots: Run, k: int, stop: int) -> int:
    """Make up to stop - k leaf tables for the unused entries from k on (in one frame of
    `slots`' table) and write the region's leaves into them: one block of entries built at
    once, one write per table. Returns how many tables were made."""
    fmt, page, depth = pt.fmt, run.page, slots.depth
    first = slots.first + k
    in_frame = first % ENTRIES_PER_FRAME
    children = pt.alloc_tables(depth + 1, min(stop - k, ENTRIES_PER_FRAME - in_frame))
    if not children:
        return 0
    lo, hi = slots.va(k), slots.end(k + len(children) - 1)
    w0 = fmt.index(lo, depth + 1)
    m = (hi - lo) // page
    block = frame_rows(len(children))
    run.fill(block, slots.span, lo, w0, m)
    flat = block.reshape(-1)
    flat[:w0] = 0
    flat[w0 + m :] = 0
    # raises as `map`'s write of the table entry would (an unbacked guest table frame)
    words = pt.words_for_write(slots.table + (first - in_frame) * 8)
    pointers = fmt.table_template(depth, pt.encoding)  # `new_table_at` of each child
    words[in_frame : in_frame + len(children)] = pointers.vector(np.array(children, np.uint64))
    tree.adopt(slots.slot(k), children)
    pt.replace_frames(children, block)  # the block's rows become the new tables
    pt.record_flushes(lambda n: [lo + i * page for i in range(n)], m)
    return len(children)


def _fill_leaves(pt: TableCore, run: _Linear, table: int, depth: int, lo: int, hi: int) -> None:
    """Write the leaves of [lo, hi) into `table`, frame by frame; stop at a used slot."""
    first = pt.fmt.index(lo, depth)
    count = (hi - lo) // run.page
    done = 0
    for frame, w0, m in cursor.frames(table, first, count):
        va = lo + done * run.page
        old = pt.mem.peek_frame(frame >> 12)
        if old is not None:
            used = np.flatnonzero(old[w0 : w0 + m])
            if used.size:
                m = int(used[0])
                if m:
                    _store_leaves(pt, run, frame, w0, m, va)
                raise Handoff(va + m * run.page)
        _store_leaves(pt, run, frame, w0, m, va)
        done += m


def _store_leaves(pt: TableCore, run: _Linear, frame: int, w0: int, m: int, va: int) -> None:
    words = writable(pt, frame, va)
    page = run.page
    words[w0 : w0 + m] = run.entries(_RAMP[:m] * np.uint64(page) + np.uint64(va + run.delta), va)
    pt.record_flushes(lambda n: [va + k * page for k in range(n)], m)


def _map_pages(
    pt: TableCore,
    vaddr: int,
    get_paddr: PaddrOf,
    size: int,
    flags: MappingFlags,
    allow_huge: bool,
    sizes: list[int],
) -> None:
    """A region whose addresses come from a function: page by page, in the seed's order (the
    function may allocate), with the leaf writes buffered per frame; a page that is not the
    plain case goes through `map` itself."""
    fmt = pt.fmt
    tree = TableTree(pt)
    tables: dict[tuple[int, int], int] = {}
    sizes_info: dict[int, tuple[PageTemplate, int, int, int, int]] = {}
    run = _Run(pt)
    read = pt.read
    va, remaining = vaddr, size
    while remaining:
        pa = get_paddr(va)
        page = _choose(va, pa, remaining, allow_huge, sizes)
        info = sizes_info.get(page)
        if info is None:
            info = sizes_info[page] = _page_info(pt, page, flags)
        template, target, table_shift, shift, mask = info
        va_now, remaining = va, remaining - page
        va += page
        if not fmt.check_output(pa):
            run.flush()
            pt.map(va_now, pa, page, flags)  # the per-entry call decides (and raises)
            continue
        key = (target, va_now >> table_shift)
        table = tables.get(key)
        if table is None:
            run.flush()
            slot = cursor.get_entry_or_create(pt, va_now, page)  # as `map` does (and raises)
            if tree.path(pt, va_now, target):
                tables[key] = slot - ((va_now >> shift) & mask) * 8
            else:  # not a plain tree: finish this page as `map` does, cache nothing
                if read(slot) != 0:
                    raise PagingError("AlreadyMapped", f"{va_now:#x} is already mapped")
                pt.write_entry(slot, template.scalar(pa & ~(page - 1)))
                pt.record_flush(va_now)
                continue
        else:
            slot = table + ((va_now >> shift) & mask) * 8
        if read(slot) != 0:
            run.flush()
            raise PagingError("AlreadyMapped", f"{va_now:#x} is already mapped")
        if not run.add(slot, pa, page, template, va_now):
            run.flush()
            pt.write_entry(slot, template.scalar(pa & ~(page - 1)))  # raises as `map` would
            pt.record_flush(va_now)
    run.flush()


def _page_info(
    pt: TableCore, page: int, flags: MappingFlags
) -> tuple[PageTemplate, int, int, int, int]:
    """For pages of `page` bytes: (leaf template, depth, shift of one leaf table's span, index
    shift, index mask)."""
    target = pt.depth_of(page)
    level = pt.fmt.levels[target]
    template = pt.fmt.page_template(flags, page != PAGE_SIZE, pt.encoding)
    return template, target, level.shift + level.bits, level.shift, level.entries - 1


class _Run:
    """Leaf writes buffered for consecutive slots of one frame, written at once."""

    def __init__(self, pt: TableCore) -> None:
        self.pt = pt
        self.slots: list[int] = []
        self.paddrs: list[int] = []
        self.vaddrs: list[int] = []
        self.key: tuple[int, PageTemplate] | None = None

    def add(self, slot: int, pa: int, page: int, template: PageTemplate, va: int) -> bool:
        key = (page, template)
        if self.slots and (key != self.key or slot != self.slots[-1] + 8 or slot & 0xFFF == 0):
            self.flush()
        if not self.slots and not self._backed(slot):
            return False
        self.key = key
        self.slots.append(slot)
        self.paddrs.append(pa & ~(page - 1))
        self.vaddrs.append(va)
        return True

    def _backed(self, slot: int) -> bool:
        try:
            self.pt.words_for_write(slot & ~0xFFF)
        except PagingError:
            return False
        return True

    def flush(self) -> None:
        if not self.slots:
            return
        assert self.key is not None
        first = self.slots[0]
        words = self.pt.words_for_write(first & ~0xFFF)
        w0 = (first & 0xFFF) >> 3
        values = self.key[1].vector(np.array(self.paddrs, dtype=np.uint64))
        words[w0 : w0 + len(self.slots)] = values
        vaddrs = self.vaddrs
        self.pt.record_flushes(lambda n: vaddrs[:n], len(vaddrs))
        self.slots, self.paddrs, self.vaddrs = [], [], []

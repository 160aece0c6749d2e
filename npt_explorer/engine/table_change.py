"""`unmap_region`, `protect_region` and `clear_region`: each one's per-entry loop (over
`cursor.get_entry`) and its vectorised path (over `cursor.Run`) side by side; the vector path
hands the rest of the region to the loop where it stops (see table_map.py: same results by
construction)."""

from __future__ import annotations

import numpy as np

from . import cursor
from . import table_map as bulk
from .cursor import Handoff, Run, Step, read_entries, vectorisable
from .errors import PagingError
from .flags import MappingFlags
from .formats import Encoding
from .formats.shapes import PageTemplate
from .frame_blocks import frame_rows, zero_rows
from .memory import ENTRIES_PER_FRAME, PAGE_SIZE
from .table_core import TableCore

_U64 = 0xFFFF_FFFF_FFFF_FFFF
_CHUNK = 16  # leaf tables worked on at once (128 KiB: stays in cache)


def unmap_region(pt: TableCore, vaddr: int, size: int, vectorised: bool = True) -> None:
    """`TableCore.unmap_region`; `vectorised=False` runs the seed's per-entry loop alone."""
    pt.check_vaddr(vaddr, size)
    with pt.atomic():
        start = _vector_prefix(pt, None, vaddr, size, vectorised)
        va, remaining = start, vaddr + size - start
        while remaining > 0:
            _, _, page, _ = pt.unmap(va)
            pt.require_whole(va, remaining, page, "unmap_region")
            va += page
            remaining -= page


def protect_region(
    pt: TableCore, vaddr: int, size: int, flags: MappingFlags | str, vectorised: bool = True
) -> None:
    """`TableCore.protect_region`; `vectorised=False` runs the seed's per-entry loop alone."""
    flags = MappingFlags.parse(flags)
    pt.check_vaddr(vaddr, size)
    with pt.atomic():
        start = _vector_prefix(pt, flags, vaddr, size, vectorised)
        _protect_entries(pt, start, vaddr + size - start, flags)


def clear_region(pt: TableCore, vaddr: int, size: int, vectorised: bool = True) -> None:
    """Zero the leaf slot of every page of [vaddr, vaddr+size), present or not (a lazy Alloc
    page's placeholder too); a page whose walk stops before a leaf is skipped. This is the
    Alloc backend's unmap: the seed's `unmap` page by page with its errors ignored."""
    pt.check_vaddr(vaddr, size)
    with pt.atomic():
        va = vaddr
        if vectorised and vectorisable(pt):
            try:
                _clear(pt, pt.root, 0, vaddr, vaddr + size)
                return
            except Handoff as stop:
                va = stop.va
        for page in range(va, vaddr + size, pt.fmt.granule):
            try:
                addr, _ = cursor.get_entry(pt, page)
            except PagingError:
                continue
            if pt.read(addr):
                pt.write_entry(addr, 0)


def _clear(pt: TableCore, table: int, depth: int, lo: int, hi: int) -> None:
    """`clear_region` of [lo, hi) below `table`, leaf runs zeroed with numpy; the same
    `get_entry` rules as the per-page loop decide where a walk stops."""
    fmt = pt.fmt
    slots = Run.read(pt, table, depth, lo, hi)
    used = slots.used()
    if depth == fmt.leaf_depth:
        if used:
            slots.write(pt, 0, np.zeros(slots.count, np.uint64))
        return
    huge_here = pt.huge_depth(depth)
    for k in used:
        va = slots.va(k)
        step, child = cursor.descend(fmt, huge_here, int(slots.raws[k]))
        own = step is Step.TABLE and pt.owns(child, va)
        if step is Step.LEAF or (huge_here and step is Step.TABLE and not own):
            slots.write(pt, k, np.zeros(1, np.uint64))  # the leaf itself
        elif own:
            _clear(pt, child, depth + 1, va, slots.end(k))


def _vector_prefix(
    pt: TableCore, flags: MappingFlags | None, vaddr: int, size: int, vectorised: bool
) -> int:
    """Clear (flags None) or re-flag [vaddr, vaddr+size) with numpy as far as it is plain;
    returns where the per-entry loop must take over (the end when nothing is left)."""
    if vectorised and _plain(pt, vaddr, size):
        try:
            _Change(pt, flags).run(pt.root, 0, vaddr, vaddr + size)
            return vaddr + size
        except Handoff as stop:
            return stop.va
    return vaddr


def _protect_entries(pt: TableCore, va: int, remaining: int, flags: MappingFlags) -> None:
    """The seed's 0.6 loop: re-flag present leaves, skip holes."""
    fmt = pt.fmt
    while remaining > 0:
        try:
            addr, page = cursor.get_entry(pt, va)
        except PagingError as err:
            if err.kind != "NotMapped":
                raise
            step = fmt.granule
        else:
            raw = pt.read(addr)
            if fmt.seed_present(raw):
                pt.require_whole(va, remaining, page, "protect_region")
                pt.write_entry(addr, fmt.set_flags(raw, flags, page != fmt.granule, pt.encoding))
                pt.record_flush(va)
                step = page
            else:  # a hole: skip to the end of its slot (the seed may assert here)
                step = min(page - (va & (page - 1)), remaining)
        va += step
        remaining -= step


def _first_pages(present: np.ndarray, lo: int, n: int) -> list[int]:
    """The addresses of the first n present leaves of whole leaf tables from `lo` (one row of
    `present` a table), found a table at a time: no 2 MiB index array."""
    found: list[int] = []
    for row, leaves in enumerate(present):
        if len(found) >= n:
            break
        first = row * ENTRIES_PER_FRAME
        found += (first + np.flatnonzero(leaves)[: n - len(found)]).tolist()
    return [lo + i * PAGE_SIZE for i in found]


def _plain(pt: TableCore, vaddr: int, size: int) -> bool:
    if size // PAGE_SIZE <= bulk.SMALL_REGION or (vaddr | size) % PAGE_SIZE:
        return False
    return vectorisable(pt)


class _Change:
    """One unmap (`flags` None) or protect, walking the region in address order with the
    seed's `_get_entry` rules: where a huge leaf may sit a seed-huge entry is the leaf;
    elsewhere an entry leads to its table (address 0: a hole; seed-huge: MappedToHugePage)."""

    def __init__(self, pt: TableCore, flags: MappingFlags | None) -> None:
        fmt = pt.fmt
        self.pt, self.fmt, self.flags = pt, fmt, flags
        self.present, self.huge = fmt.present_test, fmt.huge_test
        self.huge_depths = tuple(pt.huge_depth(d) for d in range(fmt.depth_count))
        self.seed_check = flags is None and pt.encoding is Encoding.SEED
        self.tree = cursor.TableTree(pt)
        self._templates: dict[bool, PageTemplate] = {}

    def run(self, table: int, depth: int, lo: int, hi: int) -> None:
        """Change the leaves of [lo, hi) below `table` (at `depth`)."""
        fmt = self.fmt
        if depth == fmt.leaf_depth - 1 and self._whole_leaf_tables(table, depth, lo, hi):
            return
        slots = Run.read(self.pt, table, depth, lo, hi)
        count = slots.count
        if depth == fmt.leaf_depth:
            leaves = np.ones(count, dtype=bool)
        elif self.huge_depths[depth]:
            leaves = self.huge.vector(slots.raws)
        else:
            leaves = np.zeros(count, dtype=bool)
        k = 0
        while k < count:
            if leaves[k]:
                stop = count if leaves[k:].all() else k + int(np.argmin(leaves[k:]))
                self._leaves(slots, k, stop)
                k = stop
                continue
            if self.flags is None or fmt.entry_paddr(int(slots.raws[k])):  # a hole: skip (protect)
                self.run(slots.child(self.pt, self.tree, k), depth + 1, *slots.part(k))
            k += 1

    def _whole_leaf_tables(self, table: int, depth: int, lo: int, hi: int) -> bool:
        """The common case below a directory: every slot a table pointer whose leaf table the
        region covers whole and whose leaves all change. False: take the general path."""
        fmt, pt = self.fmt, self.pt
        level = fmt.levels[depth]
        span = 1 << level.shift
        if lo % span or hi - lo < span:
            return False
        first = fmt.index(lo, depth)
        count = (hi - lo) // span
        if first + count > ENTRIES_PER_FRAME:
            return False
        raws = read_entries(pt, table, first, count)
        if self.huge.vector(raws).any():
            return False
        children = fmt.paddr_move.vector(raws).tolist()  # `entry_paddr` of each (declared)
        if not all(children) or not self.tree.enter_all(table + first * 8, children):
            return False  # (the general path then stops at the first odd one)
        peek = pt.mem.peek_frame
        tables = [words for c in children if (words := peek(c >> 12)) is not None]
        if len(tables) != count:
            return False
        if self.flags is None:
            if not self._clearable(tables):
                return False
            new = zero_rows(count)
        else:
            new, present = self._reflagged(tables)
            if not present.any():
                self._after(table, depth, lo, hi, count, span)
                return True
        try:
            pt.replace_frames(children, new)
        except PagingError:
            return False
        pages = count * ENTRIES_PER_FRAME
        if self.flags is None:
            pt.record_flushes(lambda n: [lo + i * PAGE_SIZE for i in range(n)], pages)
        else:
            changed = int(np.count_nonzero(present))
            pt.record_flushes(lambda n: _first_pages(present, lo, n), changed)
        self._after(table, depth, lo, hi, count, span)
        return True

    def _clearable(self, tables: list[np.ndarray]) -> bool:
        """May the per-entry loop unmap every leaf of these tables (all present, and readable
        by the seed)? Read a few tables at a time: a 2 MiB temporary costs its page faults."""
        leaf, scratch = self.fmt.leaf_depth, np.empty((_CHUNK, ENTRIES_PER_FRAME), np.uint64)
        for i in range(0, len(tables), _CHUNK):
            part = tables[i : i + _CHUNK]
            rows = scratch[: len(part)]
            np.concatenate(part, out=rows.reshape(-1))
            if self.seed_check and self._unreadable(rows, leaf).any():
                return False
            if not self.present.every(rows):  # (overwrites the copy)
                return False
        return True

    def _reflagged(self, tables: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """A copy of these leaf tables re-flagged (`_values`) and where they held present
        leaves, made a few tables at a time (a 2 MiB temporary costs its page faults)."""
        stacked = frame_rows(len(tables))
        np.concatenate(tables, out=stacked.reshape(-1))
        present = np.empty(stacked.shape, dtype=bool)
        for i in range(0, len(tables), _CHUNK):
            rows, part = stacked[i : i + _CHUNK], present[i : i + _CHUNK]
            part[:] = self.present.vector(rows)
            self._values(rows, part, self.fmt.leaf_depth)
        return stacked, present

    def _after(self, table: int, depth: int, lo: int, hi: int, count: int, span: int) -> None:
        """The part of [lo, hi) past the whole tables (a partial last table)."""
        done = lo + count * span
        if done < hi:
            self.run(table, depth, done, hi)

    def _leaves(self, slots: Run, k0: int, k1: int) -> None:
        """Leaves k0..k1-1 of `slots`: cleared (unmap) or re-flagged where present."""
        pt, flags, span = self.pt, self.flags, slots.span
        part = slots.raws[k0:k1]
        present = self.present.vector(part)
        # where the per-entry loop stops: a non-present leaf (unmap), a leaf the region covers
        # only in part (`require_whole`), a leaf whose flags the seed cannot read (unmap)
        bad = ~present if flags is None else np.zeros(len(part), dtype=bool)
        at = slots.base + k0 * span
        if at < slots.lo:
            bad[0] |= bool(present[0])
        if slots.base + k1 * span > slots.hi:
            bad[-1] |= bool(present[-1])
        if self.seed_check:
            bad |= self._unreadable(part, slots.depth) & present
        stop = int(np.argmax(bad)) if bad.any() else len(part)
        if stop and (flags is None or present[:stop].any()):
            values = (
                np.zeros(stop, dtype=np.uint64)
                if flags is None
                else self._values(part[:stop], present[:stop], slots.depth)
            )
            slots.write(pt, k0, values)
            changed = np.arange(stop) if flags is None else np.flatnonzero(present[:stop])
            pt.record_flushes(lambda n: [at + int(i) * span for i in changed[:n]], len(changed))
        if stop < len(part):
            raise Handoff(slots.va(k0 + stop))

    def _values(self, raws: np.ndarray, present: np.ndarray, depth: int) -> np.ndarray:
        """`set_flags` of the present leaves (the others unchanged), written over `raws` and
        returned: the page template of the address each entry holds."""
        huge = depth != self.fmt.leaf_depth
        template = self._templates.get(huge)
        if template is None:
            assert self.flags is not None
            template = self.fmt.page_template(self.flags, huge, self.pt.encoding)
            self._templates[huge] = template
        moved = self.fmt.paddr_move.vector(raws)
        np.copyto(raws, template.vector(moved, out=moved), where=present)
        return raws

    def _unreadable(self, raws: np.ndarray, depth: int) -> np.ndarray:
        """Leaves whose flags the seed cannot read back (it panics), checked per class."""
        keys = raws & np.uint64(~self.fmt.free_address_bits(depth) & _U64)
        out = np.zeros(raws.shape, dtype=bool)
        for key in np.unique(keys):
            member = int(raws[keys == key].flat[0])
            if isinstance(self.pt.leaf_flags(member, depth), str):
                out |= keys == key
        return out

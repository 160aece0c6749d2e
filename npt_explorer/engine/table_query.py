"""`query` and `query_many` side by side: one address and many, on the seed's `get_entry` rules.

Both take what an entry above the leaf level is from the one descent rule (`cursor.RULE`):
`query_walk` through `cursor.descend`, memoised per entry value (`navigate`: next table, huge
leaf or stop; entries are pure data), `query_many` through its vector form
`cursor.descend_many` over lanes. `PageTable.query`'s fast path reads the `FastQuery` memos
`query_walk` fills: the tables its walks reached, while memory is unwritten, and the flags
read back once per class of leaves. Both hand what they do not decide to
`TableCore.query_full` (cursor.present_leaf), which raises the seed's error: so the three
answer alike by construction (tests/engine/test_batch.py, test_query_memo.py hold it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from weakref import ref

import numpy as np

from . import cursor
from .batch import (
    CONT,
    FAULT,
    LEAF,
    SCALAR,
    U64,
    Lanes,
    classes,
    input_ok,
    pick,
    store,
    table_index,
    walk_all,
)
from .cursor import Step
from .errors import PagingError
from .flags import MappingFlags
from .table_core import TableCore

_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


#: what `query` answers: (paddr, flags, page size)
Answer = tuple[int, MappingFlags, int]
#: a level where huge leaves sit: (shift, index mask, page size, keep, memo raw & keep → flags)
HugeLevel = tuple[int, int, int, int, dict[int, MappingFlags]]


@dataclass(slots=True)
class FastQuery:
    """`query`'s path for the plain case, two dictionary look-ups: the table holding the leaf
    for `vaddr >> table_shift` (the input bits above one leaf table's span), kept from an
    earlier walk while memory's `generation` has not moved (the engine's memo rule, as the
    walker's: a write, a frame replaced or dropped, and the memo starts again), then one word
    of it and the memo of the leaf classes that read as mapped (raw & keep → flags). `leaves`
    holds leaf tables (the leaf level's shape is on this object); `huge`, tables holding huge
    leaves, each with its level's (shift, index mask, page size, keep, flag memo). The
    words are memory's own, read live: only where the walk went is remembered, and weakly,
    so a frame memory lets go of (and the block of frames its words may be a row of) is not
    kept alive until the next query notices the write. Only for tables that sit in one
    4 KiB frame each, and input ranges of whole leaf tables."""

    generation: int
    table_shift: int
    leaves: dict[int, ref[np.ndarray]]
    leaf_shift: int
    leaf_mask: int
    size: int
    keep: int
    flags: dict[int, MappingFlags]
    addr_mask: int  # the output address: (raw & addr_mask) << addr_shift
    addr_shift: int
    huge: dict[int, tuple[ref[np.ndarray], HugeLevel]]
    huge_levels: dict[int, HugeLevel]  # by depth
    #: per level above the leaf: (shift, index mask, memo raw → the next table's frame
    #: number, tables only: `navigate` fills it), for a walk from the root in dict look-ups
    levels: tuple[tuple[int, int, dict[int, int]], ...]

    def restart(self, generation: int) -> None:
        """Memory was written: forget every table reached."""
        self.generation = generation
        self.leaves.clear()
        self.huge.clear()

    def by_memos(self, peek: Callable[[int], Any], root: int, vaddr: int) -> Answer | None:
        """`query` of a 4 KiB page by the memos alone, a dictionary look-up per level (None:
        a memo or a frame lacks); its leaf table is then `leaves`'."""
        pfn = root >> 12
        try:
            for shift, mask, tables in self.levels:
                pfn = tables[peek(pfn).item((vaddr >> shift) & mask)]
            words = peek(pfn)
            raw = words.item((vaddr >> self.leaf_shift) & self.leaf_mask)
            flags = self.flags[raw & self.keep]
        except (AttributeError, KeyError):
            return None
        if len(self.leaves) >= 1 << 12:
            self.leaves.clear()
        self.leaves[vaddr >> self.table_shift] = ref(words)
        return (
            ((raw & self.addr_mask) << self.addr_shift) + (vaddr & (self.size - 1)),
            flags,
            self.size,
        )

    def reached(self, vaddr: int, depth: int, words: np.ndarray, raw: int, flags: MappingFlags):
        """The walk for `vaddr` ended at a mapped leaf `raw` at `depth`, in the table `words`."""
        key = vaddr >> self.table_shift
        if depth not in self.huge_levels:  # the leaf level
            if len(self.leaves) >= 1 << 12 or len(self.flags) >= 1 << 14:
                self.leaves.clear()
                self.flags.clear()
            self.flags[raw & self.keep] = flags
            self.leaves[key] = ref(words)
            return
        level = self.huge_levels[depth]
        if len(self.huge) >= 1 << 12 or len(level[4]) >= 1 << 14:
            self.huge.clear()
            level[4].clear()
        level[4][raw & level[3]] = flags
        self.huge[key] = (ref(words), level)


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """What `query_walk` needs: per level above the leaf (depth, shift, index mask, memo of
    what an entry there means: next table > 0, huge leaf -size, 0 stop — `cursor.descend`'s
    answer), the leaf level, the valid input ranges (None: ask the format), the declared bit
    shapes, and the fast path's memos (None: not this table's layout)."""

    levels: tuple[tuple[int, int, int, dict[int, int]], ...] | None  # above the leaf
    inputs: tuple[int, int, int, int] | None = None  # two [lo, hi) ranges
    leaf: tuple[int, int, int, int] = (0, 0, 0, 0)  # depth, shift, index mask, page size
    present_mask: int = 0
    present_invert: bool = False
    addr_mask: int = 0
    addr_shift: int = 0
    fast: FastQuery | None = None


def query_plan(pt: TableCore) -> QueryPlan:
    fmt = pt.fmt
    move, present = fmt.paddr_move, fmt.present_test
    if move.shift < 0 or fmt.entry_bytes != 8:
        return QueryPlan(None)
    levels: tuple[tuple[int, int, int, dict[int, int]], ...] = tuple(
        (d, lv.shift, lv.entries - 1, {}) for d, lv in enumerate(fmt.levels[:-1])
    )
    last = fmt.levels[-1]
    leaf = (fmt.leaf_depth, last.shift, last.entries - 1, fmt.span(fmt.leaf_depth))
    ranges = fmt.input_ranges
    inputs = (*ranges[0], *(ranges[1] if len(ranges) > 1 else (0, 0))) if len(ranges) < 3 else None
    fast = _fast_query(pt, ranges) if inputs is not None else None
    return QueryPlan(
        levels, inputs, leaf, present.mask, present.invert, move.mask, move.shift, fast
    )


def _fast_query(pt: TableCore, ranges: tuple[tuple[int, int], ...]) -> FastQuery | None:
    fmt = pt.fmt
    aligned = not (fmt.paddr_move.mask << fmt.paddr_move.shift) & 0xFFF  # tables at 4 KiB
    last = fmt.levels[-1]
    table_shift = last.shift + last.bits
    whole = all(not (edge & ((1 << table_shift) - 1)) for edge in sum(ranges, ()))
    if not aligned or not whole or any(lv.entries > 512 for lv in fmt.levels):
        return None  # (whole: no key holds both valid and invalid input addresses)
    huge: dict[int, HugeLevel] = {
        d: (lv.shift, lv.entries - 1, fmt.span(d), pt.keep[d], {})
        for d, lv in enumerate(fmt.levels[:-1])
        if pt.huge_depth(d)
    }
    return FastQuery(
        -1, table_shift, {}, last.shift, last.entries - 1, fmt.span(fmt.leaf_depth),
        pt.keep[fmt.leaf_depth], {}, fmt.paddr_move.mask, fmt.paddr_move.shift, {}, huge,
        tuple((lv.shift, lv.entries - 1, {}) for lv in fmt.levels[:-1]),
    )  # fmt: skip


def navigate(pt: TableCore, plan: QueryPlan, depth: int, raw: int) -> int:
    """What `raw` above the leaf level means to `query` (`cursor.descend`, memoised: next
    table > 0, a present huge leaf -size, 0 stop; tables also in the fast path's memo)."""
    step, table = cursor.descend(pt.fmt, pt.huge_depth(depth), raw)
    if step is Step.LEAF:
        found = -pt.fmt.span(depth) if pt.fmt.seed_present(raw) else 0
    else:
        found = table if step is Step.TABLE else 0
    assert plan.levels is not None
    nav = plan.levels[depth][3]
    tables = None if plan.fast is None else plan.fast.levels[depth][2]
    if len(nav) >= 1 << 16:
        nav.clear()
        if tables is not None:
            tables.clear()
    nav[raw] = found
    if found > 0 and tables is not None:
        tables[raw] = found >> 12
    return found


# ----------------------------------------------------------------------------- query


def query_huge(fast: FastQuery, vaddr: int) -> Answer | None:
    """`query` of a huge page whose table an earlier walk reached (None: not so)."""
    found = fast.huge.get(vaddr >> fast.table_shift)
    if found is None:
        return None
    table, (shift, mask, size, keep, memo) = found
    words = table()
    if words is None:  # memory let go of the frame
        return None
    raw = words.item((vaddr >> shift) & mask)
    flags = memo.get(raw & keep)
    if flags is None:
        return None
    return ((raw & fast.addr_mask) << fast.addr_shift) + (vaddr & (size - 1)), flags, size


def query_walk(pt: TableCore, plan: QueryPlan, vaddr: int) -> tuple[int, MappingFlags, int]:
    """`query` by the memoised descent (any table layout), `query_full` where it stops: the
    general way behind `PageTable.query`'s fast path, whose memos it fills."""
    fast = plan.fast
    if fast is not None:
        generation = pt.mem.generation
        if generation != fast.generation:
            fast.restart(generation)
        elif fast.huge and (hit := query_huge(fast, vaddr)) is not None:
            return hit
    if plan.inputs is None:
        if plan.levels is None or pt.fmt.check_input(vaddr) is not None:
            return pt.query_full(vaddr)
    else:
        lo, hi, lo2, hi2 = plan.inputs
        if not (lo <= vaddr < hi or lo2 <= vaddr < hi2):
            return pt.query_full(vaddr)
    peek, table = pt.mem.peek_frame, pt.root
    if fast is not None and (hit := fast.by_memos(peek, table, vaddr)) is not None:
        return hit
    for depth, shift, mask, nav in plan.levels or ():  # above the leaf level
        addr = table + ((vaddr >> shift) & mask) * 8
        words = peek(addr >> 12)
        raw = 0 if words is None else words.item((addr & 0xFFF) >> 3)
        step = nav.get(raw)  # next table > 0, a huge leaf -size, 0: stop
        if step is None:
            step = navigate(pt, plan, depth, raw)
        if step > 0:
            table = step
            continue
        if step == 0:
            return pt.query_full(vaddr)
        size = -step
        break
    else:  # the leaf level
        depth, shift, mask, size = plan.leaf
        addr = table + ((vaddr >> shift) & mask) * 8
        words = peek(addr >> 12)
        raw = 0 if words is None else words.item((addr & 0xFFF) >> 3)
        if bool(raw & plan.present_mask) == plan.present_invert:
            return pt.query_full(vaddr)
    flags = pt.leaf_flags(raw, depth)
    if isinstance(flags, str):
        return pt.query_full(vaddr)
    if fast is not None and words is not None:
        fast.reached(vaddr, depth, words, raw, flags)
    return ((raw & plan.addr_mask) << plan.addr_shift) + (vaddr & (size - 1)), flags, size


def query_many(pt: TableCore, vaddrs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`PageTable.query` for many addresses: (paddrs, page sizes, ok)."""
    vaddrs = np.asarray(vaddrs, dtype=np.uint64)
    n = len(vaddrs)
    paddrs, sizes, ok = np.zeros(n, np.uint64), np.zeros(n, np.uint64), np.zeros(n, bool)
    fmt = pt.fmt
    if fmt.entry_bytes != 8:
        _query_scalar(pt, vaddrs, np.arange(n), paddrs, sizes, ok)
        return paddrs, sizes, ok
    index = table_index(pt)
    present, move = fmt.present_test, fmt.paddr_move

    def step(depth: int, at: np.ndarray | None, addrs: np.ndarray, lanes: Lanes) -> None:
        level = fmt.levels[depth]
        table = pick(at, lanes.value)
        entry = table + ((addrs >> U64(level.shift)) & U64(level.entries - 1)) * U64(8)
        offsets = index.offsets(entry)
        raw = index.words(entry, offsets)
        if depth == fmt.leaf_depth:  # a leaf, mapped if present
            child = move.vector(raw)
            good = present.vector(raw)
            if pt.encoding == "seed" and good.any():
                good &= _flags_readable(pt, raw, depth)
            state = np.where(good, np.int8(LEAF), np.int8(FAULT))
        else:  # the descent's rule: a table, a huge leaf (mapped if present), or a stop
            steps, child = cursor.descend_many(fmt, pt.huge_depth(depth), raw)
            good = (steps == Step.LEAF) & present.vector(raw)
            if pt.encoding == "seed" and good.any():
                good &= _flags_readable(pt, raw, depth)
            state = np.where(good, LEAF, np.where(steps == Step.TABLE, CONT, FAULT))
        missing = offsets == index.missing
        if missing.any():
            state[missing] = SCALAR
        store(at, lanes.state, state)
        store(at, lanes.value, child)
        store(at, lanes.size, fmt.span(depth))

    inputs = input_ok(fmt.input_ranges, vaddrs)
    every = bool(inputs.all())
    lanes_at = None if every else np.flatnonzero(inputs)
    va = pick(lanes_at, vaddrs)
    leaf = fmt.leaf_depth
    lanes = walk_all(va, pt.root, leaf, fmt.levels[leaf].shift + fmt.levels[leaf].bits, step)
    hit = lanes.state == LEAF
    if every and hit.all():
        return lanes.value + (va & (lanes.size - U64(1))), lanes.size, hit
    at = np.flatnonzero(hit)
    dest = at if lanes_at is None else lanes_at[at]
    paddrs[dest] = lanes.value[at] + (va[at] & (lanes.size[at] - U64(1)))
    sizes[dest], ok[dest] = lanes.size[at], True
    scalar = np.flatnonzero(lanes.state == SCALAR)
    _query_scalar(pt, vaddrs, scalar if lanes_at is None else lanes_at[scalar], paddrs, sizes, ok)
    return paddrs, sizes, ok


def _flags_readable(pt: TableCore, raw: np.ndarray, depth: int) -> np.ndarray:
    """False where reading the leaf's flags back would raise (the seed panics)."""
    keys = raw & U64(~pt.fmt.free_address_bits(depth) & _MASK64)
    inverse, reps = classes(keys, None)
    good = np.array([not isinstance(pt.leaf_flags(int(raw[i]), depth), str) for i in reps])
    return np.full(len(raw), good[0]) if inverse is None else good[inverse]


def _query_scalar(pt, vaddrs, lanes, paddrs, sizes, ok) -> None:
    for i in lanes.tolist():
        try:
            paddr, _, size = pt.query_full(int(vaddrs[i]))
        except PagingError:
            continue
        paddrs[i], sizes[i], ok[i] = paddr, size, True

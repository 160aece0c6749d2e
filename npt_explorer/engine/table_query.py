"""`query` and `query_many` side by side: one address and many, on the seed's `get_entry` rules.

`PageTable.query`'s fast path (a dictionary look-up per entry, in the class) reads the
`FastQuery` memo that `query_walk` fills; `query_walk` is the same descent with what each
entry above the leaf level means memoised (`navigate`: next table, huge leaf or stop — the
rule of `cursor.get_entry`); `query_many` takes that rule's vector form over lanes (the seed
predicates' declared bit shapes: `huge_test`, `present_test`, `paddr_move`). Both hand what
they do not decide to `TableCore.query_full` (cursor.present_leaf), which raises the seed's
error: so the three answer alike by construction (tests/engine/test_batch.py holds it).

What `PageTable.query`'s fast path needs:

`query` on its success path: the seed's `get_entry` walk with what each entry above the
leaf level means memoised (entries are pure data), the leaf's flags read back once per class of
entries, and the predicates as probed bit shapes. Anything unusual goes to `query_full`, which
decides, and raises the seed's error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
from .errors import PagingError
from .flags import MappingFlags
from .table_core import TableCore

_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class FastQuery:
    """`query`'s path for the plain case, one dictionary look-up per entry: per level above
    the leaf (shift, index mask, memo raw → frame number of the next table, tables only), the
    leaf level's shift, index mask and page size, and the memo of the leaf classes that read
    as mapped (raw & keep → flags). Anything not in a memo goes the general way, which fills
    them. Only for tables that sit in one 4 KiB frame each (the index is the frame's word)."""

    inputs: tuple[int, int, int, int]  # two [lo, hi) ranges
    levels: tuple[tuple[int, int, dict[int, int]], ...]
    leaf_shift: int
    leaf_mask: int
    size: int
    keep: int
    flags: dict[int, MappingFlags]
    addr_mask: int  # the output address: (raw & addr_mask) << addr_shift
    addr_shift: int


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """What `query`'s fast path needs: per level above the leaf (depth, shift, index mask,
    memo of what an entry there means: next table > 0, huge leaf -size, 0 stop), the leaf
    level, the valid input ranges (None: ask the format), and the probed bit shapes."""

    levels: tuple[tuple[int, int, int, dict[int, int]], ...] | None  # above the leaf
    free: tuple[int, ...]
    keep: tuple[int, ...] = ()
    inputs: tuple[int, int, int, int] | None = None  # two [lo, hi) ranges
    leaf: tuple[int, int, int, int] = (0, 0, 0, 0)  # depth, shift, index mask, page size
    present_mask: int = 0
    present_invert: bool = False
    addr_mask: int = 0
    addr_shift: int = 0
    fast: FastQuery | None = None


def query_plan(pt: TableCore) -> QueryPlan:
    fmt = pt.fmt
    free = tuple(fmt.free_address_bits(d) for d in range(fmt.depth_count))
    move, present = fmt.paddr_move, fmt.present_test
    if move.shift < 0 or fmt.entry_bytes != 8:
        return QueryPlan(None, free)
    levels: tuple[tuple[int, int, int, dict[int, int]], ...] = tuple(
        (d, lv.shift, lv.entries - 1, {}) for d, lv in enumerate(fmt.levels[:-1])
    )
    last = fmt.levels[-1]
    leaf = (fmt.leaf_depth, last.shift, last.entries - 1, fmt.span(fmt.leaf_depth))
    ranges = fmt.input_ranges
    inputs = (*ranges[0], *(ranges[1] if len(ranges) > 1 else (0, 0))) if len(ranges) < 3 else None
    return QueryPlan(
        levels,
        free,
        pt.keep,
        inputs,
        leaf,
        present.mask,
        present.invert,
        move.mask,
        move.shift,
        _fast_query(pt, inputs),
    )


def _fast_query(pt: TableCore, inputs: tuple[int, int, int, int] | None) -> FastQuery | None:
    fmt = pt.fmt
    aligned = not (fmt.paddr_move.mask << fmt.paddr_move.shift) & 0xFFF  # tables at 4 KiB
    if inputs is None or not aligned or any(lv.entries > 512 for lv in fmt.levels):
        return None
    last = fmt.levels[-1]
    return FastQuery(
        inputs,
        tuple((lv.shift, lv.entries - 1, {}) for lv in fmt.levels[:-1]),
        last.shift,
        last.entries - 1,
        fmt.span(fmt.leaf_depth),
        pt.keep[fmt.leaf_depth],
        {},
        fmt.paddr_move.mask,
        fmt.paddr_move.shift,
    )


def navigate(pt: TableCore, plan: QueryPlan, depth: int, raw: int) -> int:
    """What `raw` above the leaf level means to `_get_entry` (memoised: it is pure)."""
    fmt = pt.fmt
    if pt.huge_depth(depth) and fmt.seed_huge(raw):
        step = -fmt.span(depth) if fmt.seed_present(raw) else 0
    else:
        table = fmt.entry_paddr(raw)
        step = 0 if not table or fmt.seed_huge(raw) else table
    assert plan.levels is not None
    nav = plan.levels[depth][3]
    tables = None if plan.fast is None else plan.fast.levels[depth][2]
    if len(nav) >= 1 << 16:
        nav.clear()
        if tables is not None:
            tables.clear()
    nav[raw] = step
    if step > 0 and tables is not None:
        tables[raw] = step >> 12
    return step


def remember_leaf(plan: QueryPlan, raw: int, flags: MappingFlags) -> None:
    """A leaf that reads as mapped with `flags`: `query`'s fast path answers its class."""
    if plan.fast is not None:
        memo = plan.fast.flags
        if len(memo) >= 1 << 14:
            memo.clear()
        memo[raw & plan.fast.keep] = flags


# ----------------------------------------------------------------------------- query


def query_walk(pt: TableCore, plan: QueryPlan, vaddr: int) -> tuple[int, MappingFlags, int]:
    """`query` by the memoised walk (any table layout), `query_full` where it stops: the
    general way behind `PageTable.query`'s fast path, which it feeds."""
    if plan.inputs is None:
        if plan.levels is None or pt.fmt.check_input(vaddr) is not None:
            return pt.query_full(vaddr)
    else:
        lo, hi, lo2, hi2 = plan.inputs
        if not (lo <= vaddr < hi or lo2 <= vaddr < hi2):
            return pt.query_full(vaddr)
    peek, table = pt.mem.peek_frame, pt.root
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
    if depth == pt.fmt.leaf_depth:
        remember_leaf(plan, raw, flags)
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
    huge_test, present, move = fmt.huge_test, fmt.present_test, fmt.paddr_move

    def step(depth: int, at: np.ndarray | None, addrs: np.ndarray, lanes: Lanes) -> None:
        level = fmt.levels[depth]
        table = pick(at, lanes.value)
        entry = table + ((addrs >> U64(level.shift)) & U64(level.entries - 1)) * U64(8)
        offsets = index.offsets(entry)
        raw = index.words(entry, offsets)
        child = move.vector(raw)
        if depth == fmt.leaf_depth:  # a leaf, mapped if present
            good = present.vector(raw)
            if pt.encoding == "seed" and good.any():
                good &= _flags_readable(pt, raw, depth)
            state = np.where(good, np.int8(LEAF), np.int8(FAULT))
        else:  # a huge leaf where one may sit, else a table (address 0 or huge: stop)
            huge = huge_test.vector(raw)
            leaf = huge if pt.huge_depth(depth) else np.zeros(len(raw), bool)
            good = leaf & present.vector(raw)
            if pt.encoding == "seed" and good.any():
                good &= _flags_readable(pt, raw, depth)
            state = np.where(good, LEAF, np.where(leaf | (child == 0) | huge, FAULT, CONT))
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

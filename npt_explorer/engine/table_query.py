"""What `PageTable.query`'s fast path needs.

`query` on its success path: the seed's `get_entry` walk with what each entry above the
leaf level means memoised (entries are pure data), the leaf's flags read back once per class of
entries, and the predicates as probed bit shapes. Anything unusual goes to `query_full`, which
decides, and raises the seed's error."""

from __future__ import annotations

from dataclasses import dataclass

from .flags import MappingFlags
from .table_core import TableCore


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

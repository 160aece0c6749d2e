"""Reading a PageTable: `query`'s fast path, and `walk`, `path`, `locate`.

`query` on its success path: the seed's `_get_entry` walk with what each entry above the
leaf level means memoised (entries are pure data), the leaf's flags read back once per class of
entries, and the predicates as probed bit shapes. Anything unusual returns None and the full
path in `PageTable.query` decides, and raises the seed's error."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import PagingError, SeedPanic
from .flags import MappingFlags

if TYPE_CHECKING:
    from .page_table import PageTable


@dataclass(frozen=True, slots=True)
class EntryRef:
    """Where one entry lives: its depth, table, index and address (in the table's space)."""

    depth: int
    table: int
    index: int
    addr: int
    raw: int


def leaf_flags(self: PageTable, raw: int, depth: int) -> MappingFlags | str:
    """`read_flags` (or the seed's panic message), memoised per class of entries: entries
    that differ only in free address bits read back the same flags."""
    memo, key = self._flags_memo[depth], raw & self._query_plan.keep[depth]
    flags = memo.get(key)
    if flags is None:
        if len(memo) >= 1 << 14:
            memo.clear()
        try:
            flags = self.fmt.read_flags(raw, self.encoding, depth)
        except SeedPanic as panic:
            flags = str(panic)
        memo[key] = flags
    return flags


def query_entry(self: PageTable, vaddr: int) -> tuple[int, MappingFlags, int]:
    """(paddr including `vaddr`'s offset in the page, flags read back, page size)."""
    plan = self._query_plan
    if plan.inputs is None:
        if plan.levels is None or self.fmt.check_input(vaddr) is not None:
            return self._query_full(vaddr)
    else:
        lo, hi, lo2, hi2 = plan.inputs
        if not (lo <= vaddr < hi or lo2 <= vaddr < hi2):
            return self._query_full(vaddr)
    peek, table = self.mem.peek_frame, self.root
    for depth, shift, mask, nav in plan.levels or ():  # above the leaf level
        addr = table + ((vaddr >> shift) & mask) * 8
        words = peek(addr >> 12)
        raw = 0 if words is None else words.item((addr & 0xFFF) >> 3)
        step = nav.get(raw)  # next table > 0, a huge leaf -size, 0: stop
        if step is None:
            step = _navigate(self, plan, depth, raw)
        if step > 0:
            table = step
            continue
        if step == 0:
            return self._query_full(vaddr)
        size = -step
        break
    else:  # the leaf level
        depth, shift, mask, size = plan.leaf
        addr = table + ((vaddr >> shift) & mask) * 8
        words = peek(addr >> 12)
        raw = 0 if words is None else words.item((addr & 0xFFF) >> 3)
        if bool(raw & plan.present_mask) == plan.present_invert:
            return self._query_full(vaddr)
    flags = self._flags_memo[depth].get(raw & plan.keep[depth])
    if flags is None:
        flags = self.leaf_flags(raw, depth)
    if isinstance(flags, str):
        return self._query_full(vaddr)
    return ((raw & plan.addr_mask) << plan.addr_shift) + (vaddr & (size - 1)), flags, size


@dataclass(frozen=True, slots=True)
class _QueryPlan:
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


def query_plan(pt: PageTable) -> _QueryPlan:
    fmt = pt.fmt
    free = tuple(fmt.free_address_bits(d) for d in range(fmt.depth_count))
    move, present = fmt.paddr_move, fmt.present_test
    if move.shift < 0 or fmt.entry_bytes != 8:
        return _QueryPlan(None, free)
    levels: tuple[tuple[int, int, int, dict[int, int]], ...] = tuple(
        (d, lv.shift, lv.entries - 1, {}) for d, lv in enumerate(fmt.levels[:-1])
    )
    last = fmt.levels[-1]
    leaf = (fmt.leaf_depth, last.shift, last.entries - 1, fmt.span(fmt.leaf_depth))
    ranges = fmt.input_ranges
    inputs = (*ranges[0], *(ranges[1] if len(ranges) > 1 else (0, 0))) if len(ranges) < 3 else None
    return _QueryPlan(
        levels,
        free,
        tuple(~f for f in free),
        inputs,
        leaf,
        present.mask,
        present.invert,
        move.mask,
        move.shift,
    )


def _navigate(pt: PageTable, plan: _QueryPlan, depth: int, raw: int) -> int:
    """What `raw` above the leaf level means to `_get_entry` (memoised: it is pure)."""
    fmt = pt.fmt
    if pt._huge_depth(depth) and fmt.seed_huge(raw):
        step = -fmt.span(depth) if fmt.seed_present(raw) else 0
    else:
        table = fmt.entry_paddr(raw)
        step = 0 if not table or fmt.seed_huge(raw) else table
    assert plan.levels is not None
    nav = plan.levels[depth][3]
    if len(nav) >= 1 << 16:
        nav.clear()
    nav[raw] = step
    return step


# ------------------------------------------------------------------------------ inspection


def walk_entries(self: PageTable) -> Iterator[tuple[int, int, int, int]]:
    """(depth, index, vaddr, raw) for every present entry, pre-order, as the seed's walk.

    `vaddr` is not sign-extended, like the seed's. Unlike the seed, the walk goes down only
    into this table's own tables (and those `copy_from` shares), never into a frame a
    leaf-that-reads-as-a-pointer names.
    """
    yield from self._walk(self.root, 0, 0)


def walk_table(
    self: PageTable, table: int, depth: int, base: int
) -> Iterator[tuple[int, int, int, int]]:
    fmt = self.fmt
    for index in range(fmt.levels[depth].entries):
        raw = self.read(table + index * 8)
        if not fmt.seed_present(raw):
            continue
        va = base + (index << fmt.levels[depth].shift)
        yield depth, index, va, raw
        if depth < fmt.leaf_depth and not fmt.seed_huge(raw):
            try:
                nxt = self._next_table(raw)
            except PagingError:
                continue
            if self._owns(nxt, va):
                yield from self._walk(nxt, depth + 1, va)


def entry_path(self: PageTable, vaddr: int) -> list[EntryRef]:
    """The entries the hardware would read for `vaddr`, root first, following table
    entries as the hardware decodes them; stops after the first non-table entry."""
    fmt = self.fmt
    out: list[EntryRef] = []
    table = self.root
    for depth in range(fmt.depth_count):
        index = fmt.index(vaddr, depth)
        addr = table + index * 8
        raw = self.read(addr)
        out.append(EntryRef(depth, table, index, addr, raw))
        dec = fmt.decode(raw, depth)
        if dec.kind != "table" or dec.paddr is None:
            break
        table = dec.paddr
    return out


def locate_entry(self: PageTable, vaddr: int, depth: int) -> EntryRef:
    """The entry at `depth` on `vaddr`'s path (for `poke` and `expect entry`)."""
    if not 0 <= depth < self.fmt.depth_count:
        raise PagingError(
            "InvalidRequest",
            f"depth {depth} out of range for {self.fmt.name} (0..{self.fmt.leaf_depth})",
        )
    self._check_vaddr(vaddr)
    path = self.path(vaddr)
    if depth >= len(path):
        last = path[-1]
        raise PagingError(
            "NotMapped",
            f"the walk for {vaddr:#x} stops at depth {last.depth} "
            f"({self.fmt.level_name(last.depth)}, raw {last.raw:#x}); "
            f"no entry at depth {depth}",
        )
    return path[depth]

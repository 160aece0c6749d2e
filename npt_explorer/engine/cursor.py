"""The one descent of a page table: every call that goes from the root to an entry goes here.

Scalar, one address (the seed's `PageTable64Cursor`, seed-crates.md §1.8–1.9): `get_entry`,
`get_entry_or_create`, `present_leaf`; for inspection `entry_path`/`locate_entry` (the
hardware's reading of each entry, over any `Frames` and root: a memory image's too), `walk`
(every present entry, pre-order) and `free_subtree`. Vector, a region at a time: a `Run` is
the entries of one table that cover [lo, hi), read at once, and `Run.child` takes the step from
one of them to the table below by the same rule `get_entry` takes for one address
(`descend`: address 0 → a hole, seed-huge → MappedToHugePage), only stricter (`TableTree`:
the walk must stay in a tree of this table's own frames). Where a vector path meets anything
else it raises `Handoff` and the per-entry loop, built on `get_entry`, takes over from that
address: so the region calls' results are the scalar ones by construction (table_map.py,
table_change.py).

What an entry above the leaf level is to the descent (the next table, a huge leaf, a hole, a
huge page where none may sit) is one rule, `RULE`: `descend` reads it for an entry, `descend_many`
for many at once (`query_many`); `query`'s memos (table_query.py) keep its answers per entry.

The table is anything with `DescentTable`'s members (a `TableCore`); this module does not
import it, so `TableCore`'s single-entry calls are built on this descent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import numpy as np

from .errors import PagingError
from .formats import Encoding, EntryKind, PagingFormat
from .memory import ENTRIES_PER_FRAME, PAGE_SIZE, Frames, MemoryHole, read_entry


class DescentTable(Protocol):
    """What the descent reads and writes of a table (`TableCore`'s public interface)."""

    fmt: PagingFormat
    root: int
    mem: Frames
    tables: dict[int, int]
    encoding: Encoding

    def read(self, addr: int) -> int: ...
    def write_entry(self, addr: int, value: int) -> None: ...
    def words_for_write(self, frame_paddr: int) -> np.ndarray: ...
    def alloc_table(self, depth: int) -> int: ...
    def free_table(self, paddr: int) -> None: ...
    def owns(self, table: int, vaddr: int) -> bool: ...
    def huge_depth(self, depth: int) -> bool: ...
    def depth_of(self, page_size: int) -> int: ...


@dataclass(frozen=True, slots=True)
class EntryRef:
    """Where one entry lives: its depth, table, index and address (in the table's space)."""

    depth: int
    table: int
    index: int
    addr: int
    raw: int

    def poked(
        self,
        fmt: PagingFormat,
        value: int | None = None,
        set: int = 0,
        clear: int = 0,
        fields: dict[str, int] | None = None,
    ) -> int:
        """The raw bits a `poke` writes here: `value` (or the entry as it is) with `set` bits
        set, `clear` bits cleared and named fields put, checked to fit the entry's width."""
        new = ((self.raw if value is None else value) | set) & ~clear
        for name, v in (fields or {}).items():
            try:
                new = fmt.field_by_name(self.depth, self.raw, name).put(new, v)
            except (KeyError, ValueError) as err:
                raise PagingError("InvalidRequest", str(err).strip('"')) from None
        width = 8 * fmt.entry_bytes
        if not 0 <= new < 1 << width:
            raise PagingError("InvalidRequest", f"value {new:#x} does not fit in {width} bits")
        return new


# ------------------------------------------------------------------ one address (scalar)


def slot(pt: DescentTable, table: int, vaddr: int, depth: int) -> int:
    return table + pt.fmt.index(vaddr, depth) * pt.fmt.entry_bytes


class Step(IntEnum):
    """What the seed's descent makes of an entry above the leaf level."""

    TABLE = 0  # go down to the table at the entry's address
    LEAF = 1  # a huge page's leaf (only where one may sit: `huge_depth`)
    HOLE = 2  # address field 0: NotMapped
    HUGE = 3  # seed-huge where no huge leaf may sit: MappedToHugePage


#: THE descent rule, every path's (scalar `descend`, vector `descend_many`), indexed by
#: (a huge leaf may sit here, `is_huge`, address field 0): `get_entry` takes a huge leaf first
#: where one may sit, then the seed's `next_table` tests the address field, then `is_huge`
#: (page_table_multiarch 0.6, seed-crates.md §1.8)
RULE = (Step.TABLE, Step.HOLE, Step.HUGE, Step.HOLE, Step.TABLE, Step.HOLE, Step.LEAF, Step.LEAF)
_RULE = np.array(RULE, np.int8)
_STOPS = {
    Step.HOLE: ("NotMapped", "no table at this level (address field is 0)"),
    Step.HUGE: ("MappedToHugePage", "the entry maps a huge page, not a table"),
}


def descend(fmt: PagingFormat, huge_here: bool, raw: int) -> tuple[Step, int]:
    """(what `raw` is to the descent, the address it holds); `huge_here`: a huge leaf may
    sit at its depth (`huge_depth`; False: only a table will do, as `next_table`)."""
    table = fmt.entry_paddr(raw)
    return RULE[huge_here << 2 | fmt.seed_huge(raw) << 1 | (table == 0)], table


def descend_many(fmt: PagingFormat, huge_here: bool, raws: np.ndarray) -> tuple[np.ndarray, ...]:
    """`descend` for many entries at once (the declared bit shapes): (Steps as int8, addresses)."""
    tables = fmt.paddr_move.vector(raws)
    code = fmt.huge_test.vector(raws).astype(np.int8) << 1 | (tables == 0)
    if huge_here:
        code |= 4
    return _RULE[code], tables


def stop(step: Step) -> PagingError:
    """The seed's error where its descent stops at a hole or a huge page."""
    return PagingError(*_STOPS[step])


def next_table(pt: DescentTable, raw: int) -> int:
    """The seed's `next_table`: address field 0 → NotMapped; is_huge → MappedToHugePage."""
    step, table = descend(pt.fmt, False, raw)
    if step is not Step.TABLE:
        raise stop(step)
    return table


def _foreign_table(pt: DescentTable, vaddr: int, depth: int, raw: int, table: int) -> PagingError:
    """The error for a call that would write below an entry pointing at a frame that is
    no table of ours: the seed writes into that frame (say a RISC-V huge leaf written
    with no R/W/X, which it, like the hardware, reads as a table pointer)."""
    return PagingError(
        "MappedToHugePage" if pt.huge_depth(depth) else "InvalidRequest",
        f"{vaddr:#x} lies below the level-{depth} entry {raw:#018x}, which points at "
        f"{table:#x}: not a table of this page table (a leaf that reads as a table "
        f"pointer, or a poked entry); the seed would write into that frame",
    )


def get_entry(pt: DescentTable, vaddr: int, changing: bool = True) -> tuple[int, int]:
    """The seed's `get_entry(_mut)`: (entry address, page size); creates nothing.

    For a call `changing` the entry, an entry at a huge-page depth that points at a frame
    which is no table of ours is the leaf itself (map wrote it; the seed would follow it
    into that frame); elsewhere such an entry raises."""
    fmt = pt.fmt
    table = pt.root
    for depth in range(fmt.depth_count):
        addr = slot(pt, table, vaddr, depth)
        if depth == fmt.leaf_depth:
            return addr, fmt.span(depth)
        raw = pt.read(addr)
        step, table = descend(fmt, pt.huge_depth(depth), raw)
        if step is Step.LEAF:
            return addr, fmt.span(depth)
        if step is not Step.TABLE:
            raise stop(step)
        if changing and not pt.owns(table, vaddr):
            if pt.huge_depth(depth):
                return addr, fmt.span(depth)
            raise _foreign_table(pt, vaddr, depth, raw, table)
    raise AssertionError("unreachable")


def get_entry_or_create(pt: DescentTable, vaddr: int, page_size: int) -> int:
    """The seed's `get_entry_mut_or_create`: unused entries on the way get new tables."""
    fmt = pt.fmt
    target = pt.depth_of(page_size)
    table = pt.root
    for depth in range(target):
        addr = slot(pt, table, vaddr, depth)
        raw = pt.read(addr)
        if fmt.is_unused(raw):
            new = pt.alloc_table(depth + 1)
            pt.write_entry(addr, fmt.new_table_at(new, pt.encoding, depth))
            table = new
        else:
            table = next_table(pt, raw)
            if not pt.owns(table, vaddr):
                raise _foreign_table(pt, vaddr, depth, raw, table)
    return slot(pt, table, vaddr, target)


def present_leaf(pt: DescentTable, vaddr: int, changing: bool = True) -> tuple[int, int, int]:
    """(entry address, page size, raw) of the leaf holding `vaddr`; NotMapped if absent."""
    addr, size = get_entry(pt, vaddr, changing=changing)
    raw = pt.read(addr)
    if not pt.fmt.seed_present(raw):
        raise PagingError("NotMapped", f"{vaddr:#x} is not mapped")
    return addr, size, raw


def free_subtree(pt: DescentTable, raw: int, depth: int) -> None:
    """Free the tables of ours below the entry `raw` at `depth` (mapped frames stay)."""
    fmt = pt.fmt
    step, paddr = descend(fmt, False, raw)
    if depth > fmt.leaf_depth or step is not Step.TABLE or paddr not in pt.tables:
        return
    if depth < fmt.leaf_depth:
        for i in range(fmt.levels[depth].entries):
            free_subtree(pt, pt.read(paddr + i * fmt.entry_bytes), depth + 1)
    pt.free_table(paddr)


def entry_path(fmt: PagingFormat, mem: Frames, root: int, vaddr: int) -> list[EntryRef]:
    """The entries the hardware would read for `vaddr` in the table at `root`, root first;
    stops after the first non-table entry. A read where a strict memory has none (outside a
    memory image) is NotMapped."""
    out: list[EntryRef] = []
    table = root
    for depth in range(fmt.depth_count):
        index = fmt.index(vaddr, depth)
        addr = table + index * fmt.entry_bytes
        try:
            raw = read_entry(mem, addr, fmt.entry_bytes)
        except MemoryHole:
            raise PagingError("NotMapped", f"no memory at {addr:#x} (outside the image)") from None
        out.append(EntryRef(depth, table, index, addr, raw))
        dec = fmt.decode(raw, depth)
        if dec.kind != EntryKind.TABLE or dec.paddr is None:
            break
        table = dec.paddr
    return out


def locate_entry(
    fmt: PagingFormat,
    mem: Frames,
    root: int,
    vaddr: int,
    depth: int,
    check: Callable[[int], None] | None = None,
) -> EntryRef:
    """The entry at `depth` on `vaddr`'s path (for `poke` and `expect entry`); `check`
    refuses an input address first. NotMapped where the path stops above `depth`."""
    if not 0 <= depth < fmt.depth_count:
        raise PagingError(
            "InvalidRequest", f"depth {depth} out of range for {fmt.name} (0..{fmt.leaf_depth})"
        )
    if check is not None:
        check(vaddr)
    path = entry_path(fmt, mem, root, vaddr)
    if depth >= len(path):
        last = path[-1]
        raise PagingError(
            "NotMapped",
            f"the walk for {vaddr:#x} stops at depth {last.depth} "
            f"({fmt.level_name(last.depth)}, raw {last.raw:#x}); no entry at depth {depth}",
        )
    return path[depth]


def walk(
    pt: DescentTable, table: int, depth: int = 0, base: int = 0
) -> Iterator[tuple[int, int, int, int]]:
    """(depth, index, vaddr, raw) for every present entry below `table`, pre-order, as the
    seed's walk; down only into this table's own tables (and those `copy_from` shares)."""
    fmt = pt.fmt
    for index in range(fmt.levels[depth].entries):
        raw = pt.read(table + index * fmt.entry_bytes)
        if not fmt.seed_present(raw):
            continue
        va = base + (index << fmt.levels[depth].shift)
        yield depth, index, va, raw
        if depth < fmt.leaf_depth:
            step, nxt = descend(fmt, False, raw)
            if step is Step.TABLE and pt.owns(nxt, va):
                yield from walk(pt, nxt, depth + 1, va)


# ------------------------------------------------------------------ a region (vector)


class Handoff(Exception):
    """The vectorised path stops at `va`; the per-entry loop takes over from there."""

    def __init__(self, va: int) -> None:
        self.va = va


def vectorisable(pt: DescentTable) -> bool:
    """Can `pt` take the vectorised paths (they read and write 8-byte entries in one-frame
    tables of 4 KiB pages)?"""
    return pt.fmt.entry_bytes == 8 and pt.fmt.granule == PAGE_SIZE


class TableTree:
    """The tables one call walks, checked to form a tree of this table's own frames. The
    per-entry loop re-reads every entry for every page, so it sees a frame reached from a
    second slot (or from its own subtree, or one that is not a table of ours and may be handed
    out as a new one); the vector path reads each table once, so it stops at such a frame."""

    def __init__(self, pt: DescentTable) -> None:
        self.owned = pt.tables  # grows as the call makes tables
        self.parent: dict[int, int | None] = {pt.root: None}

    def adopt(self, slot: int, children: list[int]) -> None:
        """New tables made for the consecutive slots from `slot` on."""
        self.parent.update(zip(children, range(slot, slot + 8 * len(children), 8), strict=True))

    def enter_all(self, slot: int, children: list[int]) -> bool:
        """`enter` from each of the consecutive slots from `slot` on to its child."""
        owned, parent = self.owned, self.parent
        for child in children:
            if child not in owned or parent.setdefault(child, slot) != slot:
                return False
            slot += 8
        return True

    def enter(self, slot: int, child: int) -> bool:
        """May the walk go from the entry at `slot` down to the table `child`?"""
        if child not in self.owned:
            return False
        return self.parent.setdefault(child, slot) == slot

    def path(self, pt: DescentTable, va: int, target: int) -> bool:
        """Does `get_entry`'s walk to `va`'s slot at `target` stay in this tree?"""
        fmt, table = pt.fmt, pt.root
        for depth in range(target):
            at = slot(pt, table, va, depth)
            table = fmt.entry_paddr(pt.read(at))
            if not self.enter(at, table):
                return False
        return True


@dataclass(slots=True)
class Run:
    """The entries of `table` (at `depth`) covering [lo, hi), read at once: one step of the
    vector descent. Entry k covers [va(k), end(k)) of the region; its address is slot(k)."""

    table: int
    depth: int
    lo: int
    hi: int
    first: int  # the index of entry 0 in `table`
    count: int
    base: int  # the input address of entry 0's span
    span: int
    raws: np.ndarray

    @classmethod
    def read(cls, pt: DescentTable, table: int, depth: int, lo: int, hi: int) -> Run:
        shift = pt.fmt.levels[depth].shift
        first = pt.fmt.index(lo, depth)
        count = ((hi - 1) >> shift) - (lo >> shift) + 1
        raws = read_entries(pt, table, first, count)
        return cls(table, depth, lo, hi, first, count, lo & ~((1 << shift) - 1), 1 << shift, raws)

    def va(self, k: int) -> int:
        return max(self.lo, self.base + k * self.span)

    def end(self, k: int) -> int:
        return min(self.hi, self.base + (k + 1) * self.span)

    def part(self, k: int) -> tuple[int, int]:
        return self.va(k), self.end(k)

    def slot(self, k: int) -> int:
        return self.table + (self.first + k) * 8

    def used(self) -> list[int]:
        """The entries that are not zero (the seed's `is_unused` for 8-byte entries)."""
        return np.flatnonzero(self.raws).tolist()  # type: ignore[no-any-return]

    def child(self, pt: DescentTable, tree: TableTree, k: int) -> int:
        """The table below entry k, as `get_entry` steps down to it; Handoff where the
        per-entry loop must decide (address 0, a seed-huge entry, not a tree of ours)."""
        step, child = descend(pt.fmt, False, int(self.raws[k]))
        if step is not Step.TABLE or not tree.enter(self.slot(k), child):
            raise Handoff(self.va(k))
        return child

    def write(self, pt: DescentTable, k: int, values: np.ndarray) -> None:
        """Write `values` into entries k, k+1, …"""
        write_entries(pt, self.table, self.first + k, values, self.va(k))


def frames(table: int, first: int, count: int) -> Iterator[tuple[int, int, int]]:
    """(frame address, first word, words) covering entries first..first+count-1 of `table`."""
    i, end = first, first + count
    while i < end:
        w0 = i % ENTRIES_PER_FRAME
        m = min(end - i, ENTRIES_PER_FRAME - w0)
        yield table + (i // ENTRIES_PER_FRAME) * PAGE_SIZE, w0, m
        i += m


def read_entries(pt: DescentTable, table: int, first: int, count: int) -> np.ndarray:
    parts = []
    for frame, w0, m in frames(table, first, count):
        words = pt.mem.peek_frame(frame >> 12)
        parts.append(np.zeros(m, np.uint64) if words is None else words[w0 : w0 + m].copy())
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def writable(pt: DescentTable, frame: int, va: int) -> np.ndarray:
    try:
        return pt.words_for_write(frame)
    except PagingError:  # e.g. a guest table frame that stage 2 no longer backs
        raise Handoff(va) from None


def write_entries(pt: DescentTable, table: int, first: int, values: np.ndarray, va: int) -> None:
    parts = [(writable(pt, f, va), w0, m) for f, w0, m in frames(table, first, len(values))]
    done = 0
    for words, w0, m in parts:
        words[w0 : w0 + m] = values[done : done + m]
        done += m

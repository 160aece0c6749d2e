"""A plain-dict model of the seed's page table, for the stateful tests.

The model keeps the leaves as `{(depth, base): raw}` and the table entries as `{(depth, base)}`
(which slots point at a table; tables outlive their last mapping, as in the seed) and replays
`PageTable64`'s algorithms over those dicts: `get_entry`, `get_entry_mut_or_create`, the
greedy `map_region`, the two `assert!`s of `unmap_region`/`protect_region` turned into errors.
It predicts the exact error kind, the new leaves, the frames and the flush list of every call.

Raw entry bits come from the format (`new_page`, `set_flags`, `seed_present`, ...): the formats
are specified by their own tests; what is under test here is the table's bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from _robust import count

from npt_explorer.engine import MappingFlags, SeedPanic
from npt_explorer.engine.formats import SEED_PAGE_SIZES_BY_SHIFT, Encoding, PagingFormat

K4 = 0x1000
MASK64 = (1 << 64) - 1
SMALL_FLUSH_THRESHOLD = 32


class Refused(Exception):
    """The call fails with `kind` (a PagingError kind)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Quirk(Exception):
    """A huge-depth leaf that the seed's `is_huge` does not recognise, whose address happens to
    be one of the table's own frames: the walk then really follows it into that table. The
    model declines to predict those (rare) calls."""


@dataclass
class Model:
    fmt: PagingFormat
    encoding: Encoding
    limit: int | None = None  # frame budget (frames in use at once), None = unlimited
    in_use: int = 0
    leaves: dict[tuple[int, int], int] = field(default_factory=dict)
    tables: set[tuple[int, int]] = field(default_factory=set)
    flush: list[int] | None = field(default_factory=list)
    owned: frozenset[int] = frozenset()  # the table's frames before the call (set by the harness)

    def copy(self) -> Model:
        return Model(
            self.fmt,
            self.encoding,
            self.limit,
            self.in_use,
            dict(self.leaves),
            set(self.tables),
            None if self.flush is None else list(self.flush),
            self.owned,
        )

    # ----------------------------------------------------------------- geometry

    def base(self, va: int, depth: int) -> int:
        return va & ~(self.fmt.span(depth) - 1) & MASK64

    def huge_depth(self, depth: int) -> bool:
        fmt = self.fmt
        shift = fmt.levels[depth].shift
        # the format's own page sizes decide (a teach geometry has no huge pages)
        return (
            depth < fmt.leaf_depth
            and shift in SEED_PAGE_SIZES_BY_SHIFT
            and 1 << shift in fmt.page_sizes
        )

    def slot(self, va: int, depth: int) -> tuple[str, int]:
        key = (depth, self.base(va, depth))
        if key in self.leaves:
            return "leaf", self.leaves[key]
        if key in self.tables:
            return "table", 0
        return "empty", 0

    def put(self, depth: int, va: int, raw: int) -> None:
        key = (depth, self.base(va, depth))
        if raw == 0:
            self.leaves.pop(key, None)
            return
        self.leaves[key] = raw

    def present(self, raw: int) -> bool:
        return self.fmt.seed_present(raw)

    def present_leaves(self) -> dict[tuple[int, int], int]:
        return {k: raw for k, raw in self.leaves.items() if self.present(raw)}

    # ----------------------------------------------------------------- checks

    def check_vaddr(self, va: int, size: int = 1) -> None:
        fmt = self.fmt
        last = va + max(size, 1) - 1
        for addr in (va, last):
            if fmt.check_input(addr) is not None:
                raise Refused("InvalidAddress")
        if fmt.signed_input and (va >> 63) != (last >> 63):
            raise Refused("InvalidAddress")

    def check_paddr(self, pa: int) -> None:
        if not self.fmt.check_output(pa):
            raise Refused("InvalidAddress")

    def begin(self) -> None:
        """A top-level call enters the table's `_atomic`: a new flush list."""
        self.flush = []

    def record(self, va: int) -> None:
        if self.flush is not None:
            if len(self.flush) >= SMALL_FLUSH_THRESHOLD:
                self.flush = None
            else:
                self.flush.append(va)

    # ----------------------------------------------------------------- the seed's walks

    def next_table(self, kind: str, raw: int) -> bool:
        """The seed's `next_table`; True when it leads into one of our tables. A leaf that
        `is_huge` does not recognise leads into a frame that is no table (False)."""
        if kind == "table":
            return True
        if kind == "empty" or self.fmt.entry_paddr(raw) == 0:
            raise Refused("NotMapped")
        if self.fmt.seed_huge(raw):
            raise Refused("MappedToHugePage")
        if self.fmt.entry_paddr(raw) in self.owned:
            raise Quirk
        count("page table: calls meeting a leaf the seed reads as a table pointer")
        return False

    def get_entry(self, va: int, changing: bool = True) -> tuple[int, int]:
        """(depth, raw) of the slot the seed's `get_entry` returns; a call `changing` the entry
        stops at a huge-depth leaf the seed reads as a table pointer (the engine does not
        follow it out of its own tables); a query follows it into a frame of zeros."""
        fmt = self.fmt
        for depth in range(fmt.depth_count):
            kind, raw = self.slot(va, depth)
            if depth == fmt.leaf_depth:
                return depth, raw
            if self.huge_depth(depth) and kind != "table" and fmt.seed_huge(raw):
                return depth, raw
            if not self.next_table(kind, raw):
                if changing:
                    return depth, raw
                raise Refused("NotMapped")
        raise AssertionError("unreachable")

    def depth_of(self, page_size: int) -> int:
        depth = self.fmt.depth_for_size(page_size)
        known = page_size in SEED_PAGE_SIZES_BY_SHIFT.values() and page_size in self.fmt.page_sizes
        if not known or depth is None:
            raise Refused("InvalidRequest")
        return depth

    def flags_of(self, raw: int, depth: int) -> MappingFlags:
        try:
            return self.fmt.read_flags(raw, self.encoding, depth)
        except SeedPanic:
            raise Refused("InvalidRequest") from None

    # ----------------------------------------------------------------- the API

    def map(self, va: int, pa: int, page_size: int, flags: MappingFlags) -> None:
        self.check_vaddr(va)
        self.check_paddr(pa)
        self.begin()
        self._map(va, pa, page_size, flags)

    def _map(self, va: int, pa: int, page_size: int, flags: MappingFlags) -> None:
        fmt = self.fmt
        target = self.depth_of(page_size)
        for depth in range(target):
            kind, raw = self.slot(va, depth)
            if kind == "empty":
                if self.limit is not None and self.in_use + 1 > self.limit:
                    raise Refused("NoMemory")
                self.in_use += 1
                self.tables.add((depth, self.base(va, depth)))
            elif not self.next_table(kind, raw):
                raise Refused("MappedToHugePage")
        if self.slot(va, target)[0] != "empty":
            raise Refused("AlreadyMapped")
        raw = fmt.new_page(pa & ~(page_size - 1), flags, page_size != K4, self.encoding)
        self.put(target, va, raw)
        self.record(va)

    def map_region(
        self, va: int, pa: int, size: int, flags: MappingFlags, allow_huge: bool
    ) -> None:
        if va % K4 or size % K4:
            raise Refused("NotAligned")
        if size == 0:  # nothing mapped: the call's flush is empty
            self.begin()
            return
        self.check_vaddr(va, size)
        self.check_paddr(pa)
        self.check_paddr(pa + size - 1)
        sizes = [s for s in (1 << 30, 1 << 21) if s in self.fmt.page_sizes]
        self.begin()
        v, p, remaining = va, pa, size
        while remaining:
            page = K4
            if allow_huge:
                page = next((s for s in sizes if v % s == 0 and p % s == 0 and remaining >= s), K4)
            self._map(v, p, page, flags)
            v, p, remaining = v + page, p + page, remaining - page

    def query(self, va: int) -> tuple[int, MappingFlags, int]:
        self.check_vaddr(va)
        depth, raw = self.get_entry(va, changing=False)
        if not self.present(raw):
            raise Refused("NotMapped")
        size = self.fmt.span(depth)
        return self.fmt.entry_paddr(raw) + (va & (size - 1)), self.flags_of(raw, depth), size

    def unmap(self, va: int) -> tuple[int, MappingFlags, int]:
        self.check_vaddr(va)
        self.begin()
        return self._unmap(va)

    def _unmap(self, va: int) -> tuple[int, MappingFlags, int]:
        depth, raw = self.get_entry(va)
        if not self.present(raw):
            raise Refused("NotMapped")
        flags = self.flags_of(raw, depth)
        self.put(depth, va, 0)
        self.record(va)
        return self.fmt.entry_paddr(raw), flags, self.fmt.span(depth)

    def protect(self, va: int, flags: MappingFlags) -> int:
        self.check_vaddr(va)
        self.begin()
        depth, raw = self.get_entry(va)
        if not self.present(raw):
            raise Refused("NotMapped")
        size = self.fmt.span(depth)
        self.put(depth, va, self.fmt.set_flags(raw, flags, size != K4, self.encoding))
        self.record(va)
        return size

    def remap(self, va: int, pa: int, flags: MappingFlags) -> int:
        self.check_vaddr(va)
        self.check_paddr(pa)
        self.begin()
        depth, raw = self.get_entry(va)
        size = self.fmt.span(depth)
        raw = self.fmt.set_paddr(raw, pa)
        self.put(depth, va, self.fmt.set_flags(raw, flags, size != K4, self.encoding))
        self.record(va)
        return size

    @staticmethod
    def require_whole(va: int, remaining: int, page: int) -> None:
        if va % page or page > remaining:
            raise Refused("MappedToHugePage" if page > K4 else "NotAligned")

    def unmap_region(self, va: int, size: int) -> None:
        self.check_vaddr(va, size)
        self.begin()
        remaining = size
        while remaining > 0:
            _, _, page = self._unmap(va)
            self.require_whole(va, remaining, page)
            va, remaining = va + page, remaining - page

    def protect_region(self, va: int, size: int, flags: MappingFlags) -> None:
        self.check_vaddr(va, size)
        self.begin()
        remaining = size
        while remaining > 0:
            try:
                depth, raw = self.get_entry(va)
            except Refused as err:
                if err.kind != "NotMapped":
                    raise
                step = K4
            else:
                page = self.fmt.span(depth)
                if self.present(raw):
                    self.require_whole(va, remaining, page)
                    self.put(depth, va, self.fmt.set_flags(raw, flags, page != K4, self.encoding))
                    self.record(va)
                    step = page
                else:
                    step = min(page - (va & (page - 1)), remaining)
            va, remaining = va + step, remaining - step

"""One generic page table over a format, a memory and an encoding, with the seed's contract.

Mirrors page_table_multiarch 0.6 `PageTable64` + `PageTable64Cursor` (seed-crates.md §1.8–1.9):
the same predicates (`is_unused` drives creation and AlreadyMapped, `is_present` drives
query/protect/unmap, `next_table` tests the address field then `is_huge`), the same huge-page
choice in `map_region`, the same table lifetime (emptied tables stay until `destroy`).
Where the seed panics, corrupts state or silently masks an address, this raises a
`PagingError` and leaves the table exactly as it was (docs/seed-differences.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from .errors import PagingError, SeedPanic
from .flags import MappingFlags
from .formats import SEED_PAGE_SIZES_BY_SHIFT, Encoding, PagingFormat, get_format
from .memory import PAGE_SIZE, FrameAllocator, PhysicalMemory

#: TlbFlusher: up to 32 recorded addresses, then one full flush (seed-crates.md §1.9)
SMALL_FLUSH_THRESHOLD = 32


class TableMemory(Protocol):
    def read_u64(self, paddr: int) -> int: ...
    def write_u64(self, paddr: int, value: int) -> None: ...


class TableAllocator(Protocol):
    def alloc(self, count: int = 1, align: int = 1) -> int: ...
    def free(self, paddr: int, count: int = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class EntryRef:
    """Where one entry lives: its depth, table, index and address (in the table's space)."""

    depth: int
    table: int
    index: int
    addr: int
    raw: int


class PageTable:
    """`PageTable64` over `format`; addresses are the format's input/output spaces."""

    def __init__(
        self,
        format: str | PagingFormat,
        memory: TableMemory | None = None,
        allocator: TableAllocator | None = None,
        encoding: str | Encoding = Encoding.FIXED,
        **format_options: object,
    ) -> None:
        self.fmt = (
            format if isinstance(format, PagingFormat) else get_format(format, **format_options)
        )
        if memory is None:
            memory = PhysicalMemory()
        if allocator is None:
            if not isinstance(memory, PhysicalMemory):
                raise PagingError("InvalidRequest", "a custom memory needs its own allocator")
            allocator = FrameAllocator(memory)
        try:
            self.encoding = Encoding(encoding)
        except ValueError:
            raise PagingError(
                "InvalidRequest", f"unknown encoding {encoding!r} (allowed: seed, fixed)"
            ) from None
        self.mem = memory
        self.alloc = allocator
        self._journal: list[tuple[int, int]] | None = None
        self._txn_frames: list[tuple[int, int]] | None = None
        self._tables: dict[int, int] = {}  # first paddr -> frame count, every table we own
        self._borrowed: set[int] = set()  # root indices shared by copy_from
        self.last_flush: list[int] | None = []  # None = the seed would flush everything
        n = self.fmt.root_frames
        self.root = self.alloc.alloc(n, align=n)  # x4 / concatenated roots are size-aligned
        self._tables[self.root] = n

    # ----------------------------------------------------------------- accounting

    @property
    def frames_in_use(self) -> int:
        """Frames holding this table's tables, root included."""
        return sum(self._tables.values())

    def table_frames(self) -> list[int]:
        return sorted(self._tables)

    def destroy(self) -> None:
        """Free every table frame (never mapped data frames), as the seed's Drop does."""
        for paddr, count in sorted(self._tables.items()):
            self.alloc.free(paddr, count)
        self._tables.clear()

    # ----------------------------------------------------------------- raw access

    def read(self, addr: int) -> int:
        return self.mem.read_u64(addr)

    def _write(self, addr: int, value: int) -> None:
        if self._journal is not None:
            self._journal.append((addr, self.mem.read_u64(addr)))
        self.mem.write_u64(addr, value)

    def _alloc_table(self) -> int:
        paddr = self.alloc.alloc(1)
        self._tables[paddr] = 1
        if self._txn_frames is not None:
            self._txn_frames.append((paddr, 1))
        return paddr

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """All or nothing: on any exception restore every entry and free new frames."""
        if self._journal is not None:  # nested: the outer transaction rolls back
            yield
            return
        self._journal, self._txn_frames = [], []
        flush_before = self.last_flush
        self.last_flush = []
        try:
            yield
        except BaseException:
            for addr, old in reversed(self._journal):
                self.mem.write_u64(addr, old)
            for paddr, count in self._txn_frames:
                del self._tables[paddr]
                self.alloc.free(paddr, count)
            self.last_flush = flush_before
            raise
        finally:
            self._journal = self._txn_frames = None

    def _record_flush(self, vaddr: int) -> None:
        if self.last_flush is not None:
            if len(self.last_flush) >= SMALL_FLUSH_THRESHOLD:
                self.last_flush = None
            else:
                self.last_flush.append(vaddr)

    # ----------------------------------------------------------------- validation

    def _check_vaddr(self, vaddr: int, size: int = 1) -> None:
        fmt = self.fmt
        for addr in (vaddr, vaddr + max(size, 1) - 1):
            if fmt.check_input(addr) is not None:
                raise PagingError(
                    "InvalidAddress",
                    f"{addr:#x} is outside {fmt.name}'s {fmt.input_bits}-bit input "
                    f"({'sign-extended' if fmt.signed_input else 'zero-extended'})",
                )
        if fmt.signed_input and (vaddr >> 63) != ((vaddr + max(size, 1) - 1) >> 63):
            raise PagingError("InvalidAddress", f"range at {vaddr:#x} crosses the canonical hole")

    def _check_paddr(self, paddr: int) -> None:
        if not self.fmt.check_output(paddr):
            raise PagingError(
                "InvalidAddress",
                f"{paddr:#x} is beyond {self.fmt.name}'s {self.fmt.output_bits}-bit output",
            )

    def _depth_of(self, page_size: int) -> int:
        depth = self.fmt.depth_for_size(page_size)
        if page_size not in SEED_PAGE_SIZES_BY_SHIFT.values() or depth is None:
            sizes = ", ".join(
                f"{s:#x}"
                for s in SEED_PAGE_SIZES_BY_SHIFT.values()
                if self.fmt.depth_for_size(s) is not None
            )
            raise PagingError(
                "InvalidRequest",
                f"page size {page_size:#x} not supported by {self.fmt.name} (allowed: {sizes})",
            )
        return depth

    def _huge_depth(self, depth: int) -> bool:
        """Depths where the seed looks for a huge leaf (its p3/p2: 1 GiB and 2 MiB)."""
        return depth < self.fmt.leaf_depth and self.fmt.levels[depth].shift in (
            SEED_PAGE_SIZES_BY_SHIFT.keys()
        )

    # ----------------------------------------------------------------- seed walks

    def _slot(self, table: int, vaddr: int, depth: int) -> int:
        return table + self.fmt.index(vaddr, depth) * 8

    def _next_table(self, raw: int) -> int:
        """The seed's `next_table`: address field 0 → NotMapped; is_huge → MappedToHugePage."""
        paddr = self.fmt.entry_paddr(raw)
        if paddr == 0:
            raise PagingError("NotMapped", "no table at this level (address field is 0)")
        if self.fmt.seed_huge(raw):
            raise PagingError("MappedToHugePage", "the entry maps a huge page, not a table")
        return paddr

    def _get_entry(self, vaddr: int) -> tuple[int, int]:
        """The seed's `get_entry(_mut)`: (entry address, page size); creates nothing."""
        fmt = self.fmt
        table = self.root
        for depth in range(fmt.depth_count):
            addr = self._slot(table, vaddr, depth)
            if depth == fmt.leaf_depth:
                return addr, fmt.span(depth)
            raw = self.read(addr)
            if self._huge_depth(depth) and fmt.seed_huge(raw):
                return addr, fmt.span(depth)
            table = self._next_table(raw)
        raise AssertionError("unreachable")

    def _get_entry_or_create(self, vaddr: int, page_size: int) -> int:
        """The seed's `get_entry_mut_or_create`: unused entries on the way get new tables."""
        fmt = self.fmt
        target = self._depth_of(page_size)
        table = self.root
        for depth in range(target):
            addr = self._slot(table, vaddr, depth)
            raw = self.read(addr)
            if fmt.is_unused(raw):
                new = self._alloc_table()
                self._write(addr, fmt.new_table(new, self.encoding))
                table = new
            else:
                table = self._next_table(raw)
        return self._slot(table, vaddr, target)

    def _flags_of(self, raw: int, depth: int) -> MappingFlags:
        try:
            return self.fmt.read_flags(raw, self.encoding, depth)
        except SeedPanic as panic:
            raise PagingError(
                "InvalidRequest",
                f"the seed panics reading this entry back ({panic}); raw {raw:#018x}",
            ) from None

    # ----------------------------------------------------------------- the seed's API

    def map(self, vaddr: int, paddr: int, page_size: int, flags: MappingFlags | str) -> None:
        """Map one page; `paddr` is aligned down to `page_size`, `vaddr` picks the slot."""
        flags = MappingFlags.parse(flags)
        self._check_vaddr(vaddr)
        self._check_paddr(paddr)
        with self._atomic():
            addr = self._get_entry_or_create(vaddr, page_size)
            if not self.fmt.is_unused(self.read(addr)):
                raise PagingError("AlreadyMapped", f"{vaddr:#x} is already mapped")
            self._write(
                addr,
                self.fmt.new_page(
                    paddr & ~(page_size - 1), flags, page_size != PAGE_SIZE, self.encoding
                ),
            )
            self._record_flush(vaddr)

    def remap(self, vaddr: int, paddr: int, flags: MappingFlags | str) -> int:
        """Replace address and flags of the leaf (present or not); returns the page size."""
        flags = MappingFlags.parse(flags)
        self._check_vaddr(vaddr)
        self._check_paddr(paddr)
        with self._atomic():
            addr, size = self._get_entry(vaddr)
            raw = self.fmt.set_paddr(self.read(addr), paddr)
            self._write(addr, self.fmt.set_flags(raw, flags, size != PAGE_SIZE, self.encoding))
            self._record_flush(vaddr)
        return size

    def protect(self, vaddr: int, flags: MappingFlags | str) -> int:
        """Rebuild a present leaf's flags (address kept); returns the page size."""
        flags = MappingFlags.parse(flags)
        self._check_vaddr(vaddr)
        with self._atomic():
            addr, size = self._get_entry(vaddr)
            raw = self.read(addr)
            if not self.fmt.seed_present(raw):
                raise PagingError("NotMapped", f"{vaddr:#x} is not mapped")
            self._write(addr, self.fmt.set_flags(raw, flags, size != PAGE_SIZE, self.encoding))
            self._record_flush(vaddr)
        return size

    def unmap(self, vaddr: int) -> tuple[int, MappingFlags, int]:
        """Clear the leaf holding `vaddr` (a whole huge page); returns (base, flags, size)."""
        self._check_vaddr(vaddr)
        with self._atomic():
            addr, size = self._get_entry(vaddr)
            raw = self.read(addr)
            if not self.fmt.seed_present(raw):
                raise PagingError("NotMapped", f"{vaddr:#x} is not mapped")
            flags = self._flags_of(raw, self.fmt.depth_for_size(size) or 0)
            self._write(addr, 0)
            self._record_flush(vaddr)
        return self.fmt.entry_paddr(raw), flags, size

    def query(self, vaddr: int) -> tuple[int, MappingFlags, int]:
        """(paddr including `vaddr`'s offset in the page, flags read back, page size)."""
        self._check_vaddr(vaddr)
        addr, size = self._get_entry(vaddr)
        raw = self.read(addr)
        if not self.fmt.seed_present(raw):
            raise PagingError("NotMapped", f"{vaddr:#x} is not mapped")
        flags = self._flags_of(raw, self.fmt.depth_for_size(size) or 0)
        return self.fmt.entry_paddr(raw) + (vaddr & (size - 1)), flags, size

    def map_region(
        self,
        vaddr: int,
        paddr: int | Callable[[int], int],
        size: int,
        flags: MappingFlags | str,
        allow_huge: bool = False,
    ) -> None:
        """Map [vaddr, vaddr+size): 1 GiB, then 2 MiB, then 4 KiB pages, greedily, as the seed.

        `paddr` is the region's first physical address (linear) or a function of each vaddr.
        """
        flags = MappingFlags.parse(flags)
        if vaddr % PAGE_SIZE or size % PAGE_SIZE:
            raise PagingError(
                "NotAligned", f"map_region({vaddr:#x}, size={size:#x}) is not 4 KiB aligned"
            )
        if size == 0:
            return
        self._check_vaddr(vaddr, size)
        get_paddr = paddr if callable(paddr) else (lambda va, base=paddr: base + (va - vaddr))
        if not callable(paddr):
            self._check_paddr(paddr)
            self._check_paddr(paddr + size - 1)
        sizes = [s for s in (1 << 30, 1 << 21) if self.fmt.depth_for_size(s) is not None]
        with self._atomic():
            va, remaining = vaddr, size
            while remaining:
                pa = get_paddr(va)
                page = PAGE_SIZE
                if allow_huge:
                    for s in sizes:
                        if va % s == 0 and pa % s == 0 and remaining >= s:
                            page = s
                            break
                self.map(va, pa, page, flags)
                va += page
                remaining -= page

    def unmap_region(self, vaddr: int, size: int) -> None:
        """Unmap [vaddr, vaddr+size) page by page; a hole or a cut huge page fails it all."""
        self._check_vaddr(vaddr, size)
        with self._atomic():
            va, remaining = vaddr, size
            while remaining > 0:
                _, _, page = self.unmap(va)
                self._require_whole(va, remaining, page, "unmap_region")
                va += page
                remaining -= page

    def protect_region(self, vaddr: int, size: int, flags: MappingFlags | str) -> None:
        """Re-flag the present leaves of [vaddr, vaddr+size); holes are skipped (0.6)."""
        flags = MappingFlags.parse(flags)
        self._check_vaddr(vaddr, size)
        with self._atomic():
            va, remaining = vaddr, size
            while remaining > 0:
                try:
                    addr, page = self._get_entry(va)
                except PagingError as err:
                    if err.kind != "NotMapped":
                        raise
                    step = PAGE_SIZE
                else:
                    raw = self.read(addr)
                    if self.fmt.seed_present(raw):
                        self._require_whole(va, remaining, page, "protect_region")
                        self._write(
                            addr, self.fmt.set_flags(raw, flags, page != PAGE_SIZE, self.encoding)
                        )
                        self._record_flush(va)
                        step = page
                    else:  # a hole: skip to the end of its slot (the seed may assert here)
                        step = min(page - (va & (page - 1)), remaining)
                va += step
                remaining -= step

    @staticmethod
    def _require_whole(va: int, remaining: int, page: int, op: str) -> None:
        """The seed's two `assert!`s, as errors raised before anything is kept."""
        if va % page or page > remaining:
            raise PagingError(
                "MappedToHugePage" if page > PAGE_SIZE else "NotAligned",
                f"{op} covers only part of the {page:#x}-byte page at {va & ~(page - 1):#x} "
                f"(the seed asserts here after changing the whole page)",
            )

    def copy_from(self, other: PageTable, start: int, size: int) -> None:
        """Share `other`'s root entries covering [start, start+size) (feature `copy-from`)."""
        if size == 0:
            return
        if other.fmt.name != self.fmt.name or other.fmt.levels != self.fmt.levels:
            raise PagingError("InvalidRequest", "copy_from needs two tables of the same format")
        self._check_vaddr(start, size)
        first = self.fmt.index(start, 0)
        last = self.fmt.index(start + size - 1, 0)
        with self._atomic():
            for index in range(first, last + 1):
                addr = self.root + index * 8
                if index not in self._borrowed:
                    self._free_subtree(self.read(addr), 1)
                self._write(addr, other.read(other.root + index * 8))
            self.last_flush = None
        self._borrowed.update(range(first, last + 1))

    def _free_subtree(self, raw: int, depth: int) -> None:
        fmt = self.fmt
        paddr = fmt.entry_paddr(raw)
        if depth > fmt.leaf_depth or paddr == 0 or fmt.seed_huge(raw) or paddr not in self._tables:
            return
        if depth < fmt.leaf_depth:
            for i in range(fmt.levels[depth].entries):
                self._free_subtree(self.read(paddr + i * 8), depth + 1)
        del self._tables[paddr]
        self.alloc.free(paddr)

    # ----------------------------------------------------------------- inspection

    def walk(self) -> Iterator[tuple[int, int, int, int]]:
        """(depth, index, vaddr, raw) for every present entry, pre-order, as the seed's walk.

        `vaddr` is not sign-extended, like the seed's.
        """
        yield from self._walk(self.root, 0, 0)

    def _walk(self, table: int, depth: int, base: int) -> Iterator[tuple[int, int, int, int]]:
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
                yield from self._walk(nxt, depth + 1, va)

    def path(self, vaddr: int) -> list[EntryRef]:
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

    def locate(self, vaddr: int, depth: int) -> EntryRef:
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

    def poke(self, entry_addr: int, value: int) -> int:
        """Write raw bits into an entry of this table; returns the old value."""
        old = self.read(entry_addr)
        with self._atomic():
            self._write(entry_addr, value & 0xFFFF_FFFF_FFFF_FFFF)
        return old

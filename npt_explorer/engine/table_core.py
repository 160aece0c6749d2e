"""The state of a page table: the journal that makes every call all or nothing, the flush
record, the input/output checks, and the single-entry calls `map`, `remap`, `protect`, `unmap`
and `query_full`, built on the one descent (cursor.py). `PageTable` (page_table.py) adds the
region calls, the fast `query` and inspection; the region algorithms (table_map, table_change)
use this public interface and the cursor only.

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
from itertools import repeat
from typing import Any, Protocol

import numpy as np

from . import cursor
from .errors import PagingError, SeedPanic
from .flags import MappingFlags
from .formats import Encoding, PagingFormat, get_format
from .memory import (
    DEFAULT_POOL_BASE,
    ENTRIES_PER_FRAME,
    PAGE_SIZE,
    FrameAllocator,
    Frames,
    PhysicalMemory,
    read_entry,
    write_entry,
)

#: TlbFlusher: up to 32 recorded addresses, then one full flush (seed-crates.md §1.9)
SMALL_FLUSH_THRESHOLD = 32
#: the old words of a frame never written (it read as zeros), for the journal
_ZEROS = np.zeros(ENTRIES_PER_FRAME, np.uint64)
_ZEROS.flags.writeable = False


@dataclass(frozen=True, slots=True)
class Flush:
    """What one change asks of the TLBs; every changing call returns one.

    `pages`: the seed's `TlbFlush`/`TlbFlushAll` record — the input addresses whose
    translations the call changed, the ones a guest OS would invalidate (None: more than 32,
    the seed flushes everything). `frames`: the page-aligned addresses, in the table's own
    memory, of the table frames the call wrote (a vectorised path may count a frame it wrote
    back unchanged). A TLB entry can only have gone stale if its walk read an entry in one of
    them (`Tlb.invalidate`), whatever the change was: a leaf, an upper-level entry above many
    pages, or a table frame another walk reads through.
    """

    pages: tuple[int, ...] | None = ()
    frames: frozenset[int] = frozenset()


class Change:
    """The handle `TableCore.atomic()` yields: once the block is done, `flush` is what the
    block changed (a nested block: what it changed within the outer transaction)."""

    __slots__ = ("flush",)

    def __init__(self) -> None:
        self.flush = Flush()


class TableAllocator(Protocol):
    def alloc(self, count: int = 1, align: int = 1) -> int: ...
    def alloc_run(self, count: int, below: int) -> list[int]: ...
    def free(self, paddr: int, count: int = 1) -> None: ...


class TableCore:
    """`PageTable64` over `format`: state, journal and the one descent (see the module)."""

    def __init__(
        self,
        format: str | PagingFormat,
        memory: Frames | None = None,
        allocator: TableAllocator | None = None,
        encoding: str | Encoding = Encoding.FIXED,
        **format_options: Any,
    ) -> None:
        self.fmt = (
            format if isinstance(format, PagingFormat) else get_format(format, **format_options)
        )
        if memory is None:
            memory = PhysicalMemory()
        if allocator is None:
            if not isinstance(memory, PhysicalMemory):
                raise PagingError("InvalidRequest", "a custom memory needs its own allocator")
            # the default pool (1 TiB) where the format's entries can point at it
            top = 1 << self.fmt.output_bits
            allocator = FrameAllocator(
                memory, DEFAULT_POOL_BASE if DEFAULT_POOL_BASE < top else top >> 2
            )
        try:
            self.encoding = Encoding(encoding)
        except ValueError:
            raise PagingError(
                "InvalidRequest", f"unknown encoding {encoding!r} (allowed: seed, fixed)"
            ) from None
        self.mem = memory
        self.alloc = allocator
        #: (entry address, old value) or (frame address, old words), oldest first
        self._journal: list[tuple[int, int | np.ndarray]] | None = None
        self._txn_frames: list[tuple[int, int]] | None = None
        self._txn_saved: set[int] = set()  # frames whose words the journal already holds
        self._txn_fresh: set[int] = set()  # tables allocated in this transaction
        self.generation = 0  # bumped by every change to the entries (caches key on it)
        self._flags_memo: list[dict[int, MappingFlags | str]] = []
        #: per depth, the bits that tell entries apart (all but the free address bits)
        self.keep: tuple[int, ...] = ()
        self._control: object = None  # the format's control state the two above were made for
        self.tables: dict[int, int] = {}  # first paddr -> frame count, every table we own
        self._borrowed: set[int] = set()  # root indices shared by copy_from
        self._pages: list[int] | None = []  # the seed's TlbFlusher record; None: all
        self._written: list[int] = []  # table frames written in this transaction
        self.last_flush = Flush()  # what the last committed change returned
        n = self.fmt.root_frames
        self.root = self.alloc.alloc(n, align=n)  # x4 / concatenated roots are size-aligned
        self.tables[self.root] = n
        self.follow_control()

    def follow_control(self) -> None:
        """Make again what was derived from the format's control state. A register change
        configures the format in place (`Machine.set_control`): x86's MAXPHYADDR moves the
        free address bits (SDM Vol. 3A 4.5: bits 51:M are reserved), EFER.NXE what a leaf
        reads as; memos made before would answer for the old registers."""
        fmt = self.fmt
        self._control = fmt.control
        self._flags_memo = [{} for _ in range(fmt.depth_count)]
        self.keep = tuple(~fmt.free_address_bits(d) for d in range(fmt.depth_count))

    # ----------------------------------------------------------------- accounting

    @property
    def frames_in_use(self) -> int:
        """Frames holding this table's tables, root included."""
        return sum(self.tables.values())

    def table_frames(self) -> list[int]:
        return sorted(self.tables)

    def destroy(self) -> None:
        """Free every table frame (never mapped data frames), as the seed's Drop does."""
        for paddr, count in sorted(self.tables.items()):
            self.alloc.free(paddr, count)
        self.tables.clear()
        self.generation += 1

    # ----------------------------------------------------------------- raw access

    def read(self, addr: int) -> int:
        return read_entry(self.mem, addr, self.fmt.entry_bytes)

    def write_entry(self, addr: int, value: int) -> None:
        """Write one entry; the journal records it only once the write has happened, so a
        write that fails (an unbacked guest table frame) leaves nothing to roll back."""
        size = self.fmt.entry_bytes
        if self._journal is None:
            write_entry(self.mem, addr, value, size)
        else:
            old = read_entry(self.mem, addr, size)
            write_entry(self.mem, addr, value, size)
            self._journal.append((addr, old))
            self._written.append(addr & ~0xFFF)
        self.generation += 1

    def words_for_write(self, frame_paddr: int) -> np.ndarray:
        """The words of one table frame, to change in place: the journal keeps a copy of the
        whole frame on its first change in a transaction (none for tables made in it)."""
        words = self.mem.frame(frame_paddr >> 12)
        if self._journal is not None:
            self._frames_written(self._journal, [frame_paddr], [words], copy=True)
        self.generation += 1
        return words

    def replace_frames(self, frames: list[int], rows: np.ndarray) -> None:
        """Give whole table frames new words, `rows` (kept, not copied: the caller lets go of
        them), as `words_for_write` and a row copy into each would; the journal keeps the
        words memory held before (no copy either: memory let go of them). So a region call
        over 512 leaf tables copies none in or out (benchmarks/README.md, session 7)."""
        olds = self.mem.replace_frames([paddr >> 12 for paddr in frames], rows)
        if self._journal is not None:
            self._frames_written(self._journal, frames, olds, copy=False)
        self.generation += 1

    def _frames_written(
        self,
        journal: list[tuple[int, int | np.ndarray]],
        frames: list[int],
        olds: list[np.ndarray | None],
        copy: bool,
    ) -> None:
        """In a transaction: the frames are about to change; the journal keeps each one's
        words from before its first change (`olds`, copied unless the caller's are copies
        already; None: never written, zeros), and the transaction's `Flush` names them."""
        self._written.extend(frames)
        saved, fresh = self._txn_saved, self._txn_fresh
        for frame, old in zip(frames, olds, strict=True):
            if frame not in saved and frame not in fresh:
                saved.add(frame)
                kept = _ZEROS if old is None else old.copy() if copy else old
                journal.append((frame, kept))

    def alloc_table(self, depth: int) -> int:
        """A new table for `depth`: one granule of frames, aligned to its size (Arm ARM D8.2:
        a 64 KiB-granule table is 16 frames)."""
        if self.fmt.packed_tables:  # the root is a whole frame; further tables would be packed
            raise PagingError(
                "InvalidRequest",
                f"{self.fmt.name}: a {self.fmt.level_name(depth)} table here is smaller than a "
                "frame, packed several to a frame, which PageTable cannot allocate yet; point "
                "the entry above at a table with poke (docs/scenarios.md, teach)",
            )
        n = self.fmt.table_frames(depth)
        paddr = self.alloc.alloc(n, align=n)
        if not self.fmt.check_output(paddr):  # an entry could not point at it (x86-32: 4 GiB)
            self.alloc.free(paddr, n)
            self.check_paddr(paddr)
        self.tables[paddr] = n
        if self._txn_frames is not None:
            self._txn_frames.append((paddr, n))
            for i in range(n):
                self._txn_fresh.add(paddr + i * PAGE_SIZE)
        return paddr

    def alloc_tables(self, depth: int, count: int) -> list[int]:
        """Up to `count` one-frame tables for `depth` at once: those `count` calls of
        `alloc_table` would make before the first that fails (the caller then hands over to
        the call that raises)."""
        if self.fmt.packed_tables or self.fmt.table_frames(depth) != 1:
            return [self.alloc_table(depth)]  # (which refuses packed tables, by name)
        paddrs = self.alloc.alloc_run(count, 1 << self.fmt.output_bits)
        self.tables.update(dict.fromkeys(paddrs, 1))
        if self._txn_frames is not None:
            self._txn_frames.extend(zip(paddrs, repeat(1)))
            self._txn_fresh.update(paddrs)
        return paddrs

    @contextmanager
    def atomic(self) -> Iterator[Change]:
        """All or nothing: on any exception restore every entry and frame, free new tables.
        On success the yielded `Change` holds the block's `Flush` (also `last_flush`)."""
        change = Change()
        if self._journal is not None:  # nested: the outer transaction rolls back
            pages, written = self._pages, len(self._written)
            first = None if pages is None else len(pages)
            yield change
            change.flush = self._flush_since(first, written)
            return
        self._journal, self._txn_frames = [], []
        self._pages, self._written = [], []
        try:
            yield change
        except BaseException:
            for addr, old in reversed(self._journal):
                if isinstance(old, np.ndarray):
                    self.mem.frame(addr >> 12)[:] = old
                else:
                    write_entry(self.mem, addr, old, self.fmt.entry_bytes)
            for paddr, count in self._txn_frames:
                del self.tables[paddr]
                self.alloc.free(paddr, count)
            self.generation += 1
            raise
        else:
            change.flush = self.last_flush = self._flush_since(0, 0)
        finally:
            self._journal = self._txn_frames = None
            self._txn_saved.clear()
            self._txn_fresh.clear()

    def _flush_since(self, first_page: int | None, first_write: int) -> Flush:
        pages = self._pages
        return Flush(
            None if pages is None or first_page is None else tuple(pages[first_page:]),
            frozenset(self._written[first_write:]),
        )

    def record_flush(self, vaddr: int) -> None:
        if self._pages is not None:
            if len(self._pages) >= SMALL_FLUSH_THRESHOLD:
                self._pages = None
            else:
                self._pages.append(vaddr)

    def record_flushes(self, vaddrs: Callable[[int], list[int]], count: int) -> None:
        """`record_flush` for `count` addresses; `vaddrs(n)` gives the first n of them."""
        if self._pages is None or not count:
            return
        room = SMALL_FLUSH_THRESHOLD - len(self._pages)
        self._pages.extend(vaddrs(min(room, count)))
        if count > room:
            self._pages = None

    def record_flush_all(self) -> None:
        """The seed's `TlbFlushAll` without addresses (e.g. `copy_from`)."""
        self._pages = None

    # ----------------------------------------------------------------- validation

    def check_vaddr(self, vaddr: int, size: int = 1) -> None:
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

    def check_paddr(self, paddr: int) -> None:
        if not self.fmt.check_output(paddr):
            raise PagingError(
                "InvalidAddress",
                f"{paddr:#x} is beyond {self.fmt.name}'s {self.fmt.output_bits}-bit output",
            )

    def depth_of(self, page_size: int) -> int:
        depth = self.fmt.depth_for_size(page_size)
        if page_size not in self.fmt.page_sizes or depth is None:
            sizes = ", ".join(f"{s:#x}" for s in sorted(self.fmt.page_sizes))
            raise PagingError(
                "InvalidRequest",
                f"page size {page_size:#x} not supported by {self.fmt.name} (allowed: {sizes})",
            )
        return depth

    def huge_depth(self, depth: int) -> bool:
        """Depths where the seed looks for a huge leaf (its p3/p2: 1 GiB and 2 MiB; a format
        the seed lacks declares its own `page_sizes`)."""
        return depth < self.fmt.leaf_depth and self.fmt.span(depth) in self.fmt.page_sizes

    # ----------------------------------------------------------------- the descent

    def owns(self, table: int, vaddr: int) -> bool:
        """Is `table` one of this table's own (or under a root entry shared by `copy_from`)?"""
        return table in self.tables or self.fmt.index(vaddr, 0) in self._borrowed

    def free_table(self, paddr: int) -> None:
        """Give one of this table's tables back to the allocator (`cursor.free_subtree`)."""
        self.alloc.free(paddr, self.tables.pop(paddr))

    def leaf_flags(self, raw: int, depth: int) -> MappingFlags | str:
        """`read_flags` (or the seed's panic message), memoised per class of entries: entries
        that differ only in free address bits read back the same flags."""
        if self._control is not self.fmt.control:
            self.follow_control()
        memo, key = self._flags_memo[depth], raw & self.keep[depth]
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

    def _flags_of(self, raw: int, depth: int) -> MappingFlags:
        flags = self.leaf_flags(raw, depth)
        if isinstance(flags, str):
            raise PagingError(
                "InvalidRequest",
                f"the seed panics reading this entry back ({flags}); raw {raw:#018x}",
            )
        return flags

    # ------------------------------------------------------- one entry (over the cursor)

    def map(self, vaddr: int, paddr: int, page_size: int, flags: MappingFlags | str) -> Flush:
        """Map one page; `paddr` is aligned down to `page_size`, `vaddr` picks the slot.
        Returns the flush (the seed 0.5's `TlbFlush`)."""
        flags = MappingFlags.parse(flags)
        self.check_vaddr(vaddr)
        self.check_paddr(paddr)
        with self.atomic() as change:
            addr = cursor.get_entry_or_create(self, vaddr, page_size)
            if not self.fmt.is_unused(self.read(addr)):
                raise PagingError("AlreadyMapped", f"{vaddr:#x} is already mapped")
            self.write_entry(
                addr,
                self.fmt.new_page(
                    paddr & ~(page_size - 1), flags, page_size != self.fmt.granule, self.encoding
                ),
            )
            self.record_flush(vaddr)
        return change.flush

    def remap(self, vaddr: int, paddr: int, flags: MappingFlags | str) -> tuple[int, Flush]:
        """Replace address and flags of the leaf (present or not); returns (page size, flush)
        as the seed 0.5."""
        flags = MappingFlags.parse(flags)
        self.check_vaddr(vaddr)
        self.check_paddr(paddr)
        with self.atomic() as change:
            addr, size = cursor.get_entry(self, vaddr)
            raw = self.fmt.set_paddr(self.read(addr), paddr)
            huge = size != self.fmt.granule
            self.write_entry(addr, self.fmt.set_flags(raw, flags, huge, self.encoding))
            self.record_flush(vaddr)
        return size, change.flush

    def protect(self, vaddr: int, flags: MappingFlags | str) -> tuple[int, Flush]:
        """Rebuild a present leaf's flags (address kept); returns (page size, flush) as the
        seed 0.5."""
        flags = MappingFlags.parse(flags)
        self.check_vaddr(vaddr)
        with self.atomic() as change:
            addr, size, raw = cursor.present_leaf(self, vaddr)
            huge = size != self.fmt.granule
            self.write_entry(addr, self.fmt.set_flags(raw, flags, huge, self.encoding))
            self.record_flush(vaddr)
        return size, change.flush

    def unmap(self, vaddr: int) -> tuple[int, MappingFlags, int, Flush]:
        """Clear the leaf holding `vaddr` (a whole huge page); returns (base, flags, size,
        flush): 0.6's triple and 0.5's `TlbFlush`."""
        self.check_vaddr(vaddr)
        with self.atomic() as change:
            addr, size, raw = cursor.present_leaf(self, vaddr)
            flags = self._flags_of(raw, self.fmt.depth_for_size(size) or 0)
            self.write_entry(addr, 0)
            self.record_flush(vaddr)
        return self.fmt.entry_paddr(raw), flags, size, change.flush

    def query_full(self, vaddr: int) -> tuple[int, MappingFlags, int]:
        """`query` step by step, as the seed: where the fast path stops, and for the errors."""
        self.check_vaddr(vaddr)
        _, size, raw = cursor.present_leaf(self, vaddr, changing=False)
        flags = self._flags_of(raw, self.fmt.depth_for_size(size) or 0)
        return self.fmt.entry_paddr(raw) + (vaddr & (size - 1)), flags, size

    def require_whole(self, va: int, remaining: int, page: int, op: str) -> None:
        """The seed's two `assert!`s, as errors raised before anything is kept."""
        if va % page or page > remaining:
            raise PagingError(
                "MappedToHugePage" if page > self.fmt.granule else "NotAligned",
                f"{op} covers only part of the {page:#x}-byte page at {va & ~(page - 1):#x} "
                f"(the seed asserts here after changing the whole page)",
            )

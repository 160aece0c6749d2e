"""One generic page table over a format, a memory and an encoding, with the seed's contract.

`TableCore` (table_core.py) holds the state, the journal and the single-entry calls; every
descent is cursor.py's. This class adds the fast `query`, `query_many`, the region calls
(their scalar and vector algorithms in table_map / table_change) and inspection (`walk`,
`path`, `locate`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from . import cursor, table_query
from . import table_change as change
from . import table_map as bulk
from .cursor import EntryRef
from .errors import PagingError
from .flags import MappingFlags
from .table_core import Flush, TableAllocator, TableCore


class PageTable(TableCore):
    """`PageTable64` over `format`; addresses are the format's input/output spaces."""

    _query_plan: table_query.QueryPlan  # made again with the control state (`follow_control`)

    def follow_control(self) -> None:
        super().follow_control()
        self._query_plan = table_query.query_plan(self)

    def query(self, vaddr: int) -> tuple[int, MappingFlags, int]:
        """(paddr including `vaddr`'s offset in the page, flags read back, page size).

        Here only a 4 KiB page whose leaf table an earlier walk reached, while memory is
        unwritten (`table_query.FastQuery`); the rest, and `query_many`, are table_query.py's."""
        if self._control is not self.fmt.control:
            self.follow_control()
        fast = self._query_plan.fast
        if fast is not None and self.mem.generation == fast.generation:
            table = fast.leaves.get(vaddr >> fast.table_shift)
            words = None if table is None else table()  # (None: memory let go of it)
            if words is not None:
                raw = words.item((vaddr >> fast.leaf_shift) & fast.leaf_mask)
                flags = fast.flags.get(raw & fast.keep)
                if flags is not None:  # a class of leaves read as mapped before
                    paddr = (raw & fast.addr_mask) << fast.addr_shift
                    return paddr + (vaddr & (fast.size - 1)), flags, fast.size
        return table_query.query_walk(self, self._query_plan, vaddr)

    def query_many(self, vaddrs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`query` for many addresses at once: (paddrs, page sizes, ok), uint64/uint64/bool;
        where `query` would raise, ok is False and paddr and size are 0. Flags are not read
        (`leaf_flags` gives them per entry)."""
        return table_query.query_many(self, vaddrs)

    def map_region(
        self,
        vaddr: int,
        paddr: int | Callable[[int], int],
        size: int,
        flags: MappingFlags | str,
        allow_huge: bool = False,
    ) -> Flush:
        """Map [vaddr, vaddr+size): 1 GiB, then 2 MiB, then 4 KiB pages, greedily, as the seed.

        `paddr` is the region's first physical address (linear) or a function of each vaddr.
        Whole runs of entries are written with numpy (`table_map`). Every region call
        returns its `Flush` (the seed 0.5's `TlbFlushAll`).
        """
        with self.atomic() as done:
            bulk.map_region(self, vaddr, paddr, size, flags, allow_huge)
        return done.flush

    def unmap_region(self, vaddr: int, size: int) -> Flush:
        """Unmap [vaddr, vaddr+size) page by page; a hole or a cut huge page fails it all."""
        with self.atomic() as done:
            change.unmap_region(self, vaddr, size)
        return done.flush

    def clear_region(self, vaddr: int, size: int) -> Flush:
        """Zero every page's leaf slot in [vaddr, vaddr+size), present or not (Alloc unmap)."""
        with self.atomic() as done:
            change.clear_region(self, vaddr, size)
        return done.flush

    def protect_region(self, vaddr: int, size: int, flags: MappingFlags | str) -> Flush:
        """Re-flag the present leaves of [vaddr, vaddr+size); holes are skipped (0.6)."""
        with self.atomic() as done:
            change.protect_region(self, vaddr, size, flags)
        return done.flush

    def copy_from(self, other: PageTable, start: int, size: int) -> Flush:
        """Share `other`'s root entries covering [start, start+size) (feature `copy-from`)."""
        if size == 0:
            return Flush()
        if other.fmt.name != self.fmt.name or other.fmt.levels != self.fmt.levels:
            raise PagingError("InvalidRequest", "copy_from needs two tables of the same format")
        self.check_vaddr(start, size)
        first = self.fmt.index(start, 0)
        last = self.fmt.index(start + size - 1, 0)
        with self.atomic() as done:
            for index in range(first, last + 1):
                addr = self.root + index * self.fmt.entry_bytes
                if index not in self._borrowed:
                    cursor.free_subtree(self, self.read(addr), 1)
                self.write_entry(addr, other.read(other.root + index * self.fmt.entry_bytes))
            self.record_flush_all()
        self._borrowed.update(range(first, last + 1))
        return done.flush

    # ----------------------------------------------------------------- inspection

    def walk(self) -> Iterator[tuple[int, int, int, int]]:
        """(depth, index, vaddr, raw) for every present entry, pre-order, as the seed's walk.

        `vaddr` is not sign-extended, like the seed's. Unlike the seed, the walk goes down only
        into this table's own tables (and those `copy_from` shares), never into a frame a
        leaf-that-reads-as-a-pointer names.
        """
        return cursor.walk(self, self.root)

    def path(self, vaddr: int) -> list[EntryRef]:
        """The entries the hardware would read for `vaddr`, root first (`cursor.entry_path`)."""
        return cursor.entry_path(self.fmt, self.mem, self.root, vaddr)

    def locate(self, vaddr: int, depth: int) -> EntryRef:
        """The entry at `depth` on `vaddr`'s path (for `poke` and `expect entry`)."""
        return cursor.locate_entry(self.fmt, self.mem, self.root, vaddr, depth, self.check_vaddr)

    def poke(self, entry_addr: int, value: int) -> Flush:
        """Write raw bits into an entry of this table. The flush names no page (the seed has
        no such call: which translations change depends on the entry's level and on what
        the hardware walks through it), only the frame written."""
        with self.atomic() as done:
            self.write_entry(entry_addr, value & 0xFFFF_FFFF_FFFF_FFFF)
        return done.flush


__all__ = ["EntryRef", "PageTable", "TableAllocator"]

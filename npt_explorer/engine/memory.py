"""The memory protocol (`Frames`), host physical memory as sparse 4 KiB frames, and a frame
allocator with exact accounting.

Everything in the engine reads and writes memory through `Frames`: the walker, the page
table, the vector paths and the region reader do not know whether they read our own sparse
RAM, guest RAM through stage 2, or a memory image. `table_words` is the one reader of a
table's entries.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Protocol

import numpy as np

from .errors import PagingError

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
ENTRIES_PER_FRAME = PAGE_SIZE // 8

#: Where the allocator hands out host frames unless told otherwise (1 TiB): far from the
#: low host addresses that scenarios pick for linear regions.
DEFAULT_POOL_BASE = 0x100_0000_0000


class MemoryHole(LookupError):
    """No memory at all at `paddr` (outside every range of a memory image): raised by a strict
    backend's `read_u64`, `write_u64` and `frame`. Our own RAM never raises it."""

    def __init__(self, paddr: int) -> None:
        super().__init__(f"no memory at physical address {paddr:#x}")
        self.paddr = paddr


class Frames(Protocol):
    """Memory as the engine sees it: 4 KiB frames of 512 little-endian u64 words.

    `peek_frame(pfn)` is the read path of every table walk: the frame's words (treat them as
    read-only), or None. What None means is `strict`: False (our RAM, guest RAM) — the frame
    reads as zeros; True (a memory image) — there is no memory there, which the walker reports
    as a `no-memory` fault. `frame(pfn)` gives the words to change in place, made on first use
    (an image copies the frame into its write overlay). Backends may expose `peek_frame` as a
    bound `dict.get`: it is called once per entry read. `replace_frames(pfns, rows)` (a row of
    512 words a frame) gives frames new words wholesale: the rows become the frames' words
    (kept, not copied: the caller lets go of them) and the words they held come back (None:
    never written, zeros), so a vector path writes many frames without copying rows in and
    old words out; where `frame` would raise for one of them it raises before changing any.
    `generation` changes with every write (`write_u64`, `frame`, `replace_frames`, a frame
    dropped): what a reader cached from memory is current while it has not moved."""

    @property
    def strict(self) -> bool: ...
    @property
    def generation(self) -> int: ...

    def read_u64(self, paddr: int, /) -> int: ...
    def write_u64(self, paddr: int, value: int, /) -> None: ...
    def peek_frame(self, pfn: int, /) -> np.ndarray | None: ...
    def frame(self, pfn: int, /) -> np.ndarray: ...
    def replace_frames(self, pfns: list[int], rows: np.ndarray, /) -> list[np.ndarray | None]: ...


def table_words(mem: Frames, table: int, count: int) -> np.ndarray:
    """The `count` entries of the table at physical address `table` as u64 words (zeros where
    never written). The one reader of a whole table: a view of the memory when the table lies
    in one frame, so treat it as read-only."""
    first = (table & (PAGE_SIZE - 1)) >> 3
    rows = []
    for n in range(-(-(first + count) // ENTRIES_PER_FRAME)):
        words = mem.peek_frame((table >> PAGE_SHIFT) + n)
        rows.append(np.zeros(ENTRIES_PER_FRAME, np.uint64) if words is None else words)
    out = rows[0] if len(rows) == 1 else np.concatenate(rows)
    return out[first : first + count]


#: numpy's word for an entry of each width (x86 32-bit paging's tables hold 4-byte entries, a
#: `teach` geometry's 1, 2, 4 or 8)
ENTRY_DTYPES = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def read_entry(mem: Frames, paddr: int, size: int) -> int:
    """The `size`-byte little-endian entry at `paddr` (8; 4 for 32-bit paging; 1 or 2 for a
    `teach` geometry), read through the u64 word that holds it: every backend gets narrow
    entries for free."""
    word = mem.read_u64(paddr & ~7)
    return word if size == 8 else (word >> ((paddr & 7) * 8)) & ((1 << (8 * size)) - 1)


def write_entry(mem: Frames, paddr: int, value: int, size: int) -> None:
    """Write a `size`-byte entry at `paddr`, keeping the rest of its u64 word."""
    if size == 8:
        mem.write_u64(paddr, value)
        return
    at, shift, mask = paddr & ~7, (paddr & 7) * 8, (1 << (8 * size)) - 1
    mem.write_u64(at, (mem.read_u64(at) & ~(mask << shift)) | (value & mask) << shift)


def entry_words(mem: Frames, table: int, count: int, size: int) -> np.ndarray:
    """`table_words` for entries of `size` bytes: the `count` entries at `table` (read-only)."""
    if size == 8:
        return table_words(mem, table, count)
    skip = (table & 7) // size
    words = table_words(mem, table & ~7, -(-(skip + count) * size // 8))
    return words.view(ENTRY_DTYPES[size])[skip : skip + count]


class PhysicalMemory:
    """Sparse host physical memory: a frame exists once written; unwritten memory reads as 0."""

    __slots__ = ("frames", "generation", "peek_frame")
    #: a frame never written reads as zeros (a memory image is strict: no frame, no memory)
    strict = False

    def __init__(self) -> None:
        self.frames: dict[int, np.ndarray] = {}
        #: the frame's words if it was ever written, else None (it reads as zeros); a bound
        #: `dict.get`, the cheapest call a walk can make per entry
        self.peek_frame: Callable[[int], np.ndarray | None] = self.frames.get
        #: bumped by every possible write: `frame` (its words are changed in place) and drops
        self.generation = 0

    def frame(self, pfn: int) -> np.ndarray:
        """The frame's 512 little-endian u64 words, created zeroed on first use."""
        self.generation += 1
        words = self.frames.get(pfn)
        if words is None:
            words = self.frames[pfn] = np.zeros(ENTRIES_PER_FRAME, dtype=np.uint64)
        return words

    def replace_frames(self, pfns: list[int], rows: np.ndarray) -> list[np.ndarray | None]:
        """`Frames.replace_frames`: the frames' words become `rows` (512 words each, kept;
        rows of one block keep all of it alive until every one of their frames is gone)."""
        self.generation += 1
        frames = self.frames
        old = [frames.get(pfn) for pfn in pfns]
        frames.update(zip(pfns, rows, strict=True))
        return old

    def read_u64(self, paddr: int) -> int:
        words = self.frames.get(paddr >> PAGE_SHIFT)
        return 0 if words is None else int(words[(paddr & (PAGE_SIZE - 1)) >> 3])

    def write_u64(self, paddr: int, value: int) -> None:
        self.frame(paddr >> PAGE_SHIFT)[(paddr & (PAGE_SIZE - 1)) >> 3] = value

    def read_bytes(self, paddr: int, length: int) -> bytes:
        out = bytearray()
        while length > 0:
            offset = paddr & (PAGE_SIZE - 1)
            chunk = min(length, PAGE_SIZE - offset)
            words = self.frames.get(paddr >> PAGE_SHIFT)
            if words is None:
                out += bytes(chunk)
            else:
                out += words.view(np.uint8)[offset : offset + chunk].tobytes()
            paddr += chunk
            length -= chunk
        return bytes(out)

    def write_bytes(self, paddr: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            offset = paddr & (PAGE_SIZE - 1)
            chunk = min(len(view), PAGE_SIZE - offset)
            dest = self.frame(paddr >> PAGE_SHIFT).view(np.uint8)
            dest[offset : offset + chunk] = np.frombuffer(view[:chunk], dtype=np.uint8)
            paddr += chunk
            view = view[chunk:]

    def zero_frames(self, pfn: int, count: int = 1) -> None:
        self.generation += 1
        for n in range(pfn, pfn + count):
            self.frames.pop(n, None)


class FrameAllocator:
    """Hands out zeroed 4 KiB host frames; counts frames in use and the peak.

    `limit` caps the frames in use at once (a tiny budget makes `NoMemory` easy to provoke).
    Single frames are reused lowest-address first, so runs are deterministic.
    """

    def __init__(
        self, memory: PhysicalMemory, base: int = DEFAULT_POOL_BASE, limit: int | None = None
    ) -> None:
        if base & (PAGE_SIZE - 1):
            raise PagingError("NotAligned", f"frame pool base {base:#x} is not 4 KiB aligned")
        self.memory = memory
        self.base = base
        self.limit = limit
        self._next_pfn = base >> PAGE_SHIFT
        self._free: list[int] = []
        self._in_use: set[int] = set()
        self.peak = 0

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def owns(self, paddr: int) -> bool:
        return (paddr >> PAGE_SHIFT) in self._in_use

    def frames(self) -> list[int]:
        """The addresses of the frames in use, ascending (as `GuestPoolAllocator.frames`)."""
        return sorted(pfn << PAGE_SHIFT for pfn in self._in_use)

    def alloc(self, count: int = 1, align: int = 1) -> int:
        """`count` contiguous zeroed frames aligned to `align` frames; returns the first paddr."""
        if self.limit is not None and len(self._in_use) + count > self.limit:
            raise PagingError(
                "NoMemory",
                f"frame budget exhausted: {len(self._in_use)} of {self.limit} frames in use, "
                f"{count} more requested",
            )
        if count == 1 and self._free:
            pfn = heapq.heappop(self._free)
        else:
            pfn = -(-self._next_pfn // align) * align
            # frames skipped for alignment go to the free list
            for skipped in range(self._next_pfn, pfn):
                heapq.heappush(self._free, skipped)
            self._next_pfn = pfn + count
        for n in range(pfn, pfn + count):
            self._in_use.add(n)
        self.memory.zero_frames(pfn, count)
        self.peak = max(self.peak, len(self._in_use))
        return pfn << PAGE_SHIFT

    def alloc_run(self, count: int, below: int) -> list[int]:
        """The frames (paddrs) `count` successive `alloc()` calls would return, stopping before
        the first that would raise or lie at or above `below` (the caller's address limit):
        a vector path takes many single-frame tables at once, with `alloc`'s result."""
        if self.limit is not None:
            count = max(0, min(count, self.limit - len(self._in_use)))
        free, limit = self._free, below >> PAGE_SHIFT
        pfns: list[int] = []
        while free and len(pfns) < count and free[0] < limit:  # lowest freed frame first
            pfn = heapq.heappop(free)
            self.memory.zero_frames(pfn)
            pfns.append(pfn)
        paddrs = [pfn << PAGE_SHIFT for pfn in pfns]
        if len(pfns) < count and not free:  # then fresh frames, as `alloc` takes them
            first = self._next_pfn
            fresh = range(first, max(first, min(first + count - len(pfns), limit)))
            self._next_pfn = fresh.stop
            self.memory.zero_frames(first, len(fresh))
            self._in_use.update(fresh)
            paddrs += range(first << PAGE_SHIFT, fresh.stop << PAGE_SHIFT, PAGE_SIZE)
        self._in_use.update(pfns)
        self.peak = max(self.peak, len(self._in_use))
        return paddrs

    def free(self, paddr: int, count: int = 1) -> None:
        """Return frames; freeing a frame that is not in use is a bug and raises."""
        pfn = paddr >> PAGE_SHIFT
        for n in range(pfn, pfn + count):
            if n not in self._in_use:
                raise PagingError("InvalidRequest", f"frame {n << PAGE_SHIFT:#x} freed twice")
        for n in range(pfn, pfn + count):
            self._in_use.discard(n)
            heapq.heappush(self._free, n)
        self.memory.zero_frames(pfn, count)

"""Guest RAM as the guest's own page tables see it: gPA-addressed, backed through stage 2."""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .errors import PagingError
from .flags import Access
from .memory import PAGE_SHIFT, PAGE_SIZE, Frames, MemoryHole, PhysicalMemory

if TYPE_CHECKING:
    from .walk import Walker

HOST_CACHE = 1 << 16


class Stage2(Protocol):
    """What guest RAM reads through: a stage 2 that turns a gPA into an hPA (None: not
    backed), and a `generation` that changes whenever its answers may have."""

    @property
    def generation(self) -> int: ...

    def translate(self, gpa: int, /) -> int | None: ...


class GuestRAM:
    """Reads and writes guest-physical memory the way the guest OS does (no walk recorded):
    the `Frames` of the guest's own page tables, over any host `Frames` and `Stage2` (our
    `AddrSpace`, or a memory image's tables read by the walker: `WalkedStage2`).

    Each guest frame's host frame is looked up through stage 2 once and cached until stage 2
    changes (its `generation`), so the guest's own table reads and writes cost a dictionary
    look-up. `strict` is the host memory's: a guest frame stage 2 does not back reads as
    zeros on our RAM (the walker checks stage 2 first), and is no memory (`MemoryHole`) on
    an image."""

    def __init__(self, space: Stage2, memory: Frames) -> None:
        self.space = space
        self.memory = memory
        self.strict = memory.strict
        self._hosts: dict[int, int | None] = {}  # guest frame -> host frame (None: unbacked)
        self._generation = -1
        self._switched = 0  # keeps `generation` growing across a `switch`

    def switch(self, space: Stage2) -> None:
        """Read through another stage 2 (x86: the EPT a new EPTP names)."""
        self._switched += self.space.generation + 1 - space.generation
        self.space, self._generation = space, -1
        self._hosts.clear()

    def host_frame(self, gfn: int) -> int | None:
        """The host frame backing guest frame `gfn`, or None."""
        generation = self.space.generation
        if generation != self._generation:
            self._hosts.clear()
            self._generation = generation
        try:
            return self._hosts[gfn]
        except KeyError:
            hpa = self.space.translate(gfn << PAGE_SHIFT)
            if len(self._hosts) >= HOST_CACHE:
                self._hosts.clear()
            host = self._hosts[gfn] = None if hpa is None else hpa >> PAGE_SHIFT
            return host

    @property
    def generation(self) -> int:
        """Grows with a host memory write, a stage-2 change (both counters only grow) and a
        `switch` (which moves it past every value it had: another stage 2's counter may be
        lower, and a memo keyed on a value seen before would be taken as current)."""
        return self.memory.generation + self.space.generation + self._switched

    def hpa(self, gpa: int) -> int:
        host = self.host_frame(gpa >> PAGE_SHIFT)
        if host is None:
            if self.strict:
                raise MemoryHole(gpa)
            raise PagingError("NotMapped", f"guest-physical {gpa:#x} is not backed by stage 2")
        return host << PAGE_SHIFT | (gpa & (PAGE_SIZE - 1))

    def read_u64(self, gpa: int) -> int:
        host = self.host_frame(gpa >> PAGE_SHIFT)
        if host is None:
            if self.strict:
                raise MemoryHole(gpa)
            return 0
        return self.memory.read_u64(host << PAGE_SHIFT | (gpa & (PAGE_SIZE - 1)))

    def write_u64(self, gpa: int, value: int) -> None:
        self.memory.write_u64(self.hpa(gpa), value)

    def peek_frame(self, gfn: int) -> np.ndarray | None:
        """The words of guest frame `gfn` if it is backed and was ever written, else None."""
        host = self.host_frame(gfn)
        return None if host is None else self.memory.peek_frame(host)

    def frame(self, gfn: int) -> np.ndarray:
        """The words of guest frame `gfn` (created on first use); NotMapped if unbacked."""
        return self.memory.frame(self.hpa(gfn << PAGE_SHIFT) >> PAGE_SHIFT)

    def replace_frames(self, gfns: list[int], rows: np.ndarray) -> list[np.ndarray | None]:
        """`Frames.replace_frames` of guest frames: their host frames' (NotMapped if one is
        unbacked, before any is changed)."""
        hosts = [self.hpa(gfn << PAGE_SHIFT) >> PAGE_SHIFT for gfn in gfns]
        return self.memory.replace_frames(hosts, rows)


class WalkedStage2:
    """A stage 2 no `PageTable` owns (a memory image's): each gPA translated by the walker's
    own read walk, whose answers hold while its memory is unwritten (`generation`)."""

    def __init__(self, walker: Walker) -> None:
        self.walker = walker

    @property
    def generation(self) -> int:
        return self.walker.memory.generation

    def translate(self, gpa: int) -> int | None:
        return self.walker.translate_gpa(gpa, Access.READ).hpa


class GuestPoolAllocator:
    """Guest frames for the guest's page tables, from `guest_pt_pool`, lowest gPA first."""

    def __init__(self, ram: GuestRAM, memory: PhysicalMemory, base: int, size: int) -> None:
        self.ram = ram
        self.memory = memory  # the host RAM under `ram`: ours, whose frames can be dropped
        self.base = base
        self.size = size
        self._free = list(range(base >> PAGE_SHIFT, (base + size) >> PAGE_SHIFT))
        self._in_use: set[int] = set()

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def alloc(self, count: int = 1, align: int = 1) -> int:
        """The lowest `count` free frames in a row, aligned to `align` frames (an AArch64
        16/64 KiB-granule table is 4/16 frames, aligned to its size), zeroed."""
        if not self._free:
            raise self._full()
        pfn = self._free[0]
        if count > 1 or align > 1:
            free = set(self._free)
            start = -(-pfn // align) * align
            last = (self.base + self.size) >> PAGE_SHIFT
            while start + count <= last and not all(start + i in free for i in range(count)):
                start += align
            if start + count > last:
                raise self._full()
            pfn = start
        for frame in range(pfn, pfn + count):
            gpa = frame << PAGE_SHIFT
            if self.ram.space.translate(gpa) is None:
                raise PagingError(
                    "NotMapped",
                    f"the guest's next page-table frame, gPA {gpa:#x} in guest_pt_pool, is not "
                    "backed by stage 2 (map_pool = false): map it at stage 2 first",
                )
        if count == 1 and pfn == self._free[0]:
            heapq.heappop(self._free)
        else:
            taken = set(range(pfn, pfn + count))
            self._free = [f for f in self._free if f not in taken]
            heapq.heapify(self._free)
        for frame in range(pfn, pfn + count):
            self._in_use.add(frame)
            hpa = self.ram.hpa(frame << PAGE_SHIFT)
            self.memory.frame(hpa >> PAGE_SHIFT)[:] = 0
        return pfn << PAGE_SHIFT

    def alloc_run(self, count: int, below: int) -> list[int]:
        """The frames `count` successive `alloc()` calls would return, stopping before the
        first that would raise or lie at or above `below` (as `FrameAllocator.alloc_run`)."""
        out: list[int] = []
        while len(out) < count and self._free and self._free[0] << PAGE_SHIFT < below:
            try:
                out.append(self.alloc())
            except PagingError:
                break
        return out

    def _full(self) -> PagingError:
        return PagingError(
            "NoMemory",
            f"guest_pt_pool [{self.base:#x}, {self.base + self.size:#x}) is full "
            f"({self.in_use} frames); give [machine] guest_pt_pool a larger size",
        )

    def free(self, paddr: int, count: int = 1) -> None:
        """Return frames to the pool, zeroed: a freed table (say one a failed map built and
        rolled back) leaves no entries behind in guest RAM, as a freed host frame does."""
        for pfn in range(paddr >> PAGE_SHIFT, (paddr >> PAGE_SHIFT) + count):
            host = self.ram.host_frame(pfn)
            if host is not None:
                self.memory.zero_frames(host, 1)
            self._in_use.discard(pfn)
            heapq.heappush(self._free, pfn)

    def owns(self, gpa: int) -> bool:
        return (gpa >> PAGE_SHIFT) in self._in_use

    def frames(self) -> list[int]:
        return sorted(pfn * PAGE_SIZE for pfn in self._in_use)

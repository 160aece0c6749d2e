"""Guest RAM as the guest's own page tables see it: gPA-addressed, backed through stage 2."""

from __future__ import annotations

import heapq

from .addrspace import AddrSpace
from .errors import PagingError
from .memory import PAGE_SHIFT, PAGE_SIZE, PhysicalMemory


class GuestRAM:
    """Reads and writes guest-physical memory the way the guest OS does (no walk recorded)."""

    def __init__(self, space: AddrSpace, memory: PhysicalMemory) -> None:
        self.space = space
        self.memory = memory

    def hpa(self, gpa: int) -> int:
        hpa = self.space.translate(gpa)
        if hpa is None:
            raise PagingError("NotMapped", f"guest-physical {gpa:#x} is not backed by stage 2")
        return hpa

    def read_u64(self, gpa: int) -> int:
        hpa = self.space.translate(gpa)
        return 0 if hpa is None else self.memory.read_u64(hpa)

    def write_u64(self, gpa: int, value: int) -> None:
        self.memory.write_u64(self.hpa(gpa), value)


class GuestPoolAllocator:
    """Guest frames for the guest's page tables, from `guest_pt_pool`, lowest gPA first."""

    def __init__(self, ram: GuestRAM, base: int, size: int) -> None:
        self.ram = ram
        self.base = base
        self.size = size
        self._free = list(range(base >> PAGE_SHIFT, (base + size) >> PAGE_SHIFT))
        self._in_use: set[int] = set()

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def alloc(self, count: int = 1, align: int = 1) -> int:
        if count != 1:
            raise PagingError("InvalidRequest", "guest page-table frames come one at a time")
        if not self._free:
            raise PagingError(
                "NoMemory",
                f"guest_pt_pool [{self.base:#x}, {self.base + self.size:#x}) is full "
                f"({self.in_use} frames); give [machine] guest_pt_pool a larger size",
            )
        pfn = self._free[0]
        gpa = pfn << PAGE_SHIFT
        if self.ram.space.translate(gpa) is None:
            raise PagingError(
                "NotMapped",
                f"the guest's next page-table frame, gPA {gpa:#x} in guest_pt_pool, is not "
                "backed by stage 2 (map_pool = false): map it at stage 2 first",
            )
        heapq.heappop(self._free)
        self._in_use.add(pfn)
        hpa = self.ram.hpa(gpa)
        self.ram.memory.frame(hpa >> PAGE_SHIFT)[:] = 0
        return gpa

    def free(self, paddr: int, count: int = 1) -> None:
        for pfn in range(paddr >> PAGE_SHIFT, (paddr >> PAGE_SHIFT) + count):
            self._in_use.discard(pfn)
            heapq.heappush(self._free, pfn)

    def owns(self, gpa: int) -> bool:
        return (gpa >> PAGE_SHIFT) in self._in_use

    def frames(self) -> list[int]:
        return sorted(pfn * PAGE_SIZE for pfn in self._in_use)

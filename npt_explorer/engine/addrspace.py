"""axaddrspace's `AddrSpace`: stage-2 regions with Linear and Alloc backends (seed-crates.md §3).

Differences from the seed (each in docs/seed-differences.md): every call is atomic (a failure
rolls back entries, tables and frames); unmapping or protecting part of a huge Linear page splits
it instead of panicking; `translate_and_get_limit` returns the bytes left in the area, not the
area's size; a fault on a page that is already populated is reported unhandled instead of
replacing (and leaking) its frame; `hpa > gpa` is fine (the seed's offset subtraction panics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum

from . import cursor
from .errors import PagingError
from .flags import MappingFlags
from .memory import PAGE_SIZE, FrameAllocator, PhysicalMemory
from .page_table import PageTable
from .table_core import Change, Flush


class Backend(StrEnum):
    """axaddrspace's two backends: Linear (gPA -> a fixed hPA) and Alloc (frames on demand)."""

    LINEAR = "linear"
    ALLOC = "alloc"


@dataclass(frozen=True, slots=True)
class Area:
    """One mapped guest-physical region and its backend."""

    start: int
    size: int
    flags: MappingFlags
    backend: Backend
    hpa: int | None = None  # linear: the host address of `start`
    populate: bool = True  # alloc: frames now (True) or on first fault (False)
    huge: bool = True  # linear: large pages where aligned
    name: str = ""

    @property
    def end(self) -> int:
        return self.start + self.size

    def contains(self, gpa: int) -> bool:
        return self.start <= gpa < self.end

    def cut(self, start: int, end: int) -> Area:
        """The part of this area inside [start, end)."""
        lo, hi = max(start, self.start), min(end, self.end)
        hpa = None if self.hpa is None else self.hpa + (lo - self.start)
        return replace(self, start=lo, size=hi - lo, hpa=hpa)


@dataclass(frozen=True, slots=True)
class NestedPageFaultInfo:
    """The seed's fault report handed to `handle_page_fault`."""

    access_flags: MappingFlags
    fault_guest_paddr: int


class AddrSpace:
    """The guest-physical address space [base, base+size) over a stage-2 `PageTable`."""

    def __init__(
        self,
        pt: PageTable,
        base: int,
        size: int,
        memory: PhysicalMemory,
        allocator: FrameAllocator,
    ) -> None:
        self.pt = pt
        self.base = base
        self.size = size
        self.memory = memory
        self.allocator = allocator
        self.areas: list[Area] = []
        self._frames: dict[int, int] = {}  # gPA page -> host frame, for Alloc areas
        self._txn_new: list[tuple[int, int]] | None = None
        self._txn_dead: list[tuple[int, int]] | None = None

    # --------------------------------------------------------------- bookkeeping

    @property
    def end(self) -> int:
        return self.base + self.size

    @property
    def frames_in_use(self) -> int:
        """Host frames held by the stage-2 tables and by Alloc backends."""
        return self.pt.frames_in_use + len(self._frames)

    @property
    def data_frames(self) -> frozenset[int]:
        """Host frames the Alloc areas hold."""
        return frozenset(self._frames.values())

    def contains_range(self, start: int, size: int) -> bool:
        return self.base <= start and start + size <= self.end

    def area_at(self, gpa: int) -> Area | None:
        for area in self.areas:
            if area.contains(gpa):
                return area
        return None

    @contextmanager
    def _txn(self) -> Iterator[Change]:
        areas = list(self.areas)
        self._txn_new, self._txn_dead = [], []
        try:
            with self.pt.atomic() as change:
                yield change
        except BaseException:
            self.areas = areas
            for page, frame in self._txn_new:
                del self._frames[page]
                self.allocator.free(frame, self._page_frames)
            for page, frame in self._txn_dead:
                self._frames[page] = frame
            raise
        else:
            for _page, frame in self._txn_dead:
                self.allocator.free(frame, self._page_frames)
        finally:
            self._txn_new = self._txn_dead = None

    def _new_frame(self, page: int) -> int:
        """A data frame for the Alloc page at `page`, owned by the space (not found by reading
        entries, so a poked or non-present entry never hides it)."""
        n = self._page_frames
        frame = self.allocator.alloc(n, align=n)
        self._frames[page] = frame
        assert self._txn_new is not None
        self._txn_new.append((page, frame))
        return frame

    @property
    def _page_frames(self) -> int:
        """4 KiB frames in one page of stage 2's granule (16 for 64 KiB)."""
        return self.pt.fmt.granule // PAGE_SIZE

    def _check(self, gpa: int, size: int, hpa: int | None = None) -> None:
        """The seed's order: range first, then alignment to the granule (4 KiB but for AArch64
        16/64 KiB stage 2)."""
        if size <= 0:
            raise PagingError("InvalidRequest", f"region size {size:#x} must be positive")
        if not self.contains_range(gpa, size):
            raise PagingError(
                "InvalidAddress",
                f"[{gpa:#x}, {gpa + size:#x}) is outside the guest address space "
                f"[{self.base:#x}, {self.end:#x})",
            )
        for what, value in (("gpa", gpa), ("size", size), ("hpa", hpa or 0)):
            if value % self.pt.fmt.granule:
                raise PagingError(
                    "NotAligned",
                    f"{what} {value:#x} is not {self.pt.fmt.granule >> 10} KiB aligned",
                )

    def _check_free(self, gpa: int, size: int) -> None:
        for area in self.areas:
            if area.start < gpa + size and gpa < area.end:
                raise PagingError(
                    "AlreadyMapped",
                    f"[{gpa:#x}, {gpa + size:#x}) overlaps region "
                    f"{area.name or 'at'} [{area.start:#x}, {area.end:#x})",
                )

    # --------------------------------------------------------------- mapping

    def map_linear(
        self,
        gpa: int,
        hpa: int,
        size: int,
        flags: MappingFlags | str,
        *,
        huge: bool = True,
        name: str = "",
    ) -> Flush:
        """A fixed-offset region (huge pages where aligned unless `huge=False`). Every change
        here returns its stage-2 table's `Flush`."""
        flags = MappingFlags.parse(flags)
        self._check(gpa, size, hpa)
        self._check_free(gpa, size)
        area = Area(gpa, size, flags, Backend.LINEAR, hpa=hpa, huge=huge, name=name)
        with self._txn() as change:
            self.pt.map_region(gpa, hpa, size, flags, allow_huge=huge)
            self.areas.append(area)
        return change.flush

    def map_alloc(
        self, gpa: int, size: int, flags: MappingFlags | str, populate: bool, *, name: str = ""
    ) -> Flush:
        """Frames from the allocator, now (`populate`) or on the first fault."""
        flags = MappingFlags.parse(flags)
        self._check(gpa, size)
        self._check_free(gpa, size)
        area = Area(gpa, size, flags, Backend.ALLOC, populate=populate, name=name)
        with self._txn() as change:
            if populate:  # page by page, each page's frame allocated just before it is mapped
                self.pt.map_region(gpa, self._new_frame, size, flags)
            else:  # the seed builds every table now, with empty-flag placeholder leaves
                self.pt.map_region(gpa, lambda _va: 0, size, MappingFlags(0), allow_huge=False)
            self.areas.append(area)
        return change.flush

    def unmap(self, gpa: int, size: int) -> Flush:
        """Unmap [gpa, gpa+size): areas inside go, areas across the edges shrink or split."""
        self._check(gpa, size)
        with self._txn() as change:
            self._carve(gpa, gpa + size, self._backend_unmap)
        return change.flush

    def protect(self, gpa: int, size: int, flags: MappingFlags | str) -> Flush:
        """New flags for [gpa, gpa+size) (MemorySet::protect; the seed's AddrSpace lacks it)."""
        flags = MappingFlags.parse(flags)
        self._check(gpa, size)

        def protect(cut: Area) -> Area:
            if cut.backend is Backend.LINEAR:
                self._split_huge_linear(cut)
            self.pt.protect_region(cut.start, cut.size, flags)
            return replace(cut, flags=flags)

        with self._txn() as change:
            self._carve(gpa, gpa + size, protect)
        return change.flush

    def _carve(self, start: int, end: int, act: Callable[[Area], Area | None]) -> None:
        """Every area across [start, end) cut at its edges: `act` changes the part inside and
        gives what stays of it (None: nothing); the parts outside stay as they were."""
        kept: list[Area] = []
        for area in self.areas:
            if area.end <= start or end <= area.start:
                kept.append(area)
                continue
            cut = area.cut(start, end)
            inside = act(cut)
            if inside is not None:
                kept.append(inside)
            if area.start < cut.start:
                kept.append(area.cut(area.start, cut.start))
            if cut.end < area.end:
                kept.append(area.cut(cut.end, area.end))
        self.areas = sorted(kept, key=lambda a: a.start)

    def _backend_unmap(self, cut: Area) -> None:
        if cut.backend is Backend.LINEAR:
            self._split_huge_linear(cut)
            try:
                self.pt.unmap_region(cut.start, cut.size)
                return
            except PagingError as err:
                # entries not present, unreadable or poked: clear every leaf the walks reach
                # (the seed's unmap clears a non-present leaf too)
                if err.kind not in ("NotMapped", "InvalidRequest", "MappedToHugePage"):
                    raise
        self.pt.clear_region(cut.start, cut.size)
        assert self._txn_dead is not None
        for page in range(cut.start, cut.end, self.pt.fmt.granule):
            frame = self._frames.pop(page, None)
            if frame is not None:
                self._txn_dead.append((page, frame))

    def _split_huge_linear(self, cut: Area) -> None:
        """Re-map a huge page that `cut` covers only partly as smaller pages (the seed panics)."""
        for edge in (cut.start, cut.end):
            try:
                addr, page = cursor.get_entry(self.pt, edge)
            except PagingError:
                continue
            raw = self.pt.read(addr)
            if page == self.pt.fmt.granule or edge % page == 0 or not self.pt.fmt.seed_present(raw):
                continue
            base = edge & ~(page - 1)
            hpa, flags, _, _ = self.pt.unmap(base)
            self.pt.map_region(base, hpa, edge - base, flags, allow_huge=True)
            self.pt.map_region(
                edge, hpa + (edge - base), base + page - edge, flags, allow_huge=True
            )

    def clear(self) -> None:
        """Unmap every area (the seed's `clear`, also run by its Drop)."""
        with self._txn():
            for area in self.areas:
                self._backend_unmap(area)
            self.areas = []

    def destroy(self) -> None:
        """Return every frame: the Alloc areas' data frames, then the tables. No entry needs
        clearing (the tables go too), so no poked or odd entry can make it fail."""
        for frame in self._frames.values():
            self.allocator.free(frame, self._page_frames)
        self._frames.clear()
        self.areas = []
        self.pt.destroy()

    # --------------------------------------------------------------- translation

    @property
    def generation(self) -> int:
        """Changes whenever a translation may have (guest RAM's cache keys on it)."""
        return self.pt.generation

    def translate(self, gpa: int) -> int | None:
        """The seed's `translate`: byte-exact hPA, or None outside the range / unmapped."""
        if not self.base <= gpa < self.end:
            return None
        try:
            return self.pt.query(gpa)[0]
        except PagingError:
            return None

    def translate_and_get_limit(self, gpa: int) -> tuple[int, int] | None:
        """(hPA, bytes left in the area from `gpa`); the seed returns the whole area size."""
        area = self.area_at(gpa)
        hpa = self.translate(gpa)
        if area is None or hpa is None:
            return None
        return hpa, area.end - gpa

    def read(self, gpa: int, length: int) -> bytes:
        """Guest memory across pages; an unbacked page raises NotMapped."""
        out = bytearray()
        for hpa, chunk in self._pieces(gpa, length):
            out += self.memory.read_bytes(hpa, chunk)
        return bytes(out)

    def write(self, gpa: int, data: bytes) -> None:
        pieces = list(self._pieces(gpa, len(data)))  # all pages checked before any write
        offset = 0
        for hpa, chunk in pieces:
            self.memory.write_bytes(hpa, data[offset : offset + chunk])
            offset += chunk

    def _pieces(self, gpa: int, length: int) -> Iterator[tuple[int, int]]:
        pieces = []
        while length > 0:
            hpa = self.translate(gpa)
            if hpa is None:
                raise PagingError("NotMapped", f"guest-physical {gpa:#x} is not backed")
            chunk = min(length, PAGE_SIZE - (gpa % PAGE_SIZE))
            pieces.append((hpa, chunk))
            gpa += chunk
            length -= chunk
        return iter(pieces)

    def handle_page_fault(self, gpa: int, access_flags: MappingFlags) -> bool:
        """Populate a lazy Alloc page on a nested page fault; anything else is unhandled."""
        area = self.area_at(gpa)
        if area is None or not self.base <= gpa < self.end:
            return False
        if MappingFlags(access_flags) & ~area.flags:
            return False
        if area.backend is not Backend.ALLOC or area.populate:
            return False
        page = gpa & ~(self.pt.fmt.granule - 1)
        if page in self._frames:
            return False  # already backed: not a population fault (the seed would leak a frame)
        with self._txn():
            self.pt.remap(page, self._new_frame(page), area.flags)
        return True

"""Host-physical memory made of an image's ranges: memory-mapped, never written, with a write
overlay (IMAGES.md "Images"). It implements the engine's `Frames` protocol, so the walker walks
a dump exactly as it walks our own RAM: `peek_frame` of a frame in no range is `None`, which the
walker (this memory being `strict`) reports as a `no-memory` fault; `read_u64`, `write_u64` and
`frame` there raise `MemoryHole`."""

from __future__ import annotations

import bisect
import mmap
from dataclasses import dataclass

import numpy as np

from ..engine import MemoryHole
from .errors import ImageError

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
_WORDS = PAGE_SIZE // 8
_ZEROS = np.zeros(_WORDS, dtype=np.uint64)
_ZEROS.flags.writeable = False
#: how many frame views stay cached (a view is a zero-copy window on the mapping)
VIEW_CACHE = 1 << 14


@dataclass(frozen=True, slots=True)
class Segment:
    """`size` bytes of host-physical memory at `start`: bytes of `data` from `offset`, or zeros
    when `data` is None (an ELF segment's `p_memsz` beyond `p_filesz`)."""

    start: int
    size: int
    source: str  # the file (and segment) it came from, for messages
    data: mmap.mmap | bytes | None = None
    offset: int = 0

    @property
    def end(self) -> int:
        return self.start + self.size


class ImageMemory:
    """Segments sorted by address (overlaps refused), read through read-only mappings; the
    engine's `Frames` protocol (engine/memory.py)."""

    strict = True  # a frame outside every segment is no memory at all, not zeros

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = sorted((s for s in segments if s.size > 0), key=lambda s: s.start)
        for before, after in zip(self.segments, self.segments[1:], strict=False):
            if after.start < before.end:
                raise ImageError(
                    after.source,
                    f"range [{after.start:#x}, {after.end:#x}) overlaps "
                    f"[{before.start:#x}, {before.end:#x}) of {before.source}",
                )
        self._starts = [s.start for s in self.segments]
        self.overlay: dict[int, np.ndarray] = {}
        #: pfn → the frame's words as walks read them: the overlay copy once written, else a
        #: read-only view of the mapping (None: no memory); filled on first read
        self._seen: dict[int, np.ndarray | None] = {}
        self.generation = 0  # bumped by every overlay write (`frame`): the `Frames` protocol

    def peek_frame(self, pfn: int) -> np.ndarray | None:
        """The frame's 512 little-endian words (overlay first), or None outside memory."""
        try:
            return self._seen[pfn]
        except KeyError:
            if len(self._seen) >= VIEW_CACHE:
                self._seen = {p: self.overlay[p] for p in self.overlay}
            words = self.overlay.get(pfn)
            if words is None:
                words = self.view(pfn)
            self._seen[pfn] = words
            return words

    # ------------------------------------------------------------------ reads

    def segment_at(self, paddr: int) -> Segment | None:
        i = bisect.bisect_right(self._starts, paddr) - 1
        if i >= 0 and paddr < self.segments[i].end:
            return self.segments[i]
        return None

    def view(self, pfn: int) -> np.ndarray | None:
        """The frame as the image holds it (no overlay): a read-only view, or None if no byte
        of it is in any segment. A frame only partly covered reads zeros where it is not."""
        base = pfn << PAGE_SHIFT
        seg = self.segment_at(base)
        if seg is not None and base + PAGE_SIZE <= seg.end:
            if seg.data is None:
                return _ZEROS
            return np.frombuffer(seg.data, "<u8", _WORDS, seg.offset + base - seg.start)
        return self._compose(base)

    def _compose(self, base: int) -> np.ndarray | None:
        out = bytearray(PAGE_SIZE)
        covered = False
        i = max(bisect.bisect_right(self._starts, base) - 1, 0)
        for seg in self.segments[i:]:
            if seg.start >= base + PAGE_SIZE:
                break
            lo, hi = max(seg.start, base), min(seg.end, base + PAGE_SIZE)
            if lo >= hi:
                continue
            covered = True
            if seg.data is not None:
                at = seg.offset + lo - seg.start
                out[lo - base : hi - base] = seg.data[at : at + hi - lo]
        if not covered:
            return None
        words = np.frombuffer(bytes(out), "<u8").copy()
        words.flags.writeable = False
        return words

    def read_u64(self, paddr: int) -> int:
        words = self.peek_frame(paddr >> PAGE_SHIFT)
        if words is None:
            raise MemoryHole(paddr)
        return int(words[(paddr & (PAGE_SIZE - 1)) >> 3])

    def read_bytes(self, paddr: int, length: int) -> bytes:
        out = bytearray()
        while length > 0:
            offset = paddr & (PAGE_SIZE - 1)
            chunk = min(length, PAGE_SIZE - offset)
            words = self.peek_frame(paddr >> PAGE_SHIFT)
            if words is None:
                raise MemoryHole(paddr)
            out += words.view(np.uint8)[offset : offset + chunk].tobytes()
            paddr += chunk
            length -= chunk
        return bytes(out)

    # ------------------------------------------------------------------ overlay writes

    def frame(self, pfn: int) -> np.ndarray:
        """The frame to change in place: its overlay copy (copied from the image on first
        write; the image itself is never written). Outside every range: `MemoryHole`."""
        self.generation += 1
        words = self.overlay.get(pfn)
        if words is None:
            view = self.view(pfn)
            if view is None:
                raise MemoryHole(pfn << PAGE_SHIFT)
            words = self.overlay[pfn] = view.copy()
            self._seen[pfn] = words
        return words

    def replace_frames(self, pfns: list[int], rows: np.ndarray) -> list[np.ndarray | None]:
        """The engine's `Frames.replace_frames`: the rows become the frames' overlay words
        (`MemoryHole` outside every range, before any frame is changed)."""
        old = [self.peek_frame(pfn) for pfn in pfns]
        for pfn, words in zip(pfns, old, strict=True):
            if words is None:
                raise MemoryHole(pfn << PAGE_SHIFT)
        self.generation += 1
        for pfn, row in zip(pfns, rows, strict=True):
            self.overlay[pfn] = self._seen[pfn] = row
        return old

    def write_u64(self, paddr: int, value: int) -> None:
        """A/D write-backs and pokes go to the overlay."""
        self.frame(paddr >> PAGE_SHIFT)[(paddr & (PAGE_SIZE - 1)) >> 3] = value

    @property
    def total(self) -> int:
        return sum(s.size for s in self.segments)

"""Blocks of whole frames' words for the region calls, a 2 MiB block backed by one huge page.

A vector path that makes or empties 512 leaf tables at once builds their words as one block
of 512 rows, and the rows become the frames (`Frames.replace_frames`). From numpy's allocator a
2 MiB block is 512 fresh 4 KiB pages whenever glibc grows its heap for it: ~500 minor page
faults, ~1 ms on this host, as much as the CPU work of the whole call. numpy advises huge pages
only for allocations of 4 MiB or more (`_set_madvise_hugepage`), so a block of exactly one huge
page never gets one. Here a whole block is its own private anonymous mapping, advised
`MADV_HUGEPAGE` (Linux; transparent_hugepage `madvise` or `always`): the kernel backs its
2 MiB-aligned part with one huge page at the first write — one fault — and until then it
reads as zeros. The mapping goes when the last array viewing it goes (numpy's views keep it
alive): when the last of its frames is replaced or freed, or the table's memory is dropped.
Rows of one block keep all of it alive, as any numpy block's rows do.

Partial blocks come from numpy: a huge page under a few tables would hold 2 MiB for them.
"""

from __future__ import annotations

import mmap

import numpy as np

from .memory import ENTRIES_PER_FRAME, PAGE_SIZE

#: frames in a block: 512 × 4 KiB = 2 MiB, one huge page (x86-64, arm64 with 4 KiB pages)
BLOCK_FRAMES = ENTRIES_PER_FRAME
_BLOCK_BYTES = BLOCK_FRAMES * PAGE_SIZE
_HUGEPAGE = getattr(mmap, "MADV_HUGEPAGE", None)  # Linux only
_PRIVATE = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)


def frame_rows(count: int) -> np.ndarray:
    """Words for `count` frames (`count` × 512 u64) for the caller to fill; a whole block
    is huge-page backed."""
    if count == BLOCK_FRAMES and _HUGEPAGE is not None:
        return _huge_block(_HUGEPAGE)
    return np.empty((count, ENTRIES_PER_FRAME), np.uint64)


def zero_rows(count: int) -> np.ndarray:
    """`count` frames of zeros; a whole block is fresh memory no one has touched (it costs
    nothing until a frame of it is written)."""
    if count == BLOCK_FRAMES and _HUGEPAGE is not None:
        return _huge_block(_HUGEPAGE)
    return np.zeros((count, ENTRIES_PER_FRAME), np.uint64)


def _huge_block(advice: int) -> np.ndarray:
    """512 frames of zeros in a fresh anonymous mapping advised huge, from its first 2 MiB
    boundary: two blocks' worth of address space is mapped (one VMA, never split by the
    advice), the untouched rest costs no memory."""
    area = mmap.mmap(-1, 2 * _BLOCK_BYTES, flags=_PRIVATE)
    try:
        area.madvise(advice)
    except OSError:  # a kernel without transparent huge pages: 4 KiB pages, still correct
        pass
    raw = np.frombuffer(area, np.uint8)
    skip = -raw.ctypes.data % _BLOCK_BYTES
    return raw[skip : skip + _BLOCK_BYTES].view(np.uint64).reshape(BLOCK_FRAMES, -1)

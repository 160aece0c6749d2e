"""A region call's 512 new (or emptied) leaf tables are the rows of one 2 MiB block in its own
anonymous mapping, advised huge (frame_blocks.py): one page fault instead of 512. The mapping
lives exactly as long as one of its frames does — a frame replaced or freed lets go of its row,
a failed call's rollback lets go of the block it made, a table dropped lets go of all."""

from __future__ import annotations

import gc
import mmap
import sys
import weakref

import numpy as np
import pytest

from npt_explorer.engine import MappingFlags, PageTable, PagingError, frame_blocks, table_map

G1, M2, K4 = 1 << 30, 1 << 21, 1 << 12
RW = MappingFlags.READ | MappingFlags.WRITE

pytestmark = pytest.mark.skipif(
    not hasattr(mmap, "MADV_HUGEPAGE"), reason="huge-page advice is Linux's (elsewhere: numpy)"
)


def _mapping(words: np.ndarray) -> weakref.ref:
    """A weak reference to the mmap under a frame's words (the end of its chain of bases)."""
    base = words
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base, memoryview)
    return weakref.ref(base.obj)


def _leaf_table_words(pt: PageTable, va: int) -> np.ndarray:
    """The words of the leaf table that maps `va`."""
    return pt.mem.peek_frame(pt.path(va)[-1].table >> 12)


def test_a_gib_of_4k_pages_puts_its_512_leaf_tables_in_one_advised_mapping():
    pt = PageTable("ept")
    pt.map_region(G1, 0x1_0000_0000, G1, RW)
    rows = [_leaf_table_words(pt, va) for va in range(G1, 2 * G1, M2)]
    mappings = {id(_mapping(words)()) for words in rows}
    assert len(mappings) == 1
    first = rows[0].ctypes.data
    assert first % M2 == 0  # the block starts on a huge-page boundary
    assert [words.ctypes.data - first for words in rows] == list(range(0, M2, K4))
    if sys.platform == "linux":
        assert "hg" in _vm_flags(first)  # MADV_HUGEPAGE given


def _vm_flags(address: int) -> list[str]:
    """The VmFlags /proc/self/smaps lists for the mapping holding `address`."""
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                return line.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")


def test_a_block_lives_while_any_of_its_frames_does():
    pt = PageTable("ept")
    pt.map_region(G1, 0x1_0000_0000, G1, RW)
    block = _mapping(_leaf_table_words(pt, G1))
    pt.unmap_region(G1, G1 - M2)  # 511 tables get new (zero) words: their rows are let go
    gc.collect()
    assert block() is not None  # the last table's frame still is a row of it
    last = _leaf_table_words(pt, 2 * G1 - K4)
    assert _mapping(last)() is block() and last[-1] >> 12 == 0x1_3FFF_F
    del last
    pt.destroy()  # its last frame freed
    assert block() is None


def test_a_dropped_table_lets_go_of_its_blocks():
    pt = PageTable("ept")
    pt.map_region(G1, 0x1_0000_0000, 2 * G1, RW)
    blocks = [_mapping(_leaf_table_words(pt, va)) for va in (G1, 2 * G1)]
    assert blocks[0]() is not blocks[1]()
    del pt
    gc.collect()
    assert [block() for block in blocks] == [None, None]


def test_a_map_rolled_back_lets_go_of_the_block_it_made(monkeypatch):
    made: list[weakref.ref] = []

    def recorded(count: int) -> np.ndarray:
        rows = frame_blocks.frame_rows(count)
        made.append(_mapping(rows))
        return rows

    monkeypatch.setattr(table_map, "frame_rows", recorded)
    pt = PageTable("ept")
    pt.map(2 * G1 + 5 * K4, 0x5000, K4, RW)
    frames = dict(pt.mem.frames)
    with pytest.raises(PagingError) as err:
        pt.map_region(G1, 0x1_0000_0000, 2 * G1, RW)  # 512 tables made, then a collision
    assert err.value.kind == "AlreadyMapped"
    assert len(made) == 1
    gc.collect()
    assert made[0]() is None
    assert pt.mem.frames.keys() == frames.keys()
    assert all(pt.mem.frames[pfn] is words for pfn, words in frames.items())


def test_an_unmap_rolled_back_keeps_the_mapped_words_and_lets_go_of_the_zero_block():
    pt = PageTable("ept")
    pt.map_region(G1, 0x1_0000_0000, G1, RW)
    before = {pfn: words.copy() for pfn, words in pt.mem.frames.items()}
    with pytest.raises(PagingError) as err:
        pt.unmap_region(G1, G1 + K4)  # the page past the GiB is a hole
    assert err.value.kind == "NotMapped"
    assert pt.mem.frames.keys() == before.keys()
    assert all(np.array_equal(pt.mem.frames[pfn], words) for pfn, words in before.items())
    assert pt.query(G1 + 0x1234)[0] == 0x1_0000_1234


def test_partial_blocks_come_from_numpy():
    rows = frame_blocks.frame_rows(3)
    zeros = frame_blocks.zero_rows(511)
    assert rows.shape == (3, 512) and rows.base is None
    assert zeros.shape == (511, 512) and not zeros.any()
    whole = frame_blocks.zero_rows(512)
    assert whole.shape == (512, 512) and whole.dtype == np.uint64 and not whole.any()

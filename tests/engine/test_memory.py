"""The memory protocol: our RAM and guest RAM read alike, and one reader of table entries."""

from __future__ import annotations

import numpy as np

from npt_explorer.engine import Frames, Machine, PhysicalMemory, table_words


def _frames(mem: Frames) -> Frames:
    return mem  # mypy checks that each backend below is a Frames


def test_unwritten_host_memory_reads_as_zeros_and_peeks_as_none():
    mem = _frames(PhysicalMemory())
    assert mem.read_u64(0x5008) == 0
    assert mem.peek_frame(5) is None
    mem.write_u64(0x5008, 0xABC)
    assert mem.peek_frame(5)[1] == 0xABC  # word 1 of frame 5 is byte 8


def test_table_words_reads_a_table_that_starts_inside_a_frame():
    mem = PhysicalMemory()
    mem.write_u64(0x7020, 1)  # a 4-entry table at 0x7020 (as a PAE PDPT may sit)
    mem.write_u64(0x7038, 4)
    assert table_words(mem, 0x7020, 4).tolist() == [1, 0, 0, 4]


def test_table_words_spans_frames_and_reads_missing_ones_as_zeros():
    mem = PhysicalMemory()
    mem.write_u64(0x2000 + 511 * 8, 9)  # last entry of the first frame
    mem.write_u64(0x4000, 7)  # first entry of the third frame; the second was never written
    words = table_words(mem, 0x2000, 3 * 512)
    assert (words[511], words[512], words[1024]) == (9, 0, 7)
    assert np.count_nonzero(words) == 2


def test_guest_ram_reads_a_guest_frame_through_stage_2():
    m = Machine(arch="x86_64")
    m.map(2, 0x4000_0000, 0x1000, "rw", hpa=0x8000_0000)
    ram = _frames(m.ram)
    ram.write_u64(0x4000_0010, 0x1234)
    assert m.memory.read_u64(0x8000_0010) == 0x1234  # the write went to the backing host frame
    assert table_words(ram, 0x4000_0000, 512)[2] == 0x1234
    assert ram.peek_frame(0x5000_0000 >> 12) is None  # unbacked gPA reads as zeros

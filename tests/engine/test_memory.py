"""The memory protocol: our RAM and guest RAM read alike, and one reader of table entries."""

from __future__ import annotations

import numpy as np
import pytest

from npt_explorer.engine import (
    FrameAllocator,
    Frames,
    Machine,
    PagingError,
    PhysicalMemory,
    table_words,
)


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


def test_replace_frames_makes_the_rows_the_frames_and_hands_back_their_words():
    mem = _frames(PhysicalMemory())
    mem.write_u64(0x1008, 7)
    held, generation = mem.peek_frame(1), mem.generation
    rows = np.arange(2 * 512, dtype=np.uint64).reshape(2, 512)
    old = mem.replace_frames([1, 2], rows)
    assert old[0] is held and old[1] is None  # frame 2 was never written: zeros
    assert (mem.read_u64(0x1008), mem.read_u64(0x2008)) == (1, 513)
    assert mem.generation != generation
    mem.write_u64(0x2000, 99)
    assert rows[1, 0] == 99  # kept, not copied: the row is the frame now


def test_guest_ram_replaces_no_frame_when_one_is_not_backed_by_stage_2():
    m = Machine(arch="x86_64")
    m.map(2, 0x4000_0000, 0x1000, "rw", hpa=0x8000_0000)
    m.ram.write_u64(0x4000_0000, 5)
    rows = np.ones((2, 512), np.uint64)
    with pytest.raises(PagingError, match="not backed"):
        m.ram.replace_frames([0x4000_0, 0x5000_0], rows)
    assert m.memory.read_u64(0x8000_0000) == 5
    assert m.ram.replace_frames([0x4000_0], rows[:1])[0][0] == 5
    assert m.memory.read_u64(0x8000_0008) == 1  # the host frame under it took the row


def _alloc_one_by_one(alloc, count: int, below: int) -> list[int]:
    out = []
    for _ in range(count):
        try:
            paddr = alloc.alloc()
        except PagingError:
            break
        if paddr >= below:  # `alloc_table` frees a frame an entry cannot point at, and raises
            alloc.free(paddr)
            break
        out.append(paddr)
    return out


@pytest.mark.parametrize(
    ("limit", "freed", "count", "below"),
    [(None, [], 40, 1 << 52), (None, [3, 9, 1], 40, 1 << 52), (20, [2, 5], 40, 1 << 52),
     (None, [4, 7], 30, (0x100 + 12) << 12), (None, [], 10, 0x100 << 12)],
)  # fmt: skip
def test_alloc_run_takes_the_frames_one_alloc_after_another_would(limit, freed, count, below):
    """A vector path takes many tables at once: the same frames, in the same order, and the
    allocator left as the single calls leave it, up to where one would fail."""
    allocs = []
    for _ in range(2):
        mem = PhysicalMemory()
        alloc = FrameAllocator(mem, base=0x100 << 12, limit=limit)
        firsts = [alloc.alloc() for _ in range(10)]
        for n in freed:
            alloc.free(firsts[n])
        mem.write_u64(0x10A << 12, 5)  # a stale word in a frame the allocator hands out next
        allocs.append((alloc, mem))
    (run, run_mem), (single, single_mem) = allocs
    assert run.alloc_run(count, below) == _alloc_one_by_one(single, count, below)
    assert run.in_use == single.in_use
    assert _alloc_one_by_one(run, 3, 1 << 52) == _alloc_one_by_one(single, 3, 1 << 52)
    assert run_mem.read_u64(0x10A << 12) == single_mem.read_u64(0x10A << 12)


def test_the_guest_pool_takes_a_run_of_tables_as_single_calls_would():
    machines = [Machine(arch="x86_64", pool_size=0x8000) for _ in range(2)]
    for m in machines:
        m.map(2, 0x4000_0000, 0x4000_0000, "rw", hpa=0x8000_0000)
    run, single = (m.guest_frames for m in machines)
    assert run.alloc_run(20, 1 << 52) == _alloc_one_by_one(single, 20, 1 << 52)
    assert run.in_use == single.in_use

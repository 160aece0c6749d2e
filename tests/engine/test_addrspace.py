"""AddrSpace follows axaddrspace (the seed's own tests, seed-crates.md §6), minus its panics
and leaks (docs/seed-differences.md)."""

from __future__ import annotations

import pytest

from npt_explorer.engine import FrameAllocator, MappingFlags, PageTable, PagingError, PhysicalMemory
from npt_explorer.engine.addrspace import AddrSpace

RW = MappingFlags.READ | MappingFlags.WRITE
BASE, SIZE = 0x10000, 0x10000


def space(
    base: int = BASE, size: int = SIZE, limit: int | None = None, fmt: str = "ept"
) -> AddrSpace:
    mem = PhysicalMemory()
    alloc = FrameAllocator(mem, limit=limit)
    return AddrSpace(PageTable(fmt, mem, alloc, "seed"), base, size, mem, alloc)


def test_creation_takes_one_frame_and_destroy_returns_it():
    s = space()
    assert (s.base, s.size, s.end, s.allocator.in_use) == (BASE, SIZE, BASE + SIZE, 1)
    s.destroy()
    assert s.allocator.in_use == 0


def test_contains_range():
    s = space()
    for start, size in ((BASE, 0x1000), (BASE + 0x1000, 0x2000), (BASE, SIZE)):
        assert s.contains_range(start, size)
    for start, size in ((BASE - 0x1000, 0x1000), (BASE + SIZE, 0x1000), (BASE, SIZE + 0x1000)):
        assert not s.contains_range(start, size)


def test_map_linear_translates_byte_exact():
    s = space()
    s.map_linear(0x18000, 0x10000, 0x8000, RW)
    assert s.translate(0x18000) == 0x10000
    assert s.translate(0x19234) == 0x11234


def test_map_linear_with_hpa_above_gpa_works():  # the seed's offset subtraction panics
    s = space()
    s.map_linear(0x18000, 0x8000_0000, 0x1000, RW)
    assert s.translate(0x18010) == 0x8000_0010


def test_range_is_checked_before_alignment():
    s = space()
    with pytest.raises(PagingError) as err:
        s.map_linear(0x30001, 0x1000, 0x1000, RW)
    assert err.value.kind == "InvalidAddress"
    with pytest.raises(PagingError) as err:
        s.map_linear(0x18001, 0x1000, 0x1000, RW)
    assert err.value.kind == "NotAligned"


def test_overlapping_areas_are_already_mapped():
    s = space()
    s.map_alloc(0x12000, 0x2000, RW, populate=True)
    with pytest.raises(PagingError) as err:
        s.map_linear(0x13000, 0x1000, 0x1000, RW)
    assert err.value.kind == "AlreadyMapped"


def test_alloc_populate_gives_distinct_frames_and_unmap_returns_them():
    s = space()
    before = s.allocator.in_use
    s.map_alloc(0x10000, 0x2000, RW, populate=True)
    a, b = s.translate(0x10000), s.translate(0x11000)
    assert a is not None and b is not None and a != b
    assert s.allocator.in_use == before + 3 + 2  # three tables, two data frames
    s.unmap(0x10000, 0x2000)
    assert s.translate(0x10000) is None and s.allocator.in_use == before + 3


def test_lazy_alloc_translates_to_none_until_a_fault_is_handled():
    s = space()
    s.map_alloc(0x14000, 0x1000, RW, populate=False)
    assert s.translate(0x14000) is None
    assert s.handle_page_fault(0x14000, MappingFlags.READ) is True
    assert s.translate(0x14000) is not None


def test_fault_outside_an_area_or_with_a_forbidden_access_is_not_handled():
    s = space()
    s.map_alloc(0x14000, 0x1000, MappingFlags.READ, populate=False)
    assert s.handle_page_fault(0x15000, MappingFlags.READ) is False
    assert s.handle_page_fault(0x14000, MappingFlags.WRITE) is False


def test_fault_on_a_populated_page_is_not_handled_and_leaks_nothing():
    s = space()
    s.map_alloc(0x14000, 0x1000, RW, populate=False)
    s.handle_page_fault(0x14000, MappingFlags.READ)
    frames = s.allocator.in_use
    assert s.handle_page_fault(0x14000, MappingFlags.READ) is False
    assert s.allocator.in_use == frames


def test_translate_and_get_limit_counts_the_bytes_left():
    s = space()
    s.map_alloc(0x1A000, 0x3000, RW, populate=True)
    assert s.translate_and_get_limit(0x1A000)[1] == 0x3000
    assert s.translate_and_get_limit(0x1B100)[1] == 0x1F00  # the seed says 0x3000
    assert s.translate_and_get_limit(0x1E000) is None
    assert s.translate_and_get_limit(0x30000) is None


def test_guest_memory_reads_and_writes_cross_pages():
    s = space()
    s.map_alloc(0x19000, 0x2000, RW, populate=True)
    data = bytes(range(16))
    s.write(0x19FF8, data)
    assert s.read(0x19FF8, 16) == data
    assert s.read(0x1A000, 8) == data[8:]
    with pytest.raises(PagingError):
        s.write(0x1AFF8, bytes(16))  # runs into an unmapped page: nothing written
    assert s.read(0x1AFF8, 8) == bytes(8)


def test_populate_failure_rolls_back_frames():
    s = space(limit=6)
    before = s.allocator.in_use
    with pytest.raises(PagingError) as err:
        s.map_alloc(0x10000, 0x8000, RW, populate=True)  # 3 tables + 8 frames > budget
    assert err.value.kind == "NoMemory"
    assert s.allocator.in_use == before and s.areas == []
    assert s.translate(0x10000) is None


def test_unmapping_part_of_a_huge_linear_area_splits_it():
    s = space(0, 1 << 32)
    s.map_linear(0x20_0000, 0x4000_0000, 0x20_0000, RW)
    assert s.pt.query(0x20_0000)[2] == 0x20_0000
    s.unmap(0x20_1000, 0x1000)
    assert s.translate(0x20_1000) is None
    assert s.translate(0x20_0000) == 0x4000_0000
    assert s.translate(0x20_2345) == 0x4000_2345
    assert [(a.start, a.size) for a in s.areas] == [(0x20_0000, 0x1000), (0x20_2000, 0x1FE000)]


def test_protect_splits_areas_at_the_edges():
    s = space(0, 1 << 32)
    s.map_linear(0x20_0000, 0x4000_0000, 0x4000, RW)
    s.protect(0x20_1000, 0x1000, MappingFlags.READ)
    assert s.pt.query(0x20_1000)[1] == MappingFlags.READ
    assert s.pt.query(0x20_0000)[1] == RW
    assert [a.flags for a in s.areas] == [RW, MappingFlags.READ, RW]


def test_clear_unmaps_every_area_and_frees_their_frames():
    s = space()
    s.map_alloc(0x16000, 0x1000, RW, populate=True)
    s.map_alloc(0x17000, 0x1000, RW, populate=True)
    s.clear()
    assert s.translate(0x16000) is None and s.translate(0x17000) is None
    assert s.areas == [] and s.frames_in_use == s.pt.frames_in_use


def test_lazy_placeholders_on_aarch64_are_cleared_by_unmap_so_a_remap_works():
    s = space(0, 1 << 40, fmt="aarch64-s2")
    s.map_alloc(0x10000, 0x1000, RW, populate=False)  # the seed's 0x63E placeholder
    s.unmap(0x10000, 0x1000)
    s.map_linear(0x10000, 0x5000, 0x1000, RW)
    assert s.translate(0x10000) == 0x5000

"""PageTable follows the seed's contract call for call (seed-crates.md §1.8–1.9, §5), except
where the seed panics, masks addresses or half-applies a failed call: then it raises and changes
nothing (docs/seed-differences.md)."""

from __future__ import annotations

import pytest

from npt_explorer.engine import FrameAllocator, MappingFlags, PageTable, PagingError, PhysicalMemory

R = MappingFlags.READ
RW = MappingFlags.READ | MappingFlags.WRITE
K4, M2, G1 = 0x1000, 0x20_0000, 0x4000_0000


def snapshot(pt: PageTable) -> tuple:
    """Every table frame's contents plus the frame accounting."""
    words = tuple((f, pt.mem.frame(f >> 12).tobytes()) for f in pt.table_frames())
    return words, pt.frames_in_use, pt.alloc.in_use


def x86(encoding: str = "seed") -> PageTable:
    return PageTable("x86-64", encoding=encoding)


def test_map_indexes_by_vaddr_and_aligns_paddr_down():
    pt = x86()
    flush = pt.map(0x1234, 0x5678, K4, R)
    assert pt.query(0x1000) == (0x5000, R, K4)
    assert pt.query(0x1234) == (0x5234, R, K4)
    assert flush.pages == (0x1234,) and pt.last_flush == flush


def test_mapping_a_used_slot_is_already_mapped_and_changes_nothing():
    pt = x86()
    pt.map(0x1000, 0x5000, K4, R)
    before = snapshot(pt)
    with pytest.raises(PagingError) as err:
        pt.map(0x1000, 0x9000, K4, RW)
    assert err.value.kind == "AlreadyMapped"
    assert snapshot(pt) == before


def test_empty_flags_write_a_non_present_but_nonzero_entry():
    pt = x86()
    pt.map(0x1000, 0x5000, K4, MappingFlags(0))
    with pytest.raises(PagingError, match="not mapped"):
        pt.query(0x1000)
    with pytest.raises(PagingError) as err:
        pt.map(0x1000, 0x5000, K4, R)
    assert err.value.kind == "AlreadyMapped"


def test_small_page_under_a_huge_page_is_mapped_to_huge_page():
    pt = x86()
    pt.map(0x20_0000, 0x4000_0000, M2, RW)
    with pytest.raises(PagingError) as err:
        pt.map(0x20_1000, 0x5000, K4, R)
    assert err.value.kind == "MappedToHugePage"


def test_huge_page_over_a_table_is_already_mapped_even_after_unmap():
    pt = x86()
    pt.map(0x20_1000, 0x5000, K4, R)
    pt.unmap(0x20_1000)
    with pytest.raises(PagingError) as err:
        pt.map(0x20_0000, 0x4000_0000, M2, R)
    assert err.value.kind == "AlreadyMapped"  # the emptied table stays until destroy
    assert pt.frames_in_use == 4


def test_query_adds_the_offset_and_unmap_returns_the_block_base():
    pt = x86()
    pt.map(0x220_0000, 0x4000_0000, M2, RW)
    assert pt.query(0x234_5678) == (0x4014_5678, RW, M2)
    base, flags, size, flush = pt.unmap(0x220_1000)
    assert (base, flags, size, flush.pages) == (0x4000_0000, RW, M2, (0x220_1000,))
    with pytest.raises(PagingError):
        pt.query(0x220_0000)


def test_map_region_picks_pages_greedily_as_the_seed():
    pt = x86()
    pt.map_region(0x1F_F000, 0x1F_F000, 0x20_1000, RW, allow_huge=True)
    assert pt.query(0x1F_F000)[2] == K4
    assert pt.query(0x20_0000)[2] == M2
    pt2 = x86()
    pt2.map_region(0x20_0000, 0x30_1000, 0x40_0000, RW, allow_huge=True)
    assert {pt2.query(va)[2] for va in range(0x20_0000, 0x60_0000, 0x1000)} == {K4}


def test_map_region_uses_1g_pages_when_both_sides_are_aligned():
    pt = x86()
    pt.map_region(G1, 2 * G1, G1 + M2, RW, allow_huge=True)
    assert pt.query(G1 + 0x1234) == (2 * G1 + 0x1234, RW, G1)
    assert pt.query(2 * G1)[2] == M2


def test_map_region_rejects_unaligned_vaddr_or_size_before_mapping_anything():
    pt = x86()
    before = snapshot(pt)
    for va, size in ((0x1001, 0x1000), (0x1000, 0x1800)):
        with pytest.raises(PagingError) as err:
            pt.map_region(va, 0x5000, size, R)
        assert err.value.kind == "NotAligned"
    assert snapshot(pt) == before


def test_map_region_meeting_a_mapping_rolls_back_entries_and_frames():
    pt = x86()
    pt.map(0x40_3000, 0x9000, K4, R)
    before = snapshot(pt)
    with pytest.raises(PagingError) as err:
        pt.map_region(0x20_0000, 0x1000, 0x40_0000, RW)  # makes a new table, then collides
    assert err.value.kind == "AlreadyMapped"
    assert snapshot(pt) == before


def test_unmap_region_over_a_hole_fails_and_keeps_everything():
    pt = x86()
    pt.map_region(0x1000, 0x1000, 0x2000, R)
    pt.map_region(0x4000, 0x4000, 0x1000, R)
    before = snapshot(pt)
    with pytest.raises(PagingError) as err:
        pt.unmap_region(0x1000, 0x4000)
    assert err.value.kind == "NotMapped"
    assert snapshot(pt) == before


def test_cutting_a_huge_page_is_refused_instead_of_the_seeds_panic():
    pt = x86()
    pt.map(0x20_0000, 0x4000_0000, M2, RW)
    before = snapshot(pt)
    for va in (0x20_1000, 0x20_0000):
        with pytest.raises(PagingError) as err:
            pt.unmap_region(va, K4)
        assert err.value.kind == "MappedToHugePage"
        with pytest.raises(PagingError):
            pt.protect_region(va, K4, R)
    assert snapshot(pt) == before


def test_protect_region_skips_holes_and_reflags_present_leaves():
    pt = x86()
    pt.map(0x1000, 0x5000, K4, RW)
    pt.map(0x3000, 0x6000, K4, RW)
    pt.protect_region(0x0, 0x10000, R)
    assert pt.query(0x1000)[1] == R
    assert pt.query(0x3000)[1] == R


def test_remap_needs_only_the_tables_and_protect_needs_a_present_leaf():
    pt = x86()
    pt.map(0x1000, 0x5000, K4, R)
    pt.unmap(0x1000)
    assert pt.remap(0x1000, 0x7000, RW)[0] == K4
    assert pt.query(0x1000) == (0x7000, RW, K4)
    with pytest.raises(PagingError) as err:
        pt.remap(0x8000_0000, 0x7000, RW)
    assert err.value.kind == "NotMapped"
    pt.unmap(0x1000)
    with pytest.raises(PagingError) as err:
        pt.protect(0x1000, R)
    assert err.value.kind == "NotMapped"


def test_unmap_of_a_missing_leaf_is_not_mapped_and_changes_nothing():
    pt = x86()
    pt.map(0x1000, 0x5000, K4, MappingFlags(0))  # non-present, non-zero (the seed clears it)
    before = snapshot(pt)
    with pytest.raises(PagingError) as err:
        pt.unmap(0x1000)
    assert err.value.kind == "NotMapped"
    assert snapshot(pt) == before


def test_addresses_outside_the_format_are_invalid_not_aliased():
    pt = PageTable("sv39", encoding="seed")
    with pytest.raises(PagingError) as err:
        pt.map(0x80_0000_0000, 0x5000, K4, R)  # bit 39 would alias va 0 in the seed
    assert err.value.kind == "InvalidAddress"
    with pytest.raises(PagingError) as err:
        x86().map(0x1000, 1 << 52, K4, R)
    assert err.value.kind == "InvalidAddress"
    with pytest.raises(PagingError) as err:
        x86().map(0x8000_0000_0000, 0x1000, K4, R)  # non-canonical
    assert err.value.kind == "InvalidAddress"
    x86().map(0xFFFF_8000_0000_0000, 0x1000, K4, R)  # canonical upper half is fine


def test_frames_in_use_counts_tables_and_destroy_returns_every_frame():
    mem = PhysicalMemory()
    alloc = FrameAllocator(mem)
    pt = PageTable("x86-64", mem, alloc, "seed")
    assert pt.frames_in_use == 1
    pt.map(0x1000, 0x5000, K4, R)
    assert pt.frames_in_use == 4
    pt.map_region(0x4000_0000, 0x4000_0000, 0x40_0000, RW, allow_huge=True)
    assert pt.frames_in_use == 5  # one more directory; the 2 MiB leaves need no table
    pt.destroy()
    assert alloc.in_use == 0 and alloc.peak == 5


def test_no_memory_from_a_tiny_budget_leaves_the_table_unchanged():
    mem = PhysicalMemory()
    alloc = FrameAllocator(mem, limit=3)
    pt = PageTable("x86-64", mem, alloc, "seed")
    before = snapshot(pt)
    with pytest.raises(PagingError) as err:
        pt.map(0x1000, 0x5000, K4, R)  # needs 3 more tables
    assert err.value.kind == "NoMemory"
    assert snapshot(pt) == before and alloc.in_use == 1


@pytest.mark.parametrize(
    ("fmt", "opts", "frames"),
    [
        ("aarch64-s2", {"ipa_bits": 40}, 2),
        ("aarch64-s2", {"ipa_bits": 39}, 1),
        ("sv39x4", {}, 4),
        ("sv48x4", {}, 4),
        ("ept", {}, 1),
    ],
)
def test_widened_and_concatenated_roots_are_contiguous_and_size_aligned(fmt, opts, frames):
    pt = PageTable(fmt, **opts)
    assert pt.frames_in_use == frames
    assert pt.root % (frames * 0x1000) == 0
    top = (1 << pt.fmt.input_bits) - 0x1000
    pt.map(top, 0x1000, K4, R)
    assert pt.query(top)[0] == 0x1000
    assert pt.path(top)[0].index == pt.fmt.levels[0].entries - 1


def test_copy_from_shares_root_entries_and_never_frees_them():
    mem = PhysicalMemory()
    alloc = FrameAllocator(mem)
    a = PageTable("x86-64", mem, alloc, "seed")
    b = PageTable("x86-64", mem, alloc, "seed")
    a.map(0x1000, 0x5000, K4, R)
    b.copy_from(a, 0, 0x80_0000_0000)
    assert b.query(0x1000) == (0x5000, R, K4)
    b.destroy()
    assert a.query(0x1000) == (0x5000, R, K4)
    a.destroy()
    assert alloc.in_use == 0


def test_walk_visits_present_entries_in_order():
    pt = x86()
    pt.map(0x1000, 0x5000, K4, R)
    pt.map(0x20_0000, 0x4000_0000, M2, R)
    visited = [(d, i, va) for d, i, va, _ in pt.walk()]
    assert visited == [(0, 0, 0), (1, 0, 0), (2, 0, 0), (3, 1, 0x1000), (2, 1, 0x20_0000)]


def test_more_than_32_changes_become_one_full_flush():
    pt = x86()
    assert len(pt.map_region(0, 0, 32 * K4, R).pages) == 32
    assert pt.map_region(0x10_0000, 0x10_0000, 33 * K4, R).pages is None

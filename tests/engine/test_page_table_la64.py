"""PageTable("la64", encoding="seed") follows the seed's contract call for call as the other
formats do (seed-crates.md §1.6-1.9, §2.4, §5 item 23), its walk() quirk included: table entries
are bare addresses with P=0, so walk() visits nothing below the root while lookups work."""

from __future__ import annotations

import pytest

from npt_explorer.engine import FrameAllocator, MappingFlags, PageTable, PagingError, PhysicalMemory
from npt_explorer.engine.formats import Encoding, get_format

R = MappingFlags.READ
RW = MappingFlags.READ | MappingFlags.WRITE
RWXU = RW | MappingFlags.EXECUTE | MappingFlags.USER
K4, M2, G1 = 0x1000, 0x20_0000, 0x4000_0000


def la64(encoding: str = "seed") -> PageTable:
    return PageTable("la64", encoding=encoding)


def kind_of(call) -> str:
    with pytest.raises(PagingError) as err:
        call()
    return err.value.kind


def test_geometry_is_la64metadata_four_levels_of_nine_bits_and_48_bit_addresses():
    fmt = get_format("la64")
    assert [lv.shift for lv in fmt.levels] == [39, 30, 21, 12]
    assert [lv.leaf_size for lv in fmt.levels] == [None, G1, M2, K4]
    assert (fmt.input_bits, fmt.output_bits, fmt.addr_mask) == (48, 48, 0x0000_FFFF_FFFF_F000)


def test_map_writes_bare_address_tables_and_query_adds_the_offset():
    pt = la64()
    pt.map(0x1234, 0x5678, K4, RW)
    assert pt.query(0x1234) == (0x5234, RW, K4)
    path = pt.path(0x1234)
    assert [ref.raw & 0xFFF for ref in path[:3]] == [0, 0, 0]  # new_table: the address only
    assert path[3].raw == 0x4000_0000_0000_5193  # V|D|MAT=CC|P|W|NX: the seed's R+W row


def test_walk_visits_only_the_root_entries_because_tables_read_as_not_present():
    pt = la64()
    pt.map(0x1000, 0x5000, K4, R)
    pt.map(0x4000_0000, 0x4000_0000, G1, R)
    assert [(d, i) for d, i, _, _ in pt.walk()] == []  # root entries are tables: P=0
    huge_root = la64()
    huge_root.map(0x20_0000, 0x4000_0000, M2, R)
    assert list(huge_root.walk()) == []


def test_errors_match_the_seeds_kinds():
    pt = la64()
    pt.map(0x20_0000, 0x4000_0000, M2, RW)
    assert kind_of(lambda: pt.map(0x20_1000, 0x5000, K4, R)) == "MappedToHugePage"
    pt.map(0x60_1000, 0x5000, K4, R)
    assert kind_of(lambda: pt.map(0x60_0000, 0x4000_0000, M2, R)) == "AlreadyMapped"
    assert kind_of(lambda: pt.map(0x60_1000, 0x9000, K4, R)) == "AlreadyMapped"
    assert kind_of(lambda: pt.query(0x9000)) == "NotMapped"
    assert kind_of(lambda: pt.map_region(0x1234, 0x5000, K4, R)) == "NotAligned"
    assert kind_of(lambda: pt.protect(0x70_0000, R)) == "NotMapped"


def test_huge_pages_report_their_size_and_unmap_returns_the_block_base():
    pt = la64()
    pt.map(0x220_0000, 0x4000_0000, M2, RW)
    assert pt.query(0x234_5678) == (0x4014_5678, RW, M2)
    assert pt.unmap(0x220_1000)[:3] == (0x4000_0000, RW, M2)
    assert kind_of(lambda: pt.query(0x220_0000)) == "NotMapped"


def test_empty_flags_write_an_address_only_entry_that_blocks_a_second_map():
    pt = la64()
    pt.map(0x1000, 0x5000, K4, MappingFlags(0))  # raw 0x5000: not unused, not present
    assert kind_of(lambda: pt.query(0x1000)) == "NotMapped"
    assert kind_of(lambda: pt.map(0x1000, 0x5000, K4, R)) == "AlreadyMapped"


def test_protect_and_remap_rebuild_the_flags():
    pt = la64()
    pt.map(0x1000, 0x5000, K4, RW)
    pt.protect(0x1000, RWXU)
    assert pt.query(0x1000) == (0x5000, RWXU, K4)
    pt.remap(0x1000, 0x7000, R)
    assert pt.query(0x1000) == (0x7000, R, K4)


def test_addresses_outside_48_bits_are_invalid_not_aliased():
    assert kind_of(lambda: la64().map(0x1_0000_0000_0000, 0x5000, K4, R)) == "InvalidAddress"
    assert kind_of(lambda: la64().map(0x1000, 1 << 48, K4, R)) == "InvalidAddress"


def test_frames_in_use_and_destroy_return_every_table_frame():
    mem = PhysicalMemory()
    alloc = FrameAllocator(mem)
    pt = PageTable("la64", mem, alloc, "seed")
    pt.map(0x1000, 0x5000, K4, R)
    pt.map_region(0x4000_0000, 0x4000_0000, 0x40_0000, RW, allow_huge=True)
    assert pt.frames_in_use == 5
    pt.destroy()
    assert alloc.in_use == 0


def test_fixed_writes_the_same_bits_because_the_seeds_conversion_is_already_right():
    fmt = get_format("la64")
    for value in range(64):
        for huge in (False, True):
            flags = MappingFlags(value)
            seed = fmt.new_page(0x4000_0000, flags, huge, Encoding.SEED)
            assert fmt.new_page(0x4000_0000, flags, huge, Encoding.FIXED) == seed
    assert fmt.new_table(0x5000, Encoding.FIXED) == fmt.new_table(0x5000, Encoding.SEED) == 0x5000


def test_the_hardware_reads_v_and_d_but_the_ptw_walker_reads_p_and_w():
    soft, ptw = get_format("la64"), get_format("la64", features={"ptw"})
    raw = 0x4000_0000_0000_5000 | 0x1 | 0x80 | 0x100 | 0x10  # V P W, D=0: a poked entry
    assert MappingFlags.WRITE not in soft.decode(raw, 3).hw_flags
    assert MappingFlags.WRITE in ptw.decode(raw, 3).hw_flags
    assert any("stores follow D" in p for p in soft.decode(raw, 3).problems)

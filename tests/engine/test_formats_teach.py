"""The teaching geometry (`arch = "teach"`): simple V/R/W/X/U entries over a geometry given as
data — the 6.823 handout's Figure 2 (2-level tables at both stages) and OSTEP's multi-level
paging homework (1-byte entries, 32-byte pages and tables)."""

from __future__ import annotations

import pytest

from npt_explorer.engine import (
    Machine,
    MachineConfig,
    PagingError,
    PhysicalMemory,
    Walker,
    get_format,
)

K4 = 0x1000


def _handout_machine() -> Machine:
    m = Machine(MachineConfig(arch="teach", guest="6.823", npt="6.823"))
    m.map(2, 0x20_0000, 0x1_0000, "rwx", backend="linear", hpa=0x4000_0000)
    m.map(1, 0x40_1000, K4, "rw", gpa=0x20_0000)
    return m


def test_the_handout_preset_is_two_levels_of_1024_four_byte_entries_at_both_stages():
    for fmt in (get_format("teach", geometry="6.823"), get_format("teach", stage=2)):
        assert fmt.entry_bytes == 4
        assert [(lv.name, lv.shift, lv.entries) for lv in fmt.levels] == [
            ("L1", 22, 1024),
            ("L2", 12, 1024),
        ]
        assert fmt.page_sizes == {K4}
        assert fmt.input_ranges == ((0, 1 << 32),)


def test_a_cold_2x2_walk_makes_exactly_8_references():
    """Hand-computed for gVA 0x401abc (L1 index 1, L2 index 1, offset 0xabc): the guest L1 table
    is the pool's first frame, gPA 0x100000, the L2 table the next, gPA 0x101000.
      1, 2  host L1 and L2 entries for the guest L1 entry's gPA 0x100000 + 1×4
      3     the guest L1 entry (V | 0x101000)
      4, 5  host L1 and L2 entries for the guest L2 entry's gPA 0x101000 + 1×4
      6     the guest L2 entry (0x200000 | W | R | V)
      7, 8  host L1 and L2 entries for the data's gPA 0x200abc
    2×2 + 2 + 2 = 8."""
    walk = _handout_machine().access(0x40_1ABC, "read")
    assert walk.ok and walk.gpa == 0x20_0ABC and walk.hpa == 0x4000_0ABC
    assert walk.refs == 8
    assert [(s.stage, s.level_name, s.entry_addr) for s in walk.steps if s.stage == 1] == [
        (1, "L1", 0x10_0004),
        (1, "L2", 0x10_1004),
    ]
    assert [(s.stage, s.depth) for s in walk.steps] == [
        (2, 0), (2, 1), (1, 0), (2, 0), (2, 1), (1, 1), (2, 0), (2, 1),
    ]  # fmt: skip
    assert [s.raw for s in walk.steps if s.stage == 1] == [0x10_1001, 0x20_0007]


def test_a_fault_names_stage_level_and_reason_and_has_no_syndrome():
    m = _handout_machine()
    walk = m.access(0x40_1000, "exec")  # the leaf has R and W, no X
    assert walk.fault is not None
    f = walk.fault
    assert (f.stage, f.depth, f.level_name, str(f.reason)) == (1, 1, "L2", "permission")
    assert f.syndrome == {}
    assert "no hardware syndrome" in f.explanation and "X=0" in f.explanation


def test_ostep_homework_geometry_is_32_byte_pages_1_byte_entries_and_12_bit_frames():
    """OSTEP paging-multilevel-translate.py (README): 15-bit VA = 5 PD index + 5 PT index + 5
    offset; PTE and PDE = VALID | PFN6..PFN0; 128 physical pages of 32 bytes (12-bit PA)."""
    fmt = get_format("teach", geometry="ostep")
    assert (fmt.entry_bytes, fmt.granule, fmt.input_bits, fmt.output_bits) == (1, 32, 15, 12)
    assert [(lv.shift, lv.entries) for lv in fmt.levels] == [(10, 32), (5, 32)]
    dec = fmt.decode(0xB5, 1)  # valid, PFN 0x35
    assert (str(dec.kind), dec.paddr, dec.field("V"), dec.field("PFN")) == ("leaf", 0x6A0, 1, 0x35)
    assert str(fmt.decode(0x35, 1).reason) == "not-present"  # bit 7 clear
    assert fmt.packed_tables  # a 32-byte table: several to a 4 KiB frame


def test_an_ostep_translation_by_hand_reads_pde_and_pte_bytes_at_the_homework_addresses():
    """A homework-style problem, hand-computed: PDBR = page 108 (0xD80); VA 0x611c =
    PD index 0x611c >> 10 = 24, PT index (0x611c >> 5) & 31 = 8, offset 0x1c. The PDE byte is at
    0xD80 + 24 = 0xD98; say it is 0xA1 (valid, PT on page 0x21 = 33): the PTE byte is at
    33×32 + 8 = 0x428; say 0xB5 (valid, PFN 0x35 = 53): PA = 53×32 + 0x1c = 0x6BC. One stage
    (OSTEP has no second): 2 references. The bytes are this test's, not a dump from the tool."""
    fmt = get_format("teach", geometry="ostep")
    mem = PhysicalMemory()
    mem.write_bytes(0xD98, b"\xa1")
    mem.write_bytes(0x428, b"\xb5")
    mem.write_bytes(0x429, b"\x7f")  # the neighbouring PTE shares the u64 word: untouched
    walker = Walker("teach", fmt, get_format("teach", geometry="ostep", stage=2), mem, 0xD80, None)
    walk = walker.translate(0x611C, "read")
    assert walk.ok and walk.hpa == 0x6BC and walk.refs == 2
    assert [(s.entry_addr, s.raw) for s in walk.steps] == [(0xD98, 0xA1), (0x428, 0xB5)]
    fault = walker.translate(0x613C, "read").fault  # PT index 9: 0x7f has VALID clear
    assert fault is not None and (fault.depth, str(fault.reason)) == (1, "not-present")


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"geometry": "6.824"}, "allowed: 6.823, ostep"),
        ({"levels": 2, "index_bits": [5], "offset_bits": 5, "entry_bytes": 1}, "levels = 2"),
        ({"levels": 2, "index_bits": 5, "offset_bits": 12, "entry_bytes": 3}, "1, 2, 4 or 8"),
        ({"geometry": "ostep", "perms": True}, "valid_bit"),
        ({"geometry": "6.823", "colour": 1}, "unknown key(s) colour"),
    ],
)
def test_a_bad_geometry_names_the_key_and_what_it_allows(options, words):
    with pytest.raises(PagingError) as info:
        get_format("teach", **options)
    assert words in info.value.message


def test_packed_tables_a_machine_cannot_allocate_are_refused_by_name():
    with pytest.raises(PagingError, match="guest 'custom' needs its geometry"):
        MachineConfig(arch="teach", guest="custom")
    custom = {"levels": 3, "index_bits": [2, 9, 9], "offset_bits": 12, "entry_bytes": 8}
    assert (
        Machine(MachineConfig(arch="teach", guest="custom", guest_geometry=custom))
        .s1.levels[0]
        .entries
        == 4
    )
    with pytest.raises(PagingError, match="npt 'ostep': its tables are smaller than a 4 KiB"):
        MachineConfig(arch="teach", guest="6.823", npt="ostep")
    m = Machine(MachineConfig(arch="teach", guest="ostep", npt="6.823", pool_gpa=0, pool_size=K4))
    with pytest.raises(PagingError, match="L2 table here is smaller than a frame"):
        m.map(1, 0x611C & ~31, 32, "rw", gpa=0x6A0)  # needs a page table: packed, refused
    m.poke(1, 0x611C, 0, value=0xA1)  # a PDE pointing at page 33 (gPA 0x420) instead
    m.poke(1, 0x611C, 1, value=0xB5)
    assert m.access(0x611C, "write").gpa == 0x6BC  # no permission bits: all accesses allowed
    with pytest.raises(PagingError, match="does not fit in 8 bits"):
        m.poke(1, 0x611C, 1, value=0x1B5)


def test_the_teaching_machine_flushes_a_page_or_everything():
    m = _handout_machine()
    m.map(1, 0x40_2000, K4, "rw", gpa=0x20_1000)
    m.access(0x40_1000, "read")
    m.access(0x40_2000, "read")
    m.flush("flush-page", 0x40_1000)  # that guest page's combined entry only: the stage-2
    # entry of its data page stays, so the re-walk reads both guest entries (6), not the data's
    assert (m.access(0x40_1000, "read").refs, m.access(0x40_2000, "read").refs) == (6, 0)
    m.flush("flush-all")
    assert m.access(0x40_2000, "read").refs == 8
    with pytest.raises(PagingError):
        m.flush("invept-single")  # not a teach invalidation

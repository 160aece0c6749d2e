"""x86 32-bit paging as a guest (Intel SDM Vol. 3A §4.3): 4-byte entries in 1024-entry tables,
4 MiB pages with CR4.PSE, no XD; under EPT every guest entry's gPA is walked first."""

from __future__ import annotations

import pytest

from npt_explorer.engine import Machine, MachineConfig, PageTable, PagingError, get_format

K4, M4 = 0x1000, 0x40_0000


def _machine() -> Machine:
    m = Machine(MachineConfig(arch="x86_64", guest="32-bit", npt="ept4"))
    m.map(2, 0x20_0000, 0x80_0000, "rwx", backend="linear", hpa=0x8020_0000)
    return m


def test_the_format_declares_two_levels_of_1024_four_byte_entries():
    fmt = get_format("x86-32")
    assert fmt.entry_bytes == 4
    assert [(lv.name, lv.shift, lv.entries) for lv in fmt.levels] == [
        ("PDE", 22, 1024),
        ("PTE", 12, 1024),
    ]
    assert fmt.page_sizes == {K4, M4}
    assert fmt.input_ranges == ((0, 1 << 32),)
    assert fmt.root_frames == 1  # 1024 × 4 bytes


def test_neighbouring_entries_share_a_word_without_clobbering_each_other():
    pt = PageTable("x86-32")
    pt.map(0x0000_0000, 0x1000, K4, "rw")
    pt.map(0x0000_1000, 0x2000, K4, "rw")  # PTE 1: the high half of the PTE 0's u64 word
    table = pt.path(0)[1].table
    assert pt.mem.read_u64(table) == (0x2003 << 32) | 0x1003  # P|RW, both entries intact
    assert pt.query(0x1234) == (0x2234, pt.query(0x1234)[1], K4)


def test_a_4_mib_page_is_one_pde_with_ps():
    pt = PageTable("x86-32")
    pt.map(0x8040_0000, 0x40_0000, M4, "rwx")
    ref = pt.path(0x8041_2344)[0]
    assert (ref.index, ref.addr) == (513, pt.root + 513 * 4)
    assert ref.raw == 0x40_0083  # address 31:22 | PS | R/W | P (Table 4-4)
    assert pt.query(0x8041_2344)[0] == 0x41_2344


def test_a_cold_4k_read_under_ept4_costs_14_references():
    m = _machine()
    m.map(1, 0x4000_0000, 0x2000, "rw", gpa=0x20_0000)
    walk = m.translate(0x4000_1008, "read")
    assert (walk.gpa, walk.hpa, walk.refs) == (0x20_1008, 0x8020_1008, 2 * (4 + 1) + 4)


def test_a_user_fetch_sets_id_only_with_smep():
    # SDM Vol. 3A §4.7: I/D needs CR4.SMEP=1 or (CR4.PAE=1 and EFER.NXE=1)
    m = _machine()
    m.map(1, 0x4000_0000, 0x1000, "rwxu", gpa=0x20_0000)
    m.map(1, 0x4000_1000, 0x1000, "rw", gpa=0x20_1000)
    assert m.translate(0x4000_1000, "exec", "user").fault.syndrome["error_code"] == 0b101
    m.set_control(m.control.toggled("cr4", "SMEP"))
    fault = m.translate(0x4000_0000, "exec", "kernel").fault  # SMEP: a user page
    assert fault.syndrome["error_code"] == 0b1_0001  # P | I/D


def test_a_cold_4k_read_under_amd_npt4_also_costs_14_references():
    # AMD APM Vol. 2 §15.25: each guest table read is a nested (gPA) walk, as under EPT
    m = Machine(MachineConfig(arch="x86_64", guest="32-bit", npt="npt4"))
    m.map(2, 0x20_0000, 0x80_0000, "rwxu", backend="linear", hpa=0x8020_0000)
    m.map(1, 0x4000_0000, 0x2000, "rw", gpa=0x20_0000)
    assert m.translate(0x4000_1008, "read").refs == 2 * (4 + 1) + 4


def test_pae_clear_with_long_mode_on_is_refused_not_walked_as_some_mode():
    # SDM Vol. 3A §4.1.1: IA-32e paging needs CR4.PAE=1; only guest '32-bit' clears all three
    m = _machine()
    with pytest.raises(PagingError, match="IA-32e paging needs PAE"):
        m.set_control(m.control.with_registers({"efer": 0xD00, "cr4": 0}))

"""x86 PAE guests under EPT (SDM Vol. 3A §4.4): the four PDPTEs are loaded into registers when
CR3 is written — through EPT — and each walk reads only the PDE and the PTE: 2×(4+1)+4 = 14."""

from __future__ import annotations

import pytest

from npt_explorer.engine.flags import MappingFlags
from npt_explorer.engine.formats import Encoding, EntryKind, FaultReason, get_format
from npt_explorer.engine.machine import Machine

PAE = get_format("x86-pae")
GVA, GPA_RAM, HPA_RAM = 0x4000_1008, 0x20_0000, 0x8020_0000


def machine(**opts) -> Machine:
    m = Machine(arch="x86_64", guest="pae", npt="ept4", **opts)
    m.map(2, GPA_RAM, 0x80_0000, "rwx", backend="linear", hpa=HPA_RAM)
    m.map(1, 0x4000_0000, 0x2000, "rw", gpa=GPA_RAM)
    return m


def test_geometry_is_four_pdptes_then_two_nine_bit_levels_over_32_bits():
    assert [(lv.name, lv.shift, lv.bits) for lv in PAE.levels] == [
        ("PDPTE", 30, 2),
        ("PDE", 21, 9),
        ("PTE", 12, 9),
    ]
    assert PAE.input_bits == 32 and PAE.root_registers
    assert [lv.leaf_size for lv in PAE.levels] == [None, 0x20_0000, 0x1000]


def test_a_cold_walk_reads_the_pde_and_pte_behind_ept_but_not_the_pdpte():
    walk = machine().access(GVA, "read")
    assert (walk.refs, walk.hpa) == (14, 0x8020_1008)
    assert [(s.stage, s.depth) for s in walk.steps if s.stage == 1] == [(1, 1), (1, 2)]


def test_the_pdptes_are_loaded_from_the_pdpt_when_the_guest_changes_it():
    m = machine()
    # 0x4000_1008 is in the second GiB: PDPTE 1 names the page directory at gPA 0x101000
    assert m.root_registers == (0, 0x10_1001, 0, 0)  # fixed encoding: P and the address


def test_a_poked_pdpte_is_not_seen_until_the_registers_are_reloaded():
    m = machine()
    m.poke(1, GVA, 0, value=0)  # the guest clears PDPTE 1 in memory without writing CR3
    assert m.translate(GVA, "read").ok  # the walk uses the PDPTE register
    m.load_root_registers()  # MOV to CR3
    walk = m.translate(GVA, "read")
    assert (walk.fault.stage, walk.fault.reason, walk.fault.depth) == (
        1,
        FaultReason.NOT_PRESENT,
        0,
    )
    assert walk.refs == 0  # no memory reference: the PDPTE register said P=0


def test_the_seeds_x64pte_table_entry_sets_reserved_pdpte_bits():
    raw = PAE.new_table_at(0x10_1000, Encoding.SEED, 0)
    assert raw == 0x10_1007
    dec = PAE.decode(raw, 0)
    assert dec.kind is EntryKind.MISCONFIGURED and dec.reason is FaultReason.RESERVED
    assert PAE.decode(PAE.new_table_at(0x10_1000, Encoding.FIXED, 0), 0).kind is EntryKind.TABLE
    assert PAE.new_table_at(0x10_1000, Encoding.FIXED, 1) == 0x10_1007  # a PDE: P|RW|US
    walk = machine(encoding="seed").translate(GVA, "read")
    assert (walk.fault.reason, walk.fault.depth, walk.refs) == (FaultReason.RESERVED, 0, 0)


@pytest.mark.parametrize("bit", [52, 62])
def test_bits_62_to_52_of_a_pae_pte_are_reserved(bit):
    raw = PAE.new_page(0x5000, MappingFlags.READ, False, Encoding.FIXED) | 1 << bit
    assert PAE.decode(raw, 2).reason is FaultReason.RESERVED


def test_a_2m_guest_page_needs_only_the_pde():
    m = machine()
    m.map(1, 0x8000_0000, 0x20_0000, "rw", gpa=0x40_0000, huge=True)
    walk = m.access(0x8000_1008, "read")
    assert (walk.refs, walk.hpa, walk.s1_size) == (9, 0x8040_1008, 0x20_0000)

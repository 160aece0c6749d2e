"""engine/region_fold.py: the fast fold gives exactly the regions the page-by-page definition
gives (`merge(leaves(...))`), and refolds only the tables that changed (issue 16, item 4)."""

from __future__ import annotations

import pytest

from npt_explorer.engine import EntryKind
from npt_explorer.engine.config import MachineConfig
from npt_explorer.engine.machine import Machine
from npt_explorer.engine.region_fold import RegionFolder, machine_regions
from npt_explorer.engine.regions import leaves, merge, stage_table

ARCHES = ("x86_64", "aarch64", "riscv64")


def reference(m: Machine, contiguous: bool) -> list:
    out = []
    for stage in (1, 2):
        pt = stage_table(m, stage)
        if pt is not None:
            out += merge(leaves(pt, stage), m.areas(), contiguous=contiguous)
    return out


def busy(arch: str, features: frozenset[str] = frozenset()) -> Machine:
    """Adjacent areas, a hole, huge and 4 KiB pages, a flag change inside a table, outputs
    that jump, a poked entry with problems, and an upper-half gVA where the format has one."""
    m = Machine(MachineConfig(arch=arch, features=features))
    m.map(2, 0x20_0000, 6 << 20, "rwx", hpa=0x8020_0000, name="RAM a")
    m.map(2, 0x80_0000, 2 << 20, "rw", hpa=0x9000_0000, name="RAM b")  # adjacent, jumps
    m.map(2, 0x4000_0000, 4 << 20, "rw", hpa=0xA000_0000, huge=True)
    m.map(2, 0x100_0000, 0x10_0000, "rw", backend="alloc", name="heap")
    m.map(1, 0x4000_0000, 0x8000, "rw", gpa=0x20_0000)
    m.map(1, 0x4000_8000, 0x2000, "r", gpa=0x20_8000)  # same table, other flags
    m.map(1, 0x4000_A000, 0x3000, "rw", gpa=0x7F_F000)  # crosses from RAM a into RAM b
    m.map(1, 0x5000_0000, 0x1000, "rx", gpa=0x100_0000)
    m.poke(1, 0x4000_3000, m.s1.leaf_depth, set=1 << 52)
    return m


@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize("arch", ARCHES)
def test_the_fold_equals_the_page_by_page_definition(arch, contiguous):
    m = busy(arch)
    assert machine_regions(m, contiguous=contiguous) == reference(m, contiguous)


def test_napot_pages_fold_as_their_pages():
    m = busy("riscv64", frozenset({"svnapot"}))
    m.map(1, 0x6000_0000, 0x10000, "rw", gpa=0x30_0000, huge=True)
    assert machine_regions(m) == reference(m, True)


def test_a_second_fold_decodes_no_table_and_a_poke_refolds_one():
    m = busy("x86_64")
    folder = RegionFolder()
    first = folder.regions(m)
    assert folder.tables_folded > 8
    assert folder.regions(m) == first and folder.tables_folded == 0
    m.poke(1, 0x4000_1000, 3, clear=2)  # the RW bit of one guest PTE
    again = folder.regions(m)
    assert folder.tables_folded == 1
    assert again == reference(m, True) != first


def test_an_access_refolds_only_the_tables_whose_a_d_bits_it_set():
    m = busy("x86_64")
    folder = RegionFolder()
    folder.regions(m)
    m.access(0x4000_1008, "write", "kernel")  # A at 4 guest levels, D at the leaf
    assert folder.regions(m) == reference(m, True)
    assert folder.tables_folded == 4  # EPT A/D is off: no stage-2 table changed


def test_a_cancelled_fold_returns_none_and_keeps_the_cache():
    m = busy("aarch64")
    folder = RegionFolder()
    folder.regions(m)
    assert folder.regions(m, cancelled=lambda: True) is None
    folder.regions(m)
    assert folder.tables_folded == 0


def test_a_control_change_refolds_every_table_as_the_formats_now_read_them():
    """Clearing EFER.NXE makes a guest PTE's XD bit reserved (SDM Vol. 3A 4.1.1): the
    read-only page's entry no longer maps. Same tables, same words: the fold must not keep
    what it decoded under the old control state."""
    m = busy("x86_64")
    folder = RegionFolder()
    before = folder.regions(m)
    m.set_register("efer", "NXE", 0)
    after = folder.regions(m)
    assert after == reference(m, True) != before
    assert folder.tables_folded > 8


def test_a_lower_maxphyaddr_makes_an_entrys_high_address_bit_reserved_in_the_fold():
    """An entry's bits 51:M are reserved, M = MAXPHYADDR (SDM Vol. 3A 4.5): M lowered
    to 36 after a fold, a guest PTE with bit 40 set no longer maps. The fold must read the
    free address bits under the new control state, not the ones it saw first."""
    m = busy("x86_64")
    folder = RegionFolder()
    folder.regions(m)
    m.set_register("maxphyaddr", "MAXPHYADDR", 36)
    gva, leaf = 0x4000_1000, m.s1.leaf_depth
    m.poke(1, gva, leaf, set=1 << 40)
    assert m.entry(1, gva, leaf)[1].kind is not EntryKind.LEAF  # the format's own verdict
    regions = folder.regions(m)
    assert regions == reference(m, True)
    assert not any(r.stage == 1 and r.contains(gva) for r in regions)

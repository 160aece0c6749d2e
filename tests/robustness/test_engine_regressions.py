"""Engine bugs the robustness suite found (page_table.py, addrspace.py, machine.py, guest.py,
trace.py), each pinned as the smallest case that failed before its fix. docs/robustness.md
describes each one.
"""

from __future__ import annotations

import pytest

from npt_explorer.engine import FrameAllocator, MappingFlags, PageTable, PagingError, PhysicalMemory
from npt_explorer.engine.addrspace import AddrSpace
from npt_explorer.engine.config import MachineConfig
from npt_explorer.engine.machine import Machine
from npt_explorer.engine.trace import run_trace

W = MappingFlags.WRITE
NONE = MappingFlags(0)


def space(fmt: str = "ept", encoding: str = "fixed") -> AddrSpace:
    mem = PhysicalMemory()
    alloc = FrameAllocator(mem)
    return AddrSpace(PageTable(fmt, mem, alloc, encoding), 0, 1 << 32, mem, alloc)


def test_alloc_area_with_flags_that_make_no_present_entry_returns_its_frames():
    s = space()
    s.map_alloc(0x10000, 0x2000, NONE, populate=True)
    s.unmap(0x10000, 0x2000)
    s.destroy()
    assert s.allocator.in_use == 0


def test_linear_area_with_flags_that_make_no_present_entry_can_be_unmapped():
    s = space()
    s.map_linear(0x10000, 0x8000_0000, 0x2000, NONE)
    s.unmap(0x10000, 0x2000)
    s.destroy()
    assert s.allocator.in_use == 0


def test_seed_device_uncached_stage2_region_can_be_unmapped_and_destroyed():
    s = space("aarch64-s2", "seed")
    s.map_linear(0x10000, 0x8000_0000, 0x1000, "rdc")
    s.unmap(0x10000, 0x1000)
    s.destroy()
    assert s.allocator.in_use == 0


def test_repeated_faults_on_a_lazy_page_that_stays_not_present_allocate_once():
    s = space("aarch64-s2", "seed")
    s.map_alloc(0x10000, 0x1000, W, populate=False)
    before = s.allocator.in_use
    handled = [s.handle_page_fault(0x10000, W) for _ in range(3)]
    assert s.allocator.in_use <= before + 1, handled


def test_destroy_returns_every_frame_even_behind_a_poked_stage2_entry():
    m = Machine(MachineConfig(arch="x86_64"))
    m.poke(2, m.config.pool_gpa, 0, value=0)  # cut the pool's EPT subtree off the root
    m.destroy()
    assert m.host_frames.in_use == 0


def test_map_under_an_unrecognised_huge_leaf_writes_no_frame_the_table_does_not_own():
    pt = PageTable("sv39x4", encoding="seed")
    pt.map(0x20_0000, 0x4000_0000, 0x20_0000, NONE)
    own = {paddr >> 12 for paddr in pt.table_frames()}
    with pytest.raises(PagingError) as err:
        pt.map(0x20_1000, 0x5000, 0x1000, "rw")
    assert err.value.kind == "MappedToHugePage"
    assert set(pt.mem.frames) <= own


def test_unmapping_an_area_clears_the_huge_leaf_the_seed_reads_as_a_table_pointer():
    s = space("sv39x4", "seed")  # empty flags: V=0 with an address, which the seed follows
    s.map_linear(0x20_0000, 0x4000_0000, 0x20_0000, NONE)
    s.unmap(0x20_0000, 0x20_0000)
    assert s.pt.locate(0x20_0000, 1).raw == 0
    assert set(s.memory.frames) <= {paddr >> 12 for paddr in s.pt.table_frames()}


def test_failed_stage1_map_leaves_no_bytes_in_the_guest_pool_frames_it_freed():
    m = Machine(MachineConfig(arch="aarch64", guest="va39", npt="ipa39", pool_size=0x4000))
    pool = [m.space.translate(m.config.pool_gpa + n * 0x1000) for n in range(4)]
    before = [m.memory.read_bytes(hpa, 0x1000) for hpa in pool]
    with pytest.raises(PagingError):  # needs more tables than the 4-frame pool holds
        m.map(1, 0x4000_0000, 4 << 30, NONE, gpa=0x20_0000)
    assert [m.memory.read_bytes(hpa, 0x1000) for hpa in pool] == before


def test_failed_write_to_an_unbacked_guest_table_rolls_back_the_tables_it_made():
    m = Machine(MachineConfig(arch="x86_64"))
    m.unmap(2, m.config.pool_gpa, 0x1000)  # the guest's root table loses its backing
    m.map(2, 0x4000_0000, 0x2000, "rwx", backend="linear", hpa=0x1_0000_0000)
    with pytest.raises(PagingError):
        m.map(1, 0x4000_0000, 0x2000, "rwx", gpa=0x4000_0000)
    assert m.guest_pt.frames_in_use == m.guest_pt_frames == 1


def test_a_failed_first_stage1_call_does_not_build_the_guest_table():
    m = Machine(MachineConfig(arch="x86_64", map_pool=False))
    m.map(2, m.config.pool_gpa, 0x1000, "rw", backend="alloc")
    assert m.guest_pt_frames == 0
    with pytest.raises(PagingError):
        m.map(1, 0x4000_0000, 0x1000, "rw", gpa=1 << 60)  # beyond the output width
    assert m.guest_pt_frames == 0


def test_random_trace_over_less_than_8_bytes_is_an_invalid_request():
    m = Machine(MachineConfig(arch="x86_64"))
    with pytest.raises(PagingError):
        run_trace(m, 0x4000_0000, 4, 10, pattern="random")


def test_destroy_succeeds_after_a_stage2_root_entry_is_poked_into_a_block_lookalike():
    m = Machine(MachineConfig(arch="aarch64", guest="va39", npt="ipa44", encoding="seed"))
    m.map(2, 0x4000_0000, 0x2000, "rwx", backend="linear", hpa=0x1_0000_0000)
    m.poke(2, 0x20_0000, 0, value=0x192C)  # invalid, NON_BLOCK clear: the seed's is_huge
    m.unmap(2, 0x4000_0000, 0x2000)
    m.destroy()
    assert m.host_frames.in_use == 0

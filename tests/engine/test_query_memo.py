"""`PageTable.query` remembers the tables its walks reached (`table_query.FastQuery`) only
while memory is unwritten (`Frames.generation`): after any change — an unmap, a poke of the
leaf or of an entry above it, a region call that swaps whole frames, a write into memory
behind the table's back, a stage-2 change under a guest's table — its answer is the
step-by-step descent's (`query_full`), never the one it gave before."""

from __future__ import annotations

import gc
import weakref

import pytest

from npt_explorer.engine import MappingFlags, PageTable, PagingError
from npt_explorer.engine.config import MachineConfig
from npt_explorer.engine.guest import GuestRAM
from npt_explorer.engine.machine import Machine
from npt_explorer.engine.memory import PhysicalMemory

K4, M2, G1 = 0x1000, 0x20_0000, 0x4000_0000
RW = MappingFlags.READ | MappingFlags.WRITE


def outcome(pt: PageTable, va: int):
    try:
        return pt.query(va)
    except PagingError as err:
        return err.kind


def full(pt: PageTable, va: int):
    try:
        return pt.query_full(va)
    except PagingError as err:
        return err.kind


def remembered(pt: PageTable, va: int, size: int) -> None:
    """Query `va` twice: the second answer comes from the memos (checked to be there)."""
    pt.query(va)
    fast = pt._query_plan.fast
    assert fast is not None
    memo = fast.leaves if size == K4 else fast.huge
    assert va >> fast.table_shift in memo
    assert outcome(pt, va) == full(pt, va)


@pytest.mark.parametrize("size", [K4, M2])
@pytest.mark.parametrize("name", ["ept", "x86-64", "sv39"])
def test_a_page_unmapped_after_a_query_is_not_mapped(name, size):
    pt = PageTable(name)
    pt.map_region(G1, 0x8000_0000, 2 * size, RW, allow_huge=True)
    remembered(pt, G1 + 0x18, size)
    pt.unmap(G1)
    assert outcome(pt, G1 + 0x18) == "NotMapped" == full(pt, G1 + 0x18)
    assert outcome(pt, G1 + size) == (0x8000_0000 + size, RW, size)


@pytest.mark.parametrize("size", [K4, M2])
def test_a_query_reads_the_leaf_as_it_is_now(size):
    pt = PageTable("ept")
    pt.map_region(G1, 0x8000_0000, size, RW, allow_huge=True)
    remembered(pt, G1, size)
    pt.protect(G1, "r")
    assert outcome(pt, G1 + 8) == (0x8000_0000 + 8, MappingFlags.READ, size)
    ref = pt.path(G1)[-1]
    pt.poke(ref.addr, pt.fmt.set_paddr(ref.raw, 0x9000_0000))
    assert outcome(pt, G1 + 8) == (0x9000_0000 + 8, MappingFlags.READ, size) == full(pt, G1 + 8)


def test_a_query_follows_an_upper_entry_poked_after_it():
    """The PDE of a region the memo knows is pointed at another leaf table: the answer is
    that table's entry (a kept leaf table would still answer the old page)."""
    pt = PageTable("ept")
    pt.map(G1, 0x8000_0000, K4, RW)
    pt.map(G1 + M2, 0x9000_0000, K4, "r")
    remembered(pt, G1, K4)
    other = pt.locate(G1 + M2, 2)
    pt.poke(pt.locate(G1, 2).addr, other.raw)
    assert outcome(pt, G1 + 4) == (0x9000_0004, MappingFlags.READ, K4) == full(pt, G1 + 4)
    pt.poke(pt.locate(G1, 2).addr, 0)
    assert outcome(pt, G1 + 4) == "NotMapped"


def test_a_huge_leaf_replaced_by_a_table_is_walked_through():
    pt = PageTable("ept")
    pt.map(G1, 0x8000_0000, M2, RW)
    remembered(pt, G1, M2)
    pt.unmap(G1)
    pt.map(G1, 0xA000_0000, K4, "r")
    assert outcome(pt, G1 + 8) == (0xA000_0008, MappingFlags.READ, K4) == full(pt, G1 + 8)
    assert outcome(pt, G1 + K4) == "NotMapped"


def test_region_calls_that_swap_whole_frames_leave_no_old_table_behind():
    """unmap_region and map_region give leaf tables new words wholesale (`replace_frames`):
    the frame a memo held is no longer memory's."""
    pt = PageTable("ept")
    pt.map_region(G1, 0x8000_0000, M2, RW)
    remembered(pt, G1 + 5 * K4, K4)
    pt.unmap_region(G1, M2)
    assert outcome(pt, G1 + 5 * K4) == "NotMapped"
    pt.map_region(G1, 0xC000_0000, M2, "r")
    assert outcome(pt, G1 + 5 * K4) == (0xC000_5000, MappingFlags.READ, K4)


def test_memory_written_behind_the_tables_back_is_read():
    """Another writer of the same memory (the walker's A/D write-back, a memory image's
    patch): an entry above the leaf cleared in memory, not through the table."""
    mem = PhysicalMemory()
    pt = PageTable("ept", memory=mem)
    pt.map(G1, 0x8000_0000, K4, RW)
    remembered(pt, G1, K4)
    mem.write_u64(pt.locate(G1, 1).addr, 0)
    assert outcome(pt, G1) == "NotMapped" == full(pt, G1)


def test_a_guest_table_moved_by_stage_2_is_read_where_it_now_is():
    """The guest's table lives in guest RAM: a poke of the EPT entry that maps its leaf
    table's gPA elsewhere moves the table (to zeros: nothing mapped there)."""
    m = Machine(arch="x86_64")
    m.map(2, G1, 2 * M2, "rwx", hpa=0x8000_0000)
    m.map(1, 0x10_0000_0000, K4, "rw", gpa=G1)
    guest = m.table(1)
    remembered(guest, 0x10_0000_0000, K4)
    table_gpa = guest.locate(0x10_0000_0000, 3).table
    m.poke(2, table_gpa, 3, value=m.s2.set_paddr(m.locate(2, table_gpa, 3).raw, 0x7000_0000))
    assert outcome(guest, 0x10_0000_0000) == "NotMapped" == full(guest, 0x10_0000_0000)


def test_guest_ram_generation_moves_on_past_a_switch_to_a_younger_stage_2():
    """A memo keyed on a value the counter had before would be taken as current."""

    class Space:
        def __init__(self, generation: int) -> None:
            self.generation = generation

        def translate(self, gpa: int) -> int | None:
            return gpa

    old, young = Space(50), Space(3)
    ram = GuestRAM(old, PhysicalMemory())
    seen = {ram.generation}
    ram.switch(young)
    for _ in range(60):
        assert ram.generation not in seen
        seen.add(ram.generation)
        young.generation += 1


def test_the_memo_keeps_no_frame_alive_that_memory_let_go_of():
    """The kept tables are held weakly: the words of a leaf table an unmap_region replaced
    (and the block of frames they may be a row of) go at once, not at the next query."""
    pt = PageTable("ept")
    pt.map_region(G1, 0x8000_0000, M2, RW)
    remembered(pt, G1, K4)
    old = weakref.ref(pt.mem.peek_frame(pt.locate(G1, 3).table >> 12))
    pt.unmap_region(G1, M2)
    gc.collect()
    assert old() is None
    assert outcome(pt, G1) == "NotMapped"


def _changed(change: str, warm: bool):
    """A guest page's query after a register change, the leaf then poked with `bit`: with
    its memos made before the change (`warm`) or not at all."""
    m = Machine(MachineConfig(arch="x86_64"))
    m.map(2, 0x20_0000, 2 << 20, "rwx", hpa=0x8020_0000)
    m.map(1, 0x4000_0000, 0x2000, "rw", gpa=0x20_0000)
    pt, va = m.guest_pt, 0x4000_1008
    if warm:
        remembered(pt, va, K4)
    register, field, value, bit = CHANGES[change]
    m.set_register(register, field, value)
    m.poke(1, va, m.s1.leaf_depth, set=bit)
    return outcome(pt, va), full(pt, va)


CHANGES = {
    # SDM Vol. 3A 4.5: bits 51:M of an entry are reserved (M = MAXPHYADDR)
    "MAXPHYADDR lowered to 36, bit 40 set": ("maxphyaddr", "MAXPHYADDR", 36, 1 << 40),
    # SDM Vol. 3A 4.5: with EFER.NXE = 0, bit 63 (XD) is reserved
    "EFER.NXE cleared, XD set": ("efer", "NXE", 0, 1 << 63),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_register_change_rereads_the_leaves_a_query_remembered(change):
    """A register change configures the format in place: the answer must be the one a table
    asked nothing before gives, not the flags its memo kept for the old registers."""
    assert _changed(change, warm=True) == _changed(change, warm=False)

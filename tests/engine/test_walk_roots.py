"""The walker over memory it does not own: a stage that is off, and a frame the memory lacks
(a memory image's `no-memory` fault, IMAGES.md "Images")."""

from __future__ import annotations

import numpy as np

from npt_explorer.engine import Access, FaultReason, PhysicalMemory, Walker, get_format

# x86-64 4-level tables by hand: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000 -> 0x5000
P_RW_US = 0x7
EPT_RWX_WB = 0x7 | 6 << 3  # R W X, memory type 6 (WB) in a leaf (SDM 29.3.2)


def _x86_tables() -> PhysicalMemory:
    mem = PhysicalMemory()
    for table, nxt in ((0x1000, 0x2000), (0x2000, 0x3000), (0x3000, 0x4000), (0x4000, 0x5000)):
        mem.write_u64(table, nxt | P_RW_US)
    return mem


class _Strict:
    """Memory holding only some frames: a read of any other is no memory at all."""

    strict = True
    generation = 0  # never written

    def __init__(self, mem: PhysicalMemory, drop: int) -> None:
        self.frames = {pfn: w for pfn, w in mem.frames.items() if pfn != drop >> 12}
        self.peek_frame = self.frames.get

    def read_u64(self, paddr: int) -> int:  # pragma: no cover - the walker peeks frames
        raise AssertionError("the walker reads frames through peek_frame")

    def write_u64(self, paddr: int, value: int) -> None:  # pragma: no cover - translate only
        raise AssertionError("translate writes nothing")

    def frame(self, pfn: int) -> np.ndarray:  # pragma: no cover - translate only
        raise AssertionError("translate writes nothing")


def test_a_one_stage_walk_reads_four_entries_and_gpa_equals_hpa() -> None:
    s1, s2 = get_format("x86-64"), get_format("ept", levels=4)
    walker = Walker("x86_64", s1, s2, _x86_tables(), 0x1000, None)
    walk = walker.translate(0x123, Access.READ, side_effects=False)
    assert walk.fault is None
    assert (walk.gpa, walk.hpa, walk.page_size, walk.refs) == (0x5123, 0x5123, 0x1000, 4)
    assert [s.stage for s in walk.steps] == [1, 1, 1, 1]


def test_stage_1_off_walks_the_gva_through_stage_2_alone() -> None:
    mem = PhysicalMemory()
    for table, nxt in ((0x1000, 0x2000), (0x2000, 0x3000), (0x3000, 0x4000)):
        mem.write_u64(table, nxt | 0x7)
    mem.write_u64(0x4000, 0x9000 | EPT_RWX_WB)
    walker = Walker("x86_64", get_format("x86-64"), get_format("ept", levels=4), mem, None, 0x1000)
    walk = walker.translate(0x42, Access.WRITE, side_effects=False)
    assert walk.fault is None
    assert (walk.gpa, walk.hpa, walk.refs) == (0x42, 0x9042, 4)


def test_a_table_frame_outside_the_memory_is_a_no_memory_fault_naming_its_hpa() -> None:
    s1, s2 = get_format("x86-64"), get_format("ept", levels=4)
    walker = Walker("x86_64", s1, s2, _Strict(_x86_tables(), drop=0x3000), 0x1000, None)
    walk = walker.translate(0x123, Access.READ, side_effects=False)
    assert walk.fault is not None
    assert walk.fault.reason is FaultReason.NO_MEMORY
    assert (walk.fault.stage, walk.fault.depth, walk.fault.hpa) == (1, 2, 0x3000)
    assert walk.refs == 2  # PML4 and PDPT were read; the PD was not there to read
    assert walk.fault.to_json()["hpa"] == "0x3000"
    assert "outside every range" in walk.fault.explanation

"""`Paging`: the engine's walker and inspecting calls over any `Frames` plus roots. A memory
backend (a dump with a write overlay) needs nothing else: the same memory and roots a
`Machine` holds, handed to `Paging.rooted` alone, read and walk exactly as the machine does."""

from __future__ import annotations

import pytest

from npt_explorer.engine import Access, Machine, Paging, PagingError, PhysicalMemory

GVA = 0x7F00_1234_5000


def _machine() -> Machine:
    m = Machine(arch="x86_64")
    m.map(2, 0x80_0000, 0x10_0000, "rw", hpa=0x4000_0000)
    m.map(1, GVA, 0x2000, "rwu", gpa=0x80_0000)
    return m


def _paging(m: Machine, memory: object | None = None) -> Paging:
    """The machine's host memory and roots, nothing else: guest RAM read through stage 2 by
    the walker, as a memory image's is."""
    return Paging.rooted(m.arch, m.s1, m.s2, memory or m.memory, (m.guest_root, m.npt.root))  # type: ignore[arg-type]


def test_every_entry_on_a_path_reads_as_the_machine_locates_it() -> None:
    m = _machine()
    paging = _paging(m)
    for stage, addr in ((1, GVA), (2, 0x80_0000)):
        for depth in range(4):
            view, ref = paging.locate(stage, addr, depth)
            assert ref == m.locate(stage, addr, depth)
            assert paging.entry(stage, addr, depth) == m.entry(stage, addr, depth)
            assert view.root == m.table(stage).root


def test_a_walk_over_the_handed_memory_equals_the_machines_translate() -> None:
    m = _machine()
    walk = _paging(m).walker.translate(GVA + 0x1008, Access.WRITE, side_effects=False)
    ours = m.translate(GVA + 0x1008, Access.WRITE)
    assert (walk.gpa, walk.hpa, walk.refs, walk.fault) == (ours.gpa, ours.hpa, ours.refs, None)
    assert [(s.entry_hpa, s.raw) for s in walk.steps] == [(s.entry_hpa, s.raw) for s in ours.steps]


def test_a_stage_that_is_off_has_no_tables_and_no_entries() -> None:
    m = _machine()
    paging = Paging.rooted(m.arch, m.s1, m.s2, m.memory, (None, m.npt.root))
    assert paging.table(1) is None
    with pytest.raises(PagingError, match="stage 1 is off"):
        paging.locate(1, GVA, 0)


def test_guest_tables_are_looked_up_again_after_stage_2_changes() -> None:
    """Any write to memory the tables lie in (a poke into an overlay, an A/D write-back)
    bumps its `generation`: the guest's table frames are then found through the new stage 2."""
    m = _machine()
    paging = _paging(m)
    root_gpa = m.guest_root
    before = paging.locate(1, GVA, 0)[1].raw
    s2_leaf = paging.locate(2, root_gpa, 3)[1]
    m.memory.write_u64(s2_leaf.addr, 0)  # stage 2 no longer maps the guest's root table
    assert before != 0
    assert paging.locate(1, GVA, 0)[1].raw == 0  # our RAM: an unbacked guest frame reads 0


def test_a_strict_memory_without_the_frame_is_no_memory_not_zeros() -> None:
    m = _machine()

    class Strict(PhysicalMemory):
        strict = True

    strict = Strict()
    strict.frames.update(m.memory.frames)
    paging = _paging(m, strict)
    s2_leaf = paging.locate(2, m.guest_root, 3)[1]
    strict.write_u64(s2_leaf.addr, 0)
    with pytest.raises(PagingError, match="no memory at"):
        paging.locate(1, GVA, 0)

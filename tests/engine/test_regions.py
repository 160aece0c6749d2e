"""engine/regions.py: leaves folded into ranges (VA+PA and VA only), table reads."""

from __future__ import annotations

import pytest

from npt_explorer.engine import MappingFlags
from npt_explorer.engine.config import MachineConfig
from npt_explorer.engine.machine import Machine
from npt_explorer.engine.region_fold import machine_regions
from npt_explorer.engine.regions import (
    Leaf,
    leaves,
    merge,
    read_table,
    stage_table,
)

ARCHES = ("x86_64", "aarch64", "riscv64")
RW = MappingFlags.READ | MappingFlags.WRITE


def guest(arch: str) -> Machine:
    m = Machine(MachineConfig(arch=arch))
    m.map(2, 0x20_0000, 8 << 20, "rwx", hpa=0x8020_0000, name="guest RAM")
    m.map(2, 0x4000_0000, 4 << 20, "rw", hpa=0x9000_0000, huge=True)
    m.map(1, 0x4000_0000, 0x4000, "rw", gpa=0x20_0000)
    m.map(1, 0x4000_4000, 0x2000, "rw", gpa=0x50_0000)  # inputs follow, outputs jump
    m.map(1, 0x4000_6000, 0x1000, "r", gpa=0x50_2000)  # flags change
    return m


def by_stage(regions, stage):
    return [r for r in regions if r.stage == stage]


@pytest.mark.parametrize("arch", ARCHES)
def test_va_pa_splits_where_the_output_jumps_or_flags_change(arch: str) -> None:
    s1 = by_stage(machine_regions(guest(arch)), 1)
    assert [(r.start, r.size, r.out) for r in s1] == [
        (0x4000_0000, 0x4000, 0x20_0000),
        (0x4000_4000, 0x2000, 0x50_0000),
        (0x4000_6000, 0x1000, 0x50_2000),
    ]
    assert all(r.contiguous for r in s1)
    assert s1[0].flags & RW == RW and not s1[2].flags & MappingFlags.WRITE


@pytest.mark.parametrize("arch", ARCHES)
def test_va_only_merges_across_an_output_jump_and_says_so(arch: str) -> None:
    s1 = by_stage(machine_regions(guest(arch), contiguous=False), 1)
    assert [(r.start, r.size, r.pages, r.contiguous) for r in s1] == [
        (0x4000_0000, 0x6000, 6, False),
        (0x4000_6000, 0x1000, 1, True),
    ]


@pytest.mark.parametrize("arch", ARCHES)
def test_stage2_regions_carry_backend_area_and_page_sizes(arch: str) -> None:
    s2 = by_stage(machine_regions(guest(arch)), 2)
    ram = next(r for r in s2 if r.start == 0x20_0000)
    assert (ram.size, ram.out, ram.backend, ram.area, ram.page_sizes) == (
        8 << 20,
        0x8020_0000,
        "linear",
        "guest RAM",
        (0x1000,),
    )
    huge = next(r for r in s2 if r.start == 0x4000_0000)
    assert (huge.size, huge.page_sizes, huge.pages) == (4 << 20, (0x20_0000,), 2)
    pool = [r for r in s2 if r.area == "guest page tables"]
    assert pool and all(r.backend == "alloc" for r in pool)


@pytest.mark.parametrize("arch", ARCHES)
def test_stage1_regions_name_the_area_under_their_output(arch: str) -> None:
    m = guest(arch)
    m.map(1, 0x7000_0000, 0x1000, "r", gpa=0x7000_0000)  # no stage-2 area there
    s1 = by_stage(machine_regions(m), 1)
    assert s1[0].area == "guest RAM" and s1[0].backend == "linear"
    assert s1[-1].area == "unbacked" and s1[-1].backend == ""


@pytest.mark.parametrize("arch", ARCHES)
def test_every_leaf_agrees_with_query(arch: str) -> None:
    m = guest(arch)
    for stage in (1, 2):
        for leaf in leaves(m.table(stage), stage):
            paddr, _, size = m.query(stage, leaf.start)
            assert (paddr, size) == (leaf.out, leaf.size)


def test_x86_upper_half_inputs_are_canonical() -> None:
    m = guest("x86_64")
    m.map(1, 0xFFFF_8000_0000_0000, 0x1000, "rw", gpa=0x30_0000)
    top = by_stage(machine_regions(m), 1)[-1]
    assert top.start == 0xFFFF_8000_0000_0000 and top.out == 0x30_0000


@pytest.mark.parametrize(
    ("arch", "npt", "frames"),
    [
        ("aarch64", "ipa40", 2),  # two concatenated root tables
        ("riscv64", "sv39x4", 4),  # the x4 root: 2048 entries
    ],
)
def test_read_table_reads_wide_roots_whole(arch: str, npt: str, frames: int) -> None:
    m = Machine(MachineConfig(arch=arch, npt=npt))
    top = (1 << m.s2.input_bits) - 0x1000
    m.map(2, top, 0x1000, "rw", hpa=0x8000_0000)
    words = read_table(m.npt, m.npt.root, 0)
    assert len(words) == frames * 512
    assert int(words[-1]) == m.npt.read(m.npt.root + (frames * 512 - 1) * 8) != 0


def test_read_table_of_guest_tables_goes_through_stage2() -> None:
    m = guest("x86_64")
    words = read_table(m.guest_pt, m.guest_root, 0)
    assert [int(w) for w in words] == [m.guest_pt.read(m.guest_root + 8 * i) for i in range(512)]


def test_merge_keeps_runs_apart_across_stages_and_flags() -> None:
    a = Leaf(1, 0x1000, 0x9000, 0x1000, 3, RW, RW, False)
    b = Leaf(1, 0x2000, 0xA000, 0x1000, 3, RW, RW, True)
    c = Leaf(1, 0x3000, 0xB000, 0x1000, 3, MappingFlags.READ, MappingFlags.READ, False)
    regions = merge([a, b, c])
    assert [(r.start, r.pages, r.problems) for r in regions] == [
        (0x1000, 2, True),
        (0x3000, 1, False),
    ]


def test_a_guest_without_a_table_yet_has_no_stage1_regions_and_keeps_it_that_way() -> None:
    m = Machine(MachineConfig(arch="x86_64", map_pool=False))
    m.map(2, 0x20_0000, 0x20_0000, "rw", hpa=0x8020_0000)
    assert stage_table(m, 1) is None and stage_table(m, 2) is m.npt
    assert [r.stage for r in machine_regions(m)] == [2]
    assert m.guest_pt_frames == 0  # looking made no table

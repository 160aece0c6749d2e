"""AArch64 16 KiB and 64 KiB granules at both stages (Arm ARM DDI 0487 D8.1.7 input size,
D8.2 granules and start levels, D8.3.1 descriptors; hand-computed expectations).

A granule of 2^g bytes makes every table one granule of 2^(g-3) entries, so a level resolves
g-3 bits: 4 KiB 9, 16 KiB 11, 64 KiB 13. Level n indexes from bit g + (g-3)(3-n). Blocks (no
52-bit addresses): 4 KiB at L1 (1 GiB) and L2 (2 MiB); 16 KiB at L2 (32 MiB); 64 KiB at L2
(512 MiB). Stage 2 starts at 2-SL0 (4 KiB) or 3-SL0 (16/64 KiB); a start level resolving up to
4 more bits than one table holds is a root of up to 16 concatenated tables.
"""

from __future__ import annotations

import pytest
from control_steps import machine_text, step

from npt_explorer.engine import Machine, MachineConfig, PagingError

# TCR_EL1 T0SZ | TG0 15:14 (0 4K, 2 16K, 1 64K) | EPD1 23 | TG1=4K | IPS=48 bits
TG0_16K, TG0_64K = 2 << 14, 1 << 14
S1_REST = 1 << 23 | 2 << 30 | 5 << 32
# VTCR_EL2 T0SZ | SL0 7:6 | TG0 15:14 | PS=48 bits
S2_PS = 5 << 16


def tcr(t0sz: int, tg0: int) -> int:
    return t0sz | tg0 | S1_REST


def vtcr(t0sz: int, sl0: int, tg0: int) -> int:
    return t0sz | sl0 << 6 | tg0 | S2_PS


S2_64K_IPA40 = vtcr(24, 1, TG0_64K)  # 64 KiB, 40-bit IPA, SL0=1: start at L2


def arm(registers: dict[str, object], s2_size: str = "16M") -> str:
    """IPA 0x20_0000.. → PA 0x8020_0000 (linear), above the guest page-table pool."""
    return machine_text("aarch64", registers) + step(
        "map", stage=2, gpa="0x20_0000", size=s2_size, flags="rwx", hpa="0x8020_0000"
    )


def read(gva: str, **expect: object) -> str:
    return step("translate", gva=gva, access="read", expect=expect)


def test_a_64k_stage_2_walks_two_levels_from_l2(green):
    # 64 KiB, T0SZ=24 (40-bit IPA), SL0=1 → start L2 = bits 39:29 (11 bits: one 16 KiB
    # table), L3 = bits 28:16. A 4-level va48 guest: 4 × (2 + 1) + 2 = 14 references
    replay = green(
        arm({"vtcr_el2": S2_64K_IPA40})
        + step("map", stage=1, gva="0x4000_0000", gpa="0x20_0000", size="4K", flags="rw")
        + read("0x4000_0008", result="ok", refs=14, hpa="0x8020_0008", page_size=4096)
    )
    walk = replay.results[-1].walk
    final = [(s.level_name, s.index) for s in walk.steps if s.stage == 2][-2:]
    assert final == [("L2", 0), ("L3", 0x20)]  # IPA 0x20_0000 >> 16 = 0x20


def test_a_64k_stage_2_block_is_512_mib(green):
    # D8.3.1: with a 64 KiB granule a level-2 block maps 2^29 bytes. The guest's tables sit in
    # 64 KiB pages (2 reads each), the final IPA in the block (1 read): 4 × (2 + 1) + 1 = 13
    green(
        machine_text("aarch64", {"vtcr_el2": S2_64K_IPA40})
        + step("map", stage=2, gpa="0x2000_0000", size="512M", flags="rwx",
               hpa="0x1_0000_0000", huge=True)
        + step("query", stage=2, gpa="0x2345_6788",
               expect={"paddr": "0x1_0345_6788", "page_size": 0x2000_0000})
        + step("map", stage=1, gva="0x4000_0000", gpa="0x2000_0000", size="4K", flags="rw")
        + read("0x4000_0008", result="ok", refs=13, hpa="0x1_0000_0008", page_size=4096)
    )  # fmt: skip


def test_a_16k_stage_1_va48_has_a_two_entry_l0_and_32_mib_blocks(green):
    # 16 KiB, T0SZ=16: L0 = bit 47 (1 bit), L1 = 46:36, L2 = 35:25, L3 = 24:14. Over the
    # default ipa40 (3 levels): 4 × (3 + 1) + 3 = 19; a 32 MiB L2 block: 3 × 4 + 3 = 15
    replay = green(
        arm({"tcr_el1": tcr(16, TG0_16K)}, s2_size="62M")
        + step("map", stage=1, gva="0x8000_0000_4000", gpa="0x20_0000", size="16K", flags="rw")
        + read("0x8000_0000_7ff8", result="ok", refs=19, hpa="0x8020_3ff8", page_size=4096)
        + step("map", stage=1, gva="0x200_0000", gpa="0x200_0000", size="32M", flags="rw",
               huge=True)
        + read("0x300_0008", result="ok", refs=15, hpa="0x8300_0008")  # 0x8020_0000 + 0x2e0_0008
    )  # fmt: skip
    first = [s for s in replay.results[2].walk.steps if s.stage == 1][0]
    assert (first.level_name, first.index) == ("L0", 1)  # VA[47] = 1


def test_a_64k_stage_1_with_t0sz_22_walks_l2_and_l3(green):
    # 64 KiB, T0SZ=22 (42-bit VA, the common arm64 64K-page kernel layout): 42 - 16 = 26 bits
    # = 2 levels, L2 = 41:29, L3 = 28:16. Over 64 KiB ipa40: 2 × (2 + 1) + 2 = 8
    green(
        arm({"tcr_el1": tcr(22, TG0_64K), "vtcr_el2": S2_64K_IPA40})
        + step("map", stage=1, gva="0x3_0000", gpa="0x40_0000", size="64K", flags="rw")
        + read("0x3_1008", result="ok", refs=8, hpa="0x8040_1008", page_size=0x1_0000)
    )


def test_stage_1_tables_take_a_whole_granule_of_the_pool(green):
    # every table is one granule: a 64 KiB-granule guest's root and its L3 table take 16 pool
    # frames each, 64 KiB-aligned (D8.2: a table is aligned to its size)
    replay = green(
        arm({"tcr_el1": tcr(22, TG0_64K)})
        + step("map", stage=1, gva="0x3_0000", gpa="0x40_0000", size="64K", flags="rw")
        + step("expect", guest_pt_frames=32)
    )
    assert replay.results[-1].ok


def test_a_16k_stage_2_root_of_16_concatenated_tables():
    # 16 KiB, T0SZ=24 (40 bits), SL0=1 → start L2 = bits 39:25: 15 bits = 2^(15-11) = 16
    # concatenated tables of 16 KiB, a 256 KiB root (64 frames of 4 KiB)
    m = Machine(MachineConfig(arch="aarch64", registers={"vtcr_el2": vtcr(24, 1, TG0_16K)}))
    assert [(lv.name, lv.bits) for lv in m.s2.levels] == [("L2", 15), ("L3", 11)]
    assert m.s2.root_frames == 64


@pytest.mark.parametrize(
    ("vtcr_value", "words"),
    [
        (vtcr(24, 3, TG0_64K), "start level 0 does not exist with a 64 KiB granule"),
        (vtcr(16, 0, 0), "leaves 27 index bits there (allowed 1..13"),  # 48-bit IPA from L2
    ],
)
def test_an_invalid_stage_2_start_is_refused_by_its_fields(vtcr_value, words):
    # AArch64.S2InvalidSL / S2InconsistentSL: the hardware faults every walk; the engine
    # refuses the machine and names the fields
    with pytest.raises(PagingError) as err:
        MachineConfig(arch="aarch64", registers={"vtcr_el2": vtcr_value})
    assert "vtcr_el2.T0SZ=" in err.value.message and words in err.value.message


# VTCR_EL2 → (granule, start level) whose validity depends on the implemented PA size
S2_L0_4K = vtcr(16, 2, 0)  # 48-bit IPA from L0: 4 KiB, SL0=2
S2_L1_16K = vtcr(24, 2, TG0_16K)  # 40-bit IPA from L1: 16 KiB, SL0=2 (4 index bits)
S2_L1_64K = vtcr(20, 2, TG0_64K)  # 44-bit IPA from L1: 64 KiB, SL0=2 (2 index bits)


@pytest.mark.parametrize(
    ("vtcr_value", "least"),
    [(S2_L0_4K, 4), (S2_L1_16K, 3), (S2_L1_64K, 4)],  # PARange 3 = 42 bits, 4 = 44 bits
    ids=["4k-L0-needs-44", "16k-L1-needs-42", "64k-L1-needs-44"],
)
def test_a_stage_2_start_level_needs_the_implemented_pa_size(vtcr_value, least):
    # AArch64.S2InvalidSL: SL0=2 is L0 (4 KiB) or L1 (16/64 KiB), valid only when PAMax — the
    # implemented PA size, ID_AA64MMFR0_EL1.PARange — is at least 44 / 42 / 44 bits. The manual
    # reads PAMax, not VTCR_EL2.PS (QEMU 7.2 read PS; fixed by "Rewrite check_s2_mmu_setup").
    # Below it every lookup is a stage-2 Translation fault at level 0: the engine refuses the
    # machine, naming the fields and that outcome
    regs = {"vtcr_el2": vtcr_value}
    with pytest.raises(PagingError) as err:
        MachineConfig(arch="aarch64", registers={**regs, "id_aa64mmfr0_el1": least - 1})
    assert "needs a PA size of at least" in err.value.message
    assert "Translation fault at level 0" in err.value.message
    start = 0 if vtcr_value == S2_L0_4K else 1
    for parange in range(least, 6):
        config = MachineConfig(arch="aarch64", registers={**regs, "id_aa64mmfr0_el1": parange})
        assert config.format_for("npt").levels[0].name == f"L{start}"


def test_vtcr_ps_does_not_decide_the_start_level():
    # the same 16 KiB L1 start with VTCR_EL2.PS = 40 bits and PAMax 48: valid (the output size
    # is 40 bits, but S2InvalidSL reads PAMax)
    config = MachineConfig(arch="aarch64", registers={"vtcr_el2": S2_L1_16K & ~(7 << 16) | 2 << 16})
    s2 = config.format_for("npt")
    assert [(lv.name, lv.bits) for lv in s2.levels] == [("L1", 4), ("L2", 11), ("L3", 11)]


def test_an_output_size_above_pamax_reads_as_pamax(green):
    # D8.1.8: TCR_EL1.IPS / VTCR_EL2.PS larger than the implemented PA size behave as PAMax:
    # with PARange = 3 (42 bits) and PS = 48 bits, a stage-2 page whose output address has bit
    # 42 set is an Address size fault at level 3 (FSC 0x03); with PARange = 5 it translates
    def walk(parange: int, **expect: object) -> str:
        return (
            arm({"id_aa64mmfr0_el1": parange})
            + step("map", stage=1, gva="0x4000_0000", gpa="0x20_0000", size="4K", flags="rw")
            + step("poke", stage=2, gpa="0x20_0000", depth=2, set=hex(1 << 42))
            + read("0x4000_0008", **expect)
        )

    green(walk(5, result="ok", hpa="0x400_8020_0008"))
    replay = green(walk(3, result="fault", fault_reason="address-size"))
    assert replay.results[-1].walk.fault.syndrome["fsc"] == 0x03


def test_an_l1_block_with_a_64k_granule_is_a_translation_fault(green):
    # D8.3.1: without 52-bit addresses a 64 KiB granule has no level-1 block: a descriptor
    # with bits[1:0] = 0b01 there is a Translation fault, level 1 (FSC 0x05)
    green(
        arm({"tcr_el1": tcr(16, TG0_64K)})
        + step("map", stage=1, gva="0x4000_0000", gpa="0x20_0000", size="64K", flags="rw")
        + step("poke", stage=1, gva="0x4000_0000", depth=0, clear="0x2")
        + read("0x4000_0000", result="fault", fault_stage=1, fault_reason="reserved",
               fault_depth=0, syndrome={"fsc": 0x05})
    )  # fmt: skip


def test_with_feat_lpa_a_64k_level_1_block_is_4_tib(green):
    # AArch64.BlockDescSupported: a 64 KiB level-1 block exists when PAMax = 52 (FEAT_LPA,
    # ID_AA64MMFR0_EL1.PARange = 6, as QEMU's -cpu max). The same poked descriptor is then a
    # block: the L1 table descriptor had no AF, so an Access flag fault, level 1 (FSC 0x09);
    # QEMU 7.2 gives the same (tests/image, 64 KiB fixture)
    replay = green(
        arm({"tcr_el1": tcr(16, TG0_64K), "id_aa64mmfr0_el1": 6})
        + step("map", stage=1, gva="0x4000_0000", gpa="0x20_0000", size="64K", flags="rw")
        + step("poke", stage=1, gva="0x4000_0000", depth=0, clear="0x2")
        + read("0x4000_0000", result="fault", fault_stage=1, fault_reason="access-flag",
               fault_depth=0, syndrome={"fsc": 0x09})
    )  # fmt: skip
    assert replay.machine.s1.levels[0].leaf_size == 1 << 42


def test_a_map_smaller_than_the_granule_is_not_aligned(green):
    # the smallest page is the granule: 4 KiB cannot be mapped with a 16 KiB stage 1
    green(
        arm({"tcr_el1": tcr(16, TG0_16K)})
        + step("map", stage=1, gva="0x4000_0000", gpa="0x20_0000", size="4K", flags="rw",
               expect={"error": "NotAligned"})
    )  # fmt: skip


def test_a_mode_name_that_disagrees_with_t0sz_is_an_error():
    # SCENARIO_FORMAT: the registers decide; `va39` means T0SZ=25
    with pytest.raises(PagingError) as err:
        MachineConfig(arch="aarch64", guest="va39", registers={"tcr_el1": tcr(22, TG0_64K)})
    assert "guest 'va39' (tcr_el1.T0SZ=25) disagrees" in err.value.message
    assert "tcr_el1.T0SZ=22" in err.value.message

"""AArch64 TTBR1_EL1: the upper half of the VA space, and EPD0/EPD1 (Arm ARM D8.2.2 "VA
ranges": VA bits above 64-TxSZ all 0 select TTBR0, all 1 TTBR1; D8.2.4: a walk disabled by
TCR_EL1.EPDn is a Translation fault at level 0, no descriptor read). Hand-computed.

The guest page-table pool starts at IPA 0x10_0000: TTBR0's root is its first frame, TTBR1's
root the next free one when the first upper-range map builds it. Stage 2 (ipa40, 3 levels)
maps IPA 0x20_0000.. → PA 0x8020_0000.
"""

from __future__ import annotations

import pytest
from control_steps import machine_text, step

from npt_explorer.engine import MachineConfig, PagingError

# TCR_EL1: T0SZ=16, T1SZ=16 (bits 21:16), TG1=4 KiB (2 << 30), IPS=48 bits; EPD0 7, EPD1 23
BOTH = 16 | 16 << 16 | 2 << 30 | 5 << 32
EPD0, EPD1 = 1 << 7, 1 << 23
KERNEL_VA, USER_VA = "0xffff_0000_4000_0000", "0x4000_0000"


def arm(tcr: int) -> str:
    return machine_text("aarch64", {"tcr_el1": tcr}) + step(
        "map", stage=2, gpa="0x20_0000", size="1M", flags="rwx", hpa="0x8020_0000"
    )


def read(gva: str, **expect: object) -> str:
    return step("translate", gva=gva, access="read", expect=expect)


def test_an_upper_range_gva_walks_ttbr1s_own_table(green):
    # same low 48 bits, different halves: TTBR1's table maps the kernel VA to IPA 0x20_0000,
    # TTBR0's the user VA to 0x20_1000. 4 stage-1 levels × (3 + 1) + 3 = 19 references
    replay = green(
        arm(BOTH)
        + step("map", stage=1, gva=KERNEL_VA, gpa="0x20_0000", size="4K", flags="rw")
        + step("map", stage=1, gva=USER_VA, gpa="0x20_1000", size="4K", flags="rwu")
        + read(KERNEL_VA, result="ok", refs=19, gpa="0x20_0000", hpa="0x8020_0000")
        + read(USER_VA, result="ok", refs=19, gpa="0x20_1000", hpa="0x8020_1000")
    )
    roots = [next(s for s in r.walk.steps if s.stage == 1).table for r in replay.results[-2:]]
    # TTBR1's root: the pool frame after TTBR0's root (0x10_0000); its L1-L3 tables follow
    assert roots == [0x10_1000, 0x10_0000]


def test_epd1_disables_the_upper_range(green):
    # D8.2.4: EPD1=1: a TTBR1-range VA is a Translation fault, level 0 (FSC 0x04), no read
    green(
        arm(BOTH | EPD1)
        + read(KERNEL_VA, result="fault", fault_stage=1, fault_reason="not-present",
               fault_depth="null", refs=0, syndrome={"fsc": 0x04})
    )  # fmt: skip


def test_epd0_disables_the_lower_range(green):
    # D8.2.4: EPD0=1: the same for TTBR0-range VAs; TTBR1 still walks
    green(
        arm(BOTH | EPD0)
        + step("map", stage=1, gva=KERNEL_VA, gpa="0x20_0000", size="4K", flags="rw")
        + read(USER_VA, result="fault", fault_reason="not-present", fault_depth="null",
               refs=0, syndrome={"fsc": 0x04})
        + read(KERNEL_VA, result="ok", hpa="0x8020_0000")
    )  # fmt: skip


def test_a_va_in_neither_range_faults_before_any_read(green):
    # D8.2.2: VA[63:48] neither all 0 nor all 1: Translation fault, level 0
    green(
        arm(BOTH)
        + read("0x0001_0000_0000_0000", result="fault", fault_reason="non-canonical", refs=0,
               syndrome={"fsc": 0x04})
    )  # fmt: skip


def test_a_ttbr1_range_of_another_size_is_refused_by_name():
    with pytest.raises(PagingError) as err:
        MachineConfig(arch="aarch64", registers={"tcr_el1": BOTH & ~(63 << 16) | 25 << 16})
    assert "tcr_el1.T1SZ=25, TG1=2 with EPD1=0" in err.value.message


def test_a_control_change_of_the_granule_is_refused_on_a_built_machine(green):
    # the tables were built for TG0 = 4 KiB; a machine cannot change its geometry in place
    green(
        arm(BOTH)
        + step("control", register="tcr_el1", field="TG0", value=2,
               expect={"error": "InvalidRequest"})
    )  # fmt: skip

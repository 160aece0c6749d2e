"""AArch64 top-byte-ignore: TCR_EL1.TBI0/TBI1 and TBID0/TBID1 (Arm ARM D8.8 "Address
tagging", pseudocode AArch64.AddrTop and AArch64.BranchAddr). Hand-computed; each rule also
seen in QEMU 7.2 (`-cpu max`, the qemu-oracle's stub, 2026-12-04):

- TBIx=1 for the range VA[55] selects: VA[63:56] is a tag; the walk translates the address
  with bits 63:56 equal to bit 55. Without it a tagged address is outside both ranges: a
  Translation fault at level 0 (FSC 0x04) before any read.
- A data abort's FAR keeps the tag; the TLB ignores it (one entry serves every tag).
- Instruction fetches: TBIDx=1 keeps the tag in the address translated (a fault at level 0);
  with TBIDx=0 the branch strips it (BranchAddr), so the PC — and FAR — have none.
"""

from __future__ import annotations

import numpy as np
from control_steps import machine_text, step

# TCR_EL1: T0SZ=16, T1SZ=16, TG1=4 KiB, IPS=48 bits; EPD1 23; TBI0 37, TBI1 38, TBID0 51, TBID1 52
BOTH = 16 | 16 << 16 | 2 << 30 | 5 << 32
EPD1 = 1 << 23
TBI0, TBI1, TBID0, TBID1 = 1 << 37, 1 << 38, 1 << 51, 1 << 52
USER_VA, TAGGED = "0x4000_0008", "0x5a00_0000_4000_0008"  # tag 0x5a, VA[55] = 0
UNMAPPED_TAGGED = "0x5a00_0000_4000_2008"
KERNEL_PAGE, KERNEL_TAGGED = "0xffff_0000_4000_0000", "0xa5ff_0000_4000_0008"  # VA[55] = 1


def arm(tcr: int) -> str:
    """User page at VA 0x4000_0000 → IPA 0x20_0000 → PA 0x8020_0000 (TTBR0)."""
    return (
        machine_text("aarch64", {"tcr_el1": tcr})
        + step("map", stage=2, gpa="0x20_0000", size="1M", flags="rwx", hpa="0x8020_0000")
        + step("map", stage=1, gva="0x4000_0000", gpa="0x20_0000", size="4K", flags="rwxu")
    )


def go(gva: str, kind: str = "read", op: str = "translate", **expect: object) -> str:
    return step(op, gva=gva, access=kind, priv="user", expect=expect)


def test_without_tbi0_a_tagged_address_is_outside_both_ranges(green):
    replay = green(arm(BOTH | EPD1) + go(TAGGED, result="fault", fault_reason="non-canonical"))
    fault = replay.results[-1].walk.fault
    assert fault.syndrome["fsc"] == 0x04 and fault.syndrome["far"] == 0x5A00_0000_4000_0008
    assert replay.results[-1].walk.steps == []  # no descriptor read


def test_with_tbi0_the_tag_is_not_translated_and_stays_in_far(green):
    replay = green(
        arm(BOTH | EPD1 | TBI0)
        + go(TAGGED, result="ok", hpa="0x8020_0008", refs=19)
        + go(UNMAPPED_TAGGED, result="fault", fault_reason="not-present")
    )
    far = replay.results[-1].walk.fault.syndrome["far"]
    assert far == 0x5A00_0000_4000_2008  # a data abort reports the address with its tag


def test_the_tlb_ignores_the_tag(green):
    # the untagged access fills the TLB; the same page under another tag hits it (no walk)
    green(
        arm(BOTH | EPD1 | TBI0)
        + go(USER_VA, op="access", result="ok", tlb="miss")
        + go(TAGGED, op="access", result="ok", tlb="hit", hpa="0x8020_0008", refs=0)
    )


def test_a_fetch_ignores_the_tag_unless_tbid0(green):
    # TBID0=0: the branch strips the tag, the fetch translates VA 0x4000_0008 and FAR (of a
    # fault) has no tag; TBID0=1: the tag is translated — Translation fault level 0, tagged FAR
    replay = green(
        arm(BOTH | EPD1 | TBI0)
        + go(TAGGED, "exec", result="ok", hpa="0x8020_0008")
        + go(UNMAPPED_TAGGED, "exec", result="fault", fault_reason="not-present")
    )
    assert replay.results[-1].walk.fault.syndrome["far"] == 0x4000_2008
    replay = green(
        arm(BOTH | EPD1 | TBI0 | TBID0)
        + go(TAGGED, "read", result="ok")
        + go(TAGGED, "exec", result="fault", fault_reason="non-canonical")
    )
    assert replay.results[-1].walk.fault.syndrome["far"] == 0x5A00_0000_4000_0008


def test_tbi1_covers_the_upper_range_only(green):
    # VA[55] selects the range and its TBI bit: a tagged kernel VA walks TTBR1 with TBI1=1;
    # TBI0 alone leaves it outside both ranges
    upper = step("map", stage=1, gva=KERNEL_PAGE, gpa="0x20_1000", size="4K", flags="rw")
    kernel = step("translate", gva=KERNEL_TAGGED, access="read", expect={"result": "ok",
                  "hpa": "0x8020_1008"})  # fmt: skip
    green(arm(BOTH | TBI1) + upper + kernel)
    bad = step("translate", gva=KERNEL_TAGGED, access="read", expect={"result": "fault",
               "fault_reason": "non-canonical"})  # fmt: skip
    green(arm(BOTH | TBI0) + upper + bad)


def test_batch_walks_answer_tagged_addresses_like_the_scalar_walker(green):
    # the vector walkers check inputs against the untagged ranges; with TBI on they leave
    # every lane to the scalar walker, which untags (same answers, one by one)
    machine = green(arm(BOTH | EPD1 | TBI0)).machine
    gvas = [0x4000_0008, 0x5A00_0000_4000_0008, 0x5A00_0000_4000_2008, 0x0100_0000_4000_0010]
    res = machine.walk_many(np.array(gvas, dtype=np.uint64), "read", "user")
    assert res.ok.tolist() == [True, True, False, True]
    assert res.hpa[res.ok].tolist() == [0x8020_0008, 0x8020_0008, 0x8020_0010]

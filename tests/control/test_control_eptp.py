"""More than one EPT per x86 machine (`context eptp = N`): translations are tagged by the
EPTP (SDM Vol. 3C 28.3: guest-physical and combined mappings are tagged by EP4TA, EPTP[51:12];
INVEPT single-context invalidates one EP4TA's, all-context every one). Hand-computed.

Guest: gVA 0x4000_0000 → gPA 0x20_0000. EPT 0 maps gPA 0x20_0000 → hPA 0x8020_0000; EPT 1
(made by the first `context eptp = 1`, holding only the guest page-table pool, mapped to the
same host frames) maps it → hPA 0x9020_0000.
"""

from __future__ import annotations

from control_steps import machine_text, step

GVA = "0x4000_0000"


def two_epts() -> str:
    return (
        machine_text("x86_64")
        + step("map", stage=2, gpa="0x20_0000", size="1M", flags="rwx", hpa="0x8020_0000")
        + step("map", stage=1, gva=GVA, gpa="0x20_0000", size="4K", flags="rw")
        + step("context", eptp=1)
        + step("map", stage=2, gpa="0x20_0000", size="1M", flags="rwx", hpa="0x9020_0000")
    )


def read(tlb: str, hpa: str) -> str:
    return step("access", gva=GVA, access="read", expect={"result": "ok", "tlb": tlb, "hpa": hpa})


def test_a_new_eptp_holds_only_the_guest_page_table_pool(green):
    # the guest's tables are reachable (same memory), the data page is not mapped in EPT 2:
    # an EPT violation (exit reason 48) on the final gPA. The pool (gPA 0x10_0000..) shares
    # EPT 2's PML4E and PDPTE with gPA 0x20_0000, whose PDE (index 1) is empty:
    # 4 × (4 + 1) + 3 = 23 reads, the fault at depth 2
    green(
        machine_text("x86_64")
        + step("map", stage=2, gpa="0x20_0000", size="1M", flags="rwx", hpa="0x8020_0000")
        + step("map", stage=1, gva=GVA, gpa="0x20_0000", size="4K", flags="rw")
        + step("context", eptp=2)
        + step("translate", gva=GVA, access="read",
               expect={"result": "fault", "refs": 23, "fault_stage": 2, "fault_during": "final",
                       "fault_depth": 2,
                       "fault_reason": "not-present", "syndrome": {"exit_reason": 48}})
    )  # fmt: skip


def test_each_eptp_translates_through_its_own_ept(green):
    green(
        two_epts()
        + read("miss", "0x9020_0000")
        + step("context", eptp=0)
        + read("miss", "0x8020_0000")  # EPT 1's entry is not EPT 0's
        + read("hit", "0x8020_0000")
    )


def test_invept_single_context_leaves_the_other_epts_entries(green):
    # INVEPT type 1 with EPT 1's EPTP: EPT 0's combined entry survives; type 2 removes both
    green(
        two_epts()
        + read("miss", "0x9020_0000")
        + step("context", eptp=0)
        + read("miss", "0x8020_0000")
        + step("context", eptp=1)
        + step("flush", kind="invept-single")
        + read("miss", "0x9020_0000")
        + step("context", eptp=0)
        + read("hit", "0x8020_0000")
        + step("flush", kind="invept-global")
        + read("miss", "0x8020_0000")
    )


def test_eptp_is_an_x86_context(green):
    green(machine_text("aarch64") + step("context", eptp=1, expect={"error": "InvalidRequest"}))

"""RISC-V status bits, one scenario per rule (Priv. ISA; hand-computed expectations).

Guest: gVA 0x4000_0000 → gPA 0x20_0000 (a VU page, "rwxu"), gVA 0x4000_1000 → 0x20_1000
(flags per case), gVA 0x4000_2000 → 0x20_2000 (execute-only "x"); G-stage maps
gPA 0x20_0000.. → hPA 0x8020_0000 with flags per case.
"""

from __future__ import annotations

import pytest
from control_steps import machine_text, step

SUM, MXR = 1 << 18, 1 << 19
ADUE = 1 << 61


def rv(registers: dict[str, object] | None = None, s2: str = "rwxu", page: str = "rw") -> str:
    return (
        machine_text("riscv64", registers)
        + step("map", stage=2, gpa="0x20_0000", size="1M", flags=s2, hpa="0x8020_0000")
        + step("map", stage=1, gva="0x4000_0000", gpa="0x20_0000", size="4K", flags="rwxu")
        + step("map", stage=1, gva="0x4000_1000", gpa="0x20_1000", size="4K", flags=page)
        + step("map", stage=1, gva="0x4000_2000", gpa="0x20_2000", size="4K", flags="x")
    )


def access(gva: str, kind: str, priv: str = "kernel", **expect: object) -> str:
    return step("access", gva=gva, access=kind, priv=priv, expect=expect)


def test_vsstatus_sum_lets_vs_mode_load_and_store_user_pages_but_never_fetch(green):
    # Priv. ISA 12.1.1.2 / 3.1.6.3: SUM=0: S-mode loads/stores to U pages fault; SUM=1 allows
    # them; S-mode never executes from a U page. Load page fault scause 13, fetch 12
    user = "0x4000_0000"
    replay = green(
        rv()
        + access(user, "read", result="fault", fault_reason="permission", syndrome={"scause": 13})
    )
    assert "vsstatus.SUM=0" in replay.results[-1].walk.fault.explanation
    green(
        rv({"vsstatus": SUM})
        + access(user, "read", result="ok")
        + access(user, "write", result="ok")
        + access(user, "exec", result="fault", syndrome={"scause": 12})
    )


def test_vsstatus_mxr_makes_execute_only_pages_readable_at_the_vs_stage(green):
    # Priv. ISA 3.1.6.3: MXR=1: loads from pages marked readable or executable succeed
    xonly = "0x4000_2000"
    green(rv() + access(xonly, "read", result="fault", syndrome={"scause": 13}))
    green(rv({"vsstatus": MXR}) + access(xonly, "read", result="ok", hpa="0x8020_2000"))


def test_vsstatus_mxr_does_not_reach_the_g_stage_but_sstatus_mxr_does(green):
    # Priv. ISA 21.2.1 (hypervisor): vsstatus.MXR affects the VS-stage only; the HS-level
    # sstatus.MXR makes execute-only G-stage pages readable too. Guest-page fault load: 21
    s2_x_only = rv() + step("protect", stage=2, gpa="0x20_0000", size="4K", flags="xu")
    load = "0x4000_0000"
    green(
        s2_x_only
        + access(load, "read", "user", result="fault", fault_stage=2, syndrome={"scause": 21})
    )
    green(
        rv({"vsstatus": MXR})
        + step("protect", stage=2, gpa="0x20_0000", size="4K", flags="xu")
        + access(load, "read", "user", result="fault", fault_stage=2)
    )
    green(
        rv({"sstatus": MXR})
        + step("protect", stage=2, gpa="0x20_0000", size="4K", flags="xu")
        + access(load, "read", "user", result="ok")
    )


def test_mxr_never_applies_to_implicit_page_table_reads(green):
    # Priv. ISA 21.5.1 (hypervisor): implicit G-stage accesses for VS-stage PTEs are reads
    # checked without MXR: an execute-only G-stage page under the guest's table faults (21,
    # htinst 0x3000 for an implicit PTE read)
    green(
        rv({"sstatus": MXR})
        + step("protect", stage=2, gpa="0x10_0000", size="4K", flags="xu")
        + access(
            "0x4000_0000",
            "read",
            result="fault",
            fault_stage=2,
            fault_during="guest-walk",
            syndrome={"scause": 21, "htinst": "0x3000"},
        )
    )


def test_svadu_per_stage(green):
    # Svadu: henvcfg.ADUE makes the VS-stage set A/D, menvcfg.ADUE the G-stage (and enables
    # henvcfg.ADUE); with ADUE=0 an A=0 leaf faults (Svade): load page fault 13
    clear_a = step("poke", stage=1, gva="0x4000_1000", depth=2, fields={"A": 0})
    page = "0x4000_1000"
    green(rv() + clear_a + access(page, "read", result="fault", fault_reason="access-flag"))
    green(
        rv({"menvcfg": ADUE, "henvcfg": ADUE})
        + clear_a
        + access(page, "read", result="ok", writes=1)
        + step("expect", entry={"stage": 1, "gva": page, "depth": 2}, fields={"A": 1})
    )
    # G-stage only: the VS-stage A=0 still faults
    green(
        rv({"menvcfg": ADUE})
        + clear_a
        + access(page, "read", result="fault", fault_stage=1, fault_reason="access-flag")
    )
    # VS-stage only: henvcfg.ADUE reads 0 while menvcfg.ADUE = 0 (WARL)
    green(rv({"henvcfg": ADUE}) + clear_a + access(page, "read", result="fault"))


@pytest.mark.parametrize(
    "kind,gva,expect",
    [
        ("hlv", "0x4000_1000", {"result": "ok"}),
        ("hsv", "0x4000_1000", {"result": "ok"}),
        # HLVX needs X, not R (Priv. ISA 9.2.2 / 21.1): an rw page faults as a load (13)
        (
            "hlvx",
            "0x4000_1000",
            {"result": "fault", "syndrome": {"scause": 13, "hstatus_gva": 1}},
        ),
        ("hlvx", "0x4000_2000", {"result": "ok"}),  # execute-only: readable by HLVX
        ("hlv", "0x4000_2000", {"result": "fault"}),
    ],
)
def test_hypervisor_loads_and_stores(green, kind, gva, expect):
    green(rv() + step("access", gva=gva, access=kind, expect=expect))


def test_hlv_runs_at_the_privilege_hstatus_spvp_gives(green):
    # Priv. ISA 21.2.1: SPVP=0: as VU-mode — a supervisor page faults, a user page is fine
    regs = {"hstatus": 0}
    green(
        rv(regs)
        + step("access", gva="0x4000_1000", access="hlv", expect={"result": "fault"})
        + step("access", gva="0x4000_0000", access="hlv", expect={"result": "ok"})
    )


def test_a_guest_page_fault_reports_hstatus_gva(green):
    # Priv. ISA 21.2.1: GVA=1 when stval holds a guest virtual address (guest-page faults)
    green(
        rv()
        + access(
            "0x4000_5000",
            "read",
            result="fault",
            fault_stage=1,
            fault_reason="not-present",
        )
        + step("protect", stage=2, gpa="0x20_0000", size="4K", flags="r")
        + access("0x4000_0000", "write", "user", result="fault", syndrome={"hstatus_gva": 1})
    )


def test_vsatp_bare_turns_the_vs_stage_off(green):
    # Priv. ISA 21.2.13: vsatp.MODE = Bare: gPA = gVA, only the G-stage translates
    green(
        rv({"vsatp": 0})
        + access("0x20_1008", "read", result="ok", gpa="0x20_1008", hpa="0x8020_1008", refs=3)
    )

"""AArch64 control bits, one scenario per rule (Arm ARM DDI 0487; hand-computed expectations).

Guest: gVA 0x4000_0000 → IPA 0x20_0000, an EL0 page ("rwxu": AP[1]=1, AP[2]=0, PXN=1 as the
fixed encoding writes for an EL0-writable page); 0x4000_1000 → 0x20_1000 flags per case;
stage 2 maps IPA 0x20_0000.. → PA 0x8020_0000.
"""

from __future__ import annotations

from control_steps import machine_text, step

PAN_ON = {"pan": 1}
EPAN = 1 << 57
WXN = 1 << 19
# T0SZ=16 | EPD1 | TG1=4K | IPS=48 bits, as the default; HA 39, HD 40, HPD0 41
TCR = 16 | 1 << 23 | 2 << 30 | 5 << 32
HA, HD, HPD0 = 1 << 39, 1 << 40, 1 << 41


def arm(registers: dict[str, object] | None = None, page: str = "rw", **machine: object) -> str:
    return (
        machine_text("aarch64", registers, **machine)
        + step("map", stage=2, gpa="0x20_0000", size="1M", flags="rwxu", hpa="0x8020_0000")
        + step("map", stage=1, gva="0x4000_0000", gpa="0x20_0000", size="4K", flags="rwu")
        + step("map", stage=1, gva="0x4000_1000", gpa="0x20_1000", size="4K", flags=page)
    )


def access(gva: str, kind: str, priv: str = "kernel", **expect: object) -> str:
    return step("access", gva=gva, access=kind, priv=priv, expect=expect)


USER, KERNEL = "0x4000_0000", "0x4000_1000"


def test_pan_faults_el1_data_accesses_to_el0_pages(green):
    # D8.4.2: PSTATE.PAN=1: an EL1 read/write of a page EL0 may access is a Permission fault
    # (FSC 0x0C | level 3 = 0x0F, EC 0x25 data abort from the current EL)
    replay = green(
        arm(PAN_ON)
        + access(USER, "read", result="fault", fault_reason="permission", syndrome={"fsc": "0xf"})
        + access(USER, "write", result="fault")
        + access(KERNEL, "read", result="ok")
        + access(USER, "read", "user", result="ok")
    )
    assert "PAN: PSTATE.PAN=1" in replay.results[3].walk.fault.explanation
    green(arm() + access(USER, "read", result="ok"))


def test_epan_extends_pan_to_el0_executable_pages(green):
    # FEAT_PAN3 (D8.4.2): with SCTLR_EL1.EPAN=1, PAN also covers pages EL0 may execute
    # (UXN=0) even when AP[1]=0: the EL1-only page at 0x4000_1000 made EL0-executable
    sctlr = {"sctlr_el1": 1 | EPAN, "pan": 1}
    green(
        arm(sctlr, page="rx")
        + step("poke", stage=1, gva=KERNEL, depth=3, fields={"UXN": 0})
        + access(KERNEL, "read", result="fault", fault_reason="permission")
    )
    green(
        arm({"pan": 1}, page="rx")
        + step("poke", stage=1, gva=KERNEL, depth=3, fields={"UXN": 0})
        + access(KERNEL, "read", result="ok")
    )


def test_wxn_makes_writable_pages_execute_never(green):
    # D8.4.1.2: SCTLR_EL1.WXN=1: a region writable at EL1&0 is XN; a read-only one is not
    replay = green(
        arm({"sctlr_el1": 1 | WXN}, page="rwx")
        + access(KERNEL, "exec", result="fault", fault_reason="permission")
        + step("protect", stage=1, gva=KERNEL, size="4K", flags="rx")
        + access(KERNEL, "exec", result="ok")
    )
    assert "WXN" in replay.results[3].walk.fault.explanation
    green(arm(page="rwx") + access(KERNEL, "exec", result="ok"))


def test_wxn_is_judged_at_the_accessing_el(green):
    # D8.4.1.2 (AArch64.S1DirectBasePermissions): WXN removes execute where the accessing EL
    # may write. AP=00 is writable at EL1 only: EL0 may still fetch (UXN=0); AP=01 is writable
    # at EL0 too: an EL0 fetch is XN. Found against QEMU 7.2 (get_S1prot), 16/64 KiB fixtures
    uxn0 = step("poke", stage=1, gva=KERNEL, depth=3, fields={"UXN": 0})
    green(
        arm({"sctlr_el1": 1 | WXN}, page="rwx")
        + uxn0
        + access(KERNEL, "exec", "user", result="ok")
        + access(KERNEL, "exec", "kernel", result="fault", fault_reason="permission")
    )
    green(
        arm({"sctlr_el1": 1 | WXN}, page="rwxu")
        + access(KERNEL, "exec", "user", result="fault", fault_reason="permission")
    )


def test_hpd0_ignores_hierarchical_table_permissions(green):
    # D8.4.1.3: TCR_EL1.HPD0=1: APTable, PXNTable and UXNTable are ignored
    table_ro = step("poke", stage=1, gva=KERNEL, depth=2, fields={"APTABLE": 2})
    green(arm(page="rw") + table_ro + access(KERNEL, "write", result="fault"))
    green(arm({"tcr_el1": TCR | HPD0}, page="rw") + table_ro + access(KERNEL, "write", result="ok"))


def test_hardware_access_flag_per_stage(green):
    # D8.4.5: TCR_EL1.HA sets AF at stage 1 only; VTCR_EL2.HA at stage 2 only. With HA=0 an
    # AF=0 descriptor is an Access flag fault (FSC 0x08 | level 3 = 0x0B)
    clear_af = step("poke", stage=1, gva=KERNEL, depth=3, fields={"AF": 0})
    green(arm() + clear_af + access(KERNEL, "read", result="fault", fault_reason="access-flag"))
    green(
        arm({"tcr_el1": TCR | HA})
        + clear_af
        + access(KERNEL, "read", result="ok", writes=1)
        + step("expect", entry={"stage": 1, "gva": KERNEL, "depth": 3}, fields={"AF": 1})
    )
    clear_s2_af = step("poke", stage=2, gpa="0x20_1000", depth=2, fields={"AF": 0})
    green(
        arm({"tcr_el1": TCR | HA})
        + clear_s2_af
        + access(KERNEL, "read", result="fault", fault_stage=2, fault_reason="access-flag")
    )


def test_ha_without_hd_sets_af_but_never_marks_dirty(green):
    # D8.4.6: with HA=1 HD=0 a store to a DBM=1 read-only page is a Permission fault; with HD=1
    # the hardware clears AP[2] (dirty)
    dbm = step("poke", stage=1, gva=KERNEL, depth=3, fields={"DBM": 1, "AP": 2})
    green(
        arm({"tcr_el1": TCR | HA})
        + dbm
        + access(KERNEL, "write", result="fault", fault_reason="permission")
    )
    green(
        arm({"tcr_el1": TCR | HA | HD})
        + dbm
        + access(KERNEL, "write", result="ok")
        + step("expect", entry={"stage": 1, "gva": KERNEL, "depth": 3}, fields={"AP": 0})
    )


def test_sctlr_el1_m_0_turns_stage_1_off(green):
    # D8.2.11: SCTLR_EL1.M=0: the EL1&0 stage 1 is disabled, IPA = VA
    green(arm({"sctlr_el1": 0}) + access("0x20_1008", "read", result="ok", hpa="0x8020_1008"))

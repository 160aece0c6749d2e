"""x86 control bits, one scenario per rule; expected values computed by hand from the SDM.

Machine for every case: stage 2 maps gPA 0x20_0000.. → hPA 0x8020_0000 (rwx, user), stage 1 maps
a user page at gVA 0x4000_0000 and a supervisor page at 0x4000_1000 (both gPA 0x20_0000 + n).
"""

from __future__ import annotations

import pytest

BASE = """
[scenario]
title = "x86 control state"
arch = "x86_64"
[machine]
{machine}
[machine.registers]
{registers}
[[step]]
op = "map"
stage = 2
gpa = "0x20_0000"
size = "1M"
flags = "rwxu"
backend = "linear"
hpa = "0x8020_0000"
[[step]]
op = "map"
stage = 1
gva = "0x4000_0000"
gpa = "0x20_0000"
size = "4K"
flags = "{user_flags}"
[[step]]
op = "map"
stage = 1
gva = "0x4000_1000"
gpa = "0x20_1000"
size = "4K"
flags = "{kernel_flags}"
"""


def scenario(
    registers: str = "",
    steps: str = "",
    machine: str = "",
    user_flags: str = "rwxu",
    kernel_flags: str = "rwx",
) -> str:
    return (
        BASE.format(
            machine=machine,
            registers=registers,
            user_flags=user_flags,
            kernel_flags=kernel_flags,
        )
        + steps
    )


def access(gva: str, kind: str, expect: str, priv: str = "kernel", extra: str = "") -> str:
    return f"""
[[step]]
op = "access"
gva = "{gva}"
access = "{kind}"
priv = "{priv}"
{extra}
expect = {{ {expect} }}
"""


# CR0 = PG | WP | ET | PE unless a case clears WP (0x8000_0011)
CR0_NO_WP = 'cr0 = "0x8000_0011"'


def test_cr0_wp_0_lets_the_kernel_write_a_read_only_page_and_sets_a_and_d(green):
    # SDM 3A 4.6.1: with CR0.WP=0 supervisor writes ignore R/W; 4.8: A and D are set
    steps = (
        access("0x4000_1000", "write", 'result = "ok", hpa = "0x8020_1000"')
        + """
[[step]]
op = "expect"
entry = { stage = 1, gva = "0x4000_1000", depth = 3 }
fields = { A = 1, D = 1, RW = 0 }
"""
    )
    green(scenario(CR0_NO_WP, steps, kernel_flags="rx"))


def test_cr0_wp_0_does_not_help_user_mode(green):
    # SDM 3A 4.6.1: user-mode writes need R/W=1 whatever CR0.WP; error code P|W|U = 0x7
    steps = access(
        "0x4000_0000",
        "write",
        'result = "fault", fault_reason = "permission", syndrome = { error_code = "0x7" }',
        priv="user",
    )
    green(scenario(CR0_NO_WP, steps, user_flags="rxu"))


def test_cr0_wp_1_faults_the_kernel_write(green):
    # SDM 3A 4.6.1: CR0.WP=1: supervisor writes need R/W=1; error code P|W = 0x3
    steps = access(
        "0x4000_1000",
        "write",
        'result = "fault", fault_reason = "permission", syndrome = { error_code = "0x3" }',
    )
    green(scenario("", steps, kernel_flags="rx"))


SMEP = 'cr4 = "0x10_00a0"'  # PAE | PGE | SMEP
SMAP = 'cr4 = "0x20_00a0"'  # PAE | PGE | SMAP


def test_smep_faults_a_kernel_fetch_from_a_user_page_with_id(green):
    # SDM 3A 4.6.1: CR4.SMEP=1 → no supervisor fetch from a user-mode address; 4.7: P|I/D = 0x11
    steps = access(
        "0x4000_0000",
        "exec",
        'result = "fault", fault_reason = "permission", syndrome = { error_code = "0x11" }',
    ) + access("0x4000_1000", "exec", 'result = "ok"')
    replay = green(scenario(SMEP, steps))
    assert "SMEP" in replay.results[3].walk.fault.explanation


def test_without_smep_the_kernel_may_fetch_from_a_user_page(green):
    green(scenario("", access("0x4000_0000", "exec", 'result = "ok"')))


def test_smap_faults_a_kernel_read_of_a_user_page_unless_eflags_ac(green):
    # SDM 3A 4.6.1: CR4.SMAP=1, CPL<3, EFLAGS.AC=0 → no data access to user-mode addresses;
    # error code P = 0x1 for the read; with AC=1 the read succeeds
    steps = (
        access(
            "0x4000_0000",
            "read",
            'result = "fault", fault_reason = "permission", syndrome = { error_code = "0x1" }',
        )
        + access("0x4000_0000", "read", 'result = "ok"', extra="ac = true")
        + access("0x4000_1000", "read", 'result = "ok"')
        + access("0x4000_0000", "read", 'result = "ok"', priv="user")
    )
    replay = green(scenario(SMAP, steps))
    text = replay.results[3].walk.fault.explanation
    assert "SMAP: supervisor read of a user page with EFLAGS.AC=0" in text


def test_smap_with_ac_still_obeys_wp_for_a_read_only_user_page(green):
    # SDM 3A 4.6.1: with AC=1 and CR0.WP=1 a supervisor write needs R/W=1: P|W = 0x3
    steps = access(
        "0x4000_0000",
        "write",
        'result = "fault", fault_reason = "permission", syndrome = { error_code = "0x3" }',
        extra="ac = true",
    )
    green(scenario(SMAP, steps, user_flags="rxu"))


NO_NXE = 'efer = "0x500"'  # LMA | LME, NXE=0


def test_efer_nxe_0_makes_xd_reserved(green):
    # SDM 3A 4.5: with NXE=0 bit 63 is reserved → #PF RSVD; read: P|RSVD = 0x9
    steps = access(
        "0x4000_1000",
        "read",
        'result = "fault", fault_reason = "reserved", fault_depth = 3, '
        'syndrome = { error_code = "0x9" }',
    )
    green(scenario(NO_NXE, steps, kernel_flags="rw"))  # no EXECUTE → XD=1


def test_efer_nxe_0_fetch_faults_do_not_report_id(green):
    # SDM 3A 4.7: I/D is set only with NXE=1 or SMEP=1: a not-present fetch reports 0x0
    steps = access(
        "0x4000_5000",
        "exec",
        'result = "fault", fault_reason = "not-present", syndrome = { error_code = "0x0" }',
    )
    green(scenario(NO_NXE, steps))


def test_efer_nxe_0_with_smep_fetch_faults_report_id(green):
    # SDM 3A 4.7: SMEP=1 keeps I/D: not-present fetch → 0x10
    steps = access(
        "0x4000_5000",
        "exec",
        'result = "fault", fault_reason = "not-present", syndrome = { error_code = "0x10" }',
    )
    green(scenario(NO_NXE + "\n" + SMEP, steps))


PKE = 'cr4 = "0x40_00a0"'  # PAE | PGE | PKE


@pytest.mark.parametrize(
    "pkru,kind,priv,expect",
    [
        # key 0: AD0 = bit 0, WD0 = bit 1 (SDM 3A 4.6.2); error code PK = bit 5
        ("0x1", "read", "user", 'result = "fault", syndrome = { error_code = "0x25" }'),
        ("0x1", "read", "kernel", 'result = "fault", syndrome = { error_code = "0x21" }'),
        ("0x2", "read", "user", 'result = "ok"'),
        ("0x2", "write", "user", 'result = "fault", syndrome = { error_code = "0x27" }'),
        ("0x2", "write", "kernel", 'result = "fault", syndrome = { error_code = "0x23" }'),
        ("0x1", "exec", "user", 'result = "ok"'),  # keys never guard fetches
        ("0x4", "read", "user", 'result = "ok"'),  # AD1 does not guard key 0
    ],
)
def test_protection_keys_guard_user_pages_by_pkru(green, pkru, kind, priv, expect):
    green(scenario(f'{PKE}\npkru = "{pkru}"', access("0x4000_0000", kind, expect, priv=priv)))


def test_pkru_wd_does_not_bind_the_kernel_with_wp_0(green):
    # SDM 3A 4.6.2: WD disallows supervisor writes only if CR0.WP=1
    steps = access("0x4000_0000", "write", 'result = "ok"')
    green(scenario(f'{PKE}\npkru = "0x2"\n{CR0_NO_WP}', steps))


def test_pke_0_ignores_pkru(green):
    green(scenario('pkru = "0x3"', access("0x4000_0000", "read", 'result = "ok"', priv="user")))


def test_a_guest_entry_address_at_or_above_maxphyaddr_is_reserved(green):
    # SDM 3A 4.1.4 / 4.5: bits 51:MAXPHYADDR of a present entry are reserved → #PF P|RSVD
    steps = """
[[step]]
op = "poke"
stage = 1
gva = "0x4000_1000"
depth = 3
set = "0x100_0000_0000"
""" + access(
        "0x4000_1000",
        "read",
        'result = "fault", fault_reason = "reserved", fault_depth = 3, '
        'syndrome = { error_code = "0x9" }',
    )
    green(scenario("maxphyaddr = 40", steps))  # the poke sets bit 40


def test_an_ept_entry_address_at_or_above_maxphyaddr_is_a_misconfiguration(green):
    # SDM 3C 29.3.3.1: reserved bits 51:MAXPHYADDR in an EPT entry → EPT misconfiguration (49)
    steps = """
[[step]]
op = "poke"
stage = 2
gpa = "0x20_1000"
depth = 3
set = "0x8_0000_0000_0000"
""" + access(
        "0x4000_1000",
        "read",
        'result = "fault", fault_stage = 2, fault_reason = "misconfig", '
        "syndrome = { exit_reason = 49 }",
    )
    green(scenario("maxphyaddr = 48", steps))


def test_ept_violation_exit_qualification_bits_9_to_11_with_advanced_information(green):
    # SDM 3C Table 28-7: with the advanced VM-exit information capability, a violation on the
    # final gPA (bits 7 and 8 set) reports the linear address's U/S (9), R/W (10), XD (11).
    # A read of the user page (U/S=1, R/W=1, XD=0) whose gPA is unmapped in the EPT:
    # bits 0 (read), 7, 8, 9, 10 = 0x781; the kernel page (U/S=0, R/W=1, XD=1: "rw") 0xd81
    steps = (
        """
[[step]]
op = "unmap"
stage = 2
gpa = "0x20_0000"
size = "8K"
"""
        + access(
            "0x4000_0000",
            "read",
            'result = "fault", fault_stage = 2, syndrome = { exit_qualification = "0x781" }',
            priv="user",
        )
        + access(
            "0x4000_1000",
            "read",
            'result = "fault", fault_stage = 2, syndrome = { exit_qualification = "0xd81" }',
        )
    )
    green(scenario("", steps, machine='features = ["ept-exit-info"]', kernel_flags="rw"))

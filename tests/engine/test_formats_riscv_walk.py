"""RISC-V walker hooks (VS-stage and G-stage permission, Svade/Svadu) and the syndromes of page
faults and guest-page faults (scause, stval, htval, htinst)."""

from __future__ import annotations

import pytest

from npt_explorer.engine.faults import FINAL, GUEST_WALK, Fault, finish
from npt_explorer.engine.flags import Access, Priv
from npt_explorer.engine.formats.base import AccessRequest, EntryKind, FaultReason
from npt_explorer.engine.formats.riscv import FORMATS, LeafPerms, RiscvFormat
from npt_explorer.engine.formats.riscv_faults import explain, syndrome

V, R, W, X, U, G, A, D = (1 << i for i in range(8))
LEAF = V | A | D
READ, WRITE, EXEC = Access.READ, Access.WRITE, Access.EXEC
KERNEL, USER = Priv.KERNEL, Priv.USER
PERMISSION, ACCESS_FLAG = FaultReason.PERMISSION, FaultReason.ACCESS_FLAG


def fmt(name: str, *features: str, **options: object) -> RiscvFormat:
    return FORMATS[name](features=frozenset(features), **options)


def run_leaf(f: RiscvFormat, bits: int, req: AccessRequest):
    dec = f.decode((0x1000 << 10) | bits, f.leaf_depth)
    assert dec.kind is EntryKind.LEAF
    return f.leaf(f.start(), dec, req)


# --------------------------------------------------------------------- VS-stage permission


@pytest.mark.parametrize(
    ("bits", "access", "priv", "reason"),
    [
        (R, READ, KERNEL, None),
        (R, WRITE, KERNEL, PERMISSION),  # store needs W
        (R, EXEC, KERNEL, PERMISSION),  # fetch needs X
        (X, READ, KERNEL, PERMISSION),  # MXR=0: X does not make a page readable
        (X, EXEC, KERNEL, None),
        (R | W, WRITE, KERNEL, None),
        (R | W | X, READ, USER, PERMISSION),  # U=0: a supervisor page
        (R | U, READ, USER, None),
        (R | W | U, WRITE, USER, None),
        (R | U, READ, KERNEL, PERMISSION),  # SUM=0: VS-mode may not touch user pages
        (R | X | U, EXEC, KERNEL, PERMISSION),  # never fetch from a user page in VS-mode
        (R | X | U, EXEC, USER, None),
    ],
)
def test_vs_stage_permission(bits, access, priv, reason):
    f = fmt("sv39")
    req = AccessRequest(access, priv)
    assert run_leaf(f, LEAF | bits, req).reason is reason
    assert f.allows(LeafPerms.of(bits), req) is reason


# ---------------------------------------------------------------------- G-stage permission


@pytest.mark.parametrize(
    ("bits", "req", "reason"),
    [
        (R | W | X, AccessRequest(READ), PERMISSION),  # U=0: every G-stage access faults
        (R | W | X, AccessRequest(READ, original=EXEC, implicit=True), PERMISSION),
        (R | U, AccessRequest(READ, original=WRITE, implicit=True), None),  # PT read needs R
        (X | U, AccessRequest(READ, original=EXEC, implicit=True), PERMISSION),
        (R | U, AccessRequest(WRITE, original=READ, implicit=True, write_back=True), PERMISSION),
        (R | W | U, AccessRequest(WRITE, original=READ, implicit=True, write_back=True), None),
        (R | U, AccessRequest(WRITE), PERMISSION),
        (R | W | U, AccessRequest(WRITE, USER), None),  # the guest's privilege plays no part
        (X | U, AccessRequest(EXEC), None),
        (R | U, AccessRequest(EXEC), PERMISSION),
        (X | U, AccessRequest(READ), PERMISSION),
    ],
)
def test_g_stage_permission_treats_every_access_as_u_mode(bits, req, reason):
    for f in (fmt("sv39x4"), fmt("sv48x4"), fmt("sv39", stage=2)):
        assert run_leaf(f, LEAF | bits, req).reason is reason
        assert f.allows(LeafPerms.of(bits), req) is reason


def test_implicit_accesses_are_reads_and_a_d_write_backs_are_stores():
    f = fmt("sv39x4")
    assert f.implicit_access(False) is READ
    assert f.implicit_access(True) is WRITE


# --------------------------------------------------------------------------- Svade / Svadu


@pytest.mark.parametrize("name", ["sv39", "sv39x4"])
def test_svade_a_clear_or_d_clear_on_a_store_faults(name):
    f = fmt(name)  # U=1: a user page at stage 1, the mandatory U at the G-stage
    load, store = AccessRequest(READ, USER), AccessRequest(WRITE, USER)
    assert run_leaf(f, V | R | W | U | D, load).reason is ACCESS_FLAG
    assert run_leaf(f, V | R | W | U | A, store).reason is ACCESS_FLAG
    assert run_leaf(f, V | R | W | U | A, load).reason is None
    assert run_leaf(f, V | R | W | U | A, load).write_back is None


@pytest.mark.parametrize("name", ["sv39", "sv39x4"])
def test_svadu_sets_a_and_on_a_store_d_instead_of_faulting(name):
    f = fmt(name, "svadu")
    base = (0x1000 << 10) | V | R | W | U
    load = run_leaf(f, V | R | W | U, AccessRequest(READ, USER))
    store = run_leaf(f, V | R | W | U, AccessRequest(WRITE, USER))
    assert (load.reason, load.write_back) == (None, base | A)
    assert (store.reason, store.write_back) == (None, base | A | D)
    assert run_leaf(f, LEAF | R | W | U, AccessRequest(WRITE, USER)).write_back is None


def test_permission_is_checked_before_the_a_d_rule():
    assert run_leaf(fmt("sv39"), V | R, AccessRequest(WRITE)).reason is PERMISSION
    assert run_leaf(fmt("sv39", "svadu"), V | R, AccessRequest(WRITE)).write_back is None


def test_pointers_carry_no_permissions():
    f = fmt("sv48")
    dec = f.decode((0x1000 << 10) | V, 0)
    step = f.descend(f.start(), dec, AccessRequest(READ))
    assert (step.acc, step.reason, step.write_back) == (f.start(), None, None)


def test_describe_perms_and_user_page():
    vs, g = fmt("sv39"), fmt("sv39x4")
    assert vs.describe_perms(LeafPerms.of(R | W | U)) == "rw- u"
    assert vs.describe_perms(LeafPerms.of(X)) == "--x s"
    assert g.describe_perms(LeafPerms.of(R | X | U)) == "r-x"
    assert g.describe_perms(LeafPerms.of(R)) == "r-- (U=0: no access)"
    assert vs.user_page(LeafPerms.of(R | U)) and not vs.user_page(LeafPerms.of(R))
    assert not g.user_page(LeafPerms.of(R | U))


# ------------------------------------------------------------------------------ syndromes

GVA, PTE_GPA, FINAL_GPA = 0xFFFF_FFC0_1234_5678, 0x10_2008, 0x8020_1008
STAGE1_REASONS = [
    FaultReason.NOT_PRESENT,
    FaultReason.PERMISSION,
    FaultReason.ACCESS_FLAG,
    FaultReason.RESERVED,
    FaultReason.MISALIGNED,
    FaultReason.NON_CANONICAL,
]
STAGE2_REASONS = [
    FaultReason.NOT_PRESENT,
    FaultReason.PERMISSION,
    FaultReason.ACCESS_FLAG,
    FaultReason.RESERVED,
    FaultReason.MISALIGNED,
    FaultReason.ADDRESS_SIZE,
]


def fault(stage: int, reason: FaultReason, access: Access, **kw) -> Fault:
    entry = reason not in (FaultReason.NON_CANONICAL, FaultReason.ADDRESS_SIZE)
    defaults = {
        "arch": "riscv64",
        "stage": stage,
        "reason": reason,
        "depth": 2 if entry else None,
        "level_name": "level 0 (VPN[0])" if entry else None,
        "during": None if stage == 1 else FINAL,
        "access": access,
        "priv": KERNEL,
        "gva": GVA,
        "gpa": None if stage == 1 else FINAL_GPA,
        "raw": (0x1000 << 10) | V | R if entry else None,
    }
    return Fault(**(defaults | kw))


@pytest.mark.parametrize("reason", STAGE1_REASONS)
@pytest.mark.parametrize(("access", "scause"), [(EXEC, 12), (READ, 13), (WRITE, 15)])
def test_vs_stage_faults_are_page_faults_with_the_gva_in_stval(reason, access, scause):
    got = syndrome(fault(1, reason, access))
    assert got == {"scause": scause, "stval": GVA, "htval": 0, "htinst": 0}


@pytest.mark.parametrize("reason", STAGE2_REASONS)
@pytest.mark.parametrize(("access", "scause"), [(EXEC, 20), (READ, 21), (WRITE, 23)])
def test_final_guest_page_faults_carry_the_gpa_shifted_right_by_2(reason, access, scause):
    got = syndrome(fault(2, reason, access))
    assert got == {
        "scause": scause,
        "stval": GVA,
        "htval": FINAL_GPA >> 2,
        "htinst": 0,
        "hstatus_gva": 1,  # Priv. ISA 21.2.1: stval is a guest virtual address
    }


@pytest.mark.parametrize("reason", STAGE2_REASONS)
@pytest.mark.parametrize(("access", "scause"), [(EXEC, 20), (READ, 21), (WRITE, 23)])
def test_guest_walk_faults_report_the_pte_gpa_and_a_pseudoinstruction(reason, access, scause):
    read = fault(2, reason, access, during=GUEST_WALK, gpa=PTE_GPA, implicit_access=READ)
    write = fault(
        2, reason, access, during=GUEST_WALK, gpa=PTE_GPA, write_back=True, implicit_access=WRITE
    )
    assert syndrome(read) == {
        "scause": scause,
        "stval": GVA,
        "htval": PTE_GPA >> 2,
        "htinst": 0x3000,
        "hstatus_gva": 1,
    }
    assert syndrome(write)["htinst"] == 0x3020
    assert syndrome(write)["scause"] == scause  # the ORIGINAL access decides the code


def test_finish_fills_syndrome_and_explanation_through_the_registered_reporter():
    done = finish(fault(2, FaultReason.PERMISSION, WRITE, raw=(0x1000 << 10) | LEAF | R | W))
    assert done.syndrome["scause"] == 23
    assert "U=0" in done.explanation and "U=1" in done.explanation
    assert "level 0 (VPN[0])" in done.explanation


@pytest.mark.parametrize(
    ("f", "words"),
    [
        (fault(1, FaultReason.NOT_PRESENT, READ, raw=0), ["VS-stage", "scause 13", "V=0"]),
        (fault(1, FaultReason.PERMISSION, READ, raw=LEAF | R | U), ["U=1", "SUM=0"]),
        (fault(1, FaultReason.PERMISSION, READ, priv=USER), ["U=0", "VU-mode"]),
        (fault(1, FaultReason.PERMISSION, WRITE, raw=LEAF | R), ["W=0"]),
        (fault(1, FaultReason.ACCESS_FLAG, READ, raw=V | R), ["A=0", "Svadu"]),
        (fault(1, FaultReason.ACCESS_FLAG, WRITE, raw=V | R | W | A), ["D=0"]),
        (fault(1, FaultReason.RESERVED, READ, raw=V | W), ["W=1 with R=0"]),
        (fault(1, FaultReason.NON_CANONICAL, READ), ["not sign-extended"]),
        (
            fault(
                2,
                FaultReason.MISALIGNED,
                READ,
                depth=1,
                level_name="level 1 (VPN[1])",
                raw=(0x201 << 10) | LEAF | R | U,
            ),
            ["misaligned", "2 MiB", "G-stage"],
        ),
        (
            fault(2, FaultReason.NOT_PRESENT, EXEC, during=GUEST_WALK, gpa=PTE_GPA, raw=0),
            ["scause 20", "reading the guest's PTE", hex(PTE_GPA), "hypervisor"],
        ),
        (
            fault(
                2,
                FaultReason.PERMISSION,
                READ,
                during=GUEST_WALK,
                gpa=PTE_GPA,
                write_back=True,
                implicit_access=WRITE,
                raw=LEAF | R | U,
            ),
            ["writing A/D", "W=0", "store"],
        ),
        (fault(2, FaultReason.ADDRESS_SIZE, READ, gpa=1 << 41), ["wider", "G-stage input"]),
    ],
)
def test_explanations_name_the_stage_level_and_bits(f, words):
    text = explain(f)
    assert text.endswith(".") and text.count(". ") == 0  # one sentence
    for word in words:
        assert word in text, (word, text)

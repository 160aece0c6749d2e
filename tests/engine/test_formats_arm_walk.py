"""AArch64 walker hooks (hierarchical permissions, AF and DBM with and without FEAT_HAFDBS,
stage-2 XN with FEAT_XNX) and the ESR/FAR/HPFAR syndromes (hardware.md §1.4, §4.2-4.4, §5.2-5.6)."""

from __future__ import annotations

import itertools

import pytest

from npt_explorer.engine.faults import FINAL, GUEST_WALK, Fault, finish
from npt_explorer.engine.flags import Access, Priv
from npt_explorer.engine.formats import arm
from npt_explorer.engine.formats.base import AccessRequest, FaultReason

READ, WRITE, EXEC = Access.READ, Access.WRITE, Access.EXEC
KERNEL, USER = Priv.KERNEL, Priv.USER
PERM, AFLT = FaultReason.PERMISSION, FaultReason.ACCESS_FLAG
NON_CANONICAL = FaultReason.NON_CANONICAL
AF, DBM = 1 << 10, 1 << 51
PXN, UXN = 1 << 53, 1 << 54
PXN_TABLE, UXN_TABLE, AP_TABLE_NO_EL0, AP_TABLE_RO = 1 << 59, 1 << 60, 1 << 61, 1 << 62

S1 = arm.stage1()
S1_HA = arm.stage1(features=frozenset({"hafdbs"}))
S2 = arm.stage2()
S2_HA = arm.stage2(features=frozenset({"hafdbs"}))
S2_XNX = arm.stage2(features=frozenset({"xnx"}))


def s1_page(ap: int, pxn: int = 0, uxn: int = 0, af: int = 1) -> int:
    return 0x8000_0000 | 0b11 | 1 << 2 | 0b11 << 8 | ap << 6 | af << 10 | pxn << 53 | uxn << 54


def s2_page(s2ap: int, xn: int = 0, af: int = 1) -> int:
    return 0x8000_0000 | 0b11 | 0b1111 << 2 | 0b11 << 8 | s2ap << 6 | af << 10 | xn << 53


def walk(fmt, tables: list[int], leaf: int, req: AccessRequest):
    """The generic walker's calls for one stage: start, descend per table, leaf."""
    acc = fmt.start()
    for depth, raw in enumerate(tables):
        check = fmt.descend(acc, fmt.decode(raw, depth), req)
        assert check.reason is None and check.write_back is None
        acc = check.acc
    return fmt.leaf(acc, fmt.decode(leaf, fmt.leaf_depth), req)


def s1_expected(ap: int, pxn: int, uxn: int, priv: Priv, access: Access) -> bool:
    """§4.3: AP[2:1] table; EL0 fetch by UXN; EL1 fetch by PXN or an EL0-writable page."""
    if access is EXEC:
        return not uxn if priv is USER else not (pxn or ap == 0b01)
    if priv is USER:
        return ap in (0b01, 0b11) and (access is READ or ap == 0b01)
    return access is READ or ap in (0b00, 0b01)


@pytest.mark.parametrize(
    ("ap", "pxn", "uxn", "priv", "access"),
    list(itertools.product(range(4), (0, 1), (0, 1), Priv, Access)),
)
def test_stage1_permission_matrix(ap, pxn, uxn, priv, access):
    check = walk(S1, [0x1003] * 3, s1_page(ap, pxn, uxn), AccessRequest(access, priv))
    allowed = s1_expected(ap, pxn, uxn, priv, access)
    assert check.reason is (None if allowed else PERM)
    assert S1.allows(check.acc, AccessRequest(access, priv)) is (None if allowed else PERM)


@pytest.mark.parametrize(
    ("table_bits", "priv", "access"),
    [
        (AP_TABLE_RO, KERNEL, WRITE),
        (AP_TABLE_NO_EL0, USER, READ),
        (PXN_TABLE, KERNEL, EXEC),
        (UXN_TABLE, USER, EXEC),
    ],
)
def test_stage1_table_limits_apply_to_every_level_below(table_bits, priv, access):
    leaf = s1_page(0b01)  # EL0 RW, executable at EL0
    tables = [0x1003, 0x2003 | table_bits, 0x3003]
    assert walk(S1, [0x1003] * 3, leaf, AccessRequest(access, priv)).reason is (
        PERM if access is EXEC and priv is KERNEL else None
    )  # EL1 never executes an EL0-writable page
    assert walk(S1, tables, leaf, AccessRequest(access, priv)).reason is PERM


def test_ap_table_no_el0_also_lets_el1_execute_again():
    leaf = s1_page(0b01)  # EL0-writable: EL1 may not execute...
    tables = [0x1003 | AP_TABLE_NO_EL0, 0x2003, 0x3003]
    assert (
        walk(S1, tables, leaf, AccessRequest(EXEC, KERNEL)).reason is None
    )  # ...unless EL0 lost it


def test_stage1_access_flag_is_checked_before_permission():
    leaf = s1_page(0b10, af=0)  # read-only and never accessed
    assert walk(S1, [0x1003] * 3, leaf, AccessRequest(WRITE)).reason is AFLT
    assert walk(S1, [0x1003] * 3, leaf, AccessRequest(READ)).reason is AFLT


def test_hafdbs_sets_af_only_when_the_access_is_permitted():
    leaf = s1_page(0b10, af=0)
    ok = walk(S1_HA, [0x1003] * 3, leaf, AccessRequest(READ))
    assert (ok.reason, ok.write_back) == (None, leaf | AF)
    assert ok.notes == ("hardware sets AF (FEAT_HAFDBS)",)
    denied = walk(S1_HA, [0x1003] * 3, leaf, AccessRequest(WRITE))
    assert (denied.reason, denied.write_back) == (PERM, None)
    assert walk(S1_HA, [0x1003] * 3, s1_page(0b10), AccessRequest(READ)).write_back is None


def test_stage1_dbm_write_clears_ap2_with_hafdbs():
    leaf = s1_page(0b10) | DBM  # read-only, dirty-bit managed
    dirty = walk(S1_HA, [0x1003] * 3, leaf, AccessRequest(WRITE))
    assert (dirty.reason, dirty.write_back) == (None, leaf & ~(1 << 7))
    assert "DBM=1" in dirty.notes[0]
    assert walk(S1_HA, [0x1003] * 3, leaf, AccessRequest(READ)).write_back is None
    assert walk(S1, [0x1003] * 3, leaf, AccessRequest(WRITE)).reason is PERM  # no HAFDBS
    ro_table = [0x1003 | AP_TABLE_RO, 0x2003, 0x3003]
    blocked = walk(S1_HA, ro_table, leaf, AccessRequest(WRITE))
    assert (blocked.reason, blocked.write_back) == (PERM, None)


def test_stage1_user_page_and_perms_description():
    check = walk(S1, [0x1003] * 3, s1_page(0b01, pxn=1), AccessRequest(READ))
    assert S1.user_page(check.acc)
    assert S1.describe_perms(check.acc) == "el1 rw- el0 rwx"
    kernel = walk(S1, [0x1003] * 3, s1_page(0b10, uxn=1), AccessRequest(READ))
    assert not S1.user_page(kernel.acc)
    assert S1.describe_perms(kernel.acc) == "el1 r-x el0 ---"


@pytest.mark.parametrize(("s2ap", "access"), list(itertools.product(range(4), (READ, WRITE))))
def test_stage2_s2ap_matrix_write_only_is_legal(s2ap, access):
    allowed = bool(s2ap & (1 if access is READ else 2))
    check = walk(S2, [0x1003] * 2, s2_page(s2ap), AccessRequest(access))
    assert check.reason is (None if allowed else PERM)


@pytest.mark.parametrize(("xn", "priv"), list(itertools.product(range(4), Priv)))
def test_stage2_xn_with_and_without_xnx(xn, priv):
    req = AccessRequest(EXEC, priv)
    legacy = walk(S2, [0x1003] * 2, s2_page(0b00, xn), req)  # execute-only needs no read
    assert legacy.reason is (None if xn < 2 else PERM)
    split = {0: True, 1: priv is USER, 2: False, 3: priv is KERNEL}[xn]
    assert walk(S2_XNX, [0x1003] * 2, s2_page(0b11, xn), req).reason is (None if split else PERM)


def test_stage2_implicit_page_table_accesses_are_reads_or_writes():
    assert S2.implicit_access(False) is READ and S2.implicit_access(True) is WRITE
    walk_read = AccessRequest(READ, original=EXEC, implicit=True)
    assert walk(S2, [0x1003] * 2, s2_page(0b01, xn=0b10), walk_read).reason is None
    assert walk(S2, [0x1003] * 2, s2_page(0b10), walk_read).reason is PERM
    update = AccessRequest(WRITE, original=READ, implicit=True, write_back=True)
    assert walk(S2, [0x1003] * 2, s2_page(0b01), update).reason is PERM


def test_stage2_access_flag_and_dirty_update():
    assert walk(S2, [0x1003] * 2, s2_page(0b00, af=0), AccessRequest(READ)).reason is AFLT
    leaf = s2_page(0b01, af=0) | DBM
    ok = walk(S2_HA, [0x1003] * 2, leaf, AccessRequest(WRITE))
    assert (ok.reason, ok.write_back) == (None, leaf | AF | 1 << 7)  # AF and S2AP[1] set
    assert len(ok.notes) == 2
    no_dbm = walk(S2_HA, [0x1003] * 2, s2_page(0b01, af=0), AccessRequest(WRITE))
    assert (no_dbm.reason, no_dbm.write_back) == (PERM, None)


def test_stage2_tables_fold_nothing_and_perms_describe_the_leaf():
    acc = S2.start()
    assert S2.descend(acc, S2.decode(0x1003 | 0x1F << 59, 0), AccessRequest(WRITE)).acc == acc
    check = walk(S2, [0x1003] * 2, s2_page(0b01, xn=0b10), AccessRequest(READ))
    assert S2.describe_perms(check.acc) == "r--"
    assert S2.allows(check.acc, AccessRequest(WRITE)) is PERM
    xnx = walk(S2_XNX, [0x1003] * 2, s2_page(0b11, xn=0b01), AccessRequest(READ))
    assert S2_XNX.describe_perms(xnx.acc) == "rw- x:el0"
    assert not S2.user_page(check.acc)


# --------------------------------------------------------------------------- syndromes


def fault(stage, reason, depth=3, level="L3", during=None, access=READ, priv=KERNEL, **kw):
    return finish(Fault(arch="aarch64", stage=stage, reason=reason, depth=depth,
                        level_name=level, during=during, access=access, priv=priv,
                        gva=0x4000_1008, gpa=kw.pop("gpa", 0x8_1234_5678 if stage == 2 else None),
                        **kw))  # fmt: skip


def syn(f: Fault) -> tuple:
    s = f.syndrome
    return (s["el"], s["ec"], s["fsc"], s["wnr"], s["s1ptw"])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"reason": FaultReason.NOT_PRESENT, "depth": 0, "level": "L0"}, (1, 0x25, 0x04, 0, 0)),
        ({"reason": FaultReason.NOT_PRESENT, "access": WRITE}, (1, 0x25, 0x07, 1, 0)),
        ({"reason": FaultReason.RESERVED, "depth": 0, "level": "L0"}, (1, 0x25, 0x04, 0, 0)),
        ({"reason": FaultReason.ACCESS_FLAG, "depth": 2, "level": "L2"}, (1, 0x25, 0x0A, 0, 0)),
        ({"reason": PERM, "access": WRITE, "priv": USER}, (1, 0x24, 0x0F, 1, 0)),
        ({"reason": PERM, "access": EXEC}, (1, 0x21, 0x0F, 0, 0)),
        ({"reason": PERM, "access": EXEC, "priv": USER}, (1, 0x20, 0x0F, 0, 0)),
        ({"reason": NON_CANONICAL, "depth": None, "level": None}, (1, 0x25, 0x04, 0, 0)),
        ({"reason": FaultReason.ADDRESS_SIZE, "depth": 1, "level": "L1"}, (1, 0x25, 0x01, 0, 0)),
    ],
)  # fmt: skip
def test_stage1_faults_go_to_el1(kwargs, expected):
    f = fault(1, **kwargs)
    assert syn(f) == expected
    assert f.syndrome["far"] == 0x4000_1008 and f.syndrome["hpfar"] is None
    assert f.explanation.startswith("Stage-1 ") and f.explanation.count(". ") == 0


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"reason": FaultReason.NOT_PRESENT, "during": FINAL, "access": WRITE},
         (2, 0x24, 0x07, 1, 0)),
        ({"reason": FaultReason.NOT_PRESENT, "during": GUEST_WALK, "depth": 0, "level": "L1",
          "access": WRITE}, (2, 0x24, 0x05, 0, 1)),
        ({"reason": FaultReason.NOT_PRESENT, "during": GUEST_WALK, "access": EXEC},
         (2, 0x20, 0x07, 0, 1)),
        ({"reason": PERM, "during": GUEST_WALK, "write_back": True, "implicit_access": WRITE},
         (2, 0x24, 0x0F, 1, 1)),
        ({"reason": PERM, "during": FINAL, "access": EXEC, "depth": 1, "level": "L2"},
         (2, 0x20, 0x0E, 0, 0)),
        ({"reason": FaultReason.ACCESS_FLAG, "during": FINAL}, (2, 0x24, 0x0B, 0, 0)),
        ({"reason": FaultReason.ADDRESS_SIZE, "during": FINAL, "depth": None, "level": None,
          "gpa": 1 << 40}, (2, 0x24, 0x04, 0, 0)),
        ({"reason": FaultReason.RESERVED, "during": FINAL}, (2, 0x24, 0x07, 0, 0)),
    ],
)  # fmt: skip
def test_stage2_faults_go_to_el2(kwargs, expected):
    f = fault(2, **kwargs)
    assert syn(f) == expected
    assert f.syndrome["far"] == 0x4000_1008
    assert f.syndrome["hpfar"] == ((f.gpa & ((1 << 52) - 1)) >> 12) << 4
    assert f.explanation.startswith("Stage-2 ") and f.explanation.count(". ") == 0


def test_hpfar_holds_the_ipa_page_number_shifted_by_four():
    f = fault(2, FaultReason.NOT_PRESENT, during=FINAL, gpa=0x8_1234_5678)
    assert f.syndrome["hpfar"] == 0x81234_50  # FIPA = IPA[47:12] in HPFAR[39:4]


def test_explanations_name_level_bits_and_remedy():
    f = fault(2, PERM, during=FINAL, access=WRITE, raw=s2_page(0b01))
    assert "level 3" in f.explanation and "S2AP[1]=0" in f.explanation
    assert "makes the page writable" in f.explanation
    f = fault(2, FaultReason.NOT_PRESENT, during=GUEST_WALK, depth=0, level="L1")
    assert "S1PTW=1" in f.explanation and "level 1" in f.explanation
    f = fault(1, PERM, access=WRITE, priv=USER, raw=s1_page(0b11))
    assert "AP[2]=1" in f.explanation and "EL0 write" in f.explanation
    f = fault(1, PERM, access=EXEC, raw=s1_page(0b01))
    assert "EL0-writable" in f.explanation
    f = fault(1, FaultReason.ACCESS_FLAG, raw=s1_page(0b00, af=0))
    assert "AF (bit 10) = 0" in f.explanation
    f = fault(1, FaultReason.RESERVED, depth=0, level="L0")
    assert "forbid at L0" in f.explanation
    f = fault(2, FaultReason.ADDRESS_SIZE, during=FINAL, depth=None, level=None, gpa=1 << 40)
    assert "beyond the stage-2 input size" in f.explanation
    f = fault(1, FaultReason.NON_CANONICAL, depth=None, level=None)
    assert "TTBR0_EL1" in f.explanation

"""x86_64 walker hooks (permissions, A/D) and fault reports (#PF, #GP, EPT exits), as a spec."""

from __future__ import annotations

from itertools import product

import pytest

from npt_explorer.engine.faults import FINAL, GUEST_WALK, Fault, finish
from npt_explorer.engine.flags import Access, Priv
from npt_explorer.engine.formats.base import AccessRequest, EntryKind, FaultReason
from npt_explorer.engine.formats.x86 import FORMATS
from npt_explorer.engine.formats.x86_ept import EptAccess
from npt_explorer.engine.formats.x86_guest import GuestAccess

GUEST = FORMATS["x86-64"](features=frozenset())
PA = 0x5000


def ept(*features: str):
    return FORMATS["ept"](features=frozenset(features))


def guest_walk(table_bits: int, leaf_bits: int, req: AccessRequest):
    """A PML4E/PDPTE/PDE chain with `table_bits`, then a PTE with `leaf_bits`."""
    acc = GUEST.start()
    for depth in range(3):
        dec = GUEST.decode(PA | 0x21 | table_bits, depth)  # P, A already set
        assert dec.kind is EntryKind.TABLE
        acc = GUEST.descend(acc, dec, req).acc
    return GUEST.leaf(acc, GUEST.decode(PA | 0x61 | leaf_bits, 3), req)


# ------------------------------------------------------------------ guest permissions


RW, US, XD = 0x2, 0x4, 1 << 63
BITS = [0, RW, US, RW | US, XD, RW | US | XD]


@pytest.mark.parametrize("table,leaf", list(product(BITS, BITS)))
def test_guest_permission_matrix(table, leaf):
    """§4.6 with CR0.WP=1, SMEP/SMAP off: R/W and U/S ANDed, XD ORed over the levels."""
    rw, us, xd = (table & leaf & RW), (table & leaf & US), (table | leaf) & XD
    for priv, access in product(Priv, Access):
        req = AccessRequest(access, priv)
        allowed = (
            not (priv is Priv.USER and not us)
            and not (access is Access.WRITE and not rw)
            and not (access is Access.EXEC and xd)
        )
        chk = guest_walk(table, leaf, req)
        assert (chk.reason is None) == allowed, (priv, access)
        assert GUEST.allows(chk.acc, req) == chk.reason


def test_supervisor_write_to_a_read_only_page_faults_because_cr0_wp_is_set():
    assert guest_walk(RW | US, US, AccessRequest(Access.WRITE)).reason is FaultReason.PERMISSION


def test_supervisor_may_read_and_execute_user_pages_because_smap_and_smep_are_off():
    assert guest_walk(RW | US, US, AccessRequest(Access.READ)).reason is None
    assert guest_walk(RW | US, US, AccessRequest(Access.EXEC)).reason is None


def test_table_rw_0_makes_the_whole_subtree_read_only_for_user_writes():
    req = AccessRequest(Access.WRITE, Priv.USER)
    assert guest_walk(US, RW | US, req).reason is FaultReason.PERMISSION


def test_guest_describe_perms_and_user_page():
    assert GUEST.describe_perms(GuestAccess(True, True, False)) == "rwx u"
    assert GUEST.describe_perms(GuestAccess(False, False, True)) == "r-- s"
    assert GUEST.user_page(GuestAccess(us=True)) and not GUEST.user_page(GuestAccess(us=False))


# ---------------------------------------------------------------------------- guest A/D


def test_guest_sets_a_on_every_table_entry_it_uses():
    dec = GUEST.decode(PA | 0x7, 0)
    assert GUEST.descend(GUEST.start(), dec, AccessRequest(Access.READ)).write_back == PA | 0x27
    dec = GUEST.decode(PA | 0x27, 0)
    assert GUEST.descend(GUEST.start(), dec, AccessRequest(Access.READ)).write_back is None


def test_guest_leaf_gets_a_on_read_and_a_d_on_write():
    dec = GUEST.decode(PA | 0x7, 3)
    assert GUEST.leaf(GUEST.start(), dec, AccessRequest(Access.READ)).write_back == PA | 0x27
    assert GUEST.leaf(GUEST.start(), dec, AccessRequest(Access.WRITE)).write_back == PA | 0x67
    dec = GUEST.decode(PA | 0x67, 3)
    assert GUEST.leaf(GUEST.start(), dec, AccessRequest(Access.WRITE)).write_back is None


def test_guest_leaf_a_d_are_not_written_when_the_access_faults():
    chk = GUEST.leaf(GUEST.start(), GUEST.decode(PA | 0x5, 3), AccessRequest(Access.WRITE))
    assert chk.reason is FaultReason.PERMISSION and chk.write_back is None


def test_x86_never_raises_access_flag_faults():
    chk = GUEST.leaf(GUEST.start(), GUEST.decode(PA | 0x7, 3), AccessRequest(Access.READ))
    assert chk.reason is None


# ---------------------------------------------------------------------- EPT permissions


@pytest.mark.parametrize("xwr", range(8))
def test_ept_needs_r_to_read_w_to_write_x_to_fetch(xwr):
    fmt = ept("ept-execute-only")
    dec = fmt.decode(PA | 0x30 | xwr, 3)
    if dec.kind is EntryKind.MISCONFIGURED or dec.kind is EntryKind.INVALID:
        assert xwr in (0, 2, 6)
        return
    for access, bit in ((Access.READ, 1), (Access.WRITE, 2), (Access.EXEC, 4)):
        chk = fmt.leaf(fmt.start(), dec, AccessRequest(access))
        assert (chk.reason is None) == bool(xwr & bit)


def test_ept_permissions_are_anded_over_the_levels():
    fmt = ept()
    acc = fmt.descend(fmt.start(), fmt.decode(PA | 0x5, 0), AccessRequest(Access.WRITE)).acc
    chk = fmt.leaf(acc, fmt.decode(PA | 0x37, 3), AccessRequest(Access.WRITE))
    assert chk.reason is FaultReason.PERMISSION
    assert chk.acc == EptAccess(True, False, True, False)
    assert fmt.describe_perms(chk.acc) == "r-x"


def test_mbec_fetch_from_a_user_page_needs_xu_and_from_a_supervisor_page_needs_xs():
    fmt = ept("mbec")
    xs_only, xu_only = fmt.decode(PA | 0x35, 3), fmt.decode(PA | 0x431, 3)
    user, kernel = (AccessRequest(Access.EXEC, guest_user_page=u) for u in (True, False))
    assert fmt.leaf(fmt.start(), xs_only, user).reason is FaultReason.PERMISSION
    assert fmt.leaf(fmt.start(), xs_only, kernel).reason is None
    assert fmt.leaf(fmt.start(), xu_only, user).reason is None
    assert fmt.leaf(fmt.start(), xu_only, kernel).reason is FaultReason.PERMISSION
    assert fmt.describe_perms(EptAccess()) == "rwx xu"


def test_without_mbec_xu_is_ignored_for_user_fetches():
    fmt = ept()
    req = AccessRequest(Access.EXEC, guest_user_page=True)
    assert fmt.leaf(fmt.start(), fmt.decode(PA | 0x35, 3), req).reason is None


def test_guest_page_table_accesses_are_writes_when_ept_ad_is_on():
    assert ept().implicit_access(False) is Access.READ
    assert ept().implicit_access(True) is Access.WRITE
    assert ept("ept-ad").implicit_access(False) is Access.WRITE
    assert GUEST.implicit_access(False) is Access.READ


# -------------------------------------------------------------------------------- EPT A/D


def test_ept_a_d_are_only_written_with_ept_ad():
    req = AccessRequest(Access.WRITE)
    assert ept().descend(ept().start(), ept().decode(PA | 0x7, 0), req).write_back is None
    assert ept().leaf(ept().start(), ept().decode(PA | 0x37, 3), req).write_back is None


def test_ept_ad_sets_a_on_every_level_and_d_on_a_written_leaf():
    fmt = ept("ept-ad")
    assert (
        fmt.descend(fmt.start(), fmt.decode(PA | 0x7, 0), AccessRequest(Access.READ)).write_back
        == PA | 0x107
    )
    leaf = fmt.decode(PA | 0x37, 3)
    assert fmt.leaf(fmt.start(), leaf, AccessRequest(Access.READ)).write_back == PA | 0x137
    assert fmt.leaf(fmt.start(), leaf, AccessRequest(Access.WRITE)).write_back == PA | 0x337
    done = fmt.decode(PA | 0x337, 3)
    assert fmt.leaf(fmt.start(), done, AccessRequest(Access.WRITE)).write_back is None


def test_ept_ad_leaves_a_faulting_leaf_alone():
    fmt = ept("ept-ad")
    chk = fmt.leaf(fmt.start(), fmt.decode(PA | 0x31, 3), AccessRequest(Access.WRITE))
    assert chk.reason is FaultReason.PERMISSION and chk.write_back is None


# ----------------------------------------------------------------------------- syndromes


def fault(**changes) -> Fault:
    base = {
        "arch": "x86_64",
        "stage": 1,
        "reason": FaultReason.NOT_PRESENT,
        "depth": 3,
        "level_name": "PTE",
        "during": None,
        "access": Access.READ,
        "priv": Priv.KERNEL,
        "gva": 0x7F00_0000_1008,
        "gpa": None,
    }
    return finish(Fault(**(base | changes)))


@pytest.mark.parametrize(
    "reason,access,priv,code",
    [
        (FaultReason.NOT_PRESENT, Access.READ, Priv.KERNEL, 0x0),
        (FaultReason.NOT_PRESENT, Access.WRITE, Priv.USER, 0x6),
        (FaultReason.PERMISSION, Access.WRITE, Priv.USER, 0x7),
        (FaultReason.PERMISSION, Access.EXEC, Priv.KERNEL, 0x11),
        (FaultReason.RESERVED, Access.READ, Priv.KERNEL, 0x9),
        (FaultReason.RESERVED, Access.EXEC, Priv.USER, 0x1D),
    ],
)
def test_guest_page_fault_error_code(reason, access, priv, code):
    f = fault(reason=reason, access=access, priv=priv)
    assert f.syndrome == {"vector": 14, "error_code": code, "cr2": 0x7F00_0000_1008}


def test_non_canonical_gva_is_a_general_protection_fault_without_cr2():
    f = fault(
        reason=FaultReason.NON_CANONICAL, depth=None, level_name=None, gva=0x0000_8000_0000_0000
    )
    assert f.syndrome == {"vector": 13, "error_code": 0, "cr2": None}
    assert "#GP(0)" in f.explanation


def ept_fault(**changes) -> Fault:
    base = {"stage": 2, "level_name": "EPT PTE", "during": FINAL, "gpa": 0x20_1008}
    return fault(**(base | changes))


def qual(f: Fault) -> int:
    return f.syndrome["exit_qualification"]


def test_ept_violation_reports_gpa_and_gla():
    f = ept_fault(raw=0)
    assert f.syndrome == {
        "exit_reason": 48,
        "exit_qualification": 0x181,
        "guest_physical_address": 0x20_1008,
        "guest_linear_address": 0x7F00_0000_1008,
    }


@pytest.mark.parametrize(
    "features,write_back,expected",
    [
        ((), False, 0x81),  # KUT-VMX: not present, EPT A/D off
        (("ept-ad",), False, 0x83),  # every guest paging-structure access is a write
        ((), True, 0x83),  # the guest A/D write-back
    ],
)
def test_ept_violation_on_a_guest_page_table_entry(features, write_back, expected):
    f = ept_fault(during=GUEST_WALK, raw=0, features=frozenset(features), write_back=write_back)
    assert qual(f) == expected


def test_read_only_ept_page_under_a_guest_a_bit_update_is_0x8b():
    f = ept_fault(
        reason=FaultReason.PERMISSION,
        during=GUEST_WALK,
        write_back=True,
        acc=EptAccess(),
        raw=PA | 0x31,
        implicit_access=Access.WRITE,
    )
    assert qual(f) == 0x8B
    assert "A/D update" in f.explanation and "W (bit 1)" in f.explanation


def test_final_write_to_a_read_execute_page():
    f = ept_fault(
        reason=FaultReason.PERMISSION, access=Access.WRITE, acc=EptAccess(), raw=PA | 0x35
    )
    assert qual(f) == 0x1AA
    assert "r-x" in f.explanation and "EPT PTE" in f.explanation


def test_bits_3_to_5_are_the_and_over_all_levels():
    f = ept_fault(
        reason=FaultReason.PERMISSION,
        access=Access.WRITE,
        acc=EptAccess(True, True, False, False),
        raw=PA | 0x37,
    )
    assert qual(f) & 0x38 == 0x18


def test_mbec_reports_the_xu_and_in_bit_6():
    f = ept_fault(
        reason=FaultReason.PERMISSION,
        access=Access.EXEC,
        acc=EptAccess(),
        raw=PA | 0x35,
        features=frozenset({"mbec"}),
    )
    assert qual(f) == 0x4 | 0x8 | 0x20 | 0x180
    assert "XU (bit 10)" in f.explanation
    f = ept_fault(
        reason=FaultReason.PERMISSION,
        access=Access.WRITE,
        acc=EptAccess(),
        raw=PA | 0x435,
        features=frozenset({"mbec"}),
    )
    assert qual(f) & 0x40


def test_ept_misconfiguration_has_no_exit_qualification():
    f = ept_fault(reason=FaultReason.MISCONFIG, raw=PA | 0x32)
    assert f.syndrome == {
        "exit_reason": 49,
        "exit_qualification": None,
        "guest_physical_address": 0x20_1008,
        "guest_linear_address": None,
    }
    assert "W=1 with R=0" in f.explanation and "reason 49" in f.explanation


def test_gpa_beyond_the_ept_input_is_reported_as_a_violation_with_no_rights():
    f = ept_fault(reason=FaultReason.ADDRESS_SIZE, depth=None, level_name=None, gpa=1 << 48)
    assert f.syndrome["exit_reason"] == 48 and qual(f) == 0x181
    assert "MAXPHYADDR" in f.explanation


@pytest.mark.parametrize(
    "changes,words",
    [
        ({}, ["Stage 1", "PTE", "P=0"]),
        (
            {"reason": FaultReason.PERMISSION, "priv": Priv.USER, "acc": GuestAccess(us=False)},
            ["U/S=0"],
        ),
        (
            {
                "reason": FaultReason.PERMISSION,
                "access": Access.WRITE,
                "acc": GuestAccess(rw=False),
            },
            ["R/W=0", "CR0.WP"],
        ),
        (
            {"reason": FaultReason.PERMISSION, "access": Access.EXEC, "acc": GuestAccess(xd=True)},
            ["XD=1"],
        ),
        (
            {"reason": FaultReason.RESERVED, "depth": 0, "level_name": "PML4E", "raw": 0x1083},
            ["PS=1 is reserved in a PML4E", "RSVD"],
        ),
        (
            {"reason": FaultReason.RESERVED, "depth": 2, "level_name": "PDE", "raw": 0x4020_2083},
            ["misaligned large page"],
        ),
        (
            {"stage": 2, "during": GUEST_WALK, "gpa": 0x10_0008, "level_name": "EPT PDE", "raw": 0},
            ["Stage 2 (EPT)", "EPT PDE", "R=W=X=0", "guest page-table entry", "0x100008"],
        ),
        (
            {
                "stage": 2,
                "during": FINAL,
                "gpa": 0x1000,
                "reason": FaultReason.MISCONFIG,
                "level_name": "EPT PDE",
                "raw": 0x4000_0000 | 0x10_0000 | 0xB7,
            },
            ["misaligned large page", "EPT PDE"],
        ),
    ],
)
def test_explanations_are_one_sentence_naming_stage_level_and_bits(changes, words):
    text = fault(**changes).explanation
    assert text.endswith(".") and ". " not in text
    for word in words:
        assert word in text

"""AMD nested paging (`npt`, APM Vol. 2 §15.25): long-mode entries read as user accesses, guest
page-table accesses as nested writes, and #VMEXIT(NPF) with EXITINFO1/EXITINFO2 (Linux
`arch/x86/kvm/svm/svm.c` npf_interception; PFERR_* bits in kvm_host.h)."""

from __future__ import annotations

import pytest

from npt_explorer.engine import PagingError
from npt_explorer.engine.flags import MappingFlags
from npt_explorer.engine.formats import Encoding, EntryKind, get_format
from npt_explorer.engine.machine import Machine

NPT = get_format("npt")
RW = MappingFlags.READ | MappingFlags.WRITE
GVA, GPA_RAM, HPA_RAM = 0x4000_1008, 0x20_0000, 0x8020_0000


def machine(guest: str = "4-level", npt: str = "npt4", s1_flags: str = "rw", **opts) -> Machine:
    m = Machine(arch="x86_64", guest=guest, npt=npt, **opts)
    m.map(2, GPA_RAM, 0x80_0000, "rwx", backend="linear", hpa=HPA_RAM)
    m.map(1, 0x4000_0000, 0x2000, s1_flags, gpa=GPA_RAM)
    return m


def test_levels_are_the_long_mode_ones_under_ncr3():
    assert [lv.name for lv in NPT.levels] == ["NPT PML4E", "NPT PDPTE", "NPT PDE", "NPT PTE"]
    assert get_format("npt", levels=5).input_bits == 57 and NPT.input_bits == 48
    assert NPT.stage == 2 and not NPT.signed_input
    with pytest.raises(PagingError, match="4 or 5"):
        get_format("npt", levels=3)


def test_fixed_sets_u_on_every_nested_leaf_and_the_seed_does_not():
    fixed = NPT.new_page(0x5000, RW, False, Encoding.FIXED)
    seed = NPT.new_page(0x5000, RW, False, Encoding.SEED)
    assert fixed == 0x8000_0000_0000_5007 and seed == 0x8000_0000_0000_5003  # P|RW(|US), NX
    assert NPT.decode(fixed, 3).hw_flags == RW
    dec = NPT.decode(seed, 3)
    assert dec.kind is EntryKind.LEAF and dec.hw_flags == MappingFlags(0)
    assert any("user access" in p for p in dec.problems)
    assert any("U=0" in p for p in NPT.encoding_problems(RW, False, Encoding.SEED))


@pytest.mark.parametrize(
    ("guest", "npt", "refs"), [("4-level", "npt4", 24), ("5-level", "npt5", 35)]
)
def test_cold_walk_reads_as_many_entries_as_under_ept(guest, npt, refs):
    m = machine(guest, npt)
    walk = m.access(GVA, "read")
    assert (walk.refs, walk.hpa, walk.tlb) == (refs, 0x8020_1008, "miss")


def test_a_final_gpa_without_a_nested_mapping_exits_with_bit_32():
    m = machine()
    m.map(1, 0x5000_0000, 0x1000, "rw", gpa=0x900_0000)
    walk = m.access(0x5000_0000, "read")
    fault = walk.fault
    assert (fault.stage, str(fault.reason), fault.during) == (2, "not-present", "final")
    # EXITINFO1: P=0, US=1 (bit 2), GUEST_FINAL (bit 32); EXITINFO2: the gPA
    assert fault.syndrome == {
        "exit_code": 0x400,
        "exitinfo1": 0x1_0000_0004,
        "exitinfo2": 0x900_0000,
    }


def test_a_read_only_nested_page_under_a_guest_table_faults_a_read_as_a_write_with_bit_33():
    m = machine()
    m.protect(2, 0x10_3000, 0x1000, "r")  # the guest's PT (4th pool frame)
    fault = m.access(GVA, "read").fault
    assert (fault.stage, fault.during, fault.depth) == (2, "guest-walk", 3)
    # P=1 protection, W=1 (guest page-table accesses are nested writes), US=1, GUEST_PAGE (33)
    assert fault.syndrome["exitinfo1"] == 0x2_0000_0007
    assert fault.syndrome["exitinfo2"] == 0x10_3000 + 8 * 1  # PTE index 1 of gVA 0x4000_1008


def test_a_store_to_a_read_only_final_page_and_a_fetch_from_nx_report_w_and_id():
    m = machine(s1_flags="rwx")
    m.protect(2, GPA_RAM, 0x2000, "r")
    store = m.access(GVA, "write").fault
    assert store.syndrome["exitinfo1"] == 0x1_0000_0007  # P|W|US|FINAL
    fetch = m.access(GVA, "exec").fault
    assert fetch.syndrome["exitinfo1"] == 0x1_0000_0015  # P|US|ID|FINAL


def test_seed_encoded_nested_leaves_without_user_fault_from_the_first_guest_table_read():
    m = machine(encoding="seed")  # the pool's nested leaves are X64PTE R|W: U=0
    fault = m.access(GVA, "read").fault
    assert (fault.stage, str(fault.reason), fault.during, fault.depth) == (
        2,
        "permission",
        "guest-walk",
        3,
    )
    assert fault.syndrome["exitinfo1"] == 0x2_0000_0007 and fault.syndrome["exitinfo2"] == 0x10_0000

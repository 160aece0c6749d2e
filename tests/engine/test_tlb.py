"""The TLB: tagged combined and stage-2-only entries, LRU, and each flush kind removing exactly
what its manual says (hardware.md §3.8, §5.7, §7.4) — stale entries made visible."""

from __future__ import annotations

import pytest

from npt_explorer.engine import PagingError
from npt_explorer.engine.machine import Machine
from npt_explorer.engine.tlb import COMBINED, STAGE2, Tlb, TlbEntry

GVA, GPA, HPA = 0x4000_1008, 0x20_1008, 0x8020_1008


def machine(arch: str, **opts) -> Machine:
    m = Machine(arch=arch, **opts)
    m.map(2, 0x20_0000, 0x10_0000, "rwxu", backend="linear", hpa=0x8020_0000)
    m.map(1, 0x4000_0000, 0x4000, "rwx", gpa=0x20_0000)
    return m


def kinds(m: Machine) -> list[tuple[str, int, int]]:
    """(kind, vmid-or-EPTP, asid-or-VPID) of every entry, sorted."""
    return sorted((e.kind, e.vmid, e.asid) for e in m.tlb_entries())


def two_contexts(m: Machine, *, vmids: bool) -> None:
    """Fill entries under two tags: (VMID 1, ASID 1) and (VMID 2 or same, ASID 2)."""
    m.access(GVA, "read")
    m.set_context(vmid=2 if vmids else None, asid=2)
    m.access(GVA, "read")


def entry(
    kind: str,
    base: int,
    vmid: int = 1,
    asid: int = 1,
    gpa: int | None = None,
    global_: bool = False,
) -> TlbEntry:
    return TlbEntry(
        kind,
        vmid,
        asid,
        global_,
        base,
        0x1000,
        base if gpa is None else gpa,
        0x8000_0000,
        None,
        None,
        "rwx",
        False,
    )


# ------------------------------------------------------------------------- the structure


def test_lookup_fill_and_lru_eviction_within_a_set():
    tlb = Tlb(entries=4, ways=2)  # 2 sets
    for n in range(3):
        tlb.fill(entry(COMBINED, n * 0x2000))  # all in set 0
    assert tlb.lookup(COMBINED, 0x0000, 1, 1, [0x1000]) is None  # the oldest went
    assert tlb.lookup(COMBINED, 0x2000, 1, 1, [0x1000]) is not None
    assert tlb.stats.evictions == 1


def test_global_entries_match_any_asid_but_only_their_vmid():
    tlb = Tlb()
    tlb.fill(entry(COMBINED, 0x1000, vmid=1, asid=7, global_=True))
    assert tlb.lookup(COMBINED, 0x1000, 1, 3, [0x1000]) is not None
    assert tlb.lookup(COMBINED, 0x1000, 2, 7, [0x1000]) is None


def test_an_unknown_flush_kind_and_a_missing_address_are_refused():
    with pytest.raises(PagingError):
        Tlb().flush("tlbi-alle2", None, 1, 1)
    with pytest.raises(PagingError):
        Tlb().flush("invvpid-addr", None, 1, 1)


# ------------------------------------------------------------------------- fills and hits


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "riscv64"])
def test_a_walk_fills_one_combined_and_one_stage2_entry_and_a_hit_costs_nothing(arch):
    m = machine(arch)
    assert m.access(GVA, "read").tlb == "miss"
    assert sorted(e.kind for e in m.tlb_entries()) == [COMBINED, STAGE2]
    hit = m.access(GVA + 8, "read")
    assert (hit.tlb, hit.refs, hit.hpa) == ("hit", 0, HPA + 8)


def test_a_write_hitting_an_entry_filled_by_a_read_walks_again_to_set_d():
    m = machine("x86_64")
    m.access(GVA, "read")
    walk = m.access(GVA, "write")
    assert walk.tlb == "miss" and walk.refs > 0
    assert m.entry(1, GVA, 3)[1].field("D") == 1
    assert m.access(GVA, "write").tlb == "hit"


def test_a_permission_miss_on_a_hit_rewalks_and_faults_as_the_tables_say():
    m = machine("x86_64")
    m.access(GVA, "read")
    walk = m.access(GVA, "read", "user")  # guest pages are supervisor-only? no: rwx has no U
    assert walk.tlb == "miss" and walk.fault is not None and walk.fault.stage == 1


def test_faults_fill_nothing():
    m = machine("x86_64")
    m.access(0x4000_8000, "read")
    assert m.tlb_entries() == []


# ------------------------------------------------------------------------- x86 flushes


def test_invept_single_removes_guest_physical_and_combined_entries_of_the_eptp():
    m = machine("x86_64")
    two_contexts(m, vmids=False)  # two VPIDs, one EPTP
    assert len(m.flush("invept-single")) == 3  # two combined + one guest-physical
    assert m.tlb_entries() == []


def test_invvpid_never_removes_guest_physical_mappings():
    for kind, addr, left in (
        ("invvpid-addr", GVA, 2),
        ("invvpid-single", None, 2),
        ("invvpid-all", None, 1),
    ):
        m = machine("x86_64")
        two_contexts(m, vmids=False)
        m.flush(kind, addr)
        remaining = kinds(m)
        assert len(remaining) == left, kind
        assert (STAGE2, m.tag_vmid, 0) in remaining
        if kind != "invvpid-all":
            assert (COMBINED, m.tag_vmid, 1) in remaining  # the other VPID's entry


def test_invvpid_addr_only_removes_that_address():
    m = machine("x86_64")
    m.access(GVA, "read")
    m.access(0x4000_2000, "read")
    m.flush("invvpid-addr", 0x4000_2ABC)
    assert [e.base for e in m.tlb_entries() if e.kind == COMBINED] == [0x4000_1000]


def test_invept_global_removes_everything():
    m = machine("x86_64")
    two_contexts(m, vmids=False)
    m.flush("invept-global")
    assert m.tlb_entries() == []


def test_x86_rejects_other_architectures_flushes():
    with pytest.raises(PagingError, match="not a x86_64 invalidation"):
        machine("x86_64").flush("hfence.gvma")


# ------------------------------------------------------------------------- AArch64 flushes


def test_ipas2e1is_alone_leaves_the_combined_entry_and_the_guest_reaches_the_old_page():
    m = machine("aarch64")
    m.access(GVA, "read")
    m.unmap(2, 0x20_1000, 0x1000)
    assert [e.stale for e in m.tlb_entries()] == [True, True]
    m.flush("tlbi-ipas2e1is", GPA)
    assert kinds(m) == [(COMBINED, 1, 1)]
    stale = m.access(GVA, "read")
    assert (stale.tlb, stale.stale, stale.hpa) == ("hit", True, HPA)
    m.flush("tlbi-vmalle1is")
    walk = m.access(GVA, "read")
    assert walk.fault is not None and (walk.fault.stage, walk.fault.reason) == (2, "not-present")


def test_vmalls12e1is_removes_all_entries_of_the_current_vmid_only():
    m = machine("aarch64")
    two_contexts(m, vmids=True)
    m.flush("tlbi-vmalls12e1is")
    assert kinds(m) == [(COMBINED, 1, 1), (STAGE2, 1, 0)]


def test_vmalle1is_keeps_stage2_only_entries():
    m = machine("aarch64")
    two_contexts(m, vmids=True)
    m.flush("tlbi-vmalle1is")
    assert kinds(m) == [(COMBINED, 1, 1), (STAGE2, 1, 0), (STAGE2, 2, 0)]


def test_vae1is_removes_one_va_of_the_current_asid_and_global_entries():
    m = machine("aarch64")
    for page in (GVA, 0x4000_2000):
        m.poke(1, page, 3, fields={"NG": 1})  # not global: tagged with the ASID
    two_contexts(m, vmids=False)
    m.access(0x4000_2000, "read")  # ASID 2
    m.flush("tlbi-vae1is", GVA)
    combined = sorted((e.base, e.asid) for e in m.tlb_entries() if e.kind == COMBINED)
    assert combined == [(0x4000_1000, 1), (0x4000_2000, 2)]
    m.access(0x4000_3000, "read")  # nG=0: a global entry, removed whatever the ASID
    m.set_context(asid=1)
    m.flush("tlbi-vae1is", 0x4000_3000)
    assert 0x4000_3000 not in {e.base for e in m.tlb_entries()}


# ------------------------------------------------------------------------- RISC-V fences


def test_hfence_vvma_leaves_g_stage_entries_so_the_old_gpa_translation_survives():
    m = machine("riscv64")
    m.access(GVA, "read")
    m.unmap(2, 0x20_1000, 0x1000)
    m.flush("hfence.vvma")  # the seed's fence: VS-stage and combined only
    assert kinds(m) == [(STAGE2, 1, 0)]
    walk = m.access(GVA, "read")
    assert walk.ok and walk.stale and walk.hpa == HPA  # stage 1 re-walked, stage 2 from the TLB
    m.flush("hfence.gvma", GPA)
    walk = m.access(GVA, "read")
    assert walk.fault is not None and walk.fault.stage == 2
    assert walk.fault.syndrome["scause"] == 21


def test_hfence_vvma_only_touches_the_current_vmid():
    m = machine("riscv64")
    two_contexts(m, vmids=True)
    m.flush("hfence.vvma")
    assert kinds(m) == [(COMBINED, 1, 1), (STAGE2, 1, 0), (STAGE2, 2, 0)]


def test_hfence_gvma_by_gpa_removes_matching_combined_and_g_stage_entries():
    m = machine("riscv64")
    m.access(GVA, "read")
    m.access(0x4000_2000, "read")
    m.flush("hfence.gvma", GPA)
    assert sorted((e.kind, e.gpa) for e in m.tlb_entries()) == [
        (COMBINED, 0x20_2000),
        (STAGE2, 0x20_2000),
    ]


# ------------------------------------------------------------------------- staleness


def test_write_protection_without_invept_lets_the_guest_write_through_a_stale_entry():
    m = machine("x86_64")
    m.access(GVA, "write")
    m.protect(2, 0x20_0000, 0x10_0000, "rx")
    assert sum(e.stale for e in m.tlb_entries()) == 2
    stale = m.access(GVA, "write")
    assert stale.ok and stale.stale and stale.tlb == "hit"
    m.flush("invept-single")
    walk = m.access(GVA, "write")
    assert walk.fault is not None and walk.fault.syndrome["exit_reason"] == 48


def test_a_change_that_leaves_the_translation_as_it_was_marks_nothing_stale():
    m = machine("x86_64")
    m.access(GVA, "read")
    m.map(2, 0x40_0000, 0x1000, "rw", backend="linear", hpa=0x9000_0000)
    assert not any(e.stale for e in m.tlb_entries())


def test_no_tlb_machine_always_walks():
    m = machine("x86_64", tlb_enabled=False)
    m.access(GVA, "read")
    walk = m.access(GVA, "read")
    assert walk.tlb is None and walk.refs == 24

"""Walk caches: which references of a 2D walk a paging-structure cache, a page walk cache or a
nested TLB serves, and what each invalidation removes. Expected counts are worked out by hand
from the machine below (comments give the arithmetic)."""

from __future__ import annotations

import pytest

from npt_explorer.engine import PagingError
from npt_explorer.engine.config import MachineConfig
from npt_explorer.engine.machine import Machine
from npt_explorer.engine.walk_cache import CacheSpec, parse

# x86: guest tables in the pool at gPA 0x10_0000 (root 0x10_0000, PDPT 0x10_1000, PD 0x10_2000,
# PT 0x10_3000: all under one EPT PDE, gPA bits 47:21 = 0); gVA 0x4000_0000 → gPA 0x40_0000
# (EPT PDE index 2: a second EPT PDE, same EPT PDPTE), 4 KiB pages at both stages.
GVA = 0x4000_0000


def machine(preset: str | None, arch: str = "x86_64") -> Machine:
    m = Machine(MachineConfig(arch=arch, walk_cache_preset=preset))
    m.map(2, 0x20_0000, 0x100_0000, "rwx", backend="linear", hpa=0x8020_0000)
    m.map(1, GVA, 0x80_0000, "rw", gpa=0x40_0000)
    return m


def served(walk) -> list[str | None]:
    return [s.cached for s in walk.steps]


def test_without_walk_caches_every_reference_goes_to_memory():
    m = machine(None)
    first, second = m.access(GVA, "read"), m.access(GVA + 0x1000, "read")
    assert (first.refs, first.mem_refs, second.refs, second.mem_refs) == (24, 24, 24, 24)


def test_intel_psc_cold_walk_reuses_the_ept_pde_it_just_filled():
    # nested walk of the guest root (gPA 0x10_0000): 4 EPT reads, fills EPT PML4/PDPTE/PDE
    # caches; guest PML4E read: 1; nested walks of 0x10_1000, 0x10_2000, 0x10_3000 hit the EPT
    # PDE cache: 1 read each + the guest entry: 3 x 2; final gPA 0x40_0000: EPT PDE index 2
    # misses, the EPT PDPTE cache hits: EPT PDE + EPT PTE = 2.  4 + 1 + 6 + 2 = 13.
    walk = machine("intel-psc").access(GVA, "read")
    assert (walk.refs, walk.mem_refs) == (24, 13)
    assert served(walk)[5:9] == ["EPT PDE cache"] * 3 + [None]  # guest PDPT's nested walk
    assert served(walk)[20:] == ["EPT PDPTE cache", "EPT PDPTE cache", None, None]


def test_intel_psc_second_access_to_a_neighbouring_page_reads_three_entries():
    # gVA 0x4000_1000 shares bits 47:21 with the first: the PDE cache hit skips the guest PML4E,
    # PDPTE and PDE and their nested walks (3 x 5 = 15 refs); the PT's nested walk hits the EPT
    # PDE cache (1 read), then the guest PTE (1), then the final gPA 0x40_1000 (EPT PDE cache
    # filled by the first access's final walk: 1).  24 refs, 3 to memory.
    m = machine("intel-psc")
    m.access(GVA, "read")
    walk = m.access(GVA + 0x1000, "read")
    assert (walk.tlb, walk.refs, walk.mem_refs) == ("miss", 24, 3)
    assert served(walk)[:20] == ["PDE cache"] * 15 + ["EPT PDE cache"] * 3 + [None, None]  # PT gPA
    assert served(walk)[20:] == ["EPT PDE cache"] * 3 + [None]
    assert m.walk_caches is not None
    assert m.walk_caches.stats()["PDE cache"] == {"lookups": 2, "hits": 1, "entries": 1}


def test_amd_pwc_and_nested_tlb_second_access_reads_two_entries():
    # cold: as for the PSC the first nested walk reads 4; later nested walks of guest tables
    # miss the NTLB (new gPA pages) but the PWC holds the EPT PML4E/PDPTE/PDE (same hPAs): 1
    # each; guest entries 1 each; final walk: PWC serves EPT PML4E+PDPTE, reads PDE+PTE.
    m = machine("amd-pwc-ntlb")
    assert m.access(GVA, "read").mem_refs == 4 + 1 + 3 * 2 + 2
    # second: the NTLB serves all four guest-table nested walks (16 refs); the PWC the guest
    # PML4E, PDPTE, PDE (3); the guest PTE is read (1); the final gPA 0x40_1000 misses the NTLB,
    # the PWC serves EPT PML4E/PDPTE/PDE (3), the EPT PTE is read (1).
    walk = m.access(GVA + 0x1000, "read")
    assert (walk.refs, walk.mem_refs) == (24, 2)
    names = served(walk)
    assert names.count("NTLB") == 16 and names.count("PWC") == 6
    assert [i for i, n in enumerate(names) if n is None] == [19, 23]  # guest PTE, EPT PTE


def test_a_tlb_hit_makes_no_references_at_all():
    m = machine("intel-psc")
    m.access(GVA, "read")
    hit = m.access(GVA + 8, "read")
    assert (hit.tlb, hit.refs, hit.mem_refs) == ("hit", 0, 0)


def test_translate_neither_uses_nor_fills_walk_caches():
    m = machine("intel-psc")
    m.access(GVA, "read")
    walk = m.translate(GVA + 0x1000, "read")
    assert (walk.refs, walk.mem_refs) == (24, 24)
    assert m.access(GVA + 0x2000, "read").mem_refs == 3


def test_a_changed_table_behind_a_cache_hit_is_reported_stale():
    # the PDE cache still points at the old PT after the guest PDE is rewritten: the
    # hardware would use it until an invalidation (SDM Vol. 3A §4.10.4.3)
    m = machine("intel-psc")
    m.access(GVA, "read")
    ref = m.locate(1, GVA, 2)
    m.poke(1, GVA, 2, value=ref.raw + 0x1000)
    walk = m.access(GVA + 0x1000, "read")
    assert "walk cache" in walk.note


def test_a_guest_page_fault_drops_the_psc_entries_its_address_used():
    # SDM Vol. 3A §4.10.4.1: a #PF invalidates the PML4/PDPTE/PDE-cache entries for its address
    m = machine("intel-psc")
    m.access(GVA, "read")
    fault = m.access(GVA + 0x7F_F000 + 0x1000, "read")  # past the 8 MiB: PDE not present
    assert fault.fault is not None and fault.fault.stage == 1
    assert m.access(GVA + 0x1000, "read").mem_refs == 3  # other PDE: still cached
    m2 = machine("intel-psc")
    m2.access(GVA, "read")
    m2.poke(1, GVA + 0x1000, 3, value=0)
    assert m2.access(GVA + 0x1000, "read").fault is not None  # the PTE's fault drops the PDE
    assert m2.access(GVA + 0x2000, "read").mem_refs > 3


# ---------------------------------------------------------------------------- invalidation

#: after warming with gVA 0x4000_0000, flush, then walk gVA 0x4000_2000 (a TLB miss):
#: 3 = both caches kept; 9 = guest PSC gone (4 guest entries + 4 nested walks served by the EPT
#: PDE cache at 1 read each + final 1); 13 = all gone (a cold walk, see above).
X86_AFTER = {
    "invept-single": 13,  # guest-physical and combined (guest PSC tagged with the EPTP)
    "invept-global": 13,
    "invvpid-addr": 9,  # linear/combined only: the EPT PSCs survive (SDM Vol. 3C §28.4.3.1)
    "invvpid-single": 9,
    "invvpid-all": 9,
}


@pytest.mark.parametrize(("kind", "mem_refs"), X86_AFTER.items())
def test_x86_invalidations_clear_the_paging_structure_caches_they_name(kind, mem_refs):
    m = machine("intel-psc")
    m.access(GVA, "read")
    m.flush(kind, GVA if kind == "invvpid-addr" else None)
    assert m.access(GVA + 0x2000, "read").mem_refs == mem_refs


def test_invvpid_of_another_address_still_drops_every_psc_entry_of_the_vpid():
    # INVLPG-like: all paging-structure-cache entries of the context, whatever the address
    m = machine("intel-psc")
    m.access(GVA, "read")
    m.flush("invvpid-addr", 0x7000_0000)
    assert m.access(GVA + 0x2000, "read").mem_refs == 9


def test_invvpid_for_another_vpid_leaves_this_vpid_cached():
    m = machine("intel-psc")
    m.access(GVA, "read")
    m.set_context(asid=2)
    m.flush("invvpid-single")
    m.set_context(asid=1)
    assert m.access(GVA + 0x2000, "read").mem_refs == 3


def test_invept_drops_the_nested_tlb_and_page_walk_cache():
    m = machine("amd-pwc-ntlb")
    m.access(GVA, "read")
    m.flush("invept-single")
    assert m.access(GVA + 0x2000, "read").mem_refs == 13  # cold again


def test_invvpid_keeps_the_nested_tlb():
    # the NTLB holds guest-physical mappings; INVVPID never removes those. The physically
    # tagged PWC has no VPID to filter by and is dropped whole: guest PML4E..PTE read (4),
    # nested walks of the guest tables served by the NTLB (16), final gPA: NTLB miss, EPT
    # PML4E read (fills PWC), EPT PDPTE, PDE, PTE read: 4.  8 to memory.
    m = machine("amd-pwc-ntlb")
    m.access(GVA, "read")
    m.flush("invvpid-single")
    walk = m.access(GVA + 0x2000, "read")
    assert (walk.mem_refs, served(walk).count("NTLB")) == (8, 16)


# Arm (va48 4 levels, ipa40: 3 stage-2 levels): 4 x (3 + 1) + 3 = 19 references per walk.
# Guest tables at IPA 0x10_0000.. share stage-2 L1/L2 entries; data IPA 0x40_0000 shares L1.
# Cold: 3 + 1 + 3 x (1 + 1) + (L2 + L3 = 2) = 12. Warm neighbour: S1 L2 walk-cache hit skips
# L0..L2 with their nested walks (12), then the L3's nested walk (1) + L3 (1) + final (1) = 3.
# Stage-1 caches gone: 4 + 4 + 1 = 9.
ARM_AFTER = {
    "tlbi-vmalls12e1is": 12,
    "tlbi-vmalle1is": 9,  # stage 1 only: stage-2 walk caches survive
    "tlbi-vae1is": 9,  # by VA: the walk-cache entries of that VA
    "tlbi-ipas2e1is": 3,  # stage 2, one IPA the walk does not use
}


@pytest.mark.parametrize(("kind", "mem_refs"), ARM_AFTER.items())
def test_arm_tlbi_clears_the_walk_caches_it_names(kind, mem_refs):
    m = machine("intel-psc", "aarch64")
    assert m.access(GVA, "read").mem_refs == 12
    addr = {"tlbi-vae1is": GVA, "tlbi-ipas2e1is": 0x7000_0000}.get(kind)
    m.flush(kind, addr)
    assert m.access(GVA + 0x2000, "read").mem_refs == mem_refs


def test_arm_tlbi_by_another_va_keeps_this_vas_walk_cache_entries():
    m = machine("intel-psc", "aarch64")
    m.access(GVA, "read")
    m.flush("tlbi-vae1is", 0x7000_0000)
    assert m.access(GVA + 0x2000, "read").mem_refs == 3


# RISC-V (sv39 over sv39x4: 3 x 3 levels): 3 x (3 + 1) + 3 = 15 references. Cold: 3 + 1 +
# 2 x 2 + (level 0 of the final: 1, level 1: 1) = 10; warm: 2 + 1 = 3 (skip levels 2, 1).
RISCV_AFTER = {
    ("hfence.vvma", None): 7,  # VS-stage caches gone: 3 guest + 3 nested (1 each) + final 1
    ("hfence.gvma", None): 10,  # G-stage and VS-stage of the VMID: cold
    ("hfence.vvma", GVA): 3,  # with an address: leaf entries only, walk caches kept
    ("hfence.gvma", 0x40_0000): 3,
}


@pytest.mark.parametrize(("kind", "addr", "mem_refs"), [(*k, v) for k, v in RISCV_AFTER.items()])
def test_riscv_hfence_clears_walk_caches_only_without_an_address(kind, addr, mem_refs):
    m = machine("intel-psc", "riscv64")
    assert m.access(GVA, "read").mem_refs == 10
    m.flush(kind, addr)
    assert m.access(GVA + 0x2000, "read").mem_refs == mem_refs


# ---------------------------------------------------------------------------- configuration


def test_walk_caches_accept_a_preset_false_or_caches_one_by_one():
    assert parse("intel-psc") == ("intel-psc", ())
    assert parse(False) == (None, ())
    name, extra = parse(
        {"caches": [{"kind": "psc", "stage": 1, "levels": [2], "entries": 16, "ways": 4}]}
    )
    assert (name, extra) == (None, (CacheSpec("PSC 0", "psc", 1, (2,), 16, 4),))


def test_a_custom_pde_cache_alone_serves_the_guest_upper_levels():
    spec = CacheSpec("PDE cache", "psc", 1, (2,), 16, 4)
    m = Machine(MachineConfig(walk_cache_specs=(spec,)))
    m.map(2, 0x20_0000, 0x100_0000, "rwx", backend="linear", hpa=0x8020_0000)
    m.map(1, GVA, 0x80_0000, "rw", gpa=0x40_0000)
    m.access(GVA, "read")
    # skips 3 guest entries and their nested walks (15); the PT's nested walk (4), the PTE
    # (1) and the final walk (4) go to memory
    assert m.access(GVA + 0x1000, "read").mem_refs == 9


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("intel", "allowed: none, intel-psc, amd-pwc-ntlb"),
        ({"caches": [{"kind": "tlb", "levels": [0], "entries": 4}]}, "allowed: psc, pwc, ntlb"),
        ({"caches": [{"kind": "psc", "levels": [0], "entries": 6, "ways": 4}]}, "multiple"),
        ({"caches": [{"kind": "psc", "levels": []}]}, "which depths"),
        ({"caches": [{"kind": "ntlb", "stage": 1, "entries": 4}]}, "allowed for ntlb: 2"),
        ({"cache": []}, "unknown key 'cache'"),
    ],
)
def test_bad_walk_cache_tables_name_what_is_allowed(value, words):
    with pytest.raises(PagingError) as err:
        parse(value)
    assert words in err.value.message


def test_a_psc_at_the_leaf_depth_is_refused():
    spec = CacheSpec("PTE cache", "psc", 1, (3,), 16, 4)
    with pytest.raises(PagingError, match="not above the stage-1 leaf"):
        Machine(MachineConfig(walk_cache_specs=(spec,)))


def test_hfence_gvma_for_all_vmids_drops_every_vmids_walk_caches():
    # another VMID's entries survive a fence of this VMID, not one for all VMIDs
    m = machine("intel-psc", "riscv64")
    m.access(GVA, "read")
    m.set_context(vmid=2)
    m.flush("hfence.gvma")
    m.set_context(vmid=1)
    assert m.access(GVA + 0x1000, "read").mem_refs == 3
    m.set_context(vmid=2)
    m.flush("hfence.gvma", vmid="all")
    m.set_context(vmid=1)
    assert m.access(GVA + 0x2000, "read").mem_refs == 10

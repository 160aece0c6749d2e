"""TLB operations with their operands and the control bits that tag entries (PCID, PGE)."""

from __future__ import annotations

from control_steps import machine_text, step

GVA, GLOBAL_GVA = "0x4000_0000", "0x4000_1000"


def x86(registers: dict[str, object]) -> str:
    """Two pages: a non-global one and a G=1 one (a kernel page shared by all processes)."""
    return (
        machine_text("x86_64", registers)
        + step("map", stage=2, gpa="0x20_0000", size="1M", flags="rwxu", hpa="0x8020_0000")
        + step("map", stage=1, gva=GVA, gpa="0x20_0000", size="8K", flags="rwx")
        + step("poke", stage=1, gva=GLOBAL_GVA, depth=3, fields={"G": 1})
    )


def read(gva: str, tlb: str) -> str:
    return step("access", gva=gva, access="read", expect={"result": "ok", "tlb": tlb})


def reads(tlb: str, tlb_global: str) -> str:
    return read(GVA, tlb) + read(GLOBAL_GVA, tlb_global)


PCIDE_PGE = {"cr4": "0x2_00a0"}  # PAE | PGE | PCIDE
PGE = {"cr4": "0xa0"}
NO_PGE = {"cr4": "0x20"}


def test_mov_cr3_keeps_global_entries_only_with_pge(green):
    # SDM 3A 4.10.4.1: MOV to CR3 (PCIDE=0) invalidates all non-global entries; with CR4.PGE=0
    # the G flag is ignored (4.10.2.4), so nothing survives
    green(x86(PGE) + reads("miss", "miss") + step("flush", kind="mov-cr3") + reads("miss", "hit"))
    green(
        x86(NO_PGE) + reads("miss", "miss") + step("flush", kind="mov-cr3") + reads("miss", "miss")
    )


def test_mov_cr3_with_no_flush_keeps_the_pcids_entries(green):
    # SDM 3A 4.10.4.1: with PCIDE=1, CR3 bit 63 = 1 leaves the new PCID's entries; = 0 flushes
    # its non-global ones; other PCIDs' entries stay in either case
    green(
        x86(PCIDE_PGE)
        + step("context", pcid=1)
        + reads("miss", "miss")
        + step("flush", kind="mov-cr3", pcid=2)
        + reads("miss", "hit")  # PCID 2 has no entry for GVA; the global one serves it
        + step("flush", kind="mov-cr3", pcid=1, no_flush=True)
        + reads("hit", "hit")
        + step("flush", kind="mov-cr3", pcid=1)
        + reads("miss", "hit")
    )


def test_invlpg_removes_the_page_for_the_current_pcid_and_its_global_entry(green):
    # SDM 3A 4.10.4.1: INVLPG invalidates entries for the page in the current PCID, and global
    # entries for it
    green(
        x86(PCIDE_PGE)
        + reads("miss", "miss")
        + step("flush", kind="invlpg", addr=GLOBAL_GVA)
        + reads("hit", "miss")
    )


def test_invpcid_types(green):
    # SDM 2A INVPCID: 0 individual address (not global), 1 single context (not global),
    # 2 all contexts with globals, 3 all contexts except globals
    base = x86(PCIDE_PGE) + reads("miss", "miss")
    green(base + step("flush", kind="invpcid", type=0, pcid=0, addr=GVA) + reads("miss", "hit"))
    green(
        base + step("flush", kind="invpcid", type=0, pcid=0, addr=GLOBAL_GVA) + reads("hit", "hit")
    )
    green(base + step("flush", kind="invpcid", type=1, pcid=0) + reads("miss", "hit"))
    green(base + step("flush", kind="invpcid", type=1, pcid=5) + reads("hit", "hit"))
    green(base + step("flush", kind="invpcid", type=2) + reads("miss", "miss"))
    green(base + step("flush", kind="invpcid", type=3) + reads("miss", "hit"))


def test_invvpid_single_context_retaining_globals(green):
    # SDM 3C 30.3 INVVPID type 3: the VPID's mappings except global translations
    green(
        x86(PGE)
        + reads("miss", "miss")
        + step("flush", kind="invvpid-single-retain-global")
        + reads("miss", "hit")
    )


def arm() -> str:
    return (
        machine_text("aarch64")
        + step("map", stage=2, gpa="0x20_0000", size="1M", flags="rwxu", hpa="0x8020_0000")
        + step("map", stage=1, gva=GVA, gpa="0x20_0000", size="8K", flags="rwx")
        + step("poke", stage=1, gva=GLOBAL_GVA, depth=3, fields={"NG": 0})
        + step("poke", stage=1, gva=GVA, depth=3, fields={"NG": 1})
    )


def test_tlbi_aside1is_removes_non_global_entries_of_that_asid_only(green):
    # Arm ARM D8.13 (TLBI ASIDE1IS): entries of the ASID, not global ones; other ASIDs stay
    base = arm() + reads("miss", "miss")
    green(base + step("flush", kind="tlbi-aside1is", asid=2) + reads("hit", "hit"))
    green(base + step("flush", kind="tlbi-aside1is", asid=1) + reads("miss", "hit"))


def test_tlbi_vaae1is_and_vae1is_with_an_asid(green):
    # TLBI VAAE1IS: one VA in every ASID; TLBI VAE1IS with ASID 2: that ASID's entry (and
    # global ones) — ASID 1's non-global entry stays
    base = arm() + reads("miss", "miss")
    green(base + step("flush", kind="tlbi-vaae1is", addr=GVA) + reads("miss", "hit"))
    green(base + step("flush", kind="tlbi-vae1is", addr=GVA, asid=2) + reads("hit", "hit"))
    green(base + step("flush", kind="tlbi-vale1is", addr=GLOBAL_GVA) + reads("hit", "miss"))


def test_tlbi_alle1is_removes_every_vmids_entries(green):
    green(
        arm()
        + reads("miss", "miss")
        + step("context", vmid=2)
        + step("flush", kind="tlbi-alle1is")
        + step("context", vmid=1)
        + reads("miss", "miss")
    )


def rv() -> str:
    return (
        machine_text("riscv64")
        + step("map", stage=2, gpa="0x20_0000", size="1M", flags="rwxu", hpa="0x8020_0000")
        + step("map", stage=1, gva=GVA, gpa="0x20_0000", size="8K", flags="rwx")
        + step("poke", stage=1, gva=GLOBAL_GVA, depth=2, fields={"G": 1})
    )


def test_hfence_vvma_with_an_asid_keeps_global_mappings(green):
    # Priv. ISA 21.3.1 (HFENCE.VVMA) / 4.2.1: with rs2 = an ASID, global mappings are not ordered
    base = rv() + reads("miss", "miss")
    green(base + step("flush", kind="hfence.vvma", asid=1) + reads("miss", "hit"))
    green(base + step("flush", kind="hfence.vvma") + reads("miss", "miss"))


def test_hfence_gvma_for_all_vmids(green):
    # Priv. ISA 21.3.2: HFENCE.GVMA with rs2 = x0 orders every VMID
    green(
        rv()
        + reads("miss", "miss")
        + step("context", vmid=2)
        + step("flush", kind="hfence.gvma", vmid="all")
        + step("context", vmid=1)
        + reads("miss", "miss")
    )
    green(
        rv()
        + reads("miss", "miss")
        + step("context", vmid=2)
        + step("flush", kind="hfence.gvma")
        + step("context", vmid=1)
        + reads("hit", "hit")
    )


def control(field: str, value: int) -> str:
    return step("control", register="cr4", field=field, value=value)


def test_a_mov_to_cr4_that_changes_pge_flushes_the_tlb_including_global_entries(green):
    # SDM 3A 4.10.4.1: MOV to CR4 invalidates all TLB entries, global ones included, for all
    # PCIDs, if it changes CR4.PGE (Linux's __native_tlb_flush_global toggles PGE for this)
    warm = reads("miss", "miss") + reads("hit", "hit")
    green(x86(PGE) + warm + control("PGE", 0) + reads("miss", "miss"))
    green(x86(NO_PGE) + warm + control("PGE", 1) + reads("miss", "miss"))


def test_a_mov_to_cr4_that_clears_pcide_flushes_every_pcid_and_sets_pcid_0(green):
    # SDM 3A 4.10.4.1: ... or if it changes CR4.PCIDE from 1 to 0; the current PCID is then
    # 000H (4.10.1). Setting PCIDE (0 → 1, legal only with CR3[11:0] = 0) flushes nothing
    green(
        x86(PCIDE_PGE)
        + step("context", pcid=1)
        + reads("miss", "miss")
        + control("PCIDE", 0)
        + reads("miss", "miss")
    )
    green(x86(PGE) + reads("miss", "miss") + control("PCIDE", 1) + reads("hit", "hit"))


def test_other_control_changes_leave_the_tlb_alone(green):
    # SDM 3A 4.10.4.1 lists no invalidation for CR0.WP or CR4.PKE changes; hits re-check the
    # new permissions (4.10.2.3: the TLB caches the paging-structure bits, not the verdict)
    green(
        x86(PGE)
        + reads("miss", "miss")
        + step("control", register="cr0", field="WP", value=0)
        + control("PKE", 1)
        + reads("hit", "hit")
    )

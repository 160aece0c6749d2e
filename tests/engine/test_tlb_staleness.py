"""Which TLB entries a change to the tables leaves stale, decided from the change's `Flush`
and each entry's walk footprint — never by walking again.

A TLB entry remembers every table entry its walk read (host-physical address, value), at both
stages; a change reports the table frames it wrote. An entry is stale exactly when one of the
entries it read now says something else (bits the hardware ignores aside; a status bit the
hardware sets turning 1 aside). So an upper-level entry, a guest table frame's stage-2 entry
and a change undone all count, and a map of fresh addresses marks nothing."""

from __future__ import annotations

import pytest

from npt_explorer.engine import COMBINED, STAGE2, Machine, PagingError, Walker

GVA, GPA, HPA = 0x4000_0000, 0x20_0000, 0x8020_0000
PAGE = 0x1000


def machine(arch: str = "x86_64", **opts) -> Machine:
    """Four guest pages at GVA → GPA (one leaf table), stage 2 linear to HPA."""
    m = Machine(arch=arch, **opts)
    m.map(2, GPA, 0x40_0000, "rwxu", backend="linear", hpa=HPA)
    m.map(1, GVA, 4 * PAGE, "rwx", gpa=GPA)
    return m


def stale(m: Machine) -> set[tuple[str, int]]:
    """(kind, base) of every stale entry."""
    return {(e.kind, e.base) for e in m.tlb_entries() if e.stale}


def read_pages(m: Machine, *gvas: int) -> None:
    for gva in gvas:
        assert m.access(gva, "read").ok


# ------------------------------------------------------------------ what the tables say


def test_a_map_of_unmapped_addresses_marks_nothing_stale():
    m = machine()
    read_pages(m, GVA, GVA + PAGE)
    m.map(1, 0x8000_0000, 0x20_0000, "rw", gpa=GPA)  # new tables under a new PDPT entry
    m.map(1, GVA + 8 * PAGE, PAGE, "rw", gpa=GPA)  # a new leaf in the same leaf table
    m.map(2, 0x100_0000, 0x20_0000, "rw", backend="linear", hpa=0x9000_0000)
    assert stale(m) == set()


def test_protect_write_to_read_only_marks_exactly_the_protected_leaves_entries():
    m = machine()
    read_pages(m, GVA, GVA + PAGE, GVA + 2 * PAGE)
    m.protect(1, GVA, 2 * PAGE, "rx")
    assert stale(m) == {(COMBINED, GVA), (COMBINED, GVA + PAGE)}


def test_unmap_marks_the_unmapped_pages_entry_and_the_hit_says_so():
    m = machine()
    read_pages(m, GVA, GVA + PAGE)
    m.unmap(1, GVA + PAGE, PAGE)
    assert stale(m) == {(COMBINED, GVA + PAGE)}
    hit = m.access(GVA + PAGE, "read")
    assert hit.tlb == "hit" and hit.stale


def test_a_poke_of_an_upper_level_entry_marks_every_translation_under_it():
    """(a) The PD entry (depth 2) above all four pages loses R/W: each page's entry read it."""
    m = machine()
    read_pages(m, GVA, GVA + 3 * PAGE)
    m.poke(1, GVA, 2, clear=0b10)
    assert stale(m) == {(COMBINED, GVA), (COMBINED, GVA + 3 * PAGE)}


def test_a_stage2_change_under_a_guest_table_frame_marks_what_the_table_maps():
    """(b) The stage-2 page holding the guest's leaf table goes: every combined entry whose
    guest walk read through it is stale, though no final gPA changed; the stage-2-only
    entries of the data pages are not."""
    m = machine()
    read_pages(m, GVA, GVA + PAGE)
    leaf_table = m.guest_pt.path(GVA)[-1].table  # a gPA in the guest page-table pool
    m.unmap(2, leaf_table, PAGE)
    assert stale(m) == {(COMBINED, GVA), (COMBINED, GVA + PAGE)}


def test_a_change_undone_is_no_longer_stale():
    """(c) The leaf poked to another frame, then back: the entry agrees with the tables again."""
    m = machine()
    read_pages(m, GVA)
    old, _ = m.poke(1, GVA, 3, fields={"ADDR": 0x30_0})
    assert stale(m) == {(COMBINED, GVA)}
    m.poke(1, GVA, 3, value=old)
    assert stale(m) == set()


def test_a_huge_page_is_one_entry_marked_by_a_change_to_its_leaf():
    m = Machine(arch="x86_64")
    m.map(2, GPA, 0x40_0000, "rwxu", backend="linear", hpa=HPA, huge=True)
    m.map(1, 0x4020_0000, 0x20_0000, "rwx", gpa=GPA, huge=True)
    m.map(1, GVA, PAGE, "rwx", gpa=GPA)
    read_pages(m, 0x4020_0000, 0x4030_0000, GVA)
    assert {e.size for e in m.tlb_entries() if e.kind == COMBINED} == {0x20_0000, PAGE}
    m.protect(1, 0x4020_0000, 0x20_0000, "r")
    assert stale(m) == {(COMBINED, 0x4020_0000)}


def test_a_stage2_protect_marks_the_stage2_only_entry_and_the_combined_entries_over_it():
    m = machine()
    read_pages(m, GVA, GVA + PAGE, GVA + 2 * PAGE)
    m.protect(2, GPA, 2 * PAGE, "rx")
    assert stale(m) == {
        (COMBINED, GVA),
        (COMBINED, GVA + PAGE),
        (STAGE2, GPA),
        (STAGE2, GPA + PAGE),
    }


def test_a_combined_entry_filled_through_a_stage2_only_entry_keeps_its_footprint():
    """The final gPA came from the stage-2-only TLB entry (no stage-2 steps in the walk): the
    combined entry still goes stale with the stage-2 leaf it relies on."""
    m = machine()
    read_pages(m, GVA)
    m.flush("invvpid-single")  # combined entries go, the stage-2-only entry stays
    walk = m.access(GVA, "read")
    assert walk.s2_cached
    m.protect(2, GPA, 0x20_0000, "r")
    assert stale(m) == {(COMBINED, GVA), (STAGE2, GPA)}


def test_status_bits_the_hardware_sets_never_outdate_but_clearing_one_does():
    """A/D write-backs leave every entry as it was; a cleared A bit is stale (SDM Vol. 3A
    4.10.4.3: the processor may not set it again through the cached translation)."""
    m = machine()
    read_pages(m, GVA, GVA + PAGE)
    assert m.access(GVA + PAGE, "write").ok  # walks again to set D
    assert stale(m) == set()
    m.poke(1, GVA, 3, fields={"A": 0})
    assert stale(m) == {(COMBINED, GVA)}


def test_software_bits_are_not_part_of_a_translation():
    m = machine()
    read_pages(m, GVA)
    m.poke(1, GVA, 3, set=1 << 9)  # bit 9: ignored by the processor, free for software
    assert stale(m) == set()


def test_aarch64_ttbr1_entries_go_stale_with_their_own_table_only():
    tcr = Machine(arch="aarch64").control.values["tcr_el1"]
    m = Machine(arch="aarch64", registers={"tcr_el1": tcr & ~(1 << 23)})  # EPD1=0: TTBR1 walks
    m.map(2, GPA, 0x40_0000, "rwxu", backend="linear", hpa=HPA)
    upper = 0xFFFF_FF80_0000_0000
    m.map(1, GVA, PAGE, "rwx", gpa=GPA)
    m.map(1, upper, PAGE, "rwx", gpa=GPA + PAGE)
    read_pages(m, GVA, upper)
    m.protect(1, upper, PAGE, "r")
    assert stale(m) == {(COMBINED, upper)}


def test_x86_a_guest_table_change_reaches_entries_of_every_eptp_and_an_ept_change_its_own():
    """The guest's tables are one memory under every EPT, so an entry filled under EPTP 0 goes
    stale with them; a stage-2 change in EPT 1 touches only EPT 1's tables."""
    m = machine()
    read_pages(m, GVA)
    m.set_context(eptp=1)
    m.map(2, GPA, 0x40_0000, "rwxu", backend="linear", hpa=HPA)
    read_pages(m, GVA)
    tags = {e.vmid for e in m.tlb_entries() if e.kind == COMBINED}
    assert len(tags) == 2
    m.protect(2, GPA, 0x20_0000, "r")
    assert {(e.kind, e.vmid) for e in m.tlb_entries() if e.stale} == {
        (COMBINED, m.tag_vmid),
        (STAGE2, m.tag_vmid),
    }
    m.protect(1, GVA, PAGE, "r")
    assert {e.vmid for e in m.tlb_entries() if e.kind == COMBINED and e.stale} == tags


# ------------------------------------------------------------------ how it is decided


def test_a_change_walks_nothing(monkeypatch: pytest.MonkeyPatch):
    """The machine routes the change's flush to the TLB; no walk is repeated to find stale
    entries (before, every entry was re-walked up to six times per change)."""
    m = machine()
    read_pages(m, GVA, GVA + PAGE)

    def no_walk(*args: object, **kwargs: object) -> None:
        raise AssertionError("a table change walked")

    for name in ("translate", "translate_gpa"):
        monkeypatch.setattr(Walker, name, no_walk)
    m.protect(1, GVA, PAGE, "r")
    m.poke(1, GVA, 2, clear=0b10)
    m.unmap(2, GPA, 0x20_0000)
    assert stale(m) == {
        (COMBINED, GVA),
        (COMBINED, GVA + PAGE),
        (STAGE2, GPA),
        (STAGE2, GPA + PAGE),
    }


def test_each_entry_keeps_the_entries_its_walk_read_at_both_stages():
    m = machine()
    read_pages(m, GVA)
    combined = next(e for e in m.tlb_entries() if e.kind == COMBINED)
    stage2 = next(e for e in m.tlb_entries() if e.kind == STAGE2)
    walk = m.translate(GVA, "read")
    assert [r.entry_hpa for r in combined.reads] == [s.entry_hpa for s in walk.steps]  # 24
    assert [r.entry_hpa for r in stage2.reads] == [s.entry_hpa for s in walk.steps[-4:]]


def test_a_failed_change_marks_nothing():
    m = machine()
    read_pages(m, GVA)
    m.poke(1, GVA, 3, clear=1)
    with pytest.raises(PagingError):
        m.unmap(1, GVA, 2 * PAGE)  # the first leaf is not present now: NotMapped
    assert stale(m) == {(COMBINED, GVA)}

"""The LoongArch64 page-table entry as data (LoongArch Reference Manual Vol. 1 §5.4 "Page walk",
§7.5.3 TLBELO; Linux `arch/loongarch/include/asm/pgtable-bits.h`; QEMU `target/loongarch/
cpu_helper.c` `loongarch_page_table_walker`, `loongarch_check_pte`).

A directory entry is the next table's physical address and nothing else: LDDIR (and the hardware
walker) reads it unchecked, bit 6 marking a huge page. A PTE is what TLBFILL loads into TLBELO:
V D PLV MAT G, the PPN, NR NX RPLV; bits 7 (P) and 8 (W) are Linux's software bits, which the
hardware page-table walker (PWCH.HPTW_En) reads as present and writable instead of V and D.
"""

from __future__ import annotations

from .base import EntryKind, Field, Role

V, D, G_OR_H, P, W = 1 << 0, 1 << 1, 1 << 6, 1 << 7, 1 << 8
PLV_SHIFT, MAT_SHIFT = 2, 4
HG = 1 << 12  # global bit of a huge PTE (bit 6 is the huge marker there)
NR, NX, RPLV = 1 << 61, 1 << 62, 1 << 63
ADDR_MASK = 0x0000_FFFF_FFFF_F000  # LA64PTE::PHYS_ADDR_MASK: PA[47:12]
DIR_LOW = 0xFFF & ~G_OR_H  # LDDIR ORs them into the next entry's address
MAT_SUC, MAT_CC, MAT_WUC = 0, 1, 2
PTW = "ptw"  # feature: the hardware page-table walker (PWCH.HPTW_En) instead of the refill


def plv(raw: int) -> int:
    return (raw >> PLV_SHIFT) & 3


def mat(raw: int) -> int:
    return (raw >> MAT_SHIFT) & 3


def bit(name: str, at: int, role: Role, doc: str, zero: str, one: str) -> Field:
    return Field(name, at, at, role, doc, ((0, zero), (1, one)))


def _mat_field() -> Field:
    return Field(
        "MAT",
        5,
        4,
        Role.ATTRIBUTE,
        "memory access type",
        (
            (0, "SUC: strongly-ordered uncached (device)"),
            (1, "CC: coherent cached"),
            (2, "WUC: weakly-ordered uncached"),
            (3, "reserved"),
        ),
    )


def _plv_field() -> Field:
    return Field(
        "PLV",
        3,
        2,
        Role.PERMISSION,
        "privilege level: PLV0 kernel .. PLV3 user (RPLV=0: this level and more privileged)",
        tuple((n, f"PLV{n}") for n in range(4)),
    )


def leaf_fields(huge: bool, ptw: bool) -> tuple[Field, ...]:
    """A PTE (or a huge PTE in a directory), as the walker and TLBFILL read it."""
    valid = (
        bit(
            "V", 0, Role.STATUS, "accessed (set by the hardware walker)", "not accessed", "accessed"
        )
        if ptw
        else bit("V", 0, Role.VALID, "valid", "invalid (page-invalid exception)", "valid")
    )
    dirty = (
        bit("D", 1, Role.STATUS, "dirty (set by the hardware walker)", "clean", "dirty")
        if ptw
        else bit("D", 1, Role.PERMISSION, "dirty: stores allowed", "store -> PME", "writable")
    )
    present_doc = "present (read by the hardware walker)" if ptw else "Linux software: present"
    write_doc = "writable (read by the hardware walker)" if ptw else "Linux software: writable"
    g = (
        bit("H", 6, Role.TYPE, "huge page marker", "-", "huge page")
        if huge
        else bit("G", 6, Role.ATTRIBUTE, "global (all ASIDs)", "ASID-local", "global")
    )
    head = (
        valid,
        dirty,
        _plv_field(),
        _mat_field(),
        g,
        bit("P", 7, Role.VALID if ptw else Role.SOFTWARE, present_doc, "not present", "present"),
        bit("W", 8, Role.PERMISSION if ptw else Role.SOFTWARE, write_doc, "read-only", "writable"),
    )
    middle: tuple[Field, ...]
    if huge:
        middle = (
            Field("SW", 11, 9, Role.SOFTWARE, "software bits (Linux: modified, protnone, special)"),
            bit("HG", 12, Role.ATTRIBUTE, "global bit of a huge PTE", "ASID-local", "global"),
            Field("ADDR", 47, 13, Role.ADDRESS, "output address PA[47:13] (below the size: 0)"),
        )
    else:
        middle = (
            Field("SW", 11, 9, Role.SOFTWARE, "software bits (Linux: modified, protnone, special)"),
            Field("ADDR", 47, 12, Role.ADDRESS, "output address PA[47:12]"),
        )
    return (
        *head,
        *middle,
        Field("IGNORED_60_48", 60, 48, Role.IGNORED, "above PALEN: not part of the PPN"),
        bit("NR", 61, Role.PERMISSION, "no read", "loads allowed", "load -> PNR"),
        bit("NX", 62, Role.PERMISSION, "no execute", "fetches allowed", "fetch -> PNX"),
        bit("RPLV", 63, Role.PERMISSION, "restricted PLV", "PLV or more privileged", "PLV only"),
    )


DIR_FIELDS = (
    Field("LOW", 5, 0, Role.RESERVED, "must be 0: LDDIR ORs them into the next entry's address"),
    bit("H", 6, Role.TYPE, "huge page marker", "next-level table", "huge page"),
    Field("LOW_11_7", 11, 7, Role.RESERVED, "must be 0: ORed into the next entry's address"),
    Field("ADDR", 47, 12, Role.ADDRESS, "next-level table PA[47:12]"),
    Field("IGNORED_63_48", 63, 48, Role.IGNORED, "above PALEN: masked off by the walker"),
)


def field_table(last_level: bool, kind: EntryKind, huge: bool, ptw: bool) -> tuple[Field, ...]:
    """Fields of a PTE (`last_level`), a huge PTE or a directory entry (also an empty one)."""
    if last_level or huge:
        return leaf_fields(huge and not last_level, ptw)
    return DIR_FIELDS

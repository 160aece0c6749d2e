"""The RV64 Sv39/Sv48 PTE as data: bit names, field tables per stage and kind, and the rules that
make a valid PTE fault (privileged spec "Sv39" / "Sv48", Svnapot, Svpbmt; hypervisor spec for the
G-stage). Shared by the format (`riscv.py`) and the syndromes (`riscv_faults.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from . import riscv_thead as thead
from .base import EntryKind, FaultReason, Field, Role

PTE_V, PTE_R, PTE_W, PTE_X, PTE_U, PTE_G, PTE_A, PTE_D = (1 << i for i in range(8))
PTE_XWR = PTE_R | PTE_W | PTE_X
PTE_N = 1 << 63
PPN_SHIFT = 10
PPN_MASK = (1 << 54) - (1 << 10)  # Rv64PTE::PHYS_ADDR_MASK, bits 53:10
RSVD_MASK = 0x7F << 54  # bits 60:54
PBMT_SHIFT = 61
PBMT_NC, PBMT_IO, PBMT_RESERVED = 1, 2, 3
NAPOT_SIZE = 0x1_0000
PAGE_SHIFT = 12

SVADU, SVNAPOT, SVPBMT = "svadu", "svnapot", "svpbmt"


def ppn(raw: int) -> int:
    return (raw & PPN_MASK) >> PPN_SHIFT


def pbmt(raw: int) -> int:
    return (raw >> PBMT_SHIFT) & 3


def is_pointer(raw: int) -> bool:
    """XWR = 000: a pointer to the next level (only meaningful when V = 1)."""
    return not raw & PTE_XWR


def level_name(level: int) -> str:
    """The manual's name of level `level` (0 = the 4 KiB level; levels count down from the root)."""
    return f"level {level} (VPN[{level}])"


#: level name -> level number, so a `Fault` (which carries only the name) knows its level
LEVEL_OF_NAME = {level_name(i): i for i in range(5)}
SIZE_WORDS = {0: "4 KiB", 1: "2 MiB", 2: "1 GiB", 3: "512 GiB", 4: "256 TiB"}


@dataclass(frozen=True, slots=True)
class PpnField(Field):
    """A PPN names the address `value << 12`, though the field starts at bit 10."""

    def meaning(self, value: int) -> str:
        return f"{value << PAGE_SHIFT:#x}"


# ------------------------------------------------------------------------------ field tables


def _allow(what: str) -> tuple[tuple[int, str], ...]:
    return ((0, f"no {what}"), (1, f"{what} allowed"))


_V = Field("V", 0, 0, Role.VALID, "valid", ((0, "invalid (page fault)"), (1, "valid")))
_R = Field("R", 1, 1, Role.PERMISSION, "readable", _allow("read"))
_W = Field("W", 2, 2, Role.PERMISSION, "writable (W=1 with R=0 is reserved)", _allow("write"))
_X = Field("X", 3, 3, Role.PERMISSION, "executable", _allow("execute"))
_U_VS = Field(
    "U",
    4,
    4,
    Role.PERMISSION,
    "user page: VU-mode only; VS-mode may not touch it (SUM=0)",
    ((0, "supervisor page"), (1, "user page")),
)
_U_G = Field(
    "U",
    4,
    4,
    Role.PERMISSION,
    "must be 1: every G-stage access is a U-mode access",
    ((0, "no access (guest-page fault)"), (1, "accessible")),
)
_G_VS = Field(
    "G", 5, 5, Role.ATTRIBUTE, "global mapping (all ASIDs)", ((0, "ASID-local"), (1, "global"))
)
_G_G = Field("G", 5, 5, Role.IGNORED, "ignored in G-stage PTEs")
_A = Field(
    "A",
    6,
    6,
    Role.STATUS,
    "accessed (Svade: A=0 faults; Svadu: the hardware sets it)",
    ((0, "not accessed"), (1, "accessed")),
)
_D = Field(
    "D",
    7,
    7,
    Role.STATUS,
    "dirty (Svade: a store with D=0 faults; Svadu: the hardware sets it)",
    ((0, "clean"), (1, "dirty")),
)
_RSW = Field("RSW", 9, 8, Role.SOFTWARE, "reserved for supervisor software")
_PPN_PAGE = PpnField(
    "PPN", 53, 10, Role.ADDRESS, "physical page number of the page (superpages: low PPN bits 0)"
)
_PPN_TABLE = PpnField("PPN", 53, 10, Role.ADDRESS, "physical page number of the next-level table")
_RSVD = Field(
    "RESERVED", 60, 54, Role.RESERVED, "reserved for future standard use: page fault if set"
)
_PBMT = Field(
    "PBMT",
    62,
    61,
    Role.ATTRIBUTE,
    "page-based memory type (Svpbmt)",
    (
        (0, "PMA: the physical memory attributes"),
        (1, "NC: non-cacheable, idempotent"),
        (2, "IO: non-cacheable, non-idempotent, strongly ordered"),
        (3, "reserved (page fault)"),
    ),
)
_N = Field(
    "N",
    63,
    63,
    Role.TYPE,
    "NAPOT (Svnapot): a 64 KiB page when PPN[3:0] = 0b1000 at level 0",
    ((0, "ordinary page"), (1, "NAPOT 64 KiB page")),
)


def _in_pointer(f: Field, doc: str, role: Role = Role.RESERVED) -> Field:
    return replace(f, role=role, doc=doc, meanings=())


_POINTER_XWR = "0 in a pointer (XWR = 000 means: next level)"


def _leaf(stage: int) -> tuple[Field, ...]:
    u, g = (_U_VS, _G_VS) if stage == 1 else (_U_G, _G_G)
    return (_V, _R, _W, _X, u, g, _A, _D, _RSW, _PPN_PAGE, _RSVD, _PBMT, _N)


def _pointer(stage: int) -> tuple[Field, ...]:
    reserved = "reserved in a non-leaf PTE: page fault if set"
    g = replace(_G_VS, doc="global: every mapping below is global") if stage == 1 else _G_G
    return (
        _V,
        _in_pointer(_R, _POINTER_XWR, Role.TYPE),
        _in_pointer(_W, _POINTER_XWR, Role.TYPE),
        _in_pointer(_X, _POINTER_XWR, Role.TYPE),
        _in_pointer(_U_VS, reserved),
        g,
        _in_pointer(_A, reserved),
        _in_pointer(_D, reserved),
        _RSW,
        _PPN_TABLE,
        _RSVD,
        _in_pointer(_PBMT, reserved),
        _in_pointer(_N, reserved),
    )


def _invalid(stage: int) -> tuple[Field, ...]:
    """V=0: every other bit is a don't-care that software may use (privileged spec, Sv32 PTE)."""
    dont_care = "don't-care while V=0"
    v = replace(_V, doc="valid: 0, so all other bits are don't-cares")
    rest = tuple(
        replace(f, role=Role.IGNORED, doc=f"{dont_care} ({f.doc})")
        if f.role is Role.RESERVED
        else f
        for f in _leaf(stage)[1:]
    )
    return (v, *rest)


def _thead(table: tuple[Field, ...]) -> tuple[Field, ...]:
    """`table` with bits 63:54 as T-Head MAEE lays them out (`riscv_thead`)."""
    return (*(f for f in table if f.name not in thead.REPLACED), *thead.FIELDS)


def field_table(stage: int, kind: EntryKind, features: frozenset[str]) -> tuple[Field, ...]:
    table = FIELD_TABLES[(stage, kind)]
    return _thead(table) if thead.XUANTIE in features else table


FIELD_TABLES: dict[tuple[int, EntryKind], tuple[Field, ...]] = {
    (stage, kind): table
    for stage in (1, 2)
    for kind, table in (
        (EntryKind.INVALID, _invalid(stage)),
        (EntryKind.TABLE, _pointer(stage)),
        (EntryKind.LEAF, _leaf(stage)),
        (EntryKind.MISCONFIGURED, _leaf(stage)),
    )
}


# ------------------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason a valid PTE makes the walk fault, with the fields to show in red."""

    reason: FaultReason
    words: str
    fields: tuple[str, ...]


def violations(raw: int, level: int, features: frozenset[str]) -> list[Violation]:
    """Why the valid PTE `raw` at `level` (0 = the 4 KiB level) faults, in Spike's check order
    (riscv-isa-sim mmu.cc `walk()`); empty when the PTE is a usable pointer or leaf."""
    out: list[Violation] = []
    maee = thead.XUANTIE in features  # bits 63:59 are T-Head memory attributes, not N/PBMT
    top = 58 if maee else 60
    if raw & (thead.RSVD_MASK if maee else RSVD_MASK):
        bits = ", ".join(str(b) for b in range(top, 53, -1) if raw >> b & 1)
        words = f"reserved bit(s) {bits} set (bits {top}:54 must be 0)"
        out.append(Violation(FaultReason.RESERVED, words, ("RESERVED",)))
    if is_pointer(raw):
        # privileged spec: "For non-leaf PTEs, the D, A, and U bits are reserved"; N, PBMT too
        named = (("D", PTE_D), ("A", PTE_A), ("U", PTE_U)) + (() if maee else (("N", PTE_N),))
        bad = tuple(n for n, bit in named if raw & bit)
        bad += ("PBMT",) if pbmt(raw) and not maee else ()
        if bad:
            words = f"non-leaf PTE with {'/'.join(bad)} set: D, A, U, N and PBMT are reserved there"
            out.append(Violation(FaultReason.RESERVED, words, bad))
        if level == 0:
            words = "a pointer (XWR = 000) at level 0, where there is no next level"
            out.append(Violation(FaultReason.RESERVED, words, ("R", "W", "X")))
        return out
    if maee:
        return out + _leaf_violations(raw, level)
    if raw & PTE_N and SVNAPOT not in features:
        words = "N=1 but Svnapot is off (feature svnapot)"
        out.append(Violation(FaultReason.RESERVED, words, ("N",)))
    if pbmt(raw) and SVPBMT not in features:
        words = f"PBMT={pbmt(raw)} but Svpbmt is off (feature svpbmt)"
        out.append(Violation(FaultReason.RESERVED, words, ("PBMT",)))
    if pbmt(raw) == PBMT_RESERVED:
        out.append(Violation(FaultReason.RESERVED, "PBMT=3 is reserved", ("PBMT",)))
    out += _leaf_violations(raw, level)
    if raw & PTE_N and SVNAPOT in features:
        out.extend(_napot_violations(raw, level))
    return out


def _leaf_violations(raw: int, level: int) -> list[Violation]:
    """W without R, and a superpage whose low PPN bits are not 0."""
    out = []
    if raw & PTE_W and not raw & PTE_R:
        out.append(Violation(FaultReason.RESERVED, "W=1 with R=0 is a reserved encoding", ("W",)))
    low = ppn(raw) & ((1 << (9 * level)) - 1)
    if low:
        words = (
            f"misaligned superpage: a {SIZE_WORDS[level]} leaf needs PPN[{9 * level - 1}:0] = 0, "
            f"not {low:#x}"
        )
        out.append(Violation(FaultReason.MISALIGNED, words, ("PPN",)))
    return out


def _napot_violations(raw: int, level: int) -> list[Violation]:
    """Svnapot: N=1 is defined only in a level-0 leaf with PPN[3:0] = 0b1000 (64 KiB)."""
    if level:
        words = f"N=1 in a level-{level} leaf: NAPOT pages exist only at level 0"
        return [Violation(FaultReason.RESERVED, words, ("N",))]
    if ppn(raw) & 0xF != 0b1000:
        words = f"N=1 with PPN[3:0] = {ppn(raw) & 0xF:#06b}: only 0b1000 (64 KiB) is defined"
        return [Violation(FaultReason.RESERVED, words, ("N", "PPN"))]
    return []

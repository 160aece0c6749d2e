"""IA-32e guest paging, 4-level and 5-level (Intel SDM Vol. 3 §4.5), with the seed's X64PTE.

Control state (engine.control): CR0.WP, CR4.SMEP/SMAP/PKE, EFER.NXE, PKRU, MAXPHYADDR; the
defaults are WP=1, NXE=1, SMEP/SMAP/PKE off, MAXPHYADDR 52.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..flags import Access, MappingFlags, Priv
from .base import (
    PAGE_4K,
    AccessRequest,
    Decoded,
    Encoding,
    EntryKind,
    FaultReason,
    Field,
    StepCheck,
)
from .shapes import BitTest
from .x86_common import Reading, X86Family, fixed_address, kind_layouts, leaf_base, levels
from .x86_fields import (
    ADDR_MASK,
    guest_invalid,
    guest_large,
    guest_page,
    guest_table,
    large_shift,
    size_words,
)

if TYPE_CHECKING:
    from ..control import Control

P, RW, US, PWT, PCD, A, D, PS = (1 << b for b in range(8))
PAT_LARGE = 1 << 12
XD = 1 << 63

_CHILD = {
    "PML5E": "PML4 table",
    "PML4E": "page-directory-pointer table",
    "PDPTE": "page directory",
    "PDE": "page table",
}


@dataclass(frozen=True, slots=True)
class GuestAccess:
    """Hierarchical rights of a walk (§4.6): R/W and U/S ANDed, XD ORed over the levels; `pk`
    the leaf's protection key (bits 62:59)."""

    rw: bool = True
    us: bool = True
    xd: bool = False
    pk: int = 0

    def through(self, raw: int) -> GuestAccess:
        return GuestAccess(
            self.rw and bool(raw & RW), self.us and bool(raw & US), self.xd or bool(raw & XD)
        )


@dataclass(frozen=True, slots=True)
class X86Controls:
    """The control bits IA-32e permission checks read (SDM Vol. 3A 4.6)."""

    wp: bool = True
    smep: bool = False
    smap: bool = False
    nxe: bool = True
    pke: bool = False
    pkru: int = 0
    maxphyaddr: int = 52

    @classmethod
    def of(cls, control: Control | None) -> X86Controls:
        if control is None or control.arch != "x86_64":
            return cls()
        return cls(
            control.on("cr0", "WP"),
            control.on("cr4", "SMEP"),
            control.on("cr4", "SMAP"),
            control.on("efer", "NXE") and control.on("cr4", "PAE"),  # §4.1.1: XD needs PAE
            control.on("cr4", "PKE"),
            control.get("pkru", "PKRU"),
            control.get("maxphyaddr", "MAXPHYADDR"),
        )

    def denial(self, acc: GuestAccess, access: Access, priv: Priv, ac: bool) -> str:
        """The rule that forbids the access (SDM Vol. 3A 4.6.1, 4.6.2), "" when allowed."""
        user, supervisor = priv is Priv.USER, priv is not Priv.USER
        if user and not acc.us:
            return "U/S"
        if access is Access.EXEC:
            if self.nxe and acc.xd:
                return "XD"
            return "SMEP" if supervisor and acc.us and self.smep else ""
        if supervisor and acc.us and self.smap and not ac:  # explicit supervisor data access
            return "SMAP"
        if access is Access.WRITE and not acc.rw and (user or self.wp):
            return "R/W"
        return self.pk_violation(acc, access, priv)

    def pk_violation(self, acc: GuestAccess, access: Access, priv: Priv) -> str:
        """Protection keys guard data accesses to user-mode addresses (§4.6.2): PKRU.ADk forbids
        any, PKRU.WDk writes (by the kernel only with CR0.WP=1); the #PF error code's PK bit."""
        if not self.pke or not acc.us or access is Access.EXEC:
            return ""
        if self.pkru >> (2 * acc.pk) & 1:
            return "PK-AD"
        wd = self.pkru >> (2 * acc.pk + 1) & 1
        if access is Access.WRITE and wd and (priv is Priv.USER or self.wp):
            return "PK-WD"
        return ""


class X86Paging(X86Family):
    """`x86-64` (PML4E..PTE, 48-bit gVA) and `x86-64-la57` (PML5E..PTE, 57-bit gVA)."""

    stage = 1
    signed_input = True
    present_test = BitTest(P)  # X64PTE::is_present
    ctl = X86Controls()

    def configure(self, control: Control) -> None:
        super().configure(control)
        self.ctl = X86Controls.of(control)
        self.output_bits = self.ctl.maxphyaddr

    def __init__(self, *, levels_count: int = 4, features: frozenset[str] = frozenset()):
        name = "x86-64" if levels_count == 4 else "x86-64-la57"
        super().__init__(name, levels(levels_count), features)

    #: what precedes the SDM's level names (AMD's nested table: "NPT ")
    level_prefix = ""

    def _kind_layouts(self, depth: int) -> dict[EntryKind, tuple[Field, ...]]:
        level = self.levels[depth]
        if depth == self.leaf_depth:
            return kind_layouts(guest_invalid(), None, guest_page())
        name = level.name.removeprefix(self.level_prefix)
        table = guest_table(name, _CHILD[name], level.leaf_size is not None)
        leaf = guest_large(level.leaf_size) if level.leaf_size else None
        return kind_layouts(guest_invalid(), table, leaf)

    # ------------------------------------------------------------ the seed's X64PTE (§2.1)

    def seed_present(self, raw: int) -> bool:
        return bool(raw & P)

    def seed_huge(self, raw: int) -> bool:
        return bool(raw & PS)

    def new_table(self, paddr: int, encoding: Encoding) -> int:
        return P | RW | US | (paddr & ADDR_MASK)

    def new_page(self, paddr: int, flags: MappingFlags, huge: bool, encoding: Encoding) -> int:
        if encoding is Encoding.SEED:
            return seed_attr(flags) | (paddr & ADDR_MASK) | (PS if huge else 0)
        if not flags:
            return fixed_address(paddr, huge)
        return fixed_attr(flags) | fixed_address(paddr, huge) | (PS if huge else 0)

    def seed_flags(self, raw: int) -> MappingFlags:
        if not raw & P:
            return MappingFlags(0)
        return _granted(raw) | (MappingFlags.UNCACHED if raw & PCD else 0)

    def encoding_problems(self, flags: MappingFlags, huge: bool, encoding: Encoding) -> list[str]:
        words = []
        if not flags:
            words.append("no flags: the entry is not present but keeps its address bits")
        elif MappingFlags.READ not in flags:
            words.append("x86 cannot express a present entry without READ: P=1 makes it readable")
        if MappingFlags.DEVICE in flags:
            if encoding is Encoding.SEED:
                words.append(
                    "DEVICE is written as PCD|PWT (UC) like UNCACHED and reads back as UNCACHED"
                )
            elif MappingFlags.UNCACHED in flags:
                words.append(
                    "DEVICE and UNCACHED together are written as UC (PCD|PWT): reads back as DEVICE"
                )
        return words

    # --------------------------------------------------------------- the hardware's reading

    def classify(self, raw: int, depth: int) -> Reading:
        if not raw & P:
            return Reading(
                EntryKind.INVALID,
                self.field_table(depth, EntryKind.INVALID),
                FaultReason.NOT_PRESENT,
            )
        level = self.levels[depth]
        high = raw & ADDR_MASK & ~((1 << self.ctl.maxphyaddr) - 1)
        if high:  # §4.1.4: address bits at and above MAXPHYADDR are reserved
            return Reading(
                EntryKind.MISCONFIGURED,
                self.field_table(depth, EntryKind.TABLE),
                FaultReason.RESERVED,
                raw & ADDR_MASK,
                words=(
                    f"address bits 51:{self.ctl.maxphyaddr} must be 0 "
                    f"(MAXPHYADDR={self.ctl.maxphyaddr})",
                ),
            )
        if raw & XD and not self.ctl.nxe:  # §4.5: XD is reserved while EFER.NXE=0
            return Reading(
                EntryKind.MISCONFIGURED,
                self.field_table(depth, EntryKind.TABLE),
                FaultReason.RESERVED,
                raw & ADDR_MASK,
                words=("XD (bit 63) is reserved while EFER.NXE=0",),
            )
        if self.ps_reserved(raw, depth):
            return Reading(
                EntryKind.MISCONFIGURED,
                self.field_table(depth, EntryKind.TABLE),
                FaultReason.RESERVED,
                raw & ADDR_MASK,
                words=(f"PS=1 is reserved in a {level.name}",),
            )
        if not self.is_leaf(raw, depth):
            return Reading(
                EntryKind.TABLE, self.field_table(depth, EntryKind.TABLE), paddr=raw & ADDR_MASK
            )
        size = level.leaf_size or PAGE_4K
        layout = self.field_table(depth, EntryKind.LEAF)
        low = (size - 1) & ~(PAT_LARGE | 0xFFF)  # §4.5: bits shift-1:13 of a large leaf
        if raw & low:
            words = (
                f"misaligned large page: bits {large_shift(size) - 1}:13 of a "
                f"{size_words(size)} page must be 0",
            )
            return Reading(  # the CPU reports RSVD (error code); the contract says misaligned
                EntryKind.MISCONFIGURED,
                layout,
                FaultReason.MISALIGNED,
                leaf_base(raw, size),
                size,
                words=words,
            )
        return Reading(EntryKind.LEAF, layout, None, leaf_base(raw, size), size)

    def hw_grant(self, raw: int, reading: Reading) -> MappingFlags:
        flags = _granted(raw)
        if reading.kind is EntryKind.LEAF and raw & PCD:  # default PAT: PCD|PWT UC, PCD UC-
            flags |= MappingFlags.DEVICE if raw & PWT else MappingFlags.UNCACHED
        return flags

    def seed_notes(
        self, raw: int, depth: int, reading: Reading, seed: MappingFlags | None
    ) -> list[str]:
        if self.ps_reserved(raw, depth):
            return ["the seed's is_huge() reads PS=1 as a huge page (MappedToHugePage)"]
        if reading.page_size is None:
            return []
        notes = []
        if reading.kind is EntryKind.MISCONFIGURED and seed:
            notes.append(f"the seed reads {seed.short()} but the CPU raises #PF with RSVD")
        if reading.kind is EntryKind.LEAF and raw & PCD and raw & PWT:
            notes.append("the seed reads UNCACHED, but PCD=1 PWT=1 is UC (DEVICE)")
        if reading.page_size > PAGE_4K and raw & PAT_LARGE:
            notes.append(
                "bit 12 is PAT in a large page, but the seed's paddr() reads it as an address bit"
            )
        return notes

    # ----------------------------------------------------------------------- walker hooks

    def start(self) -> GuestAccess:
        return GuestAccess()

    def descend(self, acc: GuestAccess, dec: Decoded, req: AccessRequest) -> StepCheck:
        # §4.8: the CPU sets A in every paging-structure entry it uses
        return StepCheck(acc.through(dec.raw), write_back=_with(dec.raw, A))

    def leaf(self, acc: GuestAccess, dec: Decoded, req: AccessRequest) -> StepCheck:
        acc = acc.through(dec.raw)
        acc = replace(acc, pk=(dec.raw >> 59) & 0xF)
        reason = self.allows(acc, req)
        if reason is not None:  # §4.8: A/D are written only for a permitted access
            return StepCheck(acc, reason)
        status = A | D if req.access is Access.WRITE else A
        return StepCheck(acc, write_back=_with(dec.raw, status))

    def allows(self, acc: GuestAccess, req: AccessRequest) -> FaultReason | None:
        if self.ctl.denial(acc, req.access, req.priv, req.ac):
            return FaultReason.PERMISSION
        return None

    def deciding_rule(self, acc: GuestAccess, req: AccessRequest) -> str:
        return self.ctl.denial(acc, req.access, req.priv, req.ac)

    def describe_perms(self, acc: GuestAccess) -> str:
        key = f" pk{acc.pk}" if self.ctl.pke and acc.us else ""
        xd = acc.xd and self.ctl.nxe
        return f"r{'w' if acc.rw else '-'}{'-' if xd else 'x'} {'u' if acc.us else 's'}{key}"

    def user_page(self, acc: GuestAccess) -> bool:
        return acc.us


def _with(raw: int, bits: int) -> int | None:
    """`raw` with `bits` set, or None when they already are (nothing to write back)."""
    return None if raw & bits == bits else raw | bits


def _granted(raw: int) -> MappingFlags:
    """The rights of a present entry: READ always, WRITE from R/W, EXECUTE unless XD, USER."""
    flags = MappingFlags.READ
    flags |= MappingFlags.WRITE if raw & RW else 0
    flags |= MappingFlags.EXECUTE if not raw & XD else 0
    return flags | (MappingFlags.USER if raw & US else 0)


def _rights(flags: MappingFlags) -> int:
    """P, and R/W, U/S, XD as the flags ask (both encodings)."""
    bits = P | XD * (MappingFlags.EXECUTE not in flags)
    bits |= RW if MappingFlags.WRITE in flags else 0
    return bits | (US if MappingFlags.USER in flags else 0)


def seed_attr(flags: MappingFlags) -> int:
    """X64PTE's `From<MappingFlags>`: P always, NX without EXECUTE, DEVICE/UNCACHED → PCD|PWT."""
    if not flags:
        return 0
    cached = not flags & (MappingFlags.DEVICE | MappingFlags.UNCACHED)
    return _rights(flags) | (0 if cached else PCD | PWT)


def fixed_attr(flags: MappingFlags) -> int:
    """DEVICE → UC (PCD|PWT), UNCACHED alone → UC- (PCD) under the default PAT."""
    if MappingFlags.DEVICE in flags:
        return _rights(flags) | PCD | PWT
    return _rights(flags) | (PCD if MappingFlags.UNCACHED in flags else 0)

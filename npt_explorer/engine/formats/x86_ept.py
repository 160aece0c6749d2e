"""Intel EPT, 4-level and 5-level (Intel SDM Vol. 3 §29.3), with axaddrspace's EPTEntry.

Features: `ept-ad` (EPTP[6]: A/D flags), `mbec` (bit 2 = XS, bit 10 = XU), `ept-execute-only`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..flags import Access, MappingFlags
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
    ept_invalid,
    ept_large,
    ept_page,
    ept_table,
    large_shift,
    size_words,
)

if TYPE_CHECKING:
    from ..control import Control

R, W, X = 1, 2, 4
RWX = R | W | X
IPAT, PS, A, D, XU = 1 << 6, 1 << 7, 1 << 8, 1 << 9, 1 << 10
NONLEAF_RESERVED = 0x78  # bits 6:3 of a non-leaf entry
UC, WC, WB = 0, 1, 6
BAD_MEMTYPES = (2, 3, 7)

_CHILD = {
    "EPT PML5E": "EPT PML4 table",
    "EPT PML4E": "EPT page-directory-pointer table",
    "EPT PDPTE": "EPT page directory",
    "EPT PDE": "EPT page table",
}
_RIGHTS = MappingFlags.READ | MappingFlags.WRITE | MappingFlags.EXECUTE


def memtype(raw: int) -> int:
    return (raw >> 3) & 7


@dataclass(frozen=True, slots=True)
class EptAccess:
    """R, W, X (XS) and XU ANDed over the EPT entries used (§29.3.3; exit qualification 3-6)."""

    r: bool = True
    w: bool = True
    x: bool = True
    xu: bool = True

    def through(self, raw: int) -> EptAccess:
        return EptAccess(
            self.r and bool(raw & R),
            self.w and bool(raw & W),
            self.x and bool(raw & X),
            self.xu and bool(raw & XU),
        )


class EptFormat(X86Family):
    """`ept`: a 4-level (48-bit gPA) or 5-level (57-bit gPA) EPT."""

    stage = 2
    signed_input = False
    present_test = BitTest(RWX)  # EPTEntry::is_present: any of R/W/X

    def __init__(self, *, levels_count: int = 4, features: frozenset[str] = frozenset()):
        super().__init__("ept", levels(levels_count, "EPT "), features)

    @property
    def mbec(self) -> bool:
        return "mbec" in self.features

    @property
    def ad(self) -> bool:
        return "ept-ad" in self.features

    def _kind_layouts(self, depth: int) -> dict[EntryKind, tuple[Field, ...]]:
        level, invalid = self.levels[depth], ept_invalid(self.mbec)
        if depth == self.leaf_depth:
            return kind_layouts(invalid, None, ept_page(self.mbec, self.ad))
        size = level.leaf_size
        table = ept_table(level.name, _CHILD[level.name], size is not None, self.mbec, self.ad)
        return kind_layouts(invalid, table, ept_large(size, self.mbec, self.ad) if size else None)

    # --------------------------------------------------------- axaddrspace's EPTEntry (§3.2)

    def seed_present(self, raw: int) -> bool:
        return bool(raw & RWX)

    def seed_huge(self, raw: int) -> bool:
        return bool(raw & PS)

    def new_table(self, paddr: int, encoding: Encoding) -> int:
        return RWX | (paddr & ADDR_MASK)

    def new_page(self, paddr: int, flags: MappingFlags, huge: bool, encoding: Encoding) -> int:
        if encoding is Encoding.SEED:
            return _seed_attr(flags) | (paddr & ADDR_MASK) | (PS if huge else 0)
        if not flags & _RIGHTS:
            return fixed_address(paddr, huge)
        return _fixed_attr(flags) | fixed_address(paddr, huge) | (PS if huge else 0)

    def seed_flags(self, raw: int) -> MappingFlags:
        flags = MappingFlags(raw & RWX)  # R/W/X sit where READ/WRITE/EXECUTE do; no presence gate
        return flags | (MappingFlags.DEVICE if memtype(raw) == UC else 0)

    def encoding_problems(self, flags: MappingFlags, huge: bool, encoding: Encoding) -> list[str]:
        seed = encoding is Encoding.SEED
        rights = flags & _RIGHTS
        words = []
        if not flags:
            words.append(
                "no flags: the entry is not present but keeps its address bits"
                + ("; the seed reads it back as DEVICE (MEMTYPE 0)" if seed else "")
            )
        elif not rights:
            words.append("no READ, WRITE or EXECUTE: the entry is not present")
        if MappingFlags.WRITE in flags and MappingFlags.READ not in flags:
            words.append(
                "W without R is an EPT misconfiguration"
                if seed
                else "EPT cannot express write-only: W without R is a misconfiguration"
            )
        if MappingFlags.USER in flags:
            words.append("EPT has no user bit: USER is ignored")
        if seed and self.mbec and MappingFlags.EXECUTE in flags:
            words.append(
                "with MBEC, X covers supervisor-mode pages only and the seed never sets XU (bit 10)"
            )
        if MappingFlags.UNCACHED in flags:
            if MappingFlags.DEVICE in flags:
                words.append("DEVICE and UNCACHED together are written as UC: reads back as DEVICE")
            elif seed:
                words.append("UNCACHED is ignored: the memory type stays WB")
        return words

    # --------------------------------------------------------------- the hardware's reading

    def configure(self, control: Control) -> None:
        super().configure(control)
        if control.arch == "x86_64":
            self.output_bits = control.get("maxphyaddr", "MAXPHYADDR")

    def classify(self, raw: int, depth: int) -> Reading:
        if not raw & RWX and not (self.mbec and raw & XU):  # §29.3.2: present = any of R/W/X
            return Reading(
                EntryKind.INVALID,
                self.field_table(depth, EntryKind.INVALID),
                FaultReason.NOT_PRESENT,
            )
        leaf = self.is_leaf(raw, depth)
        size = self.levels[depth].leaf_size if leaf else None
        words, flagged = self._misconfigurations(raw, depth, size)
        kind = EntryKind.LEAF if leaf else EntryKind.TABLE
        return Reading(
            EntryKind.MISCONFIGURED if words else kind,
            self.field_table(depth, kind),
            FaultReason.MISCONFIG if words else None,
            leaf_base(raw, size) if size else raw & ADDR_MASK,
            size,
            tuple(flagged),
            tuple(words),
        )

    def _misconfigurations(
        self, raw: int, depth: int, size: int | None
    ) -> tuple[list[str], list[str]]:
        """§29.3.3.1 EPT misconfigurations of a present entry: words and the fields to blame."""
        words, flagged = [], []
        if (raw & RWX) in (W, W | X):
            words.append("W=1 with R=0: write without read")
            flagged.append("W")
        if not raw & (R | W) and "ept-execute-only" not in self.features:
            words.append("execute-only entry (R=W=0) without execute-only support")
            flagged.append("X" if raw & X else "XU")
        if self.ps_reserved(raw, depth):
            words.append(f"PS=1 is reserved in an {self.levels[depth].name}")
        if size is None and raw & NONLEAF_RESERVED:
            words.append("reserved bits 6:3 are set in a non-leaf entry")
        maxphyaddr = self.output_bits
        if raw & ADDR_MASK & ~((1 << maxphyaddr) - 1):  # §29.3.3.1: reserved above MAXPHYADDR
            words.append(f"address bits 51:{maxphyaddr} must be 0 (MAXPHYADDR={maxphyaddr})")
            flagged.append("ADDR")
        if size is not None and raw & (size - 1) & ~(PAGE_4K - 1):
            words.append(
                f"misaligned large page: bits {large_shift(size) - 1}:12 of a "
                f"{size_words(size)} page must be 0"
            )
        if size is not None and memtype(raw) in BAD_MEMTYPES:
            words.append(f"MEMTYPE {memtype(raw)} is reserved")
            flagged.append("MEMTYPE")
        return words, flagged

    def hw_grant(self, raw: int, reading: Reading) -> MappingFlags:
        flags = MappingFlags(raw & (R | W))
        if raw & X and (raw & XU or not self.mbec):
            flags |= MappingFlags.EXECUTE
        if reading.kind is EntryKind.LEAF and memtype(raw) in (UC, WC):
            flags |= MappingFlags.DEVICE if memtype(raw) == UC else MappingFlags.UNCACHED
        return flags

    def seed_notes(
        self, raw: int, depth: int, reading: Reading, seed: MappingFlags | None
    ) -> list[str]:
        notes = []
        if self.mbec and raw & XU and not raw & RWX:
            notes.append(
                "XU=1 makes the entry present under MBEC, but the seed's "
                "is_present() only looks at bits 2:0"
            )
        if self.ps_reserved(raw, depth):
            notes.append("the seed's is_huge() reads PS=1 as a huge page (MappedToHugePage)")
        if reading.page_size is None:
            return notes
        if reading.kind is EntryKind.MISCONFIGURED and seed and seed & _RIGHTS:
            notes.append(
                f"the seed reads {seed.short()} but the CPU exits with an EPT misconfiguration"
            )
        if reading.kind is EntryKind.LEAF and self.mbec and bool(raw & X) != bool(raw & XU):
            notes.append(
                "the seed reads EXECUTE from X alone, but under MBEC X only covers "
                "supervisor-mode pages and XU user-mode pages"
            )
        if reading.kind is EntryKind.LEAF and memtype(raw) == WC:
            notes.append("the seed does not read MEMTYPE 1 (WC) as UNCACHED")
        return notes

    # ----------------------------------------------------------------------- walker hooks

    def start(self) -> EptAccess:
        return EptAccess()

    def dirty_tracked(self, dec: Decoded) -> bool:
        # bits 8/9 are neither set nor checked unless EPTP[6] enables EPT A/D (§29.3.5)
        return self.ad and super().dirty_tracked(dec)

    def implicit_access(self, write_back: bool) -> Access:
        # §29.3.5: with EPT A/D every guest paging-structure access is a write
        return Access.WRITE if write_back or self.ad else Access.READ

    def descend(self, acc: EptAccess, dec: Decoded, req: AccessRequest) -> StepCheck:
        return StepCheck(acc.through(dec.raw), write_back=self._status(dec.raw, A))

    def leaf(self, acc: EptAccess, dec: Decoded, req: AccessRequest) -> StepCheck:
        acc = acc.through(dec.raw)
        reason = self.allows(acc, req)
        if reason is not None:
            return StepCheck(acc, reason)
        status = A | D if req.access is Access.WRITE else A
        return StepCheck(acc, write_back=self._status(dec.raw, status))

    def _status(self, raw: int, bits: int) -> int | None:
        """`raw` with the A/D `bits` set when EPTP[6]=1 and they are not yet set."""
        return raw | bits if self.ad and raw & bits != bits else None

    def allows(self, acc: EptAccess, req: AccessRequest) -> FaultReason | None:
        if req.access is Access.READ:
            granted = acc.r
        elif req.access is Access.WRITE:
            granted = acc.w
        else:  # §29.3.3.2: under MBEC the guest page's U/S picks XU or XS
            granted = acc.xu if self.mbec and req.guest_user_page else acc.x
        return None if granted else FaultReason.PERMISSION

    def describe_perms(self, acc: EptAccess) -> str:
        rights = f"{'r' if acc.r else '-'}{'w' if acc.w else '-'}{'x' if acc.x else '-'}"
        return f"{rights} xu" if self.mbec and acc.xu else rights


def _seed_attr(flags: MappingFlags) -> int:
    """EPTEntry's `From<MappingFlags>`: R/W/X 1:1, MEMTYPE WB unless DEVICE (UC), never IPAT."""
    if not flags:
        return 0
    return int(flags & _RIGHTS) | (UC if MappingFlags.DEVICE in flags else WB) << 3


def _fixed_attr(flags: MappingFlags) -> int:
    """R/W/X as asked (W implies R; EXECUTE sets XS and XU); WB, or UC/WC with IPAT."""
    bits = R if flags & (MappingFlags.READ | MappingFlags.WRITE) else 0
    bits |= W if MappingFlags.WRITE in flags else 0
    bits |= X | XU if MappingFlags.EXECUTE in flags else 0
    if MappingFlags.DEVICE in flags:
        return bits | UC << 3 | IPAT
    if MappingFlags.UNCACHED in flags:
        return bits | WC << 3 | IPAT
    return bits | WB << 3

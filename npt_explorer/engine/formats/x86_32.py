"""x86 32-bit paging as a guest (Intel SDM Vol. 3A §4.3): CR4.PAE=0, a 32-bit linear address,
a page directory and page tables of 1024 4-byte entries, 4 MiB pages in a PDE with CR4.PSE=1.

PDE mapping a 4 MiB page (Table 4-4), PDE referencing a page table (Table 4-5), PTE (Table
4-6). No XD: every readable page is executable (SMEP aside); EFER.NXE has no effect with
CR4.PAE=0 (§4.1.1), so a fetch sets the #PF error code's I/D only with SMEP (§4.7). Modelled: a
processor without PSE-36 (CPUID.01H:EDX[17]=0), so bits 21:13 of a 4 MiB PDE are reserved and
every output address is below 4 GiB.

The seed has no 32-bit entry: `seed` writes X64PTE's conversion in bits 31:0 (NX has no bit
there), `fixed` what the hardware needs; they differ where X64PTE does (UNCACHED).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..flags import MappingFlags
from .base import PAGE_4K, Encoding, EntryKind, FaultReason, Field, Level, Role
from .shapes import BitMove
from .x86_common import Reading, X86Family, kind_layouts
from .x86_fields import PCD, PWT, RW, US, A, D, G, P, bit, ignored, reserved
from .x86_guest import PS, X86Paging, fixed_attr, seed_attr

if TYPE_CHECKING:
    from ..control import Control

PAGE_4M = 0x40_0000
U32 = 0xFFFF_FFFF
ADDR_MASK = 0xFFFF_F000  # bits 31:12
LARGE_MASK = 0xFFC0_0000  # bits 31:22 of a 4 MiB page
LARGE_RESERVED = 0x3F_E000  # bits 21:13 (no PSE-36)
LEVELS = (Level("PDE", 22, 10, PAGE_4M), Level("PTE", 12, 10, PAGE_4K))

_PAT_SMALL = bit("PAT", 7, Role.ATTRIBUTE, "PAT index bit 2", "PAT entry 0-3", "PAT entry 4-7")
_PAT_LARGE = bit("PAT", 12, Role.ATTRIBUTE, "PAT index bit 2", "PAT entry 0-3", "PAT entry 4-7")
_PS = bit("PS", 7, Role.TYPE, "page size (CR4.PSE=1)", "references a page table", "maps 4 MiB")
INVALID = (P, ignored(31, 1, "ignored while P=0 (free for software)"))
PDE_TABLE = (  # Table 4-5
    P, RW, US, PWT, PCD, A, ignored(6), _PS, ignored(11, 8),
    Field("ADDR", 31, 12, Role.ADDRESS, "physical address of the page table"),
)  # fmt: skip
PDE_4M = (  # Table 4-4
    P, RW, US, PWT, PCD, A, D, _PS, G, ignored(11, 9), _PAT_LARGE,
    reserved(21, 13, "reserved without PSE-36 (bits 39:32 of the address with it)"),
    Field("ADDR", 31, 22, Role.ADDRESS, "physical address of the 4 MiB page"),
)  # fmt: skip
PTE = (  # Table 4-6
    P, RW, US, PWT, PCD, A, D, _PAT_SMALL, G, ignored(11, 9),
    Field("ADDR", 31, 12, Role.ADDRESS, "physical address of the 4 KiB page"),
)  # fmt: skip


class X86Paging32(X86Paging):
    """`x86-32`: a page directory (CR3) and page tables, 4-byte entries."""

    entry_bytes = 4
    output_bits = 32
    addr_mask = ADDR_MASK
    signed_input = False  # a 32-bit linear address: nothing to sign-extend
    paddr_move = BitMove(ADDR_MASK, 0)
    pse = True  # CR4.PSE: PDE.PS maps a 4 MiB page (else PS is ignored)

    def __init__(self, *, features: frozenset[str] = frozenset()) -> None:
        X86Family.__init__(self, "x86-32", LEVELS, features)

    @property
    def page_sizes(self) -> frozenset[int]:
        return frozenset({PAGE_4K, PAGE_4M})

    def configure(self, control: Control) -> None:
        super().configure(control)
        self.output_bits = 32  # MAXPHYADDR does not widen 32-bit paging without PSE-36
        if control.arch == "x86_64":
            self.pse = control.on("cr4", "PSE")

    def _kind_layouts(self, depth: int) -> dict[EntryKind, tuple[Field, ...]]:
        if depth == self.leaf_depth:
            return kind_layouts(INVALID, None, PTE)
        return kind_layouts(INVALID, PDE_TABLE, PDE_4M)

    # ------------------------------------------------------------------------ encodings

    def page_move(self, huge: bool, encoding: Encoding) -> BitMove:
        return BitMove(LARGE_MASK if huge else ADDR_MASK, 0)

    def new_table(self, paddr: int, encoding: Encoding) -> int:
        return P.mask | RW.mask | US.mask | (paddr & ADDR_MASK)

    def new_page(self, paddr: int, flags: MappingFlags, huge: bool, encoding: Encoding) -> int:
        seed = encoding is Encoding.SEED
        attrs = seed_attr(flags) if seed else fixed_attr(flags)
        address = paddr & (LARGE_MASK if huge else ADDR_MASK)
        return (attrs & U32) | address | (PS if huge and (seed or flags) else 0)

    def encoding_problems(self, flags: MappingFlags, huge: bool, encoding: Encoding) -> list[str]:
        words = super().encoding_problems(flags, huge, encoding)
        if flags and MappingFlags.EXECUTE not in flags:
            words.append("32-bit paging has no XD bit: every readable page is executable")
        return words

    # ------------------------------------------------------------- the hardware's reading

    def is_leaf(self, raw: int, depth: int) -> bool:
        return depth == self.leaf_depth or bool(raw & PS and self.pse)

    def ps_reserved(self, raw: int, depth: int) -> bool:
        return False  # PS is the page size with CR4.PSE=1 and ignored without (Table 4-5)

    def classify(self, raw: int, depth: int) -> Reading:
        if not raw & P.mask:
            return Reading(EntryKind.INVALID, INVALID, FaultReason.NOT_PRESENT)
        if not self.is_leaf(raw, depth):
            return Reading(EntryKind.TABLE, PDE_TABLE, paddr=raw & ADDR_MASK)
        if depth == self.leaf_depth:
            return Reading(EntryKind.LEAF, PTE, None, raw & ADDR_MASK, PAGE_4K)
        if raw & LARGE_RESERVED:  # Table 4-4: bits 21:13 reserved without PSE-36 → #PF RSVD
            words = ("bits 21:13 of a 4 MiB PDE are reserved without PSE-36",)
            return Reading(
                EntryKind.MISCONFIGURED, PDE_4M, FaultReason.RESERVED, raw & LARGE_MASK,
                PAGE_4M, words=words,
            )  # fmt: skip
        return Reading(EntryKind.LEAF, PDE_4M, None, raw & LARGE_MASK, PAGE_4M)

    def seed_notes(
        self, raw: int, depth: int, reading: Reading, seed: MappingFlags | None
    ) -> list[str]:
        return []  # no seed format to differ from

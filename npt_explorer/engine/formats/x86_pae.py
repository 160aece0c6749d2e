"""x86 PAE paging as a guest (Intel SDM Vol. 3A §4.4): a 32-bit linear address, four PDPTEs
that the CPU loads into registers when CR3 is written (with EPT: through EPT, and each walk then
reads only the PDE and PTE), 2 MiB pages in a PDE, 64-bit entries with XD in bit 63.

PDPTE (Table 4-8): P, bits 2:1 and 8:5 reserved, PWT, PCD, the page directory's address, bits
63:MAXPHYADDR reserved; no R/W, U/S, XD or A. PDE/PTE (Tables 4-9 to 4-11): as IA-32e, except
that bits 62:MAXPHYADDR are reserved (no protection keys).
"""

from __future__ import annotations

from .base import (
    PAGE_2M,
    PAGE_4K,
    AccessRequest,
    Decoded,
    Encoding,
    EntryKind,
    FaultReason,
    Field,
    Level,
    StepCheck,
)
from .x86_common import Reading, X86Family, kind_layouts
from .x86_fields import ADDR_MASK, PCD, PWT, P, address, ignored, reserved
from .x86_guest import GuestAccess, X86Paging

LEVELS = (
    Level("PDPTE", 30, 2, None),  # §4.4.1: no 1 GiB pages with PAE
    Level("PDE", 21, 9, PAGE_2M),
    Level("PTE", 12, 9, PAGE_4K),
)
PDPTE_RESERVED = 0b110 | 0b1111 << 5  # bits 2:1 and 8:5
_HIGH = "reserved with PAE paging: must be 0 (#PF with RSVD)"


def _pdpte_fields(maxphyaddr: int) -> tuple[Field, ...]:
    return (
        P,
        reserved(2, 1, "reserved in a PDPTE (no R/W, U/S): must be 0"),
        PWT,
        PCD,
        reserved(8, 5, "reserved in a PDPTE (no A, PS, G): must be 0"),
        ignored(11, 9),
        address(12, "the page directory"),
        reserved(63, maxphyaddr, "reserved in a PDPTE: must be 0 (no XD)"),
    )


def _pae(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    """An IA-32e PDE/PTE layout with bits 62:52 reserved instead of ignored / PK."""
    out = [f for f in fields if not (f.lo >= 52 and f.hi <= 62)]
    return (*out[:-1], reserved(62, 52, _HIGH), out[-1])


class X86Pae(X86Paging):
    """`x86-pae`: PDPTE registers, then PDE and PTE; 32-bit input."""

    root_registers = True
    signed_input = False  # a 32-bit linear address: nothing to sign-extend

    def __init__(self, *, features: frozenset[str] = frozenset()) -> None:
        X86Family.__init__(self, "x86-pae", LEVELS, features)

    def _kind_layouts(self, depth: int) -> dict[EntryKind, tuple[Field, ...]]:
        if depth == 0:
            table = _pdpte_fields(52)
            return kind_layouts(table[:1] + (ignored(63, 1, "ignored while P=0"),), table, None)
        layouts = super()._kind_layouts(depth)
        return {
            kind: _pae(layout) if kind is not EntryKind.INVALID else layout
            for kind, layout in layouts.items()
        }

    def new_table_at(self, paddr: int, encoding: Encoding, depth: int) -> int:
        """A PDPTE is P and the address only; the seed's X64PTE writes P|RW|US (0x7) anyway."""
        if depth == 0 and encoding is Encoding.FIXED:
            return P.mask | (paddr & ADDR_MASK)
        return self.new_table(paddr, encoding)

    def classify(self, raw: int, depth: int) -> Reading:
        if depth != 0 or not raw & P.mask:
            reading = super().classify(raw, depth)
            high = raw & ((1 << 63) - (1 << self.ctl.maxphyaddr)) & ~ADDR_MASK
            if reading.kind in (EntryKind.TABLE, EntryKind.LEAF) and high:
                words = (f"bits 62:52 are reserved with PAE paging (set: {high:#x})",)
                return Reading(
                    EntryKind.MISCONFIGURED,
                    reading.layout,
                    FaultReason.RESERVED,
                    reading.paddr,
                    reading.page_size,
                    words=words,
                )
            return reading
        layout = self.field_table(0, EntryKind.TABLE)
        bad = raw & (PDPTE_RESERVED | (~((1 << self.ctl.maxphyaddr) - 1) & (2**64 - 1)))
        if bad:
            words = (
                f"reserved PDPTE bits {bad:#x} set: loading CR3 raises #GP (with EPT, the "
                "PDPTE checks of VM entry or MOV to CR3 fail)",
            )
            return Reading(
                EntryKind.MISCONFIGURED, layout, FaultReason.RESERVED, raw & ADDR_MASK, words=words
            )
        return Reading(EntryKind.TABLE, layout, paddr=raw & ADDR_MASK)

    def descend(self, acc: GuestAccess, dec: Decoded, req: AccessRequest) -> StepCheck:
        if dec.depth == 0:  # a PDPTE limits nothing and has no accessed bit
            return StepCheck(acc)
        return super().descend(acc, dec, req)

"""AMD nested paging (AMD64 APM Vol. 2 §15.25): nCR3 points at a long-mode page table (4-level,
or 5-level when the host runs with CR4.LA57) that translates gPA → hPA. Its entries are the
IA-32e ones, read as the host's user-mode accesses: every nested walk is a user walk, so every
nested entry needs U=1 (§15.25.5; KVM `translate_nested_gpa`: "NPT walks are always
user-walks"), and guest page-table accesses are nested writes because the CPU may set the guest's
A/D bits (KVM `paging_tmpl.h` `walk_addr_generic`: `nested_access = PFERR_WRITE_MASK |
PFERR_USER_MASK`). A failure is #VMEXIT(NPF) (`syndrome` in `x86_faults`).

`encoding = "seed"` writes page_table_entry's X64PTE (a seed-based AMD hypervisor's natural
nested entry): U only for USER, so data leaves without USER #NPF on every access.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..flags import Access, MappingFlags, Priv
from .base import AccessRequest, Decoded, Encoding, EntryKind, FaultReason, StepCheck
from .x86_common import Reading, X86Family, levels
from .x86_guest import US, GuestAccess, X86Controls, X86Paging

if TYPE_CHECKING:
    from ..control import Control

PREFIX = "NPT "
#: a marker in `features`, so a fault's reporter knows stage 2 is AMD's (not EPT)
NPT_MODE = "npt"


class AmdNpt(X86Paging):
    """`npt` (levels 4 | 5): the nested page table nCR3 names."""

    stage = 2
    signed_input = False
    level_prefix = PREFIX

    def __init__(self, *, levels_count: int = 4, features: frozenset[str] = frozenset()):
        X86Family.__init__(
            self, "npt", levels(levels_count, PREFIX), frozenset(features) | {NPT_MODE}
        )

    def configure(self, control: Control) -> None:
        """The guest's CR0/CR4/EFER do not apply to nested walks, which follow the host's
        paging state: modelled as the assumed host (NXE=1, no PKE), with the machine's
        MAXPHYADDR."""
        super().configure(control)
        self.ctl = X86Controls(maxphyaddr=self.ctl.maxphyaddr)

    # ------------------------------------------------------------------------ encodings

    def new_page(self, paddr: int, flags: MappingFlags, huge: bool, encoding: Encoding) -> int:
        """Fixed: U=1 on every nested leaf (nested accesses are user accesses)."""
        if encoding is Encoding.FIXED and flags:
            flags |= MappingFlags.USER
        return super().new_page(paddr, flags, huge, encoding)

    def encoding_problems(self, flags: MappingFlags, huge: bool, encoding: Encoding) -> list[str]:
        words = super().encoding_problems(flags, huge, encoding)
        if encoding is Encoding.SEED and flags and MappingFlags.USER not in flags:
            words.append(
                "U=0 on a nested leaf: every nested access is a user access, so every access "
                "through it is a #NPF (the seed sets U only for USER)"
            )
        return words

    # ------------------------------------------------------------- the hardware's reading

    def hw_grant(self, raw: int, reading: Reading) -> MappingFlags:
        if not raw & US:
            return MappingFlags(0)  # a user access through U=0 is always refused
        return super().hw_grant(raw, reading) & ~MappingFlags.USER

    def seed_notes(
        self, raw: int, depth: int, reading: Reading, seed: MappingFlags | None
    ) -> list[str]:
        notes = super().seed_notes(raw, depth, reading, seed)
        if reading.kind in (EntryKind.TABLE, EntryKind.LEAF) and not raw & US:
            notes.append(
                "U=0: nested walks are user accesses, so every access through this entry #NPFs"
                + (f" (the seed reads {seed.short()})" if seed else "")
            )
        return notes

    # ---------------------------------------------------------------------- walker hooks

    def implicit_access(self, write_back: bool) -> Access:
        return Access.WRITE  # guest page-table accesses are nested writes (KVM nested_access)

    def _as_user(self, req: AccessRequest) -> AccessRequest:
        return replace(req, priv=Priv.USER)

    def descend(self, acc: GuestAccess, dec: Decoded, req: AccessRequest) -> StepCheck:
        return super().descend(acc, dec, self._as_user(req))

    def leaf(self, acc: GuestAccess, dec: Decoded, req: AccessRequest) -> StepCheck:
        return super().leaf(acc, dec, self._as_user(req))

    def allows(self, acc: GuestAccess, req: AccessRequest) -> FaultReason | None:
        return super().allows(acc, self._as_user(req))

    def describe_perms(self, acc: GuestAccess) -> str:
        return f"r{'w' if acc.rw else '-'}{'-' if acc.xd else 'x'}" + ("" if acc.us else " (U=0)")

    def user_page(self, acc: GuestAccess) -> bool:
        return False

"""LoongArch64 (`la64`): the seed's LA64PTE with LA64MetaData's geometry (4 levels, 48-bit VA and
PA, PWCL/PWCH = PT 12/9, Dir1 21/9, Dir2 30/9, Dir3 39/9), read as the LoongArch walk does
(`loongarch_pte`). Stage 1 is the guest's table (software TLB refill: LDDIR ×3, LDPTE, TLBFILL);
stage 2 is KVM's GPA table, which the host's refill handler walks while the guest runs (KVM loads
it into the root PGDL, `arch/loongarch/kvm/switch.S`), tagged by the guest's GID.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..faults import register_reporter
from ..flags import Access, MappingFlags, Priv
from . import loongarch_faults
from .base import (
    PAGE_1G,
    PAGE_2M,
    PAGE_4K,
    AccessRequest,
    Decoded,
    Encoding,
    EntryKind,
    FaultReason,
    Field,
    Level,
    PagingFormat,
    StepCheck,
    decoded_fields,
)
from .loongarch_pte import (
    ADDR_MASK,
    DIR_LOW,
    G_OR_H,
    MAT_CC,
    MAT_SUC,
    MAT_WUC,
    NR,
    NX,
    PTW,
    RPLV,
    D,
    P,
    V,
    W,
    field_table,
    mat,
    plv,
)
from .shapes import BitMove, BitTest

R_, W_, X_, U_ = MappingFlags.READ, MappingFlags.WRITE, MappingFlags.EXECUTE, MappingFlags.USER
DEV, UC = MappingFlags.DEVICE, MappingFlags.UNCACHED
_NONE = MappingFlags(0)
LEVELS = (
    Level("Dir3 (PGD)", 39, 9, None),
    Level("Dir2 (PUD)", 30, 9, PAGE_1G),
    Level("Dir1 (PMD)", 21, 9, PAGE_2M),
    Level("PT (PTE)", 12, 9, PAGE_4K),
)


@dataclass(frozen=True, slots=True)
class LeafPerms:
    """What `loongarch_check_pte` consults: valid, writable, NR, NX, PLV, RPLV."""

    valid: bool = False
    writable: bool = False
    nr: bool = True
    nx: bool = True
    plv: int = 0
    rplv: bool = False

    @classmethod
    def of(cls, raw: int, ptw: bool) -> LeafPerms:
        present, write = (P, W) if ptw else (V, D)
        return cls(
            bool(raw & present),
            bool(raw & write),
            bool(raw & NR),
            bool(raw & NX),
            plv(raw),
            bool(raw & RPLV),
        )

    def privileged_ok(self, priv: Priv) -> bool:
        level = 3 if priv is Priv.USER else 0  # CRMD.PLV of the access
        return level == self.plv if self.rplv else level <= self.plv


@dataclass(frozen=True)
class LoongArchFormat(PagingFormat):
    """`la64`: stage 1 (the guest's table) or stage 2 (KVM's GPA table, same entries)."""

    name: str
    stage: int
    features: frozenset[str]
    levels: tuple[Level, ...] = LEVELS
    output_bits: int = 48
    addr_mask: int = ADDR_MASK
    paddr_move = BitMove(ADDR_MASK, 0)
    present_test = BitTest(P)  # LA64PTE::is_present: the software P bit, not V
    huge_test = BitTest(G_OR_H)

    @property
    def signed_input(self) -> bool:  # type: ignore[override]
        return self.stage == 1  # VALEN 48: bits 63:47 of a VA sign-extend (else ADE)

    @property
    def ptw(self) -> bool:
        return PTW in self.features

    # ---------------------------------------------------------- the seed's predicates

    # A directory entry is a bare address, and an address of 0 names no table (`_classify`):
    # at the directory levels the address bits decide the entry's kind, so none is free.

    def table_address_bits(self, depth: int) -> int:
        return 0 if depth != self.leaf_depth else PagingFormat.table_address_bits(self, depth)

    def free_address_bits(self, depth: int) -> int:
        return 0 if depth != self.leaf_depth else PagingFormat.free_address_bits(self, depth)

    def seed_present(self, raw: int) -> bool:
        return bool(raw & P)  # LA64PTE::is_present: the software P bit, not V

    def seed_huge(self, raw: int) -> bool:
        return bool(raw & G_OR_H)

    def seed_flags(self, raw: int) -> MappingFlags:
        if not raw & V:
            return _NONE
        out = (_NONE if raw & NR else R_) | (W_ if raw & W else _NONE)
        out |= (_NONE if raw & NX else X_) | (U_ if plv(raw) == 3 else _NONE)
        if not raw & (1 << 4):  # MATL clear: MATH -> UNCACHED, else DEVICE
            out |= UC if raw & (1 << 5) else DEV
        return out

    # -------------------------------------------------------------------- encodings

    def new_table(self, paddr: int, encoding: Encoding) -> int:
        """A bare address in both encodings: LDDIR and the hardware walker read nothing else
        (Linux and KVM write `__pa(table)` too)."""
        return paddr & ADDR_MASK

    def new_page(self, paddr: int, flags: MappingFlags, huge: bool, encoding: Encoding) -> int:
        """The seed's LA64PTE conversion. `fixed` writes the same bits: V|P, W|D together, NR/NX,
        PLV3 for USER and MAT SUC/WUC/CC already mean to both walkers what the flags say."""
        return _attrs(flags) | (G_OR_H if huge else 0) | (paddr & ADDR_MASK)

    def encoding_problems(self, flags: MappingFlags, huge: bool, encoding: Encoding) -> list[str]:
        out = []
        if flags & DEV and flags & UC:
            out.append("DEVICE+UNCACHED: MAT=SUC, read back as DEVICE (UNCACHED lost)")
        if flags & U_:
            out.append("USER is PLV3 with RPLV=0: the kernel (PLV0) may access the page too")
        return out

    # ---------------------------------------------------------- the hardware's reading

    def field_table(self, depth: int, kind: EntryKind) -> tuple[Field, ...]:
        huge = depth != self.leaf_depth and kind is EntryKind.LEAF
        return field_table(depth == self.leaf_depth, kind, huge, self.ptw)

    def decode(self, raw: int, depth: int) -> Decoded:
        kind, reason, problems, flagged = self._classify(raw, depth)
        last = depth == self.leaf_depth
        huge = not last and bool(raw & G_OR_H)
        layout = field_table(last, kind, huge, self.ptw)
        paddr = size = None
        hw = _NONE
        if kind is EntryKind.TABLE:
            paddr = raw & ADDR_MASK
        elif kind is EntryKind.LEAF:
            size = self.levels[depth].leaf_size or PAGE_4K
            paddr = raw & ADDR_MASK & ~(size - 1)  # bits below a huge page's size are dropped
            hw = self._grants(raw)
            problems += self._leaf_problems(raw)
        seed = self.seed_read_back(raw)
        if kind is EntryKind.LEAF and seed is not None:
            problems += [
                f"the seed {'reads' if f in seed else 'does not read'} {f.name} but the "
                f"hardware {'does not grant' if f in seed else 'grants'} it"
                for f in (R_, W_, X_, U_, DEV, UC)
                if (f in seed) != (f in hw)
            ]
        if not last and self.seed_present(raw) != (kind is not EntryKind.INVALID) and raw:
            problems.append(
                "the seed's walk() visits only entries with P=1; this directory entry "
                + ("has P=1" if raw & P else "has P=0, so walk() stops here")
            )
        return Decoded(
            format=self.name,
            depth=depth,
            level_name=self.level_name(depth),
            raw=raw,
            kind=kind,
            paddr=paddr,
            page_size=size,
            fields=decoded_fields(layout, raw, flagged),
            reason=reason,
            problems=tuple(problems),
            mapping_flags=seed,
            hw_flags=hw,
        )

    def _classify(
        self, raw: int, depth: int
    ) -> tuple[EntryKind, FaultReason | None, list[str], list[str]]:
        if depth == self.leaf_depth:
            present = raw & (P if self.ptw else V)
            if not present:
                bit = "P" if self.ptw else "V"
                return EntryKind.INVALID, FaultReason.NOT_PRESENT, [], [bit]
            return EntryKind.LEAF, None, [], []
        if raw & G_OR_H:
            if self.levels[depth].leaf_size is None:
                why = "a huge page in Dir3 (512 GiB) is not a LoongArch page size"
                return EntryKind.MISCONFIGURED, FaultReason.RESERVED, [why], ["H"]
            if not raw & (P if self.ptw else V):
                return EntryKind.INVALID, FaultReason.NOT_PRESENT, [], []
            return EntryKind.LEAF, None, [], []
        if not raw & ADDR_MASK:
            why = (
                "no next-level table: the walker does not check directory entries, so LDDIR "
                "would read the PTE from physical page 0 (Linux points empty entries at "
                "invalid_pte_table, whose PTEs have V=0); modelled as the page-invalid fault "
                "that follows"
            )
            return EntryKind.INVALID, FaultReason.NOT_PRESENT, [why] if raw else [], []
        if raw & DIR_LOW:
            why = "bits 11:0 of a directory entry must be 0: LDDIR ORs them into the next address"
            return EntryKind.MISCONFIGURED, FaultReason.RESERVED, [why], ["LOW", "LOW_11_7"]
        return EntryKind.TABLE, None, [], []

    def _grants(self, raw: int) -> MappingFlags:
        perms = LeafPerms.of(raw, self.ptw)
        out = (_NONE if perms.nr else R_) | (W_ if perms.writable else _NONE)
        out |= (_NONE if perms.nx else X_) | (U_ if perms.privileged_ok(Priv.USER) else _NONE)
        return out | {MAT_SUC: DEV, MAT_WUC: UC}.get(mat(raw), _NONE)

    def _leaf_problems(self, raw: int) -> list[str]:
        out = []
        if mat(raw) == 3:
            out.append("MAT=3 is reserved")
        if raw & RPLV and plv(raw) != 0:
            out.append(f"RPLV=1: only PLV{plv(raw)} may access the page, not the kernel")
        if not self.ptw and bool(raw & W) != bool(raw & D):
            out.append(
                f"W (software, bit 8)={int(bool(raw & W))} but D={int(bool(raw & D))}: the "
                "refill loads D, so stores follow D"
            )
        if self.ptw and bool(raw & V) != bool(raw & P):
            out.append("V is the accessed bit under the hardware walker: it sets V on access")
        return out

    # --------------------------------------------------------------------- walker hooks

    def start(self) -> LeafPerms:
        return LeafPerms()

    def descend(self, acc: LeafPerms, dec: Decoded, req: AccessRequest) -> StepCheck:
        return StepCheck(acc)  # directory entries carry no permissions

    def leaf(self, acc: LeafPerms, dec: Decoded, req: AccessRequest) -> StepCheck:
        perms = LeafPerms.of(dec.raw, self.ptw)
        reason = self.allows(perms, req)
        if reason is not None or not self.ptw:
            return StepCheck(perms, reason)
        need = V | (D if req.access is Access.WRITE else 0)  # PTW: hardware sets accessed/dirty
        if dec.raw & need == need:
            return StepCheck(perms)
        return StepCheck(perms, write_back=dec.raw | need, notes=("the walker sets V/D",))

    def allows(self, acc: LeafPerms, req: AccessRequest) -> FaultReason | None:
        """`loongarch_check_pte` order: NX (fetch), NR (load), PLV, D/W (store). Stage 2 (the
        root TLB checking a guest access) is not privilege-checked in this model."""
        if req.access is Access.EXEC and acc.nx:
            return FaultReason.PERMISSION
        if req.access is Access.READ and acc.nr:
            return FaultReason.PERMISSION
        if self.stage == 1 and not acc.privileged_ok(req.priv):
            return FaultReason.PERMISSION
        if req.access is Access.WRITE and not acc.writable:
            return FaultReason.PERMISSION
        return None

    def describe_perms(self, acc: LeafPerms) -> str:
        rwx = "".join(
            ch if ok else "-"
            for ch, ok in zip("rwx", (not acc.nr, acc.writable, not acc.nx), strict=True)
        )
        return f"{rwx} {'=' if acc.rplv else '<='}PLV{acc.plv}" if self.stage == 1 else rwx

    def user_page(self, acc: LeafPerms) -> bool:
        return self.stage == 1 and acc.privileged_ok(Priv.USER)


def _attrs(flags: MappingFlags) -> int:
    """LA64PTE `From<MappingFlags>`: empty -> 0; else V|P, NR, W|D, NX, PLV3, MAT."""
    if not flags:
        return 0
    bits = V | P | (0 if flags & R_ else NR) | (W | D if flags & W_ else 0)
    bits |= (0 if flags & X_ else NX) | (3 << 2 if flags & U_ else 0)
    memory = MAT_SUC if flags & DEV else MAT_WUC if flags & UC else MAT_CC
    return bits | memory << 4


def _factory(stage: int) -> Callable[..., PagingFormat]:
    def make(*, features: frozenset[str] = frozenset(), stage: int = stage) -> LoongArchFormat:
        from ..errors import PagingError

        if stage not in (1, 2):
            raise PagingError("InvalidRequest", f"la64: stage must be 1 or 2, not {stage!r}")
        return LoongArchFormat("la64", stage, frozenset(features))

    return make


FORMATS: dict[str, Callable[..., PagingFormat]] = {"la64": _factory(1)}

register_reporter(loongarch_faults.ARCH, loongarch_faults.syndrome, loongarch_faults.explain)

"""AArch64 stage 2 (VTCR_EL2 / VTTBR_EL2, 4 KiB granule; hardware.md §5) and the seed's
axaddrspace `A64PTEHV` (seed-crates.md §3.3, §4 items 8-11 and 15).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SeedPanic
from ..flags import Access, MappingFlags, Priv
from .arm_common import (
    ADDR,
    AF,
    AF_FIELD,
    AP2,
    CONTIG,
    GRANULE_BITS,
    INVALID_REST,
    PBHA,
    RES0_OA_HI,
    RWX,
    SOFTWARE,
    TABLE_HIGH,
    TABLE_LOW,
    TABLE_RES0,
    VALID,
    ArmFormat,
    arm_levels,
    bit_field,
    common_fields,
    ignored,
    level_shift,
    reserved,
)
from .base import (
    PAGE_4K,
    AccessRequest,
    Decoded,
    EntryKind,
    FaultReason,
    Field,
    Role,
    StepCheck,
)

R, W, X, U = (MappingFlags.READ, MappingFlags.WRITE, MappingFlags.EXECUTE, MappingFlags.USER)
S2AP_R = 1 << 6  # S2AP[0]
S2AP_W = AP2  # S2AP[1], bit 7
XN_SHIFT = 53
XN_NEVER = 0b10
SH_OUTER = 0b10 << 8  # what the seed writes
SH_INNER = 0b11 << 8
SEED_XN = 1 << 54  # the crate's only XN bit
#: seed MemAttr values (raw bits 5:2) and the only ones its decoder accepts
SEED_NORMAL, SEED_NORMAL_NC, SEED_DEVICE = 0b1111, 0b0111, 0b0000
SEED_DECODABLE = {0b1111: MappingFlags(0), 0b0100: MappingFlags(0), 0b0000: MappingFlags.DEVICE}
#: what the hardware needs (Linux MT_S2_*; with FEAT_FWB MT_S2_FWB_*)
DEVICE_NGNRE, NORMAL_NC, NORMAL_WB, FWB_NORMAL_WB = 0b0001, 0b0101, 0b1111, 0b0110
#: the IPA sizes of the `ipa39`..`ipa48` modes (§5.5: L1 takes 31..43 bits, L0 40..52)
IPA_MODES = (39, 40, 44, 48)


def s2_level_of_sl0(sl0: int, granule: int) -> int:
    """VTCR_EL2.SL0 → start level: 4 KiB granule 2 - SL0, 16/64 KiB 3 - SL0 (Arm ARM
    pseudocode AArch64.S2StartLevel; QEMU target/arm/ptw.c check_s2_mmu_setup)."""
    return (2 if granule == PAGE_4K else 3) - sl0


#: (granule, start level) → the least PAMax (implemented PA bits) that allows it
#: (Arm ARM pseudocode AArch64.S2InvalidSL: 4 KiB SL0=2, 64 KiB SL0=2 need PAMax >= 44,
#: 16 KiB SL0=2 needs >= 42). The manual reads PAMax, not VTCR_EL2.PS; QEMU 7.2 read PS
#: (fixed by "target/arm: Rewrite check_s2_mmu_setup", reverting 49ba115bb74)
S2_START_NEEDS_PA = {(PAGE_4K, 0): 44, (0x4000, 1): 42, (0x1_0000, 1): 44}


def s2_start_problem(ipa_bits: int, granule: int, start: int, pa_bits: int = 48) -> str:
    """Why a stage-2 start level is invalid ("" when valid): the start level must resolve 1 to
    stride + 4 bits (at most 16 concatenated tables), with a 16/64 KiB granule it is not L0,
    and L0 (4 KiB) / L1 (16/64 KiB) need a large enough implemented PA size `pa_bits`
    (Arm ARM pseudocode AArch64.S2InvalidSL, S2InconsistentSL)."""
    stride = GRANULE_BITS[granule] - 3
    if not 0 <= start <= 3 or (start == 0 and granule != PAGE_4K):
        return f"start level {start} does not exist with a {granule >> 10} KiB granule"
    need = S2_START_NEEDS_PA.get((granule, start), 0)
    if pa_bits < need:
        return (
            f"start level {start} with a {granule >> 10} KiB granule needs a PA size of at "
            f"least {need} bits (ID_AA64MMFR0_EL1.PARange gives {pa_bits})"
        )
    bits = ipa_bits - level_shift(granule, start)
    if not 1 <= bits <= stride + 4:
        return (
            f"an {ipa_bits}-bit IPA starting at L{start} leaves {bits} index bits there "
            f"(allowed 1..{stride + 4}: up to 16 concatenated tables)"
        )
    return ""


def s2_start_level(ipa_bits: int, granule: int) -> int:
    """The deepest valid start level (the one the `ipa*` modes use with a 4 KiB granule)."""
    for start in (3, 2, 1, 0):
        if not s2_start_problem(ipa_bits, granule, start):
            return start
    raise ValueError(f"no stage-2 start level for {ipa_bits} bits")


_CACHE = {1: "non-cacheable", 2: "write-through", 3: "write-back"}
_DEVICE = ("nGnRnE", "nGnRE", "nGRE", "GRE")
_FWB_NORMAL = {
    4: "reserved",
    5: "Normal non-cacheable",
    6: "Normal write-back",
    7: "the stage-1 attributes",
}


def memattr_name(value: int, fwb: bool) -> str:
    """MemAttr[3:0] in words (§5.4); with FEAT_FWB stage 2 forces the result."""
    if fwb:
        low = value & 0b111
        name = f"Device-{_DEVICE[low]}" if low < 4 else _FWB_NORMAL[low]
        return f"{name} (FWB{', MemAttr[3] RES0 set' if value & 0b1000 else ''})"
    outer, inner = value >> 2, value & 0b11
    if outer == 0:
        return f"Device-{_DEVICE[inner]}"
    if inner == 0:
        return f"reserved: Normal outer {_CACHE[outer]} with inner 0b00"
    if inner == outer:
        return f"Normal {_CACHE[outer]}"
    return f"Normal outer {_CACHE[outer]}, inner {_CACHE[inner]}"


def memattr_flags(value: int, fwb: bool) -> MappingFlags:
    """DEVICE for Device memory, UNCACHED for Normal non-cacheable (inner and outer)."""
    if fwb:
        value &= 0b111  # MemAttr[3] is RES0
        device = value < 0b100
    else:
        device = value >> 2 == 0
    if device:
        return MappingFlags.DEVICE
    return MappingFlags.UNCACHED if value == NORMAL_NC else MappingFlags(0)


def memattr_reserved(value: int, fwb: bool) -> bool:
    """FWB 0bx100, or (no FWB) Normal memory with MemAttr[1:0]=0b00 (§5.4)."""
    if fwb:
        return value & 0b111 == 0b100
    return value >> 2 != 0 and value & 0b11 == 0


def _xn_meanings(xnx: bool) -> tuple[tuple[int, str], ...]:
    if xnx:
        return (
            (0, "EL0 and EL1 may execute"),
            (1, "EL1 execute-never (FEAT_XNX)"),
            (2, "execute-never"),
            (3, "EL0 execute-never (FEAT_XNX)"),
        )
    return (
        (0, "executable"),
        (1, "executable (XN[0] needs FEAT_XNX)"),
        (2, "execute-never"),
        (3, "execute-never"),
    )


@dataclass(frozen=True, slots=True)
class S2Acc:
    """The leaf's S2AP and XN (stage-2 table descriptors carry no attributes, §5.1)."""

    s2ap: int = 0b11
    xn: int = 0b00


class AArch64Stage2(ArmFormat):
    """Stage 2 with a 39/40/44/48-bit IPA; ipa40 = two concatenated L1 tables (§5.5); any
    VTCR_EL2 T0SZ/SL0/TG0 the Arm ARM allows (`start_level`, `granule`)."""

    def __init__(
        self, *, ipa_bits: int = 40, features: frozenset[str] = frozenset(), **geometry: int
    ) -> None:
        """`geometry`: `granule` (4 KiB), `start_level` (the deepest valid one), `lpa` (0)."""
        granule, lpa = geometry.get("granule", PAGE_4K), bool(geometry.get("lpa", 0))
        start = geometry.get("start_level", s2_start_level(ipa_bits, granule))
        levels = arm_levels(start, ipa_bits, granule, lpa)
        super().__init__("aarch64-s2", 2, levels, features, granule, lpa)
        self.fwb = "fwb" in self.features
        self.xnx = "xnx" in self.features
        xn_meanings = _xn_meanings(self.xnx)
        self._leaf_attrs = (
            Field(
                "MEMATTR",
                5,
                2,
                Role.ATTRIBUTE,
                "stage-2 memory type (§5.4)",
                tuple((v, memattr_name(v, self.fwb)) for v in range(16)),
            ),
            Field(
                "S2AP",
                7,
                6,
                Role.PERMISSION,
                "S2AP[1] write, S2AP[0] read",
                ((0, "no access"), (1, "read-only"), (2, "write-only"), (3, "read/write")),
            ),
            Field(
                "SH",
                9,
                8,
                Role.ATTRIBUTE,
                "shareability",
                (
                    (0, "non-shareable"),
                    (1, "reserved"),
                    (2, "outer shareable"),
                    (3, "inner shareable"),
                ),
            ),
            AF_FIELD,
            reserved("RES0_11", 11, 11, "RES0 at stage 2 (FnXS with FEAT_XS)"),
            ADDR,
            RES0_OA_HI,
            reserved("RES0_50", 50, 50, "RES0 at stage 2"),
            bit_field(
                "DBM",
                51,
                Role.PERMISSION,
                "dirty bit modifier",
                "-",
                "a store sets S2AP[1] with hardware dirty update",
            ),
            CONTIG,
            Field("XN", 54, 53, Role.PERMISSION, "execute-never (§5.3)", xn_meanings),
            SOFTWARE,
            PBHA,
            ignored("IGNORED_63", 63, 63),
        )

    # ---------------------------------------------------------------------- encodings

    def seed_attrs(self, flags: MappingFlags) -> int:
        if MappingFlags.DEVICE in flags:
            memattr = SEED_NORMAL_NC if MappingFlags.UNCACHED in flags else SEED_DEVICE
        else:
            memattr = SEED_NORMAL  # also for UNCACHED alone and for no flags
        attr = memattr << 2 | SH_OUTER
        attr |= (VALID | S2AP_R) if R in flags else 0  # VALID only with READ (§4 item 10)
        return attr | (S2AP_W if W in flags else 0)  # EXECUTE ignored: XN never written

    def fixed_attrs(self, flags: MappingFlags) -> int:
        if MappingFlags.DEVICE in flags:
            memattr = DEVICE_NGNRE
        elif MappingFlags.UNCACHED in flags:
            memattr = NORMAL_NC
        else:
            memattr = FWB_NORMAL_WB if self.fwb else NORMAL_WB
        attr = memattr << 2 | SH_INNER | (VALID if flags & RWX else 0)
        attr |= (S2AP_R if R in flags else 0) | (S2AP_W if W in flags else 0)
        return attr | (0 if X in flags else XN_NEVER << XN_SHIFT)

    def seed_flags(self, raw: int) -> MappingFlags:
        memattr = (raw >> 2) & 0b1111
        if memattr not in SEED_DECODABLE:
            raise SeedPanic(
                f"Invalid memory attribute index (MemAttr={memattr:#06b}; the crate "
                f"decodes only 0b1111, 0b0100 and 0b0000)"
            )
        out = SEED_DECODABLE[memattr]
        out |= R if raw & VALID else MappingFlags(0)
        out |= MappingFlags(0) if raw & S2AP_W else W  # inverted (§4 item 8)
        return out | (MappingFlags(0) if raw & SEED_XN else X)  # bit 54 only

    # -------------------------------------------------------------- the hardware's reading

    def field_table(self, depth: int, kind: EntryKind) -> tuple[Field, ...]:
        fields = self._fields_4k(depth, kind)
        return self.granule_fields(fields, self.arm_level(depth))

    def _fields_4k(self, depth: int, kind: EntryKind) -> tuple[Field, ...]:
        """The fields as laid out with a 4 KiB granule (`granule_fields` adapts them)."""
        head = common_fields(self.arm_level(depth), kind, self.granule, self.lpa)
        if kind is EntryKind.INVALID:
            return (*head, INVALID_REST)
        if kind is EntryKind.TABLE:
            return (
                *head,
                TABLE_LOW,
                ADDR,
                TABLE_RES0,
                TABLE_HIGH,
                ignored(
                    "IGNORED_63_59",
                    63,
                    59,
                    "stage-2 table descriptors carry no "
                    "attributes (RES0 in the ARM ARM; QEMU ignores them)",
                ),
            )
        return (*head, *self._leaf_attrs)

    def table_flags(self, raw: int) -> MappingFlags:
        return RWX

    def leaf_flags(self, raw: int) -> MappingFlags:
        acc = self.fold_leaf(S2Acc(), raw)
        out = memattr_flags((raw >> 2) & 0b1111, self.fwb)
        out |= R if acc.s2ap & 1 else MappingFlags(0)
        out |= W if acc.s2ap & 2 else MappingFlags(0)
        return out | (X if self._executable(acc.xn, None) else MappingFlags(0))

    def _executable(self, xn: int, priv: Priv | None) -> bool:
        """§5.3; with FEAT_XNX and no privilege given: executable at both EL0 and EL1."""
        if not self.xnx:
            return not xn & 0b10
        if priv is None:
            return xn == 0
        return {0: True, 1: priv is Priv.USER, 2: False, 3: priv is Priv.KERNEL}[xn]

    def why(self, flag: MappingFlags, raw: int) -> str:
        if flag in (R, W):
            bit, index, verb = (S2AP_R, 0, "reads") if flag is R else (S2AP_W, 1, "writes")
            verdict = "allows" if raw & bit else "denies"
            return f"S2AP[{index}]={int(bool(raw & bit))} {verdict} {verb}"
        if flag is X:
            xn = (raw >> XN_SHIFT) & 0b11
            return f"XN={xn:#04b} means {dict(_xn_meanings(self.xnx))[xn]}"
        if flag is U:
            return "stage 2 has no user bit" + (
                " (FEAT_XNX splits execute-never between EL0 and EL1 in XN)" if self.xnx else ""
            )
        memattr = (raw >> 2) & 0b1111
        return f"MemAttr={memattr:#06b} is {memattr_name(memattr, self.fwb)}"

    def attribute_problems(self, raw: int, kind: EntryKind) -> list[tuple[str, str | None]]:
        if kind is not EntryKind.LEAF:
            return []
        out: list[tuple[str, str | None]] = []
        memattr = (raw >> 2) & 0b1111
        if self.fwb and memattr & 0b1000:
            out.append(("MemAttr[3] is RES0 with FEAT_FWB", "MEMATTR"))
        if memattr_reserved(memattr, self.fwb):
            out.append(
                (
                    f"MemAttr={memattr:#06b} is a reserved stage-2 memory type (UNPREDICTABLE)",
                    "MEMATTR",
                )
            )
        if (raw >> 8) & 3 == 1:
            out.append(("SH=0b01 is a reserved shareability encoding", "SH"))
        if not raw & AF and not self.hafdbs:
            out.append(("AF=0: the first access takes an Access flag fault (no HAFDBS)", None))
        if not self.xnx and (raw >> XN_SHIFT) & 0b11 == 0b01:
            out.append(("XN[0] (bit 53) is ignored without FEAT_XNX", None))
        return out

    # ------------------------------------------------------------------- walker hooks

    def start(self) -> S2Acc:
        return S2Acc()

    def descend(self, acc: S2Acc, dec: Decoded, req: AccessRequest) -> StepCheck:
        if self.beyond_pa(dec):
            return StepCheck(acc, FaultReason.ADDRESS_SIZE)
        return StepCheck(acc)

    def fold_leaf(self, acc: S2Acc, raw: int) -> S2Acc:
        return S2Acc((raw >> 6) & 0b11, (raw >> XN_SHIFT) & 0b11)

    def mark_dirty(self, raw: int) -> int:
        return raw | S2AP_W  # DBM: a store sets S2AP[1] (§4.4)

    def allows(self, acc: S2Acc, req: AccessRequest) -> FaultReason | None:
        """Implicit page-table accesses are reads or writes, never fetches (§1.3)."""
        if req.access is Access.EXEC:
            ok = self._executable(acc.xn, req.priv)
        else:
            ok = bool(acc.s2ap & (1 if req.access is Access.READ else 2))
        return None if ok else FaultReason.PERMISSION

    def describe_perms(self, acc: S2Acc) -> str:
        rw = ("r" if acc.s2ap & 1 else "-") + ("w" if acc.s2ap & 2 else "-")
        if self._executable(acc.xn, None):
            return rw + "x"
        if self.xnx and acc.xn in (1, 3):
            return rw + f"- x:{'el0' if acc.xn == 1 else 'el1'}"
        return rw + "-"

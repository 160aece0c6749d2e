"""AArch64 stage 1, EL1&0 regime with TTBR0 only (hardware.md §4), and the seed's A64PTE
(seed-crates.md §2.2) in either build: without `arm-el2`, or with it (feature ``arm-el2``: USER
dropped, execute-never only in bit 54). PAN, WXN and HPD are off; the MAIR is the seed's.
The EL2 regime's reading of the same descriptors is `arm_s1_el2.AArch64Stage1El2`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..flags import Access, MappingFlags, Priv
from .arm_common import (
    ADDR,
    AF,
    AF_FIELD,
    AP2,
    CONTIG,
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
    stage1_start_level,
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

if TYPE_CHECKING:
    from ..control import Control

R, W, X, U = (MappingFlags.READ, MappingFlags.WRITE, MappingFlags.EXECUTE, MappingFlags.USER)
ARM_EL2 = "arm-el2"
AP1 = 1 << 6  # AP[1]: EL0 access
NS = 1 << 5
SH_INNER = 0b11 << 8
PXN = 1 << 53
UXN = 1 << 54
PXN_TABLE = 1 << 59
UXN_TABLE = 1 << 60
AP_TABLE_NO_EL0 = 1 << 61  # APTable[0]
AP_TABLE_RO = 1 << 62  # APTable[1]
NS_TABLE = 1 << 63

#: the seed's MAIR_EL1 (`MemAttr::MAIR_VALUE`): Attr0 Device-nGnRE, Attr1 Normal WB, Attr2 NC
MAIR = 0x44_FF_04
ATTR_DEVICE, ATTR_NORMAL, ATTR_NC = 0, 1, 2
_MAIR_NAMES = {
    0x04: "Device-nGnRE",
    0xFF: "Normal write-back RW-allocate",
    0x44: "Normal non-cacheable",
    0x00: "Device-nGnRnE (unset MAIR byte)",
}


def mair_attr(index: int) -> int:
    return (MAIR >> (8 * index)) & 0xFF


def _attr_meaning(index: int) -> str:
    return f"MAIR Attr{index}={mair_attr(index):#04x} {_MAIR_NAMES[mair_attr(index)]}"


_LEAF_ATTRS = (
    Field(
        "ATTRINDX",
        4,
        2,
        Role.ATTRIBUTE,
        "index into MAIR_EL1",
        tuple((i, _attr_meaning(i)) for i in range(8)),
    ),
    bit_field(
        "NS",
        5,
        Role.ATTRIBUTE,
        "non-secure output (RES0 from Non-secure state)",
        "-",
        "RES0 from Non-secure state: ignored",
    ),
    Field(
        "AP",
        7,
        6,
        Role.PERMISSION,
        "AP[2:1] data access permissions (§4.3)",
        (
            (0, "EL1 RW, EL0 none"),
            (1, "EL1 RW, EL0 RW"),
            (2, "EL1 RO, EL0 none"),
            (3, "EL1 RO, EL0 RO"),
        ),
    ),
    Field(
        "SH",
        9,
        8,
        Role.ATTRIBUTE,
        "shareability",
        ((0, "non-shareable"), (1, "reserved"), (2, "outer shareable"), (3, "inner shareable")),
    ),
    AF_FIELD,
    bit_field("NG", 11, Role.ATTRIBUTE, "not global", "global", "not global (ASID-tagged)"),
    ADDR,
    RES0_OA_HI,
    bit_field("GP", 50, Role.ATTRIBUTE, "guarded page (FEAT_BTI)", "not guarded", "guarded"),
    bit_field(
        "DBM",
        51,
        Role.PERMISSION,
        "dirty bit modifier",
        "-",
        "a store clears AP[2] with hardware dirty update",
    ),
    CONTIG,
    bit_field(
        "PXN",
        53,
        Role.PERMISSION,
        "privileged execute-never",
        "EL1 may execute",
        "EL1 execute-never",
    ),
    bit_field(
        "UXN",
        54,
        Role.PERMISSION,
        "unprivileged execute-never",
        "EL0 may execute",
        "EL0 execute-never",
    ),
    SOFTWARE,
    PBHA,
    Field("IGNORED_63", 63, 63, Role.IGNORED, "ignored by the hardware"),
)
_TABLE_ATTRS = (
    TABLE_LOW,
    ADDR,
    TABLE_RES0,
    TABLE_HIGH,
    bit_field(
        "PXNTABLE",
        59,
        Role.PERMISSION,
        "PXN for every level below",
        "no effect",
        "EL1 execute-never below",
    ),
    bit_field(
        "UXNTABLE",
        60,
        Role.PERMISSION,
        "UXN for every level below",
        "no effect",
        "EL0 execute-never below",
    ),
    Field(
        "APTABLE",
        62,
        61,
        Role.PERMISSION,
        "access limit for every level below",
        (
            (0, "no effect"),
            (1, "no EL0 access below"),
            (2, "no write below"),
            (3, "no EL0 access, no write below"),
        ),
    ),
    bit_field(
        "NSTABLE",
        63,
        Role.ATTRIBUTE,
        "non-secure tables below (RES0 from Non-secure state)",
        "-",
        "RES0 from Non-secure state: ignored",
    ),
)


@dataclass(frozen=True, slots=True)
class S1Acc:
    """Stage-1 permissions folded over the walk (§4.2): table limits ORed, then the leaf's."""

    el0: bool = True  # AP[1], cleared by APTable[0]
    read_only: bool = False  # AP[2], set by APTable[1]
    pxn: bool = False
    uxn: bool = False

    def permits(self, access: Access, priv: Priv) -> bool:
        """§4.3 with PAN and WXN off: EL1 never executes an EL0-writable page."""
        user = priv is Priv.USER
        if access is Access.EXEC:
            return not self.uxn if user else not (self.pxn or (self.el0 and not self.read_only))
        if user and not self.el0:
            return False
        return access is Access.READ or not self.read_only

    def flags(self) -> MappingFlags:
        """As MappingFlags: EXECUTE is EL0's for an EL0-accessible page, else EL1's (the seed's)."""
        out = R | (MappingFlags(0) if self.read_only else W)
        if self.el0:
            out |= U
        if not (self.uxn if self.el0 else self.pxn):
            out |= X
        return out


@dataclass(frozen=True, slots=True)
class S1Controls:
    """The EL1&0 control bits stage-1 permission checks read (Arm ARM D8.4)."""

    pan: bool = False  # PSTATE.PAN
    epan: bool = False  # SCTLR_EL1.EPAN
    wxn: bool = False  # SCTLR_EL1.WXN
    hpd: bool = False  # TCR_EL1.HPD0

    @classmethod
    def of(cls, control: Control) -> S1Controls:
        return cls(
            control.on("pan", "PAN"),
            control.on("sctlr_el1", "EPAN"),
            control.on("sctlr_el1", "WXN"),
            control.on("tcr_el1", "HPD0"),
        )

    def denial(self, acc: S1Acc, access: Access, priv: Priv) -> str:
        """The rule that forbids the access, "" when allowed."""
        writable = not acc.read_only and (acc.el0 or priv is not Priv.USER)
        if access is Access.EXEC and self.wxn and writable:
            # D8.4.1.2: a region writable at the accessing EL is execute-never there (EL0: AP
            # 01; EL1: AP 00/01) — AArch64.S1DirectBasePermissions; QEMU get_S1prot agrees
            return "WXN"
        if not acc.permits(access, priv):
            return "AP"
        if priv is not Priv.USER and access is not Access.EXEC and self.pan:
            if acc.el0:
                return "PAN"  # D8.4.2: EL1 data access to an EL0-accessible page
            if self.epan and not acc.uxn:
                return "EPAN"  # FEAT_PAN3: ... or to an EL0-executable one
        return ""


def _table_acc(acc: S1Acc, raw: int) -> S1Acc:
    return S1Acc(
        el0=acc.el0 and not raw & AP_TABLE_NO_EL0,
        read_only=acc.read_only or bool(raw & AP_TABLE_RO),
        pxn=acc.pxn or bool(raw & PXN_TABLE),
        uxn=acc.uxn or bool(raw & UXN_TABLE),
    )


class AArch64Stage1(ArmFormat):
    """VMSAv8-64 stage 1 (EL1&0) with a 48-bit (L0..L3) or 39-bit (L1..L3) TTBR0 range, or
    any T0SZ and granule (`va_bits`, `granule`)."""

    def __init__(
        self,
        *,
        va_bits: int = 48,
        features: frozenset[str] = frozenset(),
        granule: int = PAGE_4K,
        lpa: bool = False,
    ) -> None:
        start = stage1_start_level(va_bits, granule)  # 4 - ceil((va_bits - 12) / 9), §4.1
        levels = arm_levels(start, va_bits, granule, lpa)
        super().__init__("aarch64-s1", 1, levels, features, granule, lpa)

    #: TCR_EL1.EPD0 / EPD1: walks through TTBR0 / TTBR1 disabled (EPD1=1 unless a TTBR1 table
    #: is live; the two ranges then share T0SZ/TG0, see `arm.options_from_control`)
    epd0 = False
    epd1 = True
    #: TCR_EL1.TBI0/TBI1 and TBID0/TBID1, per VA range (index: VA[55])
    tbi = (False, False)
    tbid = (False, False)

    def untagged(self, addr: int, access: Access) -> int:
        """With TBIx for the range VA[55] selects, VA[63:56] is a tag: the walk translates the
        address with the top byte replaced by copies of bit 55 (AArch64.AddrTop = 55). TBIDx=1
        keeps the tag meaningful for instruction fetches (Arm ARM D8.8)."""
        upper = addr >> 55 & 1
        if not self.tbi[upper] or (access is Access.EXEC and self.tbid[upper]):
            return addr
        return addr & (1 << 56) - 1 | (0xFF << 56 if upper else 0)

    def check_input(self, addr: int) -> FaultReason | None:
        """VA[63:64-TxSZ] all 0 selects TTBR0, all 1 TTBR1 (Arm ARM D8.2.2); a walk disabled by
        EPD0/EPD1 is a Translation fault at level 0 before any read (`not-present`, D8.2.4);
        the gap between the ranges is one too (reported `non-canonical`)."""
        if addr < 0 or addr >> 64:
            return FaultReason.ADDRESS_SIZE
        top = addr >> self.input_bits
        if top == 0:
            return FaultReason.NOT_PRESENT if self.epd0 else None
        if top == (1 << (64 - self.input_bits)) - 1:
            return FaultReason.NOT_PRESENT if self.epd1 else None
        return FaultReason.NON_CANONICAL

    def upper(self, addr: int) -> bool:
        """Is `addr` walked from TTBR1 (a live upper range and VA[63] = 1)?"""
        return not self.epd1 and addr >> 63 == 1

    @property
    def input_ranges(self) -> tuple[tuple[int, int], ...]:
        top = 1 << self.input_bits
        lower = () if self.epd0 else ((0, top),)
        return lower + (() if self.epd1 else (((1 << 64) - top, 1 << 64),))

    # ---------------------------------------------------------------------- encodings

    @property
    def seed_el2_build(self) -> bool:
        """page_table_entry built with `arm-el2` (axaddrspace turns it on by default)."""
        return ARM_EL2 in self.features

    def seed_attrs(self, flags: MappingFlags) -> int:
        if not flags:
            return 0  # `DescriptorAttr::from(empty)` is empty
        if self.seed_el2_build:
            return _el2_build_attrs(flags)
        return self._attrs(flags, valid=R in flags)

    def fixed_attrs(self, flags: MappingFlags) -> int:
        return self._attrs(flags, valid=bool(flags & RWX))

    @staticmethod
    def _attrs(flags: MappingFlags, valid: bool) -> int:
        attr = memory_attrs(flags) | (VALID if valid else 0) | (0 if W in flags else AP2)
        if U in flags:
            return attr | AP1 | PXN | (0 if X in flags else UXN)
        return attr | UXN | (0 if X in flags else PXN)

    def seed_flags(self, raw: int) -> MappingFlags:
        if not raw & VALID:
            return MappingFlags(0)
        out = R | (MappingFlags(0) if raw & AP2 else W)
        if self.seed_el2_build:  # `arm-el2`: EXECUTE iff XN (bit 54) clear; USER never read
            return out | (MappingFlags(0) if raw & UXN else X) | _seed_memory_flags(raw)
        if raw & AP1:
            out |= U | (MappingFlags(0) if raw & UXN else X)
        elif not raw & PXN:
            out |= X
        return out | _seed_memory_flags(raw)

    # -------------------------------------------------------------- the hardware's reading

    def field_table(self, depth: int, kind: EntryKind) -> tuple[Field, ...]:
        fields = self._fields_4k(depth, kind)
        return self.granule_fields(fields, self.arm_level(depth))

    def _fields_4k(self, depth: int, kind: EntryKind) -> tuple[Field, ...]:
        """The fields as laid out with a 4 KiB granule (`granule_fields` adapts them)."""
        head = common_fields(self.arm_level(depth), kind, self.granule, self.lpa)
        if kind is EntryKind.INVALID:
            return (*head, INVALID_REST)
        return (*head, *(_TABLE_ATTRS if kind is EntryKind.TABLE else _LEAF_ATTRS))

    def table_flags(self, raw: int) -> MappingFlags:
        return _table_acc(S1Acc(), raw).flags()

    def leaf_flags(self, raw: int) -> MappingFlags:
        return self.fold_leaf(S1Acc(), raw).flags() | mair_memory_flags(raw)

    def why(self, flag: MappingFlags, raw: int) -> str:
        if flag is R:
            return "a valid stage-1 descriptor is always readable at EL1"
        if flag is W:
            return f"AP[2]={int(bool(raw & AP2))} makes the page " + (
                "read-only" if raw & AP2 else "writable"
            )
        if flag is U:
            return f"AP[1]={int(bool(raw & AP1))} {'gives' if raw & AP1 else 'denies'} EL0 access"
        if flag is X:
            name, bit, who = ("UXN", UXN, "EL0") if raw & AP1 else ("PXN", PXN, "EL1")
            verdict = "denies" if raw & bit else "allows"
            return f"{name}={int(bool(raw & bit))} {verdict} {who} instruction fetches"
        return f"AttrIndx={(raw >> 2) & 7} selects {_attr_meaning((raw >> 2) & 7)}"

    def attribute_problems(self, raw: int, kind: EntryKind) -> list[tuple[str, str | None]]:
        if kind is EntryKind.TABLE:
            return (
                [("NSTable=1 is RES0 from Non-secure state: ignored", "NSTABLE")]
                if raw & NS_TABLE
                else []
            )
        if kind is not EntryKind.LEAF:
            return []
        out: list[tuple[str, str | None]] = []
        if (raw >> 8) & 3 == 1:
            out.append(("SH=0b01 is a reserved shareability encoding", "SH"))
        if raw & NS:
            out.append(("NS=1 is RES0 from Non-secure state: ignored", "NS"))
        if not raw & AF and not self.hafdbs:
            out.append(("AF=0: the first access takes an Access flag fault (no HAFDBS)", None))
        if not raw & AP1 and not raw & UXN:
            out.append(
                (
                    "UXN=0: EL0 may execute this EL1-only page (AP[1] does not stop "
                    "instruction fetches)",
                    "UXN",
                )
            )
        if raw & AP1 and raw & AP2 and not raw & PXN:
            out.append(("PXN=0: EL1 may execute this EL0-accessible page", "PXN"))
        return out

    # ------------------------------------------------------------------- walker hooks

    def start(self) -> S1Acc:
        return S1Acc()

    ctl = S1Controls()

    def configure(self, control: Control) -> None:
        super().configure(control)
        if control.arch == "aarch64":
            self.ctl = S1Controls.of(control)
            self.epd0 = control.on("tcr_el1", "EPD0")
            self.epd1 = control.on("tcr_el1", "EPD1")
            self.tbi = (control.on("tcr_el1", "TBI0"), control.on("tcr_el1", "TBI1"))
            self.tbid = (control.on("tcr_el1", "TBID0"), control.on("tcr_el1", "TBID1"))
            self.ignores_tags = any(self.tbi)

    def descend(self, acc: S1Acc, dec: Decoded, req: AccessRequest) -> StepCheck:
        if self.beyond_pa(dec):
            return StepCheck(acc, FaultReason.ADDRESS_SIZE)
        if self.ctl.hpd:  # D8.4.1.3: TCR_EL1.HPD0=1: APTable/PXNTable/UXNTable ignored
            return StepCheck(acc)
        return StepCheck(_table_acc(acc, dec.raw))

    def fold_leaf(self, acc: S1Acc, raw: int) -> S1Acc:
        return S1Acc(
            el0=acc.el0 and bool(raw & AP1),
            read_only=acc.read_only or bool(raw & AP2),
            pxn=acc.pxn or bool(raw & PXN),
            uxn=acc.uxn or bool(raw & UXN),
        )

    def mark_dirty(self, raw: int) -> int:
        return raw & ~AP2  # DBM: a store clears AP[2] (§4.4)

    def allows(self, acc: S1Acc, req: AccessRequest) -> FaultReason | None:
        return FaultReason.PERMISSION if self.ctl.denial(acc, req.access, req.priv) else None

    def deciding_rule(self, acc: S1Acc, req: AccessRequest) -> str:
        rule = self.ctl.denial(acc, req.access, req.priv)
        return "" if rule == "AP" else rule

    def describe_perms(self, acc: S1Acc) -> str:
        def letters(priv: Priv) -> str:
            return "".join(ch if acc.permits(a, priv) else "-" for ch, a in _LETTERS)

        return f"el1 {letters(Priv.KERNEL)} el0 {letters(Priv.USER)}"

    def user_page(self, acc: S1Acc) -> bool:
        return acc.el0


_LETTERS = (("r", Access.READ), ("w", Access.WRITE), ("x", Access.EXEC))


def memory_attrs(flags: MappingFlags) -> int:
    """AttrIndx and SH as both builds write them: Device SH=00, else Normal (NC) inner-shareable."""
    if MappingFlags.DEVICE in flags:
        return ATTR_DEVICE << 2
    return (ATTR_NC if MappingFlags.UNCACHED in flags else ATTR_NORMAL) << 2 | SH_INNER


def _el2_build_attrs(flags: MappingFlags) -> int:
    """`DescriptorAttr::from(flags)` under `arm-el2`: USER ignored, AP[1] never set, and only
    "no EXECUTE -> bit 54" (XN at EL2) for execute permission (seed-crates.md §2.2)."""
    attr = memory_attrs(flags) | (VALID if R in flags else 0) | (0 if W in flags else AP2)
    return attr | (0 if X in flags else UXN)


def _seed_memory_flags(raw: int) -> MappingFlags:
    """The seed's AttrIndx read-back: 0 -> DEVICE, 2 -> UNCACHED, anything else nothing."""
    return {ATTR_DEVICE: MappingFlags.DEVICE, ATTR_NC: MappingFlags.UNCACHED}.get(
        (raw >> 2) & 7, MappingFlags(0)
    )


def mair_memory_flags(raw: int) -> MappingFlags:
    attr = mair_attr((raw >> 2) & 7)
    if attr >> 4 == 0:  # MAIR Attr<n>[7:4] = 0: Device memory
        return MappingFlags.DEVICE
    return MappingFlags.UNCACHED if attr == 0x44 else MappingFlags(0)

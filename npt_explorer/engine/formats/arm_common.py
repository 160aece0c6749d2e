"""What AArch64 stage 1 and stage 2 share (VMSAv8-64, 4/16/64 KiB granules, no FEAT_LPA/LPA2):
the levels,
the descriptor type rules, the seed's predicates, the hardware leaf checks with FEAT_HAFDBS, and
the comparison of the seed's read-back with what the hardware does (hardware.md §4, §5).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from ..errors import SeedPanic

if TYPE_CHECKING:
    from ..control import Control
from ..flags import Access, MappingFlags
from .base import (
    PAGE_1G,
    PAGE_4K,
    AccessRequest,
    Decoded,
    Encoding,
    EntryKind,
    FaultReason,
    Field,
    Level,
    PagingFormat,
    Role,
    StepCheck,
    decoded_fields,
)
from .shapes import BitMove, BitTest

VALID = 1 << 0
TYPE = 1 << 1  # table (L0-L2) or page (L3); 0 = block
AF = 1 << 10
DBM = 1 << 51
AP2 = 1 << 7  # stage-1 AP[2] (read-only) and stage-2 S2AP[1] (write) share bit 7
ADDR_MASK = 0x0000_FFFF_FFFF_F000  # the seeds' PHYS_ADDR_MASK: OA[47:12]
OUTPUT_BITS = 48
#: TCR_EL1.IPS / VTCR_EL2.PS → the physical address size in bits (Arm ARM D8.1.8); 6 (52 bits)
#: needs FEAT_LPA, not modelled
PA_BITS = (32, 36, 40, 42, 44, 48)
#: ID_AA64MMFR0_EL1.PARange → PAMax in bits; 6 (52 bits) is FEAT_LPA
PARANGE_BITS = (*PA_BITS, 52)
SAMPLE_PADDR = 0x4000_0000  # 1 GiB-aligned output for `encoding_problems`
RWX = MappingFlags.READ | MappingFlags.WRITE | MappingFlags.EXECUTE
#: granule bytes → page-offset bits; a table of one granule resolves (bits - 3) input bits
GRANULE_BITS = {0x1000: 12, 0x4000: 14, 0x1_0000: 16}
#: levels with block descriptors, per granule, without FEAT_LPA/LPA2 (Arm ARM D8.3.1: 4 KiB:
#: L1 1 GiB, L2 2 MiB; 16 KiB: L2 32 MiB; 64 KiB: L2 512 MiB — an L1 block needs 52-bit OAs)
BLOCK_LEVELS = {0x1000: (1, 2), 0x4000: (2,), 0x1_0000: (2,)}


def block_levels(granule: int, lpa: bool = False) -> tuple[int, ...]:
    """Levels with blocks: with PAMax = 52 (FEAT_LPA) a 64 KiB granule adds level 1, 4 TiB
    (pseudocode AArch64.BlockDescSupported: `level == 1 && AArch64.PAMax() == 52`)."""
    return (1, *BLOCK_LEVELS[granule]) if lpa and granule == 0x1_0000 else BLOCK_LEVELS[granule]


#: contiguous-hint run lengths, granule → (L3 pages, L2, L1, L0 blocks); 0: no block there
#: (Arm ARM D8.6.1 "The Contiguous bit")
CONTIG_RUNS = {0x1000: (16, 16, 16, 0), 0x4000: (128, 32, 0, 0), 0x1_0000: (32, 32, 0, 0)}


def level_shift(granule: int, number: int) -> int:
    """Lowest input bit level `number` (0..3) indexes (Arm ARM D8.2.7-9: 4, 16, 64 KiB)."""
    g = GRANULE_BITS[granule]
    return g + (g - 3) * (3 - number)


def arm_levels(
    start_level: int, input_bits: int, granule: int = PAGE_4K, lpa: bool = False
) -> tuple[Level, ...]:
    """Levels `start_level`..L3; the start level resolves the rest of the input (§5.5: a 10-bit
    L1 index for a 40-bit IPA is two concatenated tables)."""
    levels = []
    for number in range(start_level, 4):
        shift = level_shift(granule, number)
        bits = input_bits - shift if number == start_level else GRANULE_BITS[granule] - 3
        leaf = 1 << shift if number == 3 or number in block_levels(granule, lpa) else None
        levels.append(Level(f"L{number}", shift, bits, leaf))
    return tuple(levels)


def stage1_start_level(input_bits: int, granule: int) -> int:
    """As many levels as the input needs beyond the page offset (Arm ARM D8.2.7-9)."""
    g = GRANULE_BITS[granule]
    return 4 - -(-(input_bits - g) // (g - 3))


def size_words(size: int) -> str:
    if size >= PAGE_1G:
        return f"{size >> 30} GiB"
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"


def common_fields(
    depth_level: int, kind: EntryKind, granule: int = PAGE_4K, lpa: bool = False
) -> tuple[Field, ...]:
    """VALID and TYPE (bits 1:0), whose meaning depends on the level and the granule."""
    if kind is EntryKind.INVALID:
        return (Field("VALID", 0, 0, Role.VALID, "0: invalid descriptor", ((0, "invalid"),)),)
    if depth_level == 3:
        types = ((0, "reserved at L3 (0b01)"), (1, "page"))
    elif depth_level not in block_levels(granule, lpa):
        no_block = f"block: not allowed at L{depth_level} with {granule >> 10} KiB granules"
        types = ((0, no_block), (1, "table"))
    else:
        types = ((0, "block"), (1, "table"))
    return (
        Field("VALID", 0, 0, Role.VALID, "descriptor valid", ((0, "invalid"), (1, "valid"))),
        Field("TYPE", 1, 1, Role.TYPE, "descriptor type", types),
    )


def reserved(name: str, hi: int, lo: int, doc: str) -> Field:
    return Field(name, hi, lo, Role.RESERVED, doc)


def ignored(name: str, hi: int, lo: int, doc: str = "ignored by the hardware") -> Field:
    return Field(name, hi, lo, Role.IGNORED, doc)


def bit_field(name: str, bit: int, role: Role, doc: str, zero: str, one: str) -> Field:
    """A one-bit field with a word for each value."""
    return Field(name, bit, bit, role, doc, ((0, zero), (1, one)))


AF_FIELD = bit_field(
    "AF",
    10,
    Role.STATUS,
    "access flag",
    "not accessed: first access faults unless HAFDBS",
    "accessed",
)
CONTIG = bit_field(
    "CONTIG", 52, Role.ATTRIBUTE, "contiguous hint", "-", "one of 16 contiguous entries"
)
INVALID_REST = ignored("IGNORED_63_1", 63, 1, "ignored while VALID=0; software may use them")
ADDR = Field("ADDR", 47, 12, Role.ADDRESS, "output address / next-level table OA[47:12]")
RES0_OA_HI = reserved("RES0_49_48", 49, 48, "OA[49:48]: RES0 without 52-bit addresses")
SOFTWARE = Field("SOFTWARE", 58, 55, Role.SOFTWARE, "reserved for software use")
PBHA = ignored("PBHA", 62, 59, "page-based hardware attributes (ignored without FEAT_HPDS2)")
TABLE_LOW = ignored("IGNORED_11_2", 11, 2)
TABLE_RES0 = reserved("RES0_51_48", 51, 48, "RES0 in table descriptors without 52-bit addresses")
TABLE_HIGH = ignored("IGNORED_58_52", 58, 52)


class ArmFormat(PagingFormat):
    """A VMSAv8-64 format with a 4, 16 or 64 KiB granule; subclasses give fields, encodings and
    permissions. With a 16/64 KiB granule the address fields start at the granule's bit: OA
    bits below it are RES0 in table and page descriptors (Arm ARM D8.3.1, without FEAT_LPA)."""

    output_bits = OUTPUT_BITS
    addr_mask = ADDR_MASK
    signed_input = False  # only TTBR0 / one IPA range: no sign extension (see check_input)
    paddr_move = BitMove(ADDR_MASK, 0)
    present_test = BitTest(VALID)
    huge_test = BitTest(TYPE, invert=True)  # seed-crates.md §4 item 15: also an all-zero entry

    #: FEAT_LPA with the 64 KiB granule (PAMax = 52): level-1 blocks. Bits 15:12 as OA[51:48]
    #: matter only with a 52-bit IPS/PS, which is not modelled (QEMU 7.2 reads them only then)
    lpa = False

    def __init__(
        self,
        name: str,
        stage: int,
        levels: tuple[Level, ...],
        features: frozenset[str],
        granule: int = PAGE_4K,
        lpa: bool = False,
    ):
        self.name = name
        self.lpa = lpa and granule == 0x1_0000
        self.stage = stage
        self.levels = levels
        self.features = frozenset(features)
        if granule != PAGE_4K:
            self.addr_mask = ADDR_MASK & ~(granule - 1)
            self.paddr_move = BitMove(self.addr_mask, 0)

    @property
    def page_sizes(self) -> frozenset[int]:
        """Page and block sizes `map` accepts: the granule's (the seed knows only 4 KiB)."""
        return frozenset(lv.leaf_size for lv in self.levels if lv.leaf_size)

    def granule_fields(self, fields: tuple[Field, ...], level: int) -> tuple[Field, ...]:
        """`fields` with the address field and the contiguous run sized for the granule."""
        g = self.granule
        if g == PAGE_4K:
            return fields
        bits = GRANULE_BITS[g]
        out: list[Field] = []
        for f in fields:
            if f.name == "ADDR":
                low = reserved(f"RES0_{bits - 1}_12", bits - 1, 12, "OA bits below the granule")
                out.append(low)
                out.append(Field("ADDR", 47, bits, Role.ADDRESS, f"output address OA[47:{bits}]"))
            elif f.name == "CONTIG":
                run = CONTIG_RUNS[g][3 - level]
                doc = f"one of {run} contiguous entries" if run else "RES0 at this level"
                out.append(bit_field("CONTIG", 52, Role.ATTRIBUTE, "contiguous hint", "-", doc))
            else:
                out.append(f)
        return tuple(out)

    @property
    def hafdbs(self) -> bool:
        """Hardware sets AF (TCR_EL1.HA / VTCR_EL2.HA, or the `hafdbs` feature)."""
        return self.__dict__.get("_ha", "hafdbs" in self.features)

    @property
    def hd(self) -> bool:
        """Hardware dirty state through DBM (TCR_EL1.HD / VTCR_EL2.HD, only with HA)."""
        return self.__dict__.get("_hd", "hafdbs" in self.features)

    def arm_level(self, depth: int) -> int:
        """The ARM level number (L0..L3) of `depth`; depth 0 is the start level."""
        return int(self.levels[depth].name[1:])

    # ---------------------------------------------------------- the seed's predicates

    def seed_present(self, raw: int) -> bool:
        return bool(raw & VALID)

    def seed_huge(self, raw: int) -> bool:
        return not raw & TYPE  # seed-crates.md §4 item 15: true for an all-zero entry

    def new_table(self, paddr: int, encoding: Encoding) -> int:
        return (paddr & self.addr_mask) | TYPE | VALID  # no table attributes, in both encodings

    def new_page(self, paddr: int, flags: MappingFlags, huge: bool, encoding: Encoding) -> int:
        attrs = self.seed_attrs(flags) if encoding is Encoding.SEED else self.fixed_attrs(flags)
        return attrs | AF | (0 if huge else TYPE) | (paddr & self.addr_mask)

    @abstractmethod
    def seed_attrs(self, flags: MappingFlags) -> int:
        """The crate's `DescriptorAttr::from(flags)`."""

    @abstractmethod
    def fixed_attrs(self, flags: MappingFlags) -> int:
        """Attributes that make the hardware grant `flags` (without AF, TYPE and address)."""

    # -------------------------------------------------------------- the hardware's reading

    def classify(self, raw: int, depth: int) -> tuple[EntryKind, FaultReason | None, str | None]:
        """Descriptor type by bits[1:0] and level (§4.1: QEMU `lpae_block_desc_valid`)."""
        if not raw & VALID:
            return EntryKind.INVALID, FaultReason.NOT_PRESENT, None
        level = self.arm_level(depth)
        if raw & TYPE:
            return (EntryKind.LEAF if level == 3 else EntryKind.TABLE), None, None
        if level != 3 and self.levels[depth].leaf_size is None:
            return (
                EntryKind.MISCONFIGURED,
                FaultReason.RESERVED,
                f"a block descriptor at L{level} is invalid with {self.granule >> 10} KiB "
                "granules (Translation fault)",
            )
        if level == 3:
            return (
                EntryKind.MISCONFIGURED,
                FaultReason.RESERVED,
                "bits[1:0]=0b01 at L3 is a reserved encoding (Translation fault)",
            )
        return EntryKind.LEAF, None, None

    def decode(self, raw: int, depth: int) -> Decoded:
        kind, reason, why = self.classify(raw, depth)
        problems = [why] if why else []
        flagged = ["TYPE"] if kind is EntryKind.MISCONFIGURED else []
        paddr = page_size = None
        hw = MappingFlags(0)
        if kind is EntryKind.TABLE:
            paddr, hw = raw & self.addr_mask, self.table_flags(raw)
        elif kind is EntryKind.LEAF:
            page_size = self.levels[depth].leaf_size or PAGE_4K
            paddr, hw = raw & ADDR_MASK & ~(page_size - 1), self.leaf_flags(raw)
            if raw & self.addr_mask & (page_size - 1):
                flagged.append("ADDR")
                problems.append(
                    f"OA bits below the {size_words(page_size)} block size are RES0: the hardware "
                    f"ignores them (output {paddr:#x}) but the seed's paddr() keeps them"
                )
        for text, name in self.attribute_problems(raw, kind):
            problems.append(text)
            flagged += [name] if name else []
        table = self.field_table(depth, kind)
        problems += [
            f"RES0 bits {f.bits} ({f.name}) are set: {f.doc}"
            for f in table
            if f.role is Role.RESERVED and f.get(raw)
        ]
        read_back, seed_problems = self.seed_reading(raw, kind, hw)
        return Decoded(
            format=self.name,
            depth=depth,
            level_name=self.level_name(depth),
            raw=raw,
            kind=kind,
            paddr=paddr,
            page_size=page_size,
            fields=decoded_fields(table, raw, flagged),
            reason=reason,
            problems=(*problems, *seed_problems),
            mapping_flags=read_back,
            hw_flags=hw,
        )

    def seed_reading(
        self, raw: int, kind: EntryKind, hw: MappingFlags
    ) -> tuple[MappingFlags | None, list[str]]:
        """The seed's read-back (None where it panics) and where it differs from `hw`."""
        try:
            read_back = self.seed_flags(raw)
        except SeedPanic as panic:
            return None, [f"the seed's flags() panics on this entry: {panic}"]
        if kind is EntryKind.TABLE:
            return read_back, []  # the seed never asks a table descriptor for its flags
        if kind is not EntryKind.LEAF:
            return read_back, [
                f"the seed reads {read_back.short()} but the hardware maps nothing here"
            ] if read_back else []
        return read_back, [
            f"the seed {'reads' if flag in read_back else 'does not read'} {flag.name} "
            f"but {self.why(flag, raw)}"
            for flag in MappingFlags
            if (flag in read_back) != (flag in hw)
        ]

    def encoding_problems(self, flags: MappingFlags, huge: bool, encoding: Encoding) -> list[str]:
        raw = self.new_page(SAMPLE_PADDR, flags, huge, encoding)
        dec = self.decode(raw, self.leaf_depth - 1 if huge else self.leaf_depth)  # L2 or L3
        out = []
        if dec.kind is not EntryKind.LEAF:
            if flags:
                out.append(f"{flags.short()} maps nothing: VALID=0 makes the descriptor invalid")
        else:
            for flag in MappingFlags:
                if flag in flags and flag not in dec.hw_flags:
                    out.append(f"{flag.name} requested but not granted: {self.why(flag, raw)}")
                elif flag in dec.hw_flags and flag not in flags:
                    out.append(f"{flag.name} granted though not requested: {self.why(flag, raw)}")
        if encoding is Encoding.SEED:
            if dec.mapping_flags not in (None, flags):
                out.append(f"reads back as {dec.mapping_flags.short()}")
            return out + list(dec.problems)
        seed_only = self.seed_reading(raw, dec.kind, dec.hw_flags)[1]
        return out + [p for p in dec.problems if p not in seed_only]

    @abstractmethod
    def table_flags(self, raw: int) -> MappingFlags:
        """What a table descriptor lets through to the levels below."""

    @abstractmethod
    def leaf_flags(self, raw: int) -> MappingFlags:
        """What the hardware grants through this block/page descriptor alone."""

    @abstractmethod
    def why(self, flag: MappingFlags, raw: int) -> str:
        """The bits that decide `flag` for a leaf, in words ("S2AP[1]=0 denies writes")."""

    @abstractmethod
    def attribute_problems(self, raw: int, kind: EntryKind) -> list[tuple[str, str | None]]:
        """(problem, field to flag or None) for reserved values and surprising attributes."""

    # ------------------------------------------------------------------- walker hooks

    @abstractmethod
    def fold_leaf(self, acc: Any, raw: int) -> Any:
        """The accumulator with the leaf's permissions folded in."""

    @abstractmethod
    def mark_dirty(self, raw: int) -> int:
        """What FEAT_HAFDBS writes for a store to a DBM=1 descriptor."""

    def configure(self, control: Control) -> None:
        """The output size comes from TCR_EL1.IPS (stage 1) or VTCR_EL2.PS (stage 2)."""
        super().configure(control)
        reg, name = ("tcr_el1", "IPS") if self.stage == 1 else ("vtcr_el2", "PS")
        # D8.1.8: an IPS/PS larger than the implemented PA size (PAMax) is read as PAMax
        pa_max = PARANGE_BITS[control.get("id_aa64mmfr0_el1", "PARange")]
        object.__setattr__(self, "output_bits", min(PA_BITS[control.get(reg, name)], pa_max))
        # D8.4.5/6: HA and HD per stage, separately (HD without HA does nothing)
        ha = control.on(reg, "HA")
        object.__setattr__(self, "_ha", ha)
        object.__setattr__(self, "_hd", ha and control.on(reg, "HD"))

    def beyond_pa(self, dec: Decoded) -> bool:
        """A table or block/page address at or above the PA size: an Address size fault at
        that level, before AF and permission are looked at (Arm ARM D8.3.1, D8.16)."""
        return dec.paddr is not None and dec.paddr >> self.output_bits != 0

    def leaf(self, acc: Any, dec: Decoded, req: AccessRequest) -> StepCheck:
        """AF before permission (§1.4); HAFDBS updates are written only if then permitted (§4.4)."""
        raw = dec.raw
        if self.beyond_pa(dec):
            return StepCheck(self.fold_leaf(acc, raw), FaultReason.ADDRESS_SIZE)
        if not raw & AF and not self.hafdbs:
            return StepCheck(self.fold_leaf(acc, raw), FaultReason.ACCESS_FLAG)
        new, notes = raw | AF, []
        if not raw & AF:
            notes.append("hardware sets AF (FEAT_HAFDBS)")
        if self.hd and raw & DBM and req.access is Access.WRITE:
            new = self.mark_dirty(new)
            if new != raw | AF:
                notes.append("DBM=1: hardware makes the descriptor writable (dirty)")
        folded = self.fold_leaf(acc, new)
        if self.allows(folded, req) is not None:
            return StepCheck(self.fold_leaf(acc, raw), FaultReason.PERMISSION)
        if new == raw:
            return StepCheck(folded)
        return StepCheck(folded, write_back=new, notes=tuple(notes))

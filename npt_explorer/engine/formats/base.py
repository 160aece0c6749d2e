"""What every entry format is: geometry, a table of fields, two MappingFlags encodings, and the
hardware's reading of an entry (kind, problems, permission and A/D rules) that the walker calls.

A format never says `if arch == ...`: each family module (x86, arm, riscv) subclasses
`PagingFormat` and fills in the abstract methods; `PageTable`, the walker, `decode`/`encode`
and the TUI all read the same object.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import SeedPanic
from ..flags import Access, MappingFlags, Priv
from .shapes import BitMove, BitTest, PageTemplate

if TYPE_CHECKING:
    from ..control import Control

PAGE_4K = 0x1000
PAGE_2M = 0x20_0000
PAGE_1G = 0x4000_0000
#: the seed's `PageSize` values that `map` accepts (seed-crates.md §1.5; 1M is ARMv7-only)
SEED_PAGE_SIZES = (PAGE_4K, PAGE_2M, PAGE_1G)
SEED_PAGE_SIZES_BY_SHIFT = {30: PAGE_1G, 21: PAGE_2M, 12: PAGE_4K}


class EntryKind(enum.StrEnum):
    INVALID = "invalid"
    TABLE = "table"
    LEAF = "leaf"
    MISCONFIGURED = "misconfigured"


class FaultReason(enum.StrEnum):
    """One vocabulary for all three architectures (SCENARIO_FORMAT.md, `fault_reason`)."""

    NOT_PRESENT = "not-present"
    PERMISSION = "permission"
    ACCESS_FLAG = "access-flag"
    MISCONFIG = "misconfig"
    RESERVED = "reserved"
    MISALIGNED = "misaligned"
    ADDRESS_SIZE = "address-size"
    NON_CANONICAL = "non-canonical"
    NO_MEMORY = "no-memory"  # a memory image holds no byte at the entry's hPA


class Encoding(enum.StrEnum):
    SEED = "seed"
    FIXED = "fixed"


class Role(enum.StrEnum):
    """What a field is for; the TUI colours fields by role."""

    VALID = "valid"
    PERMISSION = "permission"
    ADDRESS = "address"
    ATTRIBUTE = "attribute"
    STATUS = "status"  # A/D/AF: written by hardware
    TYPE = "type"  # PS, descriptor TYPE, N
    SOFTWARE = "software"
    IGNORED = "ignored"
    RESERVED = "reserved"  # must be zero


@dataclass(frozen=True, slots=True)
class Field:
    """One named bit range of an entry; `meanings` maps values to words."""

    name: str
    hi: int
    lo: int
    role: Role
    doc: str = ""
    meanings: tuple[tuple[int, str], ...] = ()

    @property
    def width(self) -> int:
        return self.hi - self.lo + 1

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lo

    @property
    def bits(self) -> str:
        return str(self.lo) if self.hi == self.lo else f"{self.hi}:{self.lo}"

    def get(self, raw: int) -> int:
        return (raw >> self.lo) & ((1 << self.width) - 1)

    def put(self, raw: int, value: int) -> int:
        if value < 0 or value >> self.width:
            raise ValueError(f"{self.name} is {self.width} bit(s) wide; {value:#x} does not fit")
        return (raw & ~self.mask) | (value << self.lo)

    def meaning(self, value: int) -> str:
        for v, text in self.meanings:
            if v == value:
                return text
        if self.role is Role.ADDRESS:
            return f"{value << self.lo:#x}"
        if self.role is Role.RESERVED:
            return "must be 0" if value else "0 (ok)"
        return self.doc if not self.meanings else f"{value}"


@dataclass(frozen=True, slots=True)
class FieldValue:
    field: Field
    value: int
    meaning: str
    flagged: bool = False  # a reserved bit set, or an illegal value: shown in red


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a format's tables. Depth 0 is the root."""

    name: str  # the manual's name: "PML4E", "EPT PDE", "L2", "VPN[1]"
    shift: int  # lowest input-address bit this level indexes
    bits: int  # index width (9; 10 for an ARM ipa40 root; 11 for an x4 root)
    leaf_size: int | None  # page/block size if the hardware allows a leaf here

    @property
    def entries(self) -> int:
        return 1 << self.bits


@dataclass(frozen=True, slots=True)
class Decoded:
    """The hardware's and the seed's reading of one raw entry at one depth."""

    format: str
    depth: int
    level_name: str
    raw: int
    kind: EntryKind
    paddr: int | None  # next table (table) or output base (leaf); None when invalid
    page_size: int | None  # leaf only
    fields: tuple[FieldValue, ...]
    reason: FaultReason | None  # not-present for invalid; reserved/misconfig/misaligned when
    #                              misconfigured; None for a usable table or leaf
    problems: tuple[str, ...]
    mapping_flags: MappingFlags | None  # the seed's flags() read-back; None where it panics
    hw_flags: MappingFlags  # what the hardware grants through this entry alone (leaf)

    def field(self, name: str) -> int:
        for fv in self.fields:
            if fv.field.name == name:
                return fv.value
        raise KeyError(name)

    def has_field(self, name: str) -> bool:
        return any(fv.field.name == name for fv in self.fields)


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """The access a stage checks an entry against.

    For a stage-2 check of a guest page-table access `implicit` is true and `access` is what the
    hardware needs (READ for the entry read, WRITE for an A/D write-back or when EPT A/D makes
    every guest paging-structure access a write); `original` is always the guest's own access,
    which is what syndromes report.
    """

    access: Access
    priv: Priv = Priv.KERNEL
    original: Access | None = None
    implicit: bool = False
    write_back: bool = False
    guest_user_page: bool = False  # stage 1's effective U/S (x86 MBEC XS/XU choice)
    ac: bool = False  # x86 EFLAGS.AC (SMAP)
    via: str = ""  # RISC-V hypervisor load/store from HS-mode: hlv | hlvx | hsv

    @property
    def guest_access(self) -> Access:
        return self.original or self.access


@dataclass(slots=True)
class StepCheck:
    """What a walker hook decided about one entry."""

    acc: Any  # the format's accumulator after this entry (hierarchical perms, EPT AND, ...)
    reason: FaultReason | None = None  # a fault raised by this entry
    write_back: int | None = None  # new raw value the hardware writes (A/D/AF), or None
    notes: tuple[str, ...] = field(default=())


class PagingFormat(ABC):
    """One page-table entry format with its table geometry.

    Subclasses set `name`, `stage`, `levels`, `output_bits`, `addr_mask`, `signed_input` and
    `features` (the machine features that change the hardware's reading, e.g. ``ept-ad``),
    declare the bit shapes (`paddr_move`, `present_test`, `huge_test`), and implement the
    abstract methods. The engine reads the declarations, never probes the functions;
    tests/design/test_format_shapes.py holds the two equal.
    """

    name: str
    stage: int
    levels: tuple[Level, ...]
    output_bits: int
    addr_mask: int  # the seed's PHYS_ADDR_MASK: address bits of the entry
    signed_input: bool  # stage-1 inputs must be sign-extended (canonical)
    features: frozenset[str]
    #: bytes of one entry in a table (x86 32-bit paging: 4; a `teach` geometry 1, 2, 4 or 8)
    entry_bytes: int = 8
    #: tables smaller than a frame lie several to a frame, each aligned to its own size (a
    #: `teach` geometry: OSTEP's 32-byte tables); `PageTable` cannot allocate them yet
    packed_tables: bool = False
    #: `entry_paddr` as a bit move
    paddr_move: BitMove
    #: `seed_present` and `seed_huge` as bit tests
    present_test: BitTest
    huge_test: BitTest

    # ------------------------------------------------------------------ geometry (concrete)

    @property
    def depth_count(self) -> int:
        return len(self.levels)

    @property
    def leaf_depth(self) -> int:
        return len(self.levels) - 1

    @property
    def input_bits(self) -> int:
        return self.levels[0].shift + self.levels[0].bits

    @property
    def root_frames(self) -> int:
        """4 KiB frames in the (possibly concatenated or widened) root table."""
        return self.table_frames(0)

    def table_frames(self, depth: int) -> int:
        """4 KiB frames one table at `depth` fills (16 for an AArch64 64 KiB-granule table)."""
        return max(1, self.levels[depth].entries * self.entry_bytes // PAGE_4K)

    @property
    def granule(self) -> int:
        """The smallest page, last level's (4 KiB; AArch64 also 16 or 64 KiB)."""
        return 1 << self.levels[-1].shift

    @property
    def page_sizes(self) -> frozenset[int]:
        """The page sizes `PageTable.map` takes: the seed's (4 KiB, 2 MiB, 1 GiB) where a level
        has that span; a format the seed lacks declares its own."""
        return frozenset(s for s in SEED_PAGE_SIZES if self.depth_for_size(s) is not None)

    def level_name(self, depth: int) -> str:
        return self.levels[depth].name

    def index(self, addr: int, depth: int) -> int:
        level = self.levels[depth]
        return (addr >> level.shift) & (level.entries - 1)

    def span(self, depth: int) -> int:
        """Bytes of input address one entry at `depth` covers."""
        return 1 << self.levels[depth].shift

    def depth_for_size(self, page_size: int) -> int | None:
        for depth, level in enumerate(self.levels):
            if 1 << level.shift == page_size:
                return depth
        return None

    def canonical(self, addr: int) -> int:
        """The input address with the sign-extension/width bits dropped (for display)."""
        return addr & ((1 << self.input_bits) - 1)

    #: some addresses carry a tag `untagged` drops (the vector walkers leave them to it)
    ignores_tags = False

    def untagged(self, addr: int, access: Access) -> int:
        """The address the walk translates: `addr` less any tag the hardware ignores (AArch64
        TBI); the identity elsewhere."""
        return addr

    def check_input(self, addr: int) -> FaultReason | None:
        """Non-canonical (stage 1) or beyond the input size (stage 2), before any entry is read."""
        if addr < 0 or addr >> 64:
            return FaultReason.ADDRESS_SIZE
        if self.signed_input:
            top = addr >> (self.input_bits - 1)
            if top not in (0, (1 << (65 - self.input_bits)) - 1):
                return FaultReason.NON_CANONICAL
            return None
        return FaultReason.ADDRESS_SIZE if addr >> self.input_bits else None

    @property
    def input_ranges(self) -> tuple[tuple[int, int], ...]:
        """The [lo, hi) input addresses `check_input` accepts: the low half and the sign-extended
        high half of a signed input, else everything below `input_bits`."""
        top = 1 << self.input_bits
        if self.signed_input:
            return ((0, top >> 1), ((1 << 64) - (top >> 1), 1 << 64))
        return ((0, top),)

    def check_output(self, paddr: int) -> bool:
        """The output fits `output_bits` (the one output rule: formats declare the width)."""
        return 0 <= paddr and not paddr >> self.output_bits

    # ----------------------------------------------------- the seed's page-table predicates

    def is_unused(self, raw: int) -> bool:
        """`GenericPTE::is_unused`: raw == 0 (drives AlreadyMapped and table creation)."""
        return raw == 0

    def entry_paddr(self, raw: int) -> int:
        """`GenericPTE::paddr`: the address field as the seed reads it."""
        return raw & self.addr_mask

    @abstractmethod
    def seed_present(self, raw: int) -> bool:
        """`GenericPTE::is_present` exactly as the seed computes it."""

    @abstractmethod
    def seed_huge(self, raw: int) -> bool:
        """`GenericPTE::is_huge` exactly as the seed computes it (quirks included)."""

    # ------------------------------------------------------------------------ encodings

    @abstractmethod
    def new_table(self, paddr: int, encoding: Encoding) -> int:
        """`GenericPTE::new_table` (seed) or the hardware-correct table entry (fixed)."""

    def new_table_at(self, paddr: int, encoding: Encoding, depth: int) -> int:
        """The table entry `PageTable` writes at `depth` (PAE's PDPTEs differ from the rest)."""
        return self.new_table(paddr, encoding)

    #: the root table's entries live in CPU registers, loaded when the root register is
    #: written, not read by each walk (x86 PAE's four PDPTEs, SDM Vol. 3A §4.4.1)
    root_registers: bool = False

    @abstractmethod
    def new_page(self, paddr: int, flags: MappingFlags, huge: bool, encoding: Encoding) -> int:
        """`GenericPTE::new_page` (seed) or what the hardware needs for `flags` (fixed)."""

    def set_flags(self, raw: int, flags: MappingFlags, huge: bool, encoding: Encoding) -> int:
        """`GenericPTE::set_flags`: keeps only the address bits, rebuilds the rest."""
        return self.new_page(self.entry_paddr(raw), flags, huge, encoding)

    def set_paddr(self, raw: int, paddr: int) -> int:
        """`GenericPTE::set_paddr`: keeps every non-address bit."""
        return (raw & ~self.addr_mask) | (paddr & self.addr_mask)

    def page_move(self, huge: bool, encoding: Encoding) -> BitMove:
        """Where `new_page` puts the address bits of a (4 KiB-aligned) `paddr`: by default back
        where `entry_paddr` reads them."""
        return self.paddr_move.inverse()

    def page_template(self, flags: MappingFlags, huge: bool, encoding: Encoding) -> PageTemplate:
        """`new_page` for a whole run of entries: `const | move(paddr)` (the declared move)."""
        return PageTemplate(self.new_page(0, flags, huge, encoding), self.page_move(huge, encoding))

    def table_template(self, depth: int, encoding: Encoding) -> PageTemplate:
        """`new_table_at` for a whole run of child tables: `const | move(paddr)`, the address
        put back where `entry_paddr` reads it (every format's table entry is so)."""
        return PageTemplate(self.new_table_at(0, encoding, depth), self.paddr_move.inverse())

    def _address_field_bits(self, depth: int, kinds: tuple[EntryKind, ...]) -> int:
        """Entry bits at `depth` that are address bits in the field tables of all `kinds`."""
        mask = self.addr_mask
        for kind in kinds:
            mask &= sum(f.mask for f in self.field_table(depth, kind) if f.role is Role.ADDRESS)
        return mask

    def table_address_bits(self, depth: int) -> int:
        """Entry bits at `depth` that hold a table entry's next-table address: whether an entry
        is a table, and how it reads, never depends on them."""
        mask, limit = self._address_field_bits(depth, (EntryKind.TABLE,)), 1 << self.output_bits
        move = self.paddr_move
        return sum(1 << b for b in range(64) if mask >> b & 1 and move.scalar(1 << b) < limit)

    def free_address_bits(self, depth: int) -> int:
        """Entry bits at `depth` that only move the output address: address bits of every kind
        of entry there, at or above the entry's span and below the output width. Entries that
        differ only in these bits read the same (kind, reason, page size, permissions)."""
        mask = self._address_field_bits(depth, (EntryKind.TABLE, EntryKind.LEAF))
        span, limit, move = self.span(depth), 1 << self.output_bits, self.paddr_move
        return sum(
            1 << b for b in range(64) if mask >> b & 1 and span <= move.scalar(1 << b) < limit
        )

    @abstractmethod
    def seed_flags(self, raw: int) -> MappingFlags:
        """`GenericPTE::flags` as the seed computes it; raises `SeedPanic` where it panics."""

    def read_flags(self, raw: int, encoding: Encoding, depth: int | None = None) -> MappingFlags:
        """The flags a `query` reports: the seed's read-back, or the hardware's meaning."""
        if encoding is Encoding.SEED:
            return self.seed_flags(raw)
        return self.decode(raw, self.leaf_depth if depth is None else depth).hw_flags

    def encoding_problems(self, flags: MappingFlags, huge: bool, encoding: Encoding) -> list[str]:
        """Where `encoding` cannot express `flags` (words for `encode --table`)."""
        return []

    def seed_read_back(self, raw: int) -> MappingFlags | None:
        try:
            return self.seed_flags(raw)
        except SeedPanic:
            return None

    # ------------------------------------------------------------- the hardware's reading

    @abstractmethod
    def decode(self, raw: int, depth: int) -> Decoded:
        """Kind, fields, output address, page size and problems of `raw` at `depth`."""

    @abstractmethod
    def field_table(self, depth: int, kind: EntryKind) -> tuple[Field, ...]:
        """The fields of an entry of `kind` at `depth` (what `poke fields=` accepts)."""

    def field_by_name(self, depth: int, raw: int, name: str) -> Field:
        """The field `name` as it exists for `raw` at `depth` (falls back to any kind)."""
        kind = self.decode(raw, depth).kind
        order = [kind, EntryKind.LEAF, EntryKind.TABLE]
        for k in order:
            for f in self.field_table(depth, k):
                if f.name == name.upper():
                    return f
        names = sorted({f.name for k in order for f in self.field_table(depth, k)})
        raise KeyError(
            f"{self.name} has no field {name!r} at depth {depth} (fields: {', '.join(names)})"
        )

    # ------------------------------------------------------------------- walker hooks

    #: the machine's control state (`engine.control.Control`); None: the assumed defaults
    control: Control | None = None

    def configure(self, control: Control) -> None:
        """Take the registers this format's reading depends on (called again on a change;
        the walker's memo is rebuilt after). `object.__setattr__`: some formats are frozen."""
        object.__setattr__(self, "control", control)

    def start(self) -> Any:
        """The accumulator before the root is read."""
        return None

    def implicit_access(self, write_back: bool) -> Access:
        """What a guest page-table access needs at this (stage-2) format."""
        return Access.WRITE if write_back else Access.READ

    @abstractmethod
    def descend(self, acc: Any, dec: Decoded, req: AccessRequest) -> StepCheck:
        """Fold a table entry's hierarchical bits into `acc`; A-bit write-back if any."""

    @abstractmethod
    def leaf(self, acc: Any, dec: Decoded, req: AccessRequest) -> StepCheck:
        """The leaf checks in the hardware's order (permission, access flag, A/D)."""

    @abstractmethod
    def allows(self, acc: Any, req: AccessRequest) -> FaultReason | None:
        """Permission-only re-check of a completed walk's accumulator (TLB hits)."""

    @abstractmethod
    def describe_perms(self, acc: Any) -> str:
        """Effective permissions of a completed walk, compact (e.g. ``rwx u``)."""

    def dirty_tracked(self, dec: Decoded) -> bool:
        """Would a write through this leaf make the hardware set a dirty bit it lacks (so a TLB
        entry filled by a read cannot serve a write without a walk)?"""
        return dec.has_field("D") and dec.field("D") == 0

    def deciding_rule(self, acc: Any, req: AccessRequest) -> str:
        """The rule (entry bit or control bit) that denies `req` through `acc`, in the manual's
        words, for explanations and syndromes; "" when the entry bits alone say it."""
        return ""

    def upper(self, addr: int) -> bool:
        """Is `addr` translated from a second root (AArch64 TTBR1_EL1: the upper VA range)?"""
        return False

    def user_page(self, acc: Any) -> bool:
        """Stage 1 only: is the page user-accessible (x86 MBEC picks XU over XS by this)?"""
        return False


def flags_of(names: Iterable[str]) -> MappingFlags:
    value = MappingFlags(0)
    for n in names:
        value |= MappingFlags[n]
    return value


def decoded_fields(
    table: tuple[Field, ...], raw: int, flagged: Iterable[str] = ()
) -> tuple[FieldValue, ...]:
    """Field values of `raw`; names in `flagged` (and set reserved fields) are marked."""
    marks = set(flagged)
    out = []
    for f in table:
        value = f.get(raw)
        bad = f.name in marks or (f.role is Role.RESERVED and value != 0)
        out.append(FieldValue(f, value, f.meaning(value), bad))
    return tuple(out)

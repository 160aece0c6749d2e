"""What IA-32e paging and EPT share: 9-bit levels, 52-bit addresses and how a decode is built."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from ..flags import MappingFlags
from .base import (
    PAGE_1G,
    PAGE_2M,
    PAGE_4K,
    Decoded,
    Encoding,
    EntryKind,
    FaultReason,
    Field,
    Level,
    PagingFormat,
    decoded_fields,
)
from .shapes import BitMove, BitTest
from .x86_fields import ADDR_MASK, MAXPHYADDR

#: shift and leaf size of the five IA-32e / EPT levels, root of a 5-level table first
_GEOMETRY = ((48, None), (39, None), (30, PAGE_1G), (21, PAGE_2M), (12, PAGE_4K))
LEVEL_NAMES = ("PML5E", "PML4E", "PDPTE", "PDE", "PTE")
#: bits 20:12 are never address bits of a large leaf (PAT and reserved bits, §4.5 / §29.3.2)
LARGE_LOW_BITS = 0x1F_F000
PS_BIT = 1 << 7

NOT_UNUSED = "not present but not zero: the seed's map() treats the slot as used (AlreadyMapped)"


def levels(count: int, prefix: str = "") -> tuple[Level, ...]:
    """The last `count` levels (4 → PML4E..PTE, 5 → PML5E..PTE)."""
    rows = zip(LEVEL_NAMES, _GEOMETRY, strict=True)
    return tuple(Level(prefix + name, shift, 9, size) for name, (shift, size) in rows)[-count:]


def fixed_address(paddr: int, huge: bool) -> int:
    """The entry's address bits; a large leaf never takes bits 20:12 from the address."""
    return paddr & ADDR_MASK & ~(LARGE_LOW_BITS if huge else 0)


def kind_layouts(
    invalid: tuple[Field, ...], table: tuple[Field, ...] | None, leaf: tuple[Field, ...] | None
) -> dict[EntryKind, tuple[Field, ...]]:
    """Every kind's layout at one depth; a kind that cannot occur there shows the other layout
    (a misconfigured entry is shown as a leaf where a leaf may sit)."""
    some = leaf or table
    assert some is not None
    return {
        EntryKind.INVALID: invalid,
        EntryKind.TABLE: table or some,
        EntryKind.LEAF: leaf or some,
        EntryKind.MISCONFIGURED: some,
    }


@dataclass(frozen=True, slots=True)
class Reading:
    """The hardware's classification of one entry: what `decode` and the fault reports share."""

    kind: EntryKind
    layout: tuple[Field, ...]
    reason: FaultReason | None = None
    paddr: int | None = None
    page_size: int | None = None
    flagged: tuple[str, ...] = ()
    words: tuple[str, ...] = ()  # reserved bits and encodings, in the manual's words


class X86Family(PagingFormat):
    """IA-32e paging and EPT: the kinds' layouts per depth and the shape of `decode`."""

    output_bits = MAXPHYADDR
    addr_mask = ADDR_MASK
    paddr_move = BitMove(ADDR_MASK, 0)
    huge_test = BitTest(PS_BIT)

    def page_move(self, huge: bool, encoding: Encoding) -> BitMove:
        """The seed writes every address bit; `fixed` none of 20:12 in a large leaf."""
        if huge and encoding is Encoding.FIXED:
            return BitMove(ADDR_MASK & ~LARGE_LOW_BITS, 0)
        return self.paddr_move

    def __init__(self, name: str, level_rows: tuple[Level, ...], features: frozenset[str]):
        self.name = name
        self.levels = level_rows
        self.features = frozenset(features)
        self._layouts = tuple(self._kind_layouts(d) for d in range(len(level_rows)))

    @abstractmethod
    def _kind_layouts(self, depth: int) -> dict[EntryKind, tuple[Field, ...]]:
        """The layout of each entry kind at `depth`."""

    @abstractmethod
    def classify(self, raw: int, depth: int) -> Reading:
        """Kind, layout, reason and the hardware's objections for `raw` at `depth`."""

    @abstractmethod
    def hw_grant(self, raw: int, reading: Reading) -> MappingFlags:
        """What a usable table or leaf entry grants on its own."""

    @abstractmethod
    def seed_notes(
        self, raw: int, depth: int, reading: Reading, seed: MappingFlags | None
    ) -> list[str]:
        """Where the seed's reading of `raw` differs from the hardware's."""

    def field_table(self, depth: int, kind: EntryKind) -> tuple[Field, ...]:
        return self._layouts[depth][kind]

    def is_leaf(self, raw: int, depth: int) -> bool:
        return depth == self.leaf_depth or bool(raw & PS_BIT and self.levels[depth].leaf_size)

    def ps_reserved(self, raw: int, depth: int) -> bool:
        return bool(raw & PS_BIT) and depth != self.leaf_depth and not self.levels[depth].leaf_size

    def decode(self, raw: int, depth: int) -> Decoded:
        reading = self.classify(raw, depth)
        seed = self.seed_read_back(raw)
        usable = reading.kind in (EntryKind.TABLE, EntryKind.LEAF)
        problems = [*reading.words, *self.seed_notes(raw, depth, reading, seed)]
        if reading.kind is EntryKind.INVALID and raw:
            problems.append(NOT_UNUSED)
        return Decoded(
            format=self.name,
            depth=depth,
            level_name=self.levels[depth].name,
            raw=raw,
            kind=reading.kind,
            paddr=reading.paddr,
            page_size=reading.page_size,
            fields=decoded_fields(reading.layout, raw, reading.flagged),
            reason=reading.reason,
            problems=tuple(problems),
            mapping_flags=seed,
            hw_flags=self.hw_grant(raw, reading) if usable else MappingFlags(0),
        )


def leaf_base(raw: int, size: int) -> int:
    """A leaf's output base: its address bits above the page offset."""
    return raw & ADDR_MASK & ~(size - 1)

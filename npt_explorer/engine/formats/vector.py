"""The bit-level shapes of a format's entry functions, so runs of entries can be built at once.

Every format's page entry is `const(flags, huge) | move(paddr)`, its address read-back
(`entry_paddr`) moves bits, and its seed predicates test a mask. The shapes are found by probing
the scalar functions bit by bit and then checked on sample values; where a shape does not hold
the probe returns None and callers use the scalar functions.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..flags import MappingFlags
from .base import Encoding, EntryKind, Role

if TYPE_CHECKING:
    from .base import PagingFormat

U64 = (1 << 64) - 1
_RNG = random.Random(0x5EED)
#: sample words: random, sparse and dense, fixed for the whole run
SAMPLES = tuple(
    [_RNG.getrandbits(64) for _ in range(24)]
    + [(1 << _RNG.randrange(64)) | (1 << _RNG.randrange(64)) for _ in range(16)]
    + [U64 ^ (1 << _RNG.randrange(64)) for _ in range(8)]
    + [0, U64]
)


@dataclass(frozen=True, slots=True)
class BitMove:
    """`(x & mask)` shifted left by `shift` (right when negative)."""

    mask: int
    shift: int

    def scalar(self, x: int) -> int:
        x &= self.mask
        return (x << self.shift) & U64 if self.shift >= 0 else x >> -self.shift

    def vector(self, x: np.ndarray) -> np.ndarray:
        x = x & np.uint64(self.mask)
        if self.shift >= 0:
            return x << np.uint64(self.shift)
        return x >> np.uint64(-self.shift)


@dataclass(frozen=True, slots=True)
class PageTemplate:
    """A page entry as `const | move(paddr)` (what `new_page`/`set_flags` compute)."""

    const: int
    move: BitMove

    def scalar(self, paddr: int) -> int:
        return self.const | self.move.scalar(paddr)

    def vector(self, paddrs: np.ndarray) -> np.ndarray:
        out = self.move.vector(paddrs)
        out |= np.uint64(self.const)
        return out


@dataclass(frozen=True, slots=True)
class BitTest:
    """A predicate `bool(raw & mask) != invert`."""

    mask: int
    invert: bool

    def scalar(self, raw: int) -> bool:
        return bool(raw & self.mask) != self.invert

    def vector(self, raws: np.ndarray) -> np.ndarray:
        hit = (raws & np.uint64(self.mask)) != 0
        return ~hit if self.invert else hit


def probe_move(fn: Callable[[int], int], samples: tuple[int, ...] = SAMPLES) -> BitMove | None:
    """`fn` as one BitMove (fn(0) must be 0), checked on `samples`; else None."""
    if fn(0) != 0:
        return None
    mask, shift = 0, None
    for bit in range(64):
        image = fn(1 << bit)
        if not image:
            continue
        if image & (image - 1):
            return None  # one input bit lands on several output bits
        moved = image.bit_length() - 1 - bit
        if shift is not None and moved != shift:
            return None
        mask, shift = mask | 1 << bit, moved
    move = BitMove(mask, shift or 0)
    return move if all(fn(x) == move.scalar(x) for x in samples) else None


def probe_test(pred: Callable[[int], bool]) -> BitTest | None:
    """`pred` as one BitTest, checked on the sample words; else None."""
    invert = bool(pred(0))
    mask = sum(1 << bit for bit in range(64) if bool(pred(1 << bit)) != invert)
    test = BitTest(mask, invert)
    return test if all(bool(pred(x)) == test.scalar(x) for x in SAMPLES) else None


_FORMAT_IDS: dict[tuple, int] = {}


def format_key(fmt: PagingFormat) -> int:
    """A small int naming what a format's entry functions depend on (its class, name, stage,
    levels, features and address mask): formats with one key encode alike. Kept on the
    format object, so look-ups do not hash its levels again."""
    attrs = getattr(fmt, "__dict__", None)
    found = None if attrs is None else attrs.get("_vector_key")
    if found is None:
        key = (type(fmt), fmt.name, fmt.stage, fmt.levels, fmt.features, fmt.addr_mask)
        found = _FORMAT_IDS.setdefault(key, len(_FORMAT_IDS))
        if attrs is not None:
            attrs["_vector_key"] = found  # also on frozen dataclasses: a cache, not state
    return found


_TEMPLATES: dict[tuple[int, int, bool, str], PageTemplate | None] = {}


def derive_page_template(
    fmt: PagingFormat, flags: MappingFlags, huge: bool, encoding: Encoding
) -> PageTemplate | None:
    """`new_page(·, flags, huge, encoding)` as a PageTemplate, checked on page-aligned samples."""
    key = (format_key(fmt), int(flags), huge, encoding)
    if key not in _TEMPLATES:
        _TEMPLATES[key] = _page_template(fmt, MappingFlags(flags), huge, Encoding(encoding))
    return _TEMPLATES[key]


def _page_template(
    fmt: PagingFormat, mf: MappingFlags, huge: bool, encoding: Encoding
) -> PageTemplate | None:
    const = fmt.new_page(0, mf, huge, encoding)
    align = ~0xFFF & U64
    samples = tuple(x & align for x in SAMPLES)
    move = probe_move(lambda pa: fmt.new_page(pa, mf, huge, encoding) ^ const, samples)
    if move is None:
        return None
    template = PageTemplate(const, move)
    ok = all(fmt.new_page(pa, mf, huge, encoding) == template.scalar(pa) for pa in samples)
    return template if ok else None


@dataclass(frozen=True, slots=True)
class Shapes:
    """A format's seed predicates and address field as bit shapes (None where they are not)."""

    entry_paddr: BitMove | None
    seed_present: BitTest | None
    seed_huge: BitTest | None
    unused_is_zero: bool

    @property
    def complete(self) -> bool:
        return None not in (self.entry_paddr, self.seed_present, self.seed_huge) and (
            self.unused_is_zero
        )


_SHAPES: dict[int, Shapes] = {}


def shapes(fmt: PagingFormat) -> Shapes:
    """The probed shapes of `fmt`'s seed predicates and `entry_paddr`."""
    key = format_key(fmt)
    found = _SHAPES.get(key)
    if found is None:
        found = _SHAPES[key] = Shapes(
            probe_move(fmt.entry_paddr),
            probe_test(fmt.seed_present),
            probe_test(fmt.seed_huge),
            all(fmt.is_unused(x) == (x == 0) for x in SAMPLES),
        )
    return found


def set_flags_template(
    fmt: PagingFormat, flags: MappingFlags, huge: bool, encoding: Encoding
) -> tuple[BitMove, PageTemplate] | None:
    """`set_flags(raw, ...)` as `template(entry_paddr(raw))`, checked on samples; else None."""
    move, template = shapes(fmt).entry_paddr, fmt.page_template(flags, huge, encoding)
    if move is None or template is None:
        return None
    for raw in SAMPLES:
        if fmt.set_flags(raw, flags, huge, encoding) != template.scalar(move.scalar(raw)):
            return None
    return move, template


def table_address_bits(fmt: PagingFormat, depth: int) -> int:
    """Entry bits at `depth` that hold a table entry's next-table address: whether an entry is
    a table, and how it reads, never depends on them."""
    address = 0
    for f in fmt.field_table(depth, EntryKind.TABLE):
        if f.role is Role.ADDRESS:
            address |= f.mask
    limit = 1 << fmt.output_bits
    return sum(
        1 << bit
        for bit in range(64)
        if (address & fmt.addr_mask) >> bit & 1 and fmt.entry_paddr(1 << bit) < limit
    )


def free_address_bits(fmt: PagingFormat, depth: int) -> int:
    """Entry bits at `depth` that only move the output address: address bits of every kind of
    entry there, at or above the entry's span and below the output width. Entries that differ
    only in these bits read the same (kind, reason, page size, permissions)."""
    mask = fmt.addr_mask
    for kind in (EntryKind.TABLE, EntryKind.LEAF):
        address = 0
        for f in fmt.field_table(depth, kind):
            if f.role is Role.ADDRESS:
                address |= f.mask
        mask &= address
    span, limit = fmt.span(depth), 1 << fmt.output_bits
    free = 0
    for bit in range(64):
        if mask >> bit & 1 and span <= fmt.entry_paddr(1 << bit) < limit:
            free |= 1 << bit
    return free

"""Bit shapes a format declares, so runs of entries are built and read at once (numpy).

Every format's page entry is `const(flags, huge) | move(paddr)`, its address read-back
(`entry_paddr`) moves bits, and its seed predicates test a mask. Formats declare these shapes
as data (`PagingFormat.paddr_move`, `present_test`, `huge_test`, `page_move`);
tests/design/test_format_shapes.py holds them equal to the scalar functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

U64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class BitMove:
    """`(x & mask)` shifted left by `shift` (right when negative)."""

    mask: int
    shift: int

    def scalar(self, x: int) -> int:
        x &= self.mask
        return (x << self.shift) & U64 if self.shift >= 0 else x >> -self.shift

    def vector(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The move of every word of `x` (into `out`, which may be `x` itself)."""
        x = np.bitwise_and(x, np.uint64(self.mask), out=out)
        if self.shift >= 0:
            return np.left_shift(x, np.uint64(self.shift), out=x)
        return np.right_shift(x, np.uint64(-self.shift), out=x)

    def inverse(self) -> BitMove:
        """The move that puts the moved bits back where they came from."""
        moved = self.mask << self.shift if self.shift >= 0 else self.mask >> -self.shift
        return BitMove(moved & U64, -self.shift)


@dataclass(frozen=True, slots=True)
class PageTemplate:
    """A page entry as `const | move(paddr)` (what `new_page`/`set_flags` compute)."""

    const: int
    move: BitMove

    def scalar(self, paddr: int) -> int:
        return self.const | self.move.scalar(paddr)

    def vector(self, paddrs: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The entries of `paddrs` (written into `out`, which may be `paddrs` itself)."""
        entries = self.move.vector(paddrs, out)
        entries |= np.uint64(self.const)
        return entries

    def step(self, first: int, last: int, page: int) -> int | None:
        """The difference between the entries of consecutive pages of `page` bytes, when the
        entries of the paddrs `first`, `first + page`, …, `last` form an arithmetic run —
        every bit those addresses may hold passes the move's mask and is shifted without loss,
        and none lands on a bit of `const` (so `|` adds) — else None. Then a run of entries is
        one ramp, `scalar(first) + i * step`, with no pass of the template over it."""
        low = (first | page) & -(first | page)  # every address is a multiple of this
        bits = ((1 << last.bit_length()) - 1) & -low  # every bit an address may hold
        shift = self.move.shift
        if bits & ~self.move.mask or (shift < 0 and low >> -shift << -shift != low):
            return None
        moved = bits << shift if shift >= 0 else bits >> -shift
        if moved > U64 or moved & self.const:
            return None
        return page << shift if shift >= 0 else page >> -shift


@dataclass(frozen=True, slots=True)
class BitTest:
    """A predicate `bool(raw & mask) != invert`."""

    mask: int
    invert: bool = False

    def scalar(self, raw: int) -> bool:
        return bool(raw & self.mask) != self.invert

    def vector(self, raws: np.ndarray) -> np.ndarray:
        hit = (raws & np.uint64(self.mask)) != 0
        return ~hit if self.invert else hit

    def every(self, scratch: np.ndarray) -> bool:
        """Does every word of `scratch` pass? Tested in place (no temporaries): the words are
        overwritten."""
        np.bitwise_and(scratch, np.uint64(self.mask), out=scratch)
        return not scratch.any() if self.invert else bool(scratch.all())

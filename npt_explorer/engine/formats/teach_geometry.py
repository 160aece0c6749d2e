"""The teaching geometry (`teach`) as data: per stage the levels, index bits per level, page-offset
bits, entry size, table alignment and where an entry keeps its valid, permission and frame bits.

Two presets reproduce textbook exercises:

* ``6.823`` — MIT 6.823's nested-paging handout, Figure 2: 2-level tables at both stages. The
  handout's text (../shared/seeds, "6.823 Nested Paging") gives the levels and the walk (2×2 + 2
  + 2 = 8 references) but not the bit widths (they are in the figure, which the text lacks); we
  use the widths SCENARIO_FORMAT.md names for it: 10 + 10 index bits, 12 offset bits, 4-byte
  entries — NOT confirmed against the figure. The handout's guest table base 0xB29A0 is 32-byte
  aligned, not 4 KiB: tables here are aligned to 32 bytes (`table_align`), as that base needs.
* ``ostep`` — OSTEP ch. 20 homework `paging-multilevel-translate.py` (its README): 32-byte pages,
  a 32 KiB (15-bit) address space, 5-bit page-directory and 5-bit page-table index, 1-byte entries
  ``VALID | PFN6..PFN0`` (valid = bit 7), 128 physical pages (12-bit physical address). A table
  is one 32-byte page; the README names no permission bits, so the preset has none (every
  access to a valid page is allowed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import PagingError

#: keys a `[machine] guest = { ... }` / `npt = { ... }` table may give
GEOMETRY_KEYS = (
    "levels",
    "index_bits",
    "offset_bits",
    "entry_bytes",
    "table_align",
    "valid_bit",
    "pfn_bit",
    "perms",
)
ENTRY_SIZES = (1, 2, 4, 8)
MAX_OUTPUT_BITS = 52  # the widest physical address any format here has


@dataclass(frozen=True, slots=True)
class Geometry:
    """One stage of the teaching machine. Bits of an entry: `valid_bit`, then (with `perms`)
    R, W, X, U in the four bits above bit 0 (SCENARIO_FORMAT.md: V 0, R 1, W 2, X 3, U 4), the
    frame number from `pfn_bit` to the top of the entry."""

    index_bits: tuple[int, ...]
    offset_bits: int
    entry_bytes: int
    #: bytes; a table's address must be a multiple of it. Checked as data only: a machine puts
    #: tables on 4 KiB frames (any alignment up to 4096 holds); the walker follows a table
    #: entry to whatever page it names and does not check it
    table_align: int
    valid_bit: int = 0
    pfn_bit: int = 12
    perms: bool = True

    @property
    def levels(self) -> int:
        return len(self.index_bits)

    @property
    def pfn_top(self) -> int:
        """One above the frame number's highest bit: the valid bit when it sits above the frame
        number (OSTEP's ``VALID | PFN6..PFN0``), else the top of the entry."""
        top = self.valid_bit if self.valid_bit > self.pfn_bit else 8 * self.entry_bytes
        return min(top, self.pfn_bit + MAX_OUTPUT_BITS - self.offset_bits)  # bits above: unused

    @property
    def pfn_bits(self) -> int:
        return self.pfn_top - self.pfn_bit

    @property
    def output_bits(self) -> int:
        return self.pfn_bits + self.offset_bits

    def table_bytes(self, depth: int) -> int:
        return (1 << self.index_bits[depth]) * self.entry_bytes

    def check(self) -> None:
        """Every rule a geometry must keep, as one error naming the key and what it allows."""
        bits = 8 * self.entry_bytes
        rules = (
            (self.entry_bytes in ENTRY_SIZES, "entry_bytes", "1, 2, 4 or 8"),
            (1 <= self.levels <= 6, "levels", "1 to 6"),
            (all(1 <= b <= 16 for b in self.index_bits), "index_bits", "each 1 to 16"),
            (4 <= self.offset_bits <= 30, "offset_bits", "4 to 30"),
            (0 <= self.valid_bit < bits, "valid_bit", f"0 to {bits - 1}"),
            (not self.perms or self.valid_bit == 0, "valid_bit", "0 when perms = true"),
            (0 <= self.pfn_bit < bits and self.pfn_bit != self.valid_bit, "pfn_bit",
             f"0 to {bits - 1}, not the valid bit"),
            (not self.perms or self.pfn_bit >= 5, "pfn_bit", "5 or more when perms = true "
             "(V R W X U are bits 0-4)"),
            (self.input_bits <= 48, "index_bits", "at most 48 input bits (index bits + "
             "offset_bits)"),
            (self._align_ok(), "table_align", "a power of two from the entry size up to 4096 "
             "that the largest table's size is a multiple of, or the table size"),
        )  # fmt: skip
        for ok, key, allowed in rules:
            if not ok:
                raise PagingError(
                    "InvalidRequest", f"teach geometry: bad {key} (allowed: {allowed})"
                )

    @property
    def input_bits(self) -> int:
        return sum(self.index_bits) + self.offset_bits

    def _align_ok(self) -> bool:
        a = self.table_align
        return (
            a >= self.entry_bytes
            and not a & (a - 1)
            and (a <= 4096 or a == max(self.table_bytes(d) for d in range(self.levels)))
        )


def _preset(**kw: object) -> Geometry:
    geo = Geometry(**kw)  # type: ignore[arg-type]
    geo.check()
    return geo


PRESETS: dict[str, Geometry] = {
    # the 6.823 handout's Figure 2 (widths from SCENARIO_FORMAT.md; the figure itself unread)
    "6.823": _preset(index_bits=(10, 10), offset_bits=12, entry_bytes=4, table_align=32),
    # OSTEP paging-multilevel-translate.py: VALID | PFN6..0 in one byte, 32-byte pages
    "ostep": _preset(
        index_bits=(5, 5),
        offset_bits=5,
        entry_bytes=1,
        table_align=32,
        valid_bit=7,
        pfn_bit=0,
        perms=False,
    ),  # fmt: skip
}


def geometry_from(options: Mapping[str, object]) -> Geometry:
    """A geometry from a preset name (`geometry = "6.823"`) and/or the keys of GEOMETRY_KEYS;
    keys given override the preset's. Errors name the key and what it allows."""
    opts = dict(options)
    name = opts.pop("geometry", None)
    unknown = sorted(set(opts) - set(GEOMETRY_KEYS))
    if unknown:
        raise PagingError(
            "InvalidRequest",
            f"teach geometry: unknown key(s) {', '.join(unknown)} "
            f"(allowed: geometry, {', '.join(GEOMETRY_KEYS)})",
        )
    if name is not None and name not in PRESETS:
        raise PagingError(
            "InvalidRequest",
            f"teach geometry {name!r} is not a preset (allowed: {', '.join(PRESETS)})",
        )
    base = PRESETS[str(name)] if name is not None else None
    if base is None and not {"levels", "index_bits", "offset_bits", "entry_bytes"} <= set(opts):
        raise PagingError(
            "InvalidRequest",
            "teach geometry: give a preset (geometry = "
            f"{' | '.join(repr(p) for p in PRESETS)}) or levels, index_bits, offset_bits and "
            "entry_bytes",
        )
    return _merged(base, opts)


def _merged(base: Geometry | None, opts: dict[str, object]) -> Geometry:
    def num(key: str, default: int | None) -> int:
        value = opts.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise PagingError("InvalidRequest", f"teach geometry: {key} must be an integer")
        return value

    levels = num("levels", base.levels if base else None)
    raw_bits = opts.get("index_bits", base.index_bits if base else None)
    if isinstance(raw_bits, int) and not isinstance(raw_bits, bool):
        index_bits = (raw_bits,) * levels
    elif isinstance(raw_bits, list | tuple) and all(isinstance(b, int) for b in raw_bits):
        index_bits = tuple(int(b) for b in raw_bits)
    else:
        raise PagingError(
            "InvalidRequest", "teach geometry: index_bits must be an integer or a list of them"
        )
    if len(index_bits) != levels:
        raise PagingError(
            "InvalidRequest",
            f"teach geometry: index_bits lists {len(index_bits)} levels but levels = {levels}",
        )
    offset = num("offset_bits", base.offset_bits if base else None)
    size = num("entry_bytes", base.entry_bytes if base else None)
    perms = opts.get("perms", base.perms if base else True)
    if not isinstance(perms, bool):
        raise PagingError("InvalidRequest", "teach geometry: perms must be true or false")
    largest = max((1 << b) * size for b in index_bits)
    geo = Geometry(
        index_bits,
        offset,
        size,
        num("table_align", base.table_align if base else min(largest, 4096)),
        num("valid_bit", base.valid_bit if base else 0),
        num("pfn_bit", base.pfn_bit if base and "offset_bits" not in opts else offset),
        perms,
    )
    geo.check()
    return geo

"""`teach`: the parameterised teaching format — simple V/R/W/X/U entries over a geometry given as
data (`teach_geometry.Geometry`), for textbook exercises (the 6.823 handout's Figure 2, OSTEP's
multi-level paging homework). No real hardware reads it, so there is no syndrome: a fault is
its stage, level and reason (`teach_faults`).

The rules, the same at both stages: an entry with V=0 is not present; above the last level a
valid entry points at the next table (its R/W/X/U bits are ignored); at the last level it maps a
page of 2^offset_bits bytes; there are no huge pages and no accessed/dirty bits. A leaf allows a
read with R, a write with W, a fetch with X, and (stage 1 only) a user access with U; a geometry
with `perms = false` has no such bits and allows everything (OSTEP's entries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..faults import register_reporter
from ..flags import Access, MappingFlags, Priv
from . import teach_faults
from .base import (
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
from .teach_geometry import Geometry, geometry_from

R_, W_, X_, U_ = MappingFlags.READ, MappingFlags.WRITE, MappingFlags.EXECUTE, MappingFlags.USER
_NONE = MappingFlags(0)
_ALL = R_ | W_ | X_ | U_
#: (flag, entry bit) of the permission bits, SCENARIO_FORMAT.md: V 0, R 1, W 2, X 3, U 4
PERM_BITS = ((R_, 1), (W_, 2), (X_, 3), (U_, 4))
PERM_NAMES = {R_: "R", W_: "W", X_: "X", U_: "U"}


@dataclass(frozen=True, slots=True)
class Perms:
    """What a leaf grants; the walk's accumulator (tables carry no permissions)."""

    flags: MappingFlags = _NONE


class TeachFormat(PagingFormat):
    """A `teach` stage: its levels, fields and reading all follow from the geometry."""

    signed_input = False
    entry_bytes: int

    def __init__(self, geometry: Geometry, stage: int, preset: str | None = None) -> None:
        g = self.geometry = geometry
        self.name, self.stage, self.preset = "teach", stage, preset
        self.features = frozenset()
        self.entry_bytes = g.entry_bytes
        shifts = [g.offset_bits + sum(g.index_bits[d + 1 :]) for d in range(g.levels)]
        self.levels = tuple(
            Level(f"L{d + 1}", shift, bits, (1 << shift) if d == g.levels - 1 else None)
            for d, (shift, bits) in enumerate(zip(shifts, g.index_bits, strict=True))
        )
        self.output_bits = g.output_bits
        self.packed_tables = min(map(g.table_bytes, range(g.levels))) < PAGE_4K
        pfn_mask = ((1 << g.pfn_bits) - 1) << g.pfn_bit
        self.addr_mask = pfn_mask
        self.paddr_move = BitMove(pfn_mask, g.offset_bits - g.pfn_bit)
        self.present_test = BitTest(1 << g.valid_bit)
        self.huge_test = BitTest(0)  # no huge pages: only the last level maps
        valid = Field("V", g.valid_bit, g.valid_bit, Role.VALID, "valid", ((0, "not present"),
                      (1, "present")))  # fmt: skip
        perms = tuple(
            Field(PERM_NAMES[f], bit, bit, Role.PERMISSION, f"{word} allowed",
                  ((0, f"no {word}"), (1, f"{word} allowed")))
            for f, bit in PERM_BITS
            for word in ((f.name or "").lower(),)
        )  # fmt: skip
        pfn = Field("PFN", g.pfn_top - 1, g.pfn_bit, Role.ADDRESS, "frame number")
        self._leaf_fields = _with_gaps((valid, *(perms if g.perms else ()), pfn), g.entry_bytes)
        ignored = tuple(Field(p.name, p.hi, p.lo, Role.IGNORED, "ignored in a table entry")
                        for p in perms) if g.perms else ()  # fmt: skip
        self._table_fields = _with_gaps((valid, *ignored, pfn), g.entry_bytes)

    @property
    def page_sizes(self) -> frozenset[int]:
        return frozenset({self.granule})

    # ------------------------------------------------------ the seed's view (none: = fixed)

    def entry_paddr(self, raw: int) -> int:
        return self.paddr_move.scalar(raw)

    def set_paddr(self, raw: int, paddr: int) -> int:
        return (raw & ~self.addr_mask) | self.paddr_move.inverse().scalar(paddr)

    def seed_present(self, raw: int) -> bool:
        return self.present_test.scalar(raw)

    def seed_huge(self, raw: int) -> bool:
        return False

    def seed_flags(self, raw: int) -> MappingFlags:
        return self._grants(raw) if self.seed_present(raw) else _NONE

    def new_table(self, paddr: int, encoding: Encoding) -> int:
        """V and the frame number: no permissions in a table entry."""
        return self.present_test.mask | self.paddr_move.inverse().scalar(paddr)

    def new_page(self, paddr: int, flags: MappingFlags, huge: bool, encoding: Encoding) -> int:
        """The seed has no teaching format, so `seed` and `fixed` write the same: V, the
        permission bits the flags name, the frame number; empty flags write no V (the entry
        is not present, its frame number kept)."""
        bits = self.present_test.mask if flags else 0
        if self.geometry.perms:
            bits |= sum(1 << bit for f, bit in PERM_BITS if f in flags)
        return bits | self.paddr_move.inverse().scalar(paddr)

    def encoding_problems(self, flags: MappingFlags, huge: bool, encoding: Encoding) -> list[str]:
        if not self.geometry.perms:
            return ["no permission bits in this geometry: a valid page allows every access"]
        lost = flags & ~_ALL
        return [f"{lost.name} has no bit in a teach entry"] if lost else []

    # ---------------------------------------------------------- the reading

    def field_table(self, depth: int, kind: EntryKind) -> tuple[Field, ...]:
        if kind is EntryKind.TABLE or (kind is not EntryKind.LEAF and depth != self.leaf_depth):
            return self._table_fields
        return self._leaf_fields

    def decode(self, raw: int, depth: int) -> Decoded:
        last = depth == self.leaf_depth
        if not self.seed_present(raw):
            kind, reason, paddr, size = EntryKind.INVALID, FaultReason.NOT_PRESENT, None, None
        elif last:
            kind, reason, paddr, size = EntryKind.LEAF, None, self.entry_paddr(raw), self.granule
        else:
            kind, reason, paddr, size = EntryKind.TABLE, None, self.entry_paddr(raw), None
        problems = []
        top = 8 * self.entry_bytes
        if raw >> top:
            problems.append(f"bits above {top - 1} do not exist in a {self.entry_bytes}-byte entry")
        hw = self._grants(raw) if kind is EntryKind.LEAF else _NONE
        return Decoded(
            format=self.name,
            depth=depth,
            level_name=self.level_name(depth),
            raw=raw,
            kind=kind,
            paddr=paddr,
            page_size=size,
            fields=self._fields(depth, kind, raw, reason is not None),
            reason=reason,
            problems=tuple(problems),
            mapping_flags=self.seed_read_back(raw),
            hw_flags=hw,
        )

    def _fields(self, depth: int, kind: EntryKind, raw: int, invalid: bool) -> tuple[Any, ...]:
        """The field values; the frame number's meaning is the address it names (shifted by
        offset_bits, not by its own position: OSTEP's PFN sits in bits 6:0)."""
        out = []
        for fv in decoded_fields(self.field_table(depth, kind), raw, ["V"] if invalid else ()):
            if fv.field.role is Role.ADDRESS:
                fv = replace(fv, meaning=f"frame {fv.value:#x} at {self.entry_paddr(raw):#x}")
            out.append(fv)
        return tuple(out)

    def _grants(self, raw: int) -> MappingFlags:
        if not self.geometry.perms:
            return _ALL
        out = _NONE
        for flag, bit in PERM_BITS:
            if raw >> bit & 1:
                out |= flag
        return out

    # ---------------------------------------------------------------- walker hooks

    def start(self) -> Perms:
        return Perms()

    def descend(self, acc: Perms, dec: Decoded, req: AccessRequest) -> StepCheck:
        return StepCheck(acc)  # a table entry carries no permissions

    def leaf(self, acc: Perms, dec: Decoded, req: AccessRequest) -> StepCheck:
        perms = Perms(dec.hw_flags)
        return StepCheck(perms, self.allows(perms, req))

    def allows(self, acc: Perms, req: AccessRequest) -> FaultReason | None:
        need = {Access.READ: R_, Access.WRITE: W_, Access.EXEC: X_}[req.access]
        if need not in acc.flags:
            return FaultReason.PERMISSION
        if self.stage == 1 and req.priv is Priv.USER and U_ not in acc.flags:
            return FaultReason.PERMISSION
        return None

    def deciding_rule(self, acc: Perms, req: AccessRequest) -> str:
        need = {Access.READ: "R", Access.WRITE: "W", Access.EXEC: "X"}[req.access]
        if need not in (acc.flags.name or ""):
            return f"{need}=0"
        return "U=0 (a user access)"

    def describe_perms(self, acc: Perms) -> str:
        f = acc.flags
        rwx = "".join(c if flag in f else "-" for c, flag in zip("rwx", (R_, W_, X_), strict=True))
        return f"{rwx} u" if U_ in f and self.stage == 1 else rwx

    def user_page(self, acc: Perms) -> bool:
        return self.stage == 1 and U_ in acc.flags


def _with_gaps(fields: tuple[Field, ...], entry_bytes: int) -> tuple[Field, ...]:
    """`fields` and an ignored field for every run of bits they leave out, low to high, so
    every bit of the entry has a field."""
    taken = sum(f.mask for f in fields)
    out, width, bit, n = list(fields), 8 * entry_bytes, 0, 0
    while bit < width:
        if taken >> bit & 1:
            bit += 1
            continue
        top = bit
        while top + 1 < width and not taken >> (top + 1) & 1:
            top += 1
        n += 1
        out.append(Field(f"IGN{n}" if n > 1 else "IGN", top, bit, Role.IGNORED, "ignored"))
        bit = top + 1
    return tuple(sorted(out, key=lambda f: f.lo))


def make_teach(
    *, features: frozenset[str] = frozenset(), stage: int = 1, **options: object
) -> TeachFormat:
    """`get_format("teach", geometry="6.823")`, or the geometry's keys one by one."""
    from ..errors import PagingError

    if features:
        raise PagingError("InvalidRequest", f"teach has no features (got {', '.join(features)})")
    if stage not in (1, 2):
        raise PagingError("InvalidRequest", f"teach: stage must be 1 or 2, not {stage!r}")
    options = options or {"geometry": "6.823"}  # the handout's geometry unless told
    preset = options.get("geometry")
    return TeachFormat(geometry_from(options), stage, str(preset) if preset else None)


FORMATS: dict[str, Callable[..., PagingFormat]] = {"teach": make_teach}

register_reporter(teach_faults.ARCH, teach_faults.syndrome, teach_faults.explain)

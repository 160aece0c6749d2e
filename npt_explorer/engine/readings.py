"""What one entry does to a walk, memoised by class.

Entries at one depth that differ only in their free address bits
(`PagingFormat.free_address_bits`) read the same to the hardware: same kind, fault reason, page
size and permissions; only the output address moves. So the format's `decode` and walker hooks
run once per (class, accumulator, request), and a walk through pages never seen before costs
dictionary look-ups. Each class is checked against its first member's full decode; a class whose
address or write-back does not follow the shape falls back to exact (per raw) memoisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .formats import AccessRequest, Decoded, EntryKind, FaultReason, PagingFormat

MEMO_LIMIT = 1 << 16
_BAD = (EntryKind.INVALID, EntryKind.MISCONFIGURED)


class StepOutcome(StrEnum):
    """What one entry read did to the walk (`WalkStep.outcome`, the JSON words)."""

    TABLE = "table"
    LEAF = "leaf"
    FAULT = "fault"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The walker's verdict on one entry (for every entry of its class)."""

    kind: EntryKind
    label: StepOutcome  # for `WalkStep.outcome`
    reason: FaultReason | None  # this entry faults (decode: invalid/misconfigured; or the hook)
    page_size: int | None  # leaf only
    acc: Any  # the accumulator after the entry (the hook's, also on a hook fault)
    set_bits: int | None  # write-back = (raw & wb_keep) | set_bits; None: nothing to write
    wb_keep: int = 0
    exact: bool = False  # the class shape did not hold: memoised for this raw only
    exact_paddr: int | None = None  # `decode(raw).paddr` of an exact outcome

    @property
    def bad(self) -> bool:
        return self.kind in _BAD

    def write_back(self, raw: int) -> int | None:
        return None if self.set_bits is None else (raw & self.wb_keep) | self.set_bits

    def base(self, readings: Readings, raw: int) -> int:
        """The next table, or the leaf's output base."""
        if self.exact:
            assert self.exact_paddr is not None
            return self.exact_paddr
        paddr = readings.paddr(raw)
        return paddr & ~(self.page_size - 1) if self.page_size else paddr


class Readings:
    """One format's decode and hook memo, shared by the scalar and the batch walkers."""

    def __init__(self, fmt: PagingFormat) -> None:
        self.fmt = fmt
        self.free = tuple(fmt.free_address_bits(d) for d in range(fmt.depth_count))
        self.keep = tuple(~f for f in self.free)
        #: what a table entry's class keeps: everything but its next-table address
        self.table_keep = tuple(~fmt.table_address_bits(d) for d in range(fmt.depth_count))
        move = fmt.paddr_move
        #: entry_paddr(raw) == (raw & addr_mask) << addr_shift, when that shape holds
        self.addr_mask, self.addr_shift = (move.mask, move.shift) if move.shift >= 0 else (0, -1)
        self._interned: dict[Any, Any] = {}
        self._outcomes: dict[tuple[int, int, int, int], Outcome] = {}
        self._exact: dict[tuple[int, int, int, int], Outcome] = {}
        self._decoded: dict[tuple[int, int], Decoded] = {}
        self.start = self.intern(fmt.start())

    def intern(self, obj: Any) -> Any:
        """One canonical object per value (accumulators and requests are keyed by identity)."""
        return self._interned.setdefault(obj, obj)

    def decode(self, raw: int, depth: int) -> Decoded:
        """`fmt.decode`, memoised by exact raw (decoding is pure)."""
        key = (raw, depth)
        dec = self._decoded.get(key)
        if dec is None:
            if len(self._decoded) >= MEMO_LIMIT:
                self._decoded.clear()
            dec = self._decoded[key] = self.fmt.decode(raw, depth)
        return dec

    def paddr(self, raw: int) -> int:
        """`fmt.entry_paddr(raw)`."""
        if self.addr_shift < 0:
            return self.fmt.entry_paddr(raw)
        return (raw & self.addr_mask) << self.addr_shift

    def outcome(self, depth: int, raw: int, acc: Any, req: AccessRequest) -> Outcome:
        """The verdict on `raw` at `depth` for a canonical `acc` and interned `req`."""
        key = (depth, raw & self.keep[depth], id(acc), id(req))
        out = self._outcomes.get(key)
        if out is None:
            if len(self._outcomes) >= MEMO_LIMIT:
                self._outcomes.clear()
            out = self._outcomes[key] = self._judge(depth, raw, acc, req)
        if out.exact:
            key = (depth, raw, id(acc), id(req))
            out = self._exact.get(key)
            if out is None:
                if len(self._exact) >= MEMO_LIMIT:
                    self._exact.clear()
                out = self._exact[key] = self._judge(depth, raw, acc, req)
        return out

    def _judge(self, depth: int, raw: int, acc: Any, req: AccessRequest) -> Outcome:
        fmt, free = self.fmt, self.free[depth]
        dec = self.decode(raw, depth)
        if dec.kind in _BAD:
            reason = dec.reason or FaultReason.NOT_PRESENT
            return Outcome(dec.kind, StepOutcome.FAULT, reason, None, acc, None)
        hook = fmt.descend if dec.kind is EntryKind.TABLE else fmt.leaf
        check = hook(acc, dec, req)
        wb = check.write_back
        label = StepOutcome.FAULT if check.reason is not None else StepOutcome(dec.kind.value)
        base = self.paddr(raw)
        if dec.kind is EntryKind.LEAF and dec.page_size:
            base &= ~(dec.page_size - 1)
        acc = self.intern(check.acc)
        shaped = self.addr_shift >= 0 and dec.paddr == base
        if shaped and (wb is None or wb & free == raw & free):
            set_bits = None if wb is None else wb & ~free
            return Outcome(dec.kind, label, check.reason, dec.page_size, acc, set_bits, free)
        return Outcome(dec.kind, label, check.reason, dec.page_size, acc, wb, 0, True, dec.paddr)

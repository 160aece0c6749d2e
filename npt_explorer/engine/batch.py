"""Lane machinery for batch look-ups with numpy, shared by `query_many` (table_query.py) and
`translate_many`/`walk_many` through both stages (batch_walk.py).

Tables are gathered level by level from one matrix of their frames. Addresses that share a
leaf table share every entry above it, so those levels are walked once per leaf-table region
(a dense range of regions, when the addresses are not too spread out) and only the leaf level
once per address. Each entry's meaning comes from where the scalar paths take it: the seed
predicates' probed bit shapes for `query`, and for translation `Readings` (the format's decode
and walker hooks, once per class of entries), so permission, access-flag and A/D-write-back
checks are the walker's. Lanes that meet anything else (a table outside the known frames, an
entry class without the address shape) are answered by the scalar path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .memory import ENTRIES_PER_FRAME, PAGE_SHIFT, Frames

U64 = np.uint64
_FEW_CLASSES = 8
CONT, LEAF, FAULT, SCALAR = 0, 1, 2, 3  # lane states


class FrameIndex:
    """Frames stacked in one matrix (plus a zero row for missing frames), gathered by address;
    pfn → row through a dense table when the frames are close together, else a binary search."""

    def __init__(self, pfns: list[int], words: list[np.ndarray | None]) -> None:
        zero = np.zeros(ENTRIES_PER_FRAME, dtype=np.uint64)
        self.flat = np.stack([zero if w is None else w for w in words] + [zero]).ravel()
        self.missing = len(pfns) * ENTRIES_PER_FRAME  # offset of the zero row
        order = np.array(pfns, dtype=np.int64)
        offsets = np.arange(len(pfns), dtype=np.int64) * ENTRIES_PER_FRAME
        self.base = int(order.min()) - 1 if len(pfns) else 0
        span = int(order.max()) - self.base + 2 if len(pfns) else 2
        self.dense = span <= 4 * len(pfns) + 4096
        if self.dense:  # by pfn - base; both ends hold `missing`
            self.table = np.full(span, self.missing, dtype=np.int64)
            self.table[order - self.base] = offsets
        else:
            sorter = np.argsort(order)
            self.sorted, self.sorted_offsets = order[sorter], offsets[sorter]

    def offsets(self, addrs: np.ndarray) -> np.ndarray:
        """The matrix offset of each address's frame (`missing` where it is not indexed)."""
        pfns = (addrs >> U64(PAGE_SHIFT)).view(np.int64)
        if self.dense:
            return np.take(self.table, pfns - self.base, mode="clip")
        if not len(self.sorted):
            return np.full(len(pfns), self.missing, dtype=np.int64)
        at = np.searchsorted(self.sorted, pfns).clip(0, len(self.sorted) - 1)
        return np.where(self.sorted[at] == pfns, self.sorted_offsets[at], self.missing)

    def words(self, addrs: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        return self.flat[offsets + ((addrs >> U64(3)) & U64(ENTRIES_PER_FRAME - 1)).view(np.int64)]


class TableFrames(Protocol):
    """What batch walks read of the stage-2 table: its root and its frames (first hPA → frame
    count) in `mem`. A `TableCore`, or a memory image's tables as found by walking them."""

    @property
    def root(self) -> int: ...
    @property
    def tables(self) -> Mapping[int, int]: ...
    @property
    def mem(self) -> Frames: ...


def table_index(pt: TableFrames) -> FrameIndex:
    """The frames of every table `pt` owns, in its own address space."""
    pfns = [(paddr >> PAGE_SHIFT) + n for paddr, count in pt.tables.items() for n in range(count)]
    return FrameIndex(pfns, [pt.mem.peek_frame(p) for p in pfns])


def input_ok(ranges: tuple[tuple[int, int], ...], addrs: np.ndarray) -> np.ndarray:
    ok = np.zeros(len(addrs), dtype=bool)
    for lo, hi in ranges:
        ok |= (addrs >= U64(lo)) & (addrs <= U64(hi - 1))
    return ok


def all_inputs_ok(ranges: tuple[tuple[int, int], ...], addrs: np.ndarray) -> bool:
    """Does every address lie in one of `ranges` (`input_ok` all true)? Judged from the
    lowest and the highest address when they share a range: two passes, no lane arrays."""
    if not len(addrs):
        return True
    lo, hi = int(addrs.min()), int(addrs.max())
    return any(start <= lo and hi < end for start, end in ranges) or bool(
        input_ok(ranges, addrs).all()
    )


def classes(keys: np.ndarray, accs: np.ndarray | None) -> tuple[np.ndarray | None, list[int]]:
    """Group lanes by (key, acc): (class of each lane, a representative lane per class);
    the classes are None when there is one. A few classes cost a few passes over the lanes;
    many fall back to one `np.unique`."""
    same = keys == keys[0]
    if accs is not None:
        same &= accs == accs[0]
    if same.all():
        return None, [0]
    inverse = np.zeros(len(keys), dtype=np.int64)
    reps = [0]
    rest = np.flatnonzero(~same)
    while rest.size and len(reps) < _FEW_CLASSES:
        first = int(rest[0])
        same = keys[rest] == keys[first]
        if accs is not None:
            same &= accs[rest] == accs[first]
        inverse[rest[same]] = len(reps)
        reps.append(first)
        rest = rest[~same]
    if rest.size:
        cols = [keys[rest]] + ([] if accs is None else [accs[rest].astype(np.uint64)])
        _, first_at, inv = np.unique(
            np.stack(cols, axis=1), axis=0, return_index=True, return_inverse=True
        )
        inverse[rest] = len(reps) + inv.ravel()
        reps.extend(int(i) for i in rest[first_at])
    return inverse, reps


def _regions(addrs: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Addresses grouped by the `1 << shift` region holding them: (each region's first
    address, each address's region), when there are markedly fewer regions than addresses."""
    if len(addrs) < 64:
        return None
    top = addrs >> U64(shift)
    lo, hi = int(top.min()), int(top.max())
    if (hi - lo + 1) * 4 > len(addrs):
        return None
    firsts = (np.arange(hi - lo + 1, dtype=np.uint64) + U64(lo)) << U64(shift)
    return firsts, (top - U64(lo)).view(np.int64)


@dataclass(slots=True)
class Lanes:
    """Walk state per lane; where a lane ends, `value` is its output base (leaf) or next
    table (CONT), `size` its page size."""

    state: np.ndarray  # CONT, LEAF, FAULT, SCALAR
    value: np.ndarray
    size: np.ndarray
    acc: np.ndarray
    refs: np.ndarray

    @classmethod
    def start(cls, n: int, table: int) -> Lanes:
        return cls(
            np.full(n, CONT, np.int8),
            np.full(n, table, np.uint64),
            np.zeros(n, np.uint64),
            np.zeros(n, np.int64),
            np.zeros(n, np.int32),
        )

    def take(self, at: np.ndarray) -> Lanes:
        """The lanes `at` (repeats allowed); fields that hold one value are filled, not read."""

        def one(array: np.ndarray) -> np.ndarray:
            if len(array) and (array == array[0]).all():
                return np.full(len(at), array[0], dtype=array.dtype)
            return array[at]

        return Lanes(*(one(a) for a in (self.state, self.value, self.size, self.acc, self.refs)))

    def put(self, at: np.ndarray, other: Lanes) -> None:
        self.state[at], self.value[at], self.size[at] = other.state, other.value, other.size
        self.acc[at], self.refs[at] = other.acc, other.refs


#: step(depth, lanes at (None: all), their addresses, lanes) advances them by one level
Step = Callable[[int, "np.ndarray | None", np.ndarray, Lanes], None]


def walk_levels(addrs: np.ndarray, lanes: Lanes, depths: range, step: Step) -> None:
    """Advance every CONT lane through `depths`; `step` updates the lanes for one level
    (their `value` is the table to read)."""
    for depth in depths:
        cont = lanes.state == CONT
        if not cont.any():  # also no lanes at all (a stage-2 sub-walk of no frames)
            return
        if cont.all():
            step(depth, None, addrs, lanes)
            continue
        at = np.flatnonzero(cont)
        step(depth, at, addrs[at], lanes)


def walk_all(addrs: np.ndarray, root: int, leaf_depth: int, leaf_shift: int, step: Step) -> Lanes:
    """Walk every address to its end: levels above the leaf once per leaf-table region when
    that saves work, then the leaf level per address."""
    regions = _regions(addrs, leaf_shift) if leaf_depth else None
    if regions is None:
        lanes = Lanes.start(len(addrs), root)
        walk_levels(addrs, lanes, range(leaf_depth + 1), step)
        return lanes
    firsts, region_of = regions
    upper = Lanes.start(len(firsts), root)
    walk_levels(firsts, upper, range(leaf_depth), step)
    lanes = upper.take(region_of)
    walk_levels(addrs, lanes, range(leaf_depth, leaf_depth + 1), step)
    return lanes


def pick(at: np.ndarray | None, array: np.ndarray) -> np.ndarray:
    return array if at is None else array[at]


def store(at: np.ndarray | None, array: np.ndarray, values: Any) -> None:
    if at is None:
        array[...] = values
    else:
        array[at] = values

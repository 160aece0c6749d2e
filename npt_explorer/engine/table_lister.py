"""The one lister of a page-table tree: from a root, each table read through `Frames`, each
non-zero entry handed to a judge in input-address order, which says what it is: a `Child`
table to descend into (with the state the judge carries down), a leaf to yield, or None.
`regions.leaves` judges entries as the hardware decodes them one by one; an image
(`image.ranges`) as its walker does. With `once`, a table reached again (a loop, a shared
table) is not descended twice but recorded: a hostile image cannot make a listing run forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from .formats import PagingFormat
from .memory import PAGE_SHIFT, Frames, entry_words

S = TypeVar("S")  # what the judge carries down the tree (e.g. the permissions so far)
L = TypeVar("L")  # what it yields for a leaf


@dataclass(frozen=True, slots=True)
class Child(Generic[S]):
    """A table entry's verdict: descend into `table` (in the memory's addresses) with `state`."""

    table: int
    state: S


@dataclass(frozen=True, slots=True)
class Problem:
    """A table not listed: reached again via `via` (an input address) though first listed via
    `first` (with `once`), or, `first` None, one a strict memory does not hold."""

    table: int
    depth: int
    via: str
    first: str | None = None


#: (depth, input address of the entry, raw entry, state) → a child, a leaf, or nothing
Judge = Callable[[int, int, int, S], "Child[S] | L | None"]


class TableLister(Generic[S, L]):
    """Depth-first over the tables under a root; `seen` (table → the input address it was
    reached by, "root" for the root) and `problems` fill as it goes."""

    def __init__(
        self, fmt: PagingFormat, mem: Frames, judge: Judge[S, L], *, once: bool = False
    ) -> None:
        self.fmt, self.mem, self.judge, self.once = fmt, mem, judge, once
        self.seen: dict[int, str] = {}
        self.problems: list[Problem] = []

    def leaves(self, root: int, state: S) -> Iterator[L]:
        """Every leaf the judge yields, in input-address order."""
        return self._table(root, 0, 0, state, "root", leaves=True)

    def tables(self, root: int, state: S) -> list[int]:
        """Every table under `root` (a leaf table is found, not read): `seen`'s keys."""
        for _ in self._table(root, 0, 0, state, "root", leaves=False):
            pass
        return list(self.seen)

    def _table(
        self, table: int, depth: int, base: int, state: S, via: str, leaves: bool
    ) -> Iterator[L]:
        if self.once and table in self.seen:
            self.problems.append(Problem(table, depth, via, self.seen[table]))
            return
        self.seen.setdefault(table, via)
        fmt = self.fmt
        if not leaves and depth == fmt.leaf_depth:
            return
        words = self.read(table, depth)
        if words is None:
            self.problems.append(Problem(table, depth, via))
            return
        shift, last = fmt.levels[depth].shift, depth == fmt.leaf_depth
        for index in np.flatnonzero(words).tolist():
            start = base + (index << shift)
            got = self.judge(depth, start, int(words[index]), state)
            if isinstance(got, Child):
                if not last:  # an entry of the last level names no table
                    yield from self._table(got.table, depth + 1, start, got.state, f"{start:#x}",
                                           leaves)  # fmt: skip
            elif got is not None and leaves:
                yield got

    def read(self, table: int, depth: int) -> np.ndarray | None:
        """The table's entries as words of the format's entry width; None when a strict memory
        lacks a frame of it (otherwise an unbacked frame reads as zeros)."""
        count, size = self.fmt.levels[depth].entries, self.fmt.entry_bytes
        if self.mem.strict:
            last = (table + count * size - 1) >> PAGE_SHIFT
            if any(self.mem.peek_frame(p) is None for p in range(table >> PAGE_SHIFT, last + 1)):
                return None
        return entry_words(self.mem, table, count, size)

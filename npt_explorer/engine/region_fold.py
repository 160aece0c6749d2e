"""Folding a machine's tables into regions fast enough for a guest of many GiB, again after
every command. A table is folded at once with numpy into runs of consecutive leaves (entries
that differ only in their output address share one decode), and `RegionFolder` keeps each
table's runs: a table whose words (and the areas) are as they were at the last fold is not
decoded again, so a command that changes one entry costs one table, not the whole guest.

The result equals `merge(leaves(...))` page by page (tests/engine/test_region_fold.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .formats import Decoded, EntryKind, PagingFormat
from .machine import Machine
from .memory import ENTRY_DTYPES
from .page_table import PageTable
from .regions import (
    EntryDecoder,
    Leaf,
    Region,
    merge,
    read_table,
    sign_extend,
    stage_table,
)

_U64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class _Child:
    """A table entry: the table below it is folded on its own (and cached on its own)."""

    table: int
    depth: int
    base: int


@dataclass(frozen=True, slots=True)
class _Folded:
    """One table's fold: the words it was made from and its items in index order."""

    words: bytes
    bounds: tuple[int, ...]
    items: tuple[Leaf | _Child, ...]


_Key = tuple[int, int, int, int]  # stage, table, depth, base


class RegionFolder:
    """Regions of one machine, refolding only the tables that changed since the last call."""

    def __init__(self) -> None:
        self._tables: dict[_Key, _Folded] = {}
        # one per format met, keyed by its id (the decoder holds the format: the id stays its)
        self._decoders: dict[int, EntryDecoder] = {}
        self._control: object = None  # the machine's control state both caches were made under
        self.tables_folded = 0  # tables decoded by the last call (the rest came from the cache)

    def regions(
        self,
        machine: Machine,
        *,
        contiguous: bool = True,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> list[Region] | None:
        """Stage-1 then stage-2 regions (as `machine_regions`); None if `cancelled()` turned
        true on the way (the cache is then left as it was)."""
        if machine.control is not self._control:
            # a format reads entries under the control registers (SDM 4.1.1: with EFER.NXE
            # clear, XD is a reserved bit; bits at and above MAXPHYADDR are reserved, so
            # fewer bits are free address bits): a new control state keeps nothing from before
            self._tables, self._decoders, self._control = {}, {}, machine.control
        areas = machine.areas()
        bounds = tuple(sorted({a.start for a in areas} | {a.end for a in areas}))
        tables: dict[_Key, _Folded] = {}
        self.tables_folded = 0
        out: list[Region] = []
        for stage in (1, 2):
            pt = stage_table(machine, stage)
            if pt is None:
                continue
            items = self._fold(pt, stage, bounds, tables, cancelled)
            if items is None:
                return None
            out += merge(items, areas, contiguous=contiguous)
        self._tables = tables
        return out

    def _fold(
        self,
        pt: PageTable,
        stage: int,
        bounds: tuple[int, ...],
        tables: dict[_Key, _Folded],
        cancelled: Callable[[], bool],
    ) -> list[Leaf] | None:
        """Every run of `pt` in input order (depth first, as the hardware would walk)."""
        leaves: list[Leaf] = []
        stack: list[Leaf | _Child] = [_Child(pt.root, 0, 0)]
        while stack:
            item = stack.pop()
            if isinstance(item, Leaf):
                leaves.append(item)
                continue
            if cancelled():
                return None
            key = (stage, item.table, item.depth, item.base)
            words = read_table(pt, item.table, item.depth).tobytes()
            folded = self._tables.get(key)
            if folded is None or folded.words != words or folded.bounds != bounds:
                self.tables_folded += 1
                folded = _Folded(words, bounds, self._fold_table(pt, stage, item, words, bounds))
            tables[key] = folded
            stack.extend(reversed(folded.items))
        return leaves

    def _decoder(self, fmt: PagingFormat) -> EntryDecoder:
        decoder = self._decoders.get(id(fmt))
        if decoder is None:
            decoder = self._decoders[id(fmt)] = EntryDecoder(fmt)
        return decoder

    def _fold_table(
        self, pt: PageTable, stage: int, at: _Child, words: bytes, bounds: tuple[int, ...]
    ) -> tuple[Leaf | _Child, ...]:
        fmt, depth = pt.fmt, at.depth
        raws_all = np.frombuffer(words, dtype=ENTRY_DTYPES[fmt.entry_bytes]).astype(
            np.uint64, copy=False
        )
        index = np.flatnonzero(raws_all)
        if not index.size:
            return ()
        raws = raws_all[index]
        decoder = self._decoder(fmt)
        free = decoder.free(depth)
        keys = raws & np.uint64(~free & _U64)
        decoded = decoder.decoded
        if (keys == keys[0]).all():  # the usual table: one kind of entry, addresses aside
            group = np.zeros(index.size, dtype=np.intp)
            reps = [decoded(int(raws[0]), depth)]
        else:
            _, first, group = np.unique(keys, return_index=True, return_inverse=True)
            reps = [decoded(raw, depth) for raw in raws[first].tolist()]
        move = fmt.paddr_move

        def addresses(values: np.ndarray) -> np.ndarray:
            return move.vector(values & np.uint64(free)).astype(np.int64)

        # an entry's address = its group's decoded address moved by its own address bits
        rep_raws = np.array([d.raw for d in reps], dtype=np.uint64)
        offset = np.array(
            [-1 if d.paddr is None else d.paddr for d in reps], dtype=np.int64
        ) - addresses(rep_raws)
        paddr = addresses(raws) + offset[group]
        span = 1 << fmt.levels[depth].shift
        is_table = np.array([d.kind == EntryKind.TABLE and d.paddr is not None for d in reps])[
            group
        ] & (depth < fmt.leaf_depth)
        is_leaf = np.array(
            [d.kind == EntryKind.LEAF and d.paddr is not None and bool(d.page_size) for d in reps]
        )[group]
        items: list[tuple[int, Leaf | _Child]] = [
            (i, _Child(p, depth + 1, at.base + i * span))
            for i, p in zip(index[is_table].tolist(), paddr[is_table].tolist(), strict=True)
        ]
        if is_leaf.any():
            items += self._runs(
                fmt, stage, at, index[is_leaf], paddr[is_leaf], group[is_leaf], reps, bounds
            )
        if len(items) > 1:
            items.sort(key=lambda pair: pair[0])
        return tuple(item for _, item in items)

    def _runs(
        self,
        fmt: PagingFormat,
        stage: int,
        at: _Child,
        index: np.ndarray,
        out: np.ndarray,
        group: np.ndarray,
        reps: list[Decoded],
        bounds: tuple[int, ...],
    ) -> list[tuple[int, Leaf]]:
        """The table's leaves (`index` order) cut into runs that `merge` would not split:
        consecutive entries, same flags, outputs following each other, one backing area."""
        span = 1 << fmt.levels[at.depth].shift
        classes: dict[tuple[object, object], int] = {}
        cls = np.array(
            [classes.setdefault((d.hw_flags, d.mapping_flags), len(classes)) for d in reps]
        )[group]
        size = np.array([d.page_size or 0 for d in reps], dtype=np.int64)[group]
        problems = np.array([bool(d.problems) for d in reps])[group]
        inputs = at.base + index.astype(np.int64) * span
        where = inputs if stage == 2 else out
        area = np.searchsorted(np.array(bounds, dtype=np.int64), where, side="right")
        odd = size != span  # a leaf whose size is not its slot's (NAPOT, contiguous hints)
        cut = np.empty(index.size, dtype=bool)
        cut[0] = True
        cut[1:] = (
            (index[1:] - index[:-1] != 1)
            | (out[1:] - out[:-1] != span)
            | (area[1:] != area[:-1])
            | odd[1:]
            | odd[:-1]
        )
        if len(classes) > 1:
            cut[1:] |= cls[1:] != cls[:-1]
        starts = np.flatnonzero(cut)
        ends = np.append(starts[1:], index.size)
        any_problem = np.logical_or.reduceat(problems, starts)
        signed = stage == 1 and fmt.signed_input
        runs = []
        for s, e, bad in zip(starts.tolist(), ends.tolist(), any_problem.tolist(), strict=True):
            d = reps[int(group[s])]
            start = int(inputs[s])
            runs.append(
                (
                    int(index[s]),
                    Leaf(
                        stage,
                        sign_extend(fmt, start) if signed else start,
                        int(out[s]),
                        int(size[s]),
                        at.depth,
                        d.hw_flags,
                        d.mapping_flags,
                        bool(bad),
                        pages=e - s,
                    ),
                )
            )
        return runs


def machine_regions(machine: Machine, *, contiguous: bool = True) -> list[Region]:
    """Stage-1 then stage-2 regions of a `Machine` (one fold, nothing kept)."""
    found = RegionFolder().regions(machine, contiguous=contiguous)
    assert found is not None  # never cancelled
    return found

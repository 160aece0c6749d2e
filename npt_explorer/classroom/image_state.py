"""A memory image's state in the diff's terms: the entries of both stages read from the image
through the roots its registers give, the leaves' grants per range as `image ranges` lists
them, the effective permissions per stage and through both stages labelled as a machine's
diff labels them, and the frames holding each stage's tables. An image holds no TLB."""

from __future__ import annotations

from ..engine import Access, EntryKind, PagingFormat, sign_extend
from ..image import ImageMachine
from ..image.ranges import Leaf as ImageLeaf
from ..image.ranges import stage_leaves
from .state import (
    EffectiveLabels,
    EntryAt,
    EntryKey,
    Leaf,
    MachineState,
    Range,
    controls_lines,
    effective_ranges,
    join_leaves,
    nested_ranges,
)


class _Reader:
    """Walks one stage's tables from its root; stage-1 tables are read at their gPAs through
    stage 2, as the hardware reads them."""

    def __init__(self, machine: ImageMachine, stage: int) -> None:
        w = machine.walker
        self.machine, self.stage = machine, stage
        self.fmt: PagingFormat = w.s1 if stage == 1 else w.s2
        self.tables: set[int] = set()  # table addresses in the stage's own space
        self.frames: set[int] = set()  # host frames holding them

    def _hpa(self, addr: int) -> int | None:
        w = self.machine.walker
        if self.stage == 2 or w.npt_root is None:
            return addr
        walk = w.translate_gpa(addr, Access.READ)
        return walk.hpa if walk.ok else None

    def _words(self, table: int, entries: int) -> list[int] | None:
        words: list[int] = []
        for n in range(max(1, entries * 8 // 0x1000)):
            hpa = self._hpa(table + n * 0x1000)
            frame = None if hpa is None else self.machine.memory.peek_frame(hpa >> 12)
            if hpa is None or frame is None:
                return None
            self.frames.add(hpa & ~0xFFF)
            words += frame.tolist()
        return words[:entries]

    def read(self, root: int, out: dict[EntryKey, EntryAt]) -> None:
        self._table(root, 0, 0, out)

    def _table(self, table: int, depth: int, base: int, out: dict[EntryKey, EntryAt]) -> None:
        if table in self.tables:  # a loop or a shared table: read once
            return
        self.tables.add(table)
        fmt = self.fmt
        level = fmt.levels[depth]
        words = self._words(table, level.entries)
        for index, raw in enumerate(words or ()):
            if not raw:
                continue
            start = base + (index << level.shift)
            shown = sign_extend(fmt, start) if self.stage == 1 else start
            entry = EntryAt(self.stage, depth, shown, table, index, raw)
            out[entry.key] = entry
            dec = fmt.decode(raw, depth)
            if dec.kind == EntryKind.TABLE and dec.paddr is not None and depth < fmt.leaf_depth:
                self._table(dec.paddr, depth + 1, start, out)


def _labelled(fmt: PagingFormat, leaves: list[ImageLeaf]) -> list[Leaf]:
    labels: dict[int, str] = {}  # by accumulator: the lister shares one per class of leaves
    labelled = EffectiveLabels(fmt)
    out = []
    for lf in leaves:
        label = labels.get(id(lf.acc))
        if label is None:
            label = labels[id(lf.acc)] = labelled(lf.acc)
        out.append(Leaf(lf.start, lf.size, lf.out, label))
    join_leaves(out)
    return out


def capture_image(machine: ImageMachine) -> MachineState:
    """The state of an image (reads only; nothing is written to its overlay)."""
    w = machine.walker
    entries: dict[EntryKey, EntryAt] = {}
    readers = {}
    for stage, root in ((1, w.guest_root), (2, w.npt_root)):
        reader = readers[stage] = _Reader(machine, stage)
        if root is not None:
            reader.read(root, entries)
    listed = {stage: stage_leaves(machine, stage)[0] for stage in (1, 2)}
    ranges = tuple(
        Range(stage, lf.start, lf.start + lf.size, lf.perms)
        for stage in (1, 2)
        for lf in listed[stage]
    )
    # through both stages: each leaf's accumulator labelled as a machine's diff labels it
    labelled = {stage: _labelled(fmt, listed[stage]) for stage, fmt in ((1, w.s1), (2, w.s2))}
    return MachineState(
        arch=machine.arch,
        formats={1: w.s1, 2: w.s2},
        entries=entries,
        ranges=ranges,
        # the leaves' accumulators from `image ranges`' walk, labelled as a machine's are
        effective=effective_ranges(labelled),
        tlb={},
        host_frames=frozenset(readers[2].frames),
        guest_frames=frozenset(readers[1].tables),
        nested=nested_ranges(labelled[1], labelled[2]) if w.npt_root is not None else (),
        controls=controls_lines((w.s1, w.s2)),
    )

"""`translate_many`: many two-stage walks at once, without a step trace (see `batch`).

Stage 1 reads the guest's tables in guest RAM: every guest table frame is translated through
stage 2 once, for a read and for an A/D write-back, and its verdicts (fault, references) are
charged to each walk that reads it, as the scalar walker charges its recorded sub-walk.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from .batch import (
    CONT,
    FAULT,
    LEAF,
    SCALAR,
    U64,
    FrameIndex,
    Lanes,
    TableFrames,
    all_inputs_ok,
    classes,
    input_ok,
    pick,
    store,
    table_index,
    walk_all,
)
from .flags import Access, Priv
from .formats import AccessRequest, EntryKind, PagingFormat
from .memory import ENTRIES_PER_FRAME, PAGE_SHIFT, Frames
from .readings import Readings
from .table_core import TableCore
from .walk import Walker

#: entry addresses -> (words, known, extra references, readable, writable)
Reader = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, Any, Any, Any]]
_UNDECIDED = 4
#: lanes walked at once: a part's temporaries stay in the CPU's caches (a million lanes in one
#: part ran 1.15-1.4x slower than in parts of 65,536 on this host: benchmarks/README.md, session 8)
PART = 1 << 16
#: lanes per part at least this many times the leaf tables the batch spans (`_part_size`)
SPREAD = 64
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class Stages:
    """What batch walks read: the walker, the stage-2 table, the guest's own table frames
    (first gPAs) and host memory."""

    walker: Walker
    npt: TableFrames | TableCore
    guest_tables: Collection[int]
    memory: Frames


@dataclass(slots=True)
class BatchWalk:
    """Many two-stage walks without steps: what `Walk` holds, per lane (0 where unknown)."""

    gpa: np.ndarray  # where the guest walk finished
    hpa: np.ndarray  # where ok
    ok: np.ndarray
    refs: np.ndarray  # the memory references the scalar walker records
    s1_size: np.ndarray
    s2_size: np.ndarray

    def part(self, lo: int, hi: int) -> BatchWalk:
        """Lanes [lo, hi) as views: what is written into them is written into this walk."""
        return BatchWalk(self.gpa[lo:hi], self.hpa[lo:hi], self.ok[lo:hi], self.refs[lo:hi],
                         self.s1_size[lo:hi], self.s2_size[lo:hi])  # fmt: skip

    @property
    def page_size(self) -> np.ndarray:
        """`Walk.page_size` (0 where a stage did not finish)."""
        both = (self.s1_size != 0) & (self.s2_size != 0)
        return np.where(both, np.minimum(self.s1_size, self.s2_size), U64(0))


def translate_many(
    stages: Stages, gvas: np.ndarray, access: Access | str, priv: Priv | str = Priv.KERNEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`Machine.translate` for many gVAs (no steps, TLB or writes): (gpas, hpas, ok), with the
    walker's permission checks; gpas is set where the guest walk finished, hpas where ok."""
    walk = walk_many(stages, gvas, access, priv)
    return walk.gpa, walk.hpa, walk.ok


def walk_many(
    stages: Stages, gvas: np.ndarray, access: Access | str, priv: Priv | str = Priv.KERNEL
) -> BatchWalk:
    """`translate_many` with each walk's reference count and page sizes."""
    return _TwoStage(stages, Access.parse(access), Priv.parse(priv)).run(
        np.asarray(gvas, dtype=np.uint64)
    )


class _StageWalk:
    """One stage's level step: entries read through `reader`, judged by `Readings`."""

    def __init__(self, readings: Readings, reader: Reader, req: AccessRequest) -> None:
        self.r, self.fmt, self.reader, self.req = readings, readings.fmt, reader, req
        self.accs: list[Any] = [readings.start]
        self._ids = {id(readings.start): 0}
        self.move = self.fmt.paddr_move

    def acc_id(self, acc: Any) -> int:
        found = self._ids.get(id(acc))
        if found is None:
            found = self._ids[id(acc)] = len(self.accs)
            self.accs.append(acc)
        return found

    def step(self, depth: int, at: np.ndarray | None, addrs: np.ndarray, lanes: Lanes) -> None:
        level = self.fmt.levels[depth]
        table = pick(at, lanes.value)
        entry = table + ((addrs >> U64(level.shift)) & U64(level.entries - 1)) * U64(8)
        raw, known, extra, readable, writable = self.reader(entry)
        kind, size, nxt, writes = self.classify(depth, raw, pick(at, lanes.acc))
        state = kind.copy() if isinstance(kind, np.ndarray) else np.full(len(raw), kind, np.int8)
        # the codes are the lane states (CONT, LEAF, FAULT, SCALAR); then stage 2's verdicts
        # on reading the entry (and on writing A/D back to it)
        refused = ~readable if isinstance(readable, np.ndarray) else None
        if isinstance(writable, np.ndarray) and np.any(writes):
            blocked = writes & ~writable
            refused = blocked if refused is None else refused | blocked
        if refused is not None:
            state[refused & (state != SCALAR)] = FAULT
        if not known.all():
            state[~known] = SCALAR
        paddr = self.move.vector(raw)
        if isinstance(size, np.ndarray):
            paddr = np.where(size != 0, paddr & ~(size - U64(1)), paddr)
        elif size:
            paddr &= U64(~(int(size) - 1) & 0xFFFF_FFFF_FFFF_FFFF)
        store(at, lanes.state, state)
        store(at, lanes.value, paddr)
        store(at, lanes.size, size)
        store(at, lanes.acc, nxt)
        if at is None:
            lanes.refs += extra + readable  # the stage-2 sub-walk, then the entry itself
        else:
            lanes.refs[at] += extra + readable

    def classify(self, depth: int, raw: np.ndarray, acc: np.ndarray) -> tuple[Any, Any, Any, Any]:
        """(kind: 0 table / 1 leaf / 2 fault / 3 scalar, page size, next acc, A/D write) per
        lane, or one value each when every lane reads alike.

        Lanes are grouped first without their next-table address (a table entry reads the
        same wherever it points), then, where that group is not a table, by their class."""
        # (keep, tables only): a tier is told by its place, never by its mask's identity
        tiers = [(self.r.table_keep[depth], True), (self.r.keep[depth], False)]
        uniform = len(self.accs) == 1
        todo: np.ndarray | None = None  # None: every lane
        cols: list[np.ndarray] = []
        for keep, tables_only in tiers if depth < self.fmt.leaf_depth else tiers[1:]:
            part = pick(todo, raw)
            part_acc = pick(todo, acc)
            inverse, reps = classes(part & U64(keep & _MASK64), None if uniform else part_acc)
            judged = [
                self._judge(depth, int(part[i]), self.accs[int(part_acc[i])], tables_only)
                for i in reps
            ]
            if todo is None and inverse is None and judged[0][0] != _UNDECIDED:
                return judged[0]  # one class for every lane
            if not cols:
                n = len(raw)
                cols = [np.full(n, _UNDECIDED, np.int8), np.zeros(n, np.uint64)]
                cols += [np.zeros(n, np.int64), np.zeros(n, bool)]
            for dest, col in zip(cols, zip(*judged, strict=True), strict=True):
                values = np.array(col)
                store(todo, dest, values[0] if inverse is None else values[inverse])
            todo = np.flatnonzero(cols[0] == _UNDECIDED)
            if not todo.size:
                break
        return cols[0], cols[1], cols[2], cols[3]

    def _judge(
        self, depth: int, raw: int, acc: Any, tables_only: bool
    ) -> tuple[int, int, int, bool]:
        out = self.r.outcome(depth, raw, acc, self.req)
        if tables_only and (out.kind is not EntryKind.TABLE or out.reason is not None):
            return _UNDECIDED, 0, 0, False
        if out.exact:
            return SCALAR, 0, 0, False
        if out.reason is not None:
            return FAULT, 0, 0, False
        leaf = out.kind is EntryKind.LEAF
        return int(leaf), out.page_size or 0, self.acc_id(out.acc), out.set_bits is not None


def _part_size(gvas: np.ndarray, fmt: PagingFormat) -> int:
    """Lanes per part: `PART`, or more where the gVAs are spread over so many leaf tables that
    each part's walk of the levels above them (once per leaf table) would cost more than the
    cache saves."""
    if not len(gvas):
        return PART
    leaf = fmt.levels[fmt.leaf_depth]
    shift = U64(leaf.shift + leaf.bits)
    tables = int(gvas.max() >> shift) - int(gvas.min() >> shift) + 1
    return max(PART, SPREAD * tables)


def _host_reader(index: FrameIndex) -> Reader:
    def read(entry: np.ndarray):
        offsets = index.offsets(entry)
        return index.words(entry, offsets), offsets != index.missing, 0, np.True_, np.True_

    return read


@dataclass(slots=True)
class _Ends:
    """Where walks of one stage ended: state (LEAF = translated), output, page size, refs."""

    state: np.ndarray
    out: np.ndarray
    size: np.ndarray
    refs: np.ndarray
    acc: np.ndarray


class _TwoStage:
    def __init__(self, stages: Stages, access: Access, priv: Priv) -> None:
        self.m, self.walker = stages, stages.walker
        self.access, self.priv = access, priv
        self.reqs = self.walker._reqs(access, priv)
        self.host = _host_reader(table_index(stages.npt))

    def run(self, gvas: np.ndarray) -> BatchWalk:
        n = len(gvas)
        zero = [np.zeros(n, np.uint64) for _ in range(4)]
        res = BatchWalk(
            zero[0], zero[1], np.zeros(n, bool), np.zeros(n, np.int32), zero[2], zero[3]
        )
        w = self.walker
        ready = (
            all(f.entry_bytes == 8 and f.granule == 0x1000 for f in (w.s1, w.s2))
            and not w.s1.root_registers
            and w.guest_root_hi is None  # one stage-1 root per batch
            and not w.s1.ignores_tags  # AArch64 TBI: the scalar walker untags each address
        )
        guest_root = w.guest_root  # None: stage 1 off, the scalar walker's case
        if not ready or guest_root is None or w.npt_root is None:
            self._scalar(gvas, np.arange(n), res)
            return res
        stage1 = _StageWalk(w.r1, self._guest_reader(guest_root), self.reqs.s1)
        scalar = [np.zeros(0, np.int64)]
        part = _part_size(gvas, w.s1)
        for lo in range(0, n, part):
            hi = min(n, lo + part)
            scalar.append(self._part(stage1, guest_root, gvas[lo:hi], res.part(lo, hi)) + lo)
        self._scalar(gvas, np.concatenate(scalar), res)
        return res

    def _part(
        self, stage1: _StageWalk, guest_root: int, gvas: np.ndarray, res: BatchWalk
    ) -> np.ndarray:
        """Walk `gvas` into `res` (views of the whole batch's arrays); returns the lanes
        (indices into `gvas`) the scalar walker must answer."""
        n, w = len(gvas), self.walker
        s1 = self._walk(stage1, gvas, guest_root)
        res.refs[:] = s1.refs
        finished = s1.state == LEAF
        top = U64((1 << w.s1.output_bits) - 1)  # stage 1's output check
        done: np.ndarray | None = None  # None: every lane
        if finished.all():
            res.gpa[:], res.s1_size[:] = s1.out, s1.size
            if n and s1.out.max() > top:
                done = np.flatnonzero(s1.out <= top)
        else:
            done = np.flatnonzero(finished)
            res.gpa[done], res.s1_size[done] = s1.out[done], s1.size[done]
            done = done[s1.out[done] <= top]
        user_of = np.array([w.s1.user_page(a) for a in stage1.accs], dtype=bool)
        user = user_of[pick(done, s1.acc)]  # the guest page's U/S picks stage 2's request
        scalar = [np.flatnonzero(s1.state == SCALAR)]
        for is_user, req in ((False, self.reqs.final), (True, self.reqs.final_user)):
            if user.all() if is_user else not user.any():  # every lane is of this kind
                lanes = done
            else:
                every = np.arange(n) if done is None else done
                lanes = every[user == is_user]
            if lanes is not None and not lanes.size:
                continue
            stage2 = _StageWalk(w.r2, self.host, req)
            s2 = self._walk(stage2, pick(lanes, res.gpa), self.m.npt.root)
            scalar.append(self._finish(res, lanes, s2))
        return np.concatenate(scalar)

    @staticmethod
    def _finish(res: BatchWalk, lanes: np.ndarray | None, s2: _Ends) -> np.ndarray:
        """Stage 2's ends into `res` for `lanes` (None: all); returns its scalar lanes."""
        good = s2.state == LEAF
        if lanes is None:
            res.refs += s2.refs
            if good.all():
                res.hpa[:], res.s2_size[:], res.ok[:] = s2.out, s2.size, good
                return np.zeros(0, np.int64)
            lanes = np.arange(len(good))
        else:
            res.refs[lanes] += s2.refs
        res.hpa[lanes[good]], res.s2_size[lanes[good]] = s2.out[good], s2.size[good]
        res.ok[lanes[good]] = True
        return lanes[s2.state == SCALAR]

    def _walk(self, stage: _StageWalk, addrs: np.ndarray, root: int) -> _Ends:
        """One stage for `addrs`: input check, the walk, the output check."""
        fmt = stage.fmt
        ranges = fmt.input_ranges
        at = None if all_inputs_ok(ranges, addrs) else np.flatnonzero(input_ok(ranges, addrs))
        va = pick(at, addrs)
        leaf = fmt.leaf_depth
        lanes = walk_all(va, root, leaf, fmt.levels[leaf].shift + fmt.levels[leaf].bits, stage.step)
        out = lanes.value + (va & (lanes.size - U64(1)))
        state = lanes.state
        if fmt.stage == 2:  # stage 1's output check comes after the final gPA is known
            bad = (state == LEAF) & (out > U64((1 << fmt.output_bits) - 1))
            state[bad] = FAULT
        if at is None:  # every lane walked: its ends are the lanes'
            return _Ends(state, out, lanes.size, lanes.refs, lanes.acc)
        n = len(addrs)
        ends = _Ends(np.full(n, FAULT, np.int8), np.zeros(n, np.uint64), np.zeros(n, np.uint64),
                     np.zeros(n, np.int32), np.zeros(n, np.int64))  # fmt: skip
        ends.state[at], ends.out[at], ends.size[at] = state, out, lanes.size
        ends.refs[at], ends.acc[at] = lanes.refs, lanes.acc
        return ends

    def _guest_reader(self, guest_root: int) -> Reader:
        """Entries of the guest's table frames, with stage 2's verdicts on reading each frame
        (and on an A/D write-back to it) and the references its sub-walk records."""
        m, w = self.m, self.walker
        gfns = sorted({guest_root >> PAGE_SHIFT} | {p >> PAGE_SHIFT for p in m.guest_tables})
        gpas = np.array(gfns, dtype=np.uint64) << U64(PAGE_SHIFT)
        read = self._walk(_StageWalk(w.r2, self.host, self.reqs.read), gpas, m.npt.root)
        write = self._walk(_StageWalk(w.r2, self.host, self.reqs.write_back), gpas, m.npt.root)
        kept = np.flatnonzero((read.state != SCALAR) & (write.state != SCALAR))
        readable = read.state[kept] == LEAF
        words = [
            m.memory.peek_frame(int(h) >> PAGE_SHIFT) if r else None
            for h, r in zip(read.out[kept].tolist(), readable.tolist(), strict=True)
        ]
        index = FrameIndex([gfns[i] for i in kept], words)
        # one more row for frames outside the index
        read_ok = np.append(readable, False)
        read_refs = np.append(read.refs[kept], 0)
        write_ok = np.append(write.state[kept] == LEAF, False)

        if (
            kept.size
            and read_ok[:-1].all()
            and write_ok[:-1].all()
            and (read_refs[:-1] == read_refs[0]).all()
        ):
            # every guest table frame reads alike: one verdict for every lane (a lane outside
            # the frames is not `known`: the scalar walker answers it)
            same = (int(read_refs[0]), np.True_, np.True_)

            def uniform(entry: np.ndarray):
                offsets = index.offsets(entry)
                return index.words(entry, offsets), offsets != index.missing, *same

            return uniform

        def reader(entry: np.ndarray):
            offsets = index.offsets(entry)
            row = offsets // ENTRIES_PER_FRAME
            known = offsets != index.missing
            return index.words(entry, offsets), known, read_refs[row], read_ok[row], write_ok[row]

        return reader

    def _scalar(self, gvas: np.ndarray, lanes: np.ndarray, res: BatchWalk) -> None:
        for i in np.unique(lanes).tolist():
            walk = self.walker.translate(int(gvas[i]), self.access, self.priv, side_effects=False)
            res.refs[i], res.gpa[i], res.s1_size[i] = walk.refs, walk.gpa or 0, walk.s1_size or 0
            res.ok[i] = walk.ok
            res.hpa[i] = walk.hpa if walk.ok else 0
            res.s2_size[i] = walk.s2_size if walk.ok else 0


assert (CONT, LEAF, FAULT, SCALAR) == (0, 1, 2, 3)

"""What an image's tables map, merged into runs as Linux ptdump and gdb-pt-dump print them:
input range, output (physical) start, size, page sizes, effective permissions (every level's
controls combined by the format's own hooks; both stages combined for `both`), attributes.

The tables are read by the engine's one lister (`TableLister`, once per table: a table reached
again, a loop, a self-map, a shared table, is listed in `problems` and not descended twice, so
a hostile image cannot make this run forever).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..engine import (
    Access,
    AccessRequest,
    Child,
    EntryKind,
    PagingFormat,
    Priv,
    Readings,
    Role,
    TableLister,
    TreeProblem,
    sign_extend,
)
from .machine import ImageMachine

_ACCESS_LETTERS = ((Access.READ, "r"), (Access.WRITE, "w"), (Access.EXEC, "x"))


@dataclass(frozen=True, slots=True)
class Leaf:
    start: int  # input address (canonical for stage 1)
    out: int
    size: int
    perms: str
    attrs: str
    acc: Any = field(compare=False)


@dataclass(slots=True)
class Run:
    """Merged leaves: consecutive inputs and outputs with equal permissions and attributes."""

    stage: str  # "1" | "2" | "both"
    start: int
    out: int
    size: int
    perms: str
    attrs: str
    page_sizes: set[int]
    pages: int

    @property
    def end(self) -> int:
        return self.start + self.size

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage if self.stage == "both" else int(self.stage),
            "start": f"{self.start:#x}",
            "end": f"{self.end:#x}",
            "output": f"{self.out:#x}",
            "page_size": sorted(self.page_sizes),
            "perms": self.perms,
            "attrs": self.attrs,
            "pages": self.pages,
        }


def perm_string(allowed: dict[tuple[Priv, Access], bool]) -> str:
    """`K:rwx U:r--` — kernel and user rights, as ptdump prints them per privilege."""
    return " ".join(
        f"{p}:" + "".join(ch if allowed[(priv, a)] else "-" for a, ch in _ACCESS_LETTERS)
        for priv, p in ((Priv.KERNEL, "K"), (Priv.USER, "U"))
    )


def _attrs(fmt: PagingFormat, readings: Readings, raw: int, depth: int) -> str:
    dec = readings.decode(raw, depth)
    return " ".join(
        f"{fv.field.name}={fv.value}" for fv in dec.fields if fv.field.role is Role.ATTRIBUTE
    )


class _Lister:
    """An image's tables as its walker reads them: the engine's `TableLister` over the stage's
    memory (stage 1: guest RAM through stage 2), each entry judged by `Readings.outcome` with
    the permissions folded down the levels."""

    def __init__(self, machine: ImageMachine, stage: int) -> None:
        w = machine.walker
        self.machine, self.stage = machine, stage
        self.fmt: PagingFormat = w.s1 if stage == 1 else w.s2
        self.readings = w.r1 if stage == 1 else w.r2
        self.req = self.readings.intern(AccessRequest(Access.READ, Priv.KERNEL))
        mem = machine.paging.guest if stage == 1 else machine.memory
        self.tree: TableLister[Any, Leaf] = TableLister(self.fmt, mem, self.judge, once=True)
        self._perms: dict[int, str] = {}

    @property
    def problems(self) -> list[str]:
        return [self._problem(p) for p in self.tree.problems]

    def _problem(self, p: TreeProblem) -> str:
        if p.first is None:
            level = self.fmt.levels[p.depth].name
            return (
                f"stage {self.stage}: the {level} table at {p.table:#x} is outside the image "
                "or unmapped (no-memory)"
            )
        return (
            f"stage {self.stage}: table {p.table:#x} at depth {p.depth} (via {p.via}) was "
            f"already listed via {p.first}: a loop or a shared table, not listed twice"
        )

    def table_hpa(self, addr: int) -> int | None:
        """Stage-1 tables live at gPAs: their hPA is stage 2's answer (None if it faults)."""
        w = self.machine.walker
        if self.stage == 2 or w.npt_root is None:
            return addr
        walk = w.translate_gpa(addr, Access.READ)
        return walk.hpa if walk.ok else None

    def perms(self, acc: Any) -> str:
        key = id(acc)
        text = self._perms.get(key)
        if text is None:
            fmt, user = self.fmt, self.fmt.user_page(acc) if self.stage == 1 else True
            allowed = {
                (p, a): fmt.allows(acc, AccessRequest(a, p, guest_user_page=user)) is None
                for p in Priv
                for a in Access
            }
            text = self._perms[key] = perm_string(allowed)
        return text

    def leaves(self, root: int) -> Iterator[Leaf]:
        return self.tree.leaves(root, self.readings.start)

    def judge(self, depth: int, start: int, raw: int, acc: Any) -> Child[Any] | Leaf | None:
        readings = self.readings
        out = readings.outcome(depth, raw, acc, self.req)
        if out.bad:
            return None
        nxt = out.base(readings, raw)
        if out.kind is EntryKind.TABLE:
            return Child(nxt, out.acc)
        if not out.page_size:
            return None
        attrs = _attrs(self.fmt, readings, raw, depth)
        return Leaf(start, nxt, out.page_size, self.perms(out.acc), attrs, out.acc)


def stage_leaves(machine: ImageMachine, stage: int) -> tuple[list[Leaf], list[str]]:
    w = machine.walker
    root = w.guest_root if stage == 1 else w.npt_root
    if root is None:
        return [], [f"stage {stage} is off"]
    lister = _Lister(machine, stage)
    leaves = list(lister.leaves(root))
    if stage == 1:
        fmt = w.s1
        leaves = [
            Leaf(sign_extend(fmt, lf.start), lf.out, lf.size, lf.perms, lf.attrs, lf.acc)
            for lf in leaves
        ]
    return leaves, lister.problems


def table_addresses(machine: ImageMachine, stage: int) -> list[int]:
    """Every frame of the stage's tables reachable from its root, in the stage's own address
    space (stage 1: gPAs; a root of concatenated tables spans several frames)."""
    root = machine.walker.guest_root if stage == 1 else machine.walker.npt_root
    if root is None:
        return []
    lister = _Lister(machine, stage)
    fmt = lister.fmt
    out: set[int] = set()
    for table in lister.tree.tables(root, lister.readings.start):
        entries = fmt.levels[0].entries if table == root else 512
        out.update(table + n * 0x1000 for n in range(max(1, entries * 8 // 0x1000)))
    return sorted(out)


@dataclass(slots=True)
class HostTables:
    """An image's stage-2 tables as the vector walker reads them (`engine.Stages.npt`): the
    root and every table frame reachable from it, in the image's memory."""

    root: int
    tables: dict[int, int]
    mem: Any

    def __init__(self, machine: ImageMachine) -> None:
        assert machine.walker.npt_root is not None
        self.root, self.mem = machine.walker.npt_root, machine.memory
        self.tables = {hpa: 1 for hpa in table_addresses(machine, 2)}


def table_frames(machine: ImageMachine, stage: int) -> list[int]:
    """The host frame of every table of a stage reachable from its root (each once)."""
    lister = _Lister(machine, stage)
    frames = {lister.table_hpa(addr) for addr in table_addresses(machine, stage)}
    return sorted(hpa & ~0xFFF for hpa in frames if hpa is not None)


def merge(stage: str, leaves: list[Leaf]) -> list[Run]:
    runs: list[Run] = []
    for lf in leaves:
        last = runs[-1] if runs else None
        if (
            last is not None
            and last.end == lf.start
            and last.out + last.size == lf.out
            and last.perms == lf.perms
            and last.attrs == lf.attrs
        ):
            last.size += lf.size
            last.page_sizes.add(lf.size)
            last.pages += 1
        else:
            runs.append(Run(stage, lf.start, lf.out, lf.size, lf.perms, lf.attrs, {lf.size}, 1))
    return runs


def both_leaves(machine: ImageMachine) -> tuple[list[Leaf], list[str]]:
    """gVA → final hPA pieces: each stage-1 leaf cut where stage 2's leaves change."""
    w = machine.walker
    s1_leaves, problems = stage_leaves(machine, 1)
    if w.npt_root is None:
        return s1_leaves, problems
    s2_leaves, p2 = stage_leaves(machine, 2)
    starts = [lf.start for lf in s2_leaves]
    combined: dict[tuple[int, int], str] = {}
    out: list[Leaf] = []
    for a in s1_leaves:
        gpa, end = a.out, a.out + a.size
        i = max(bisect.bisect_right(starts, gpa) - 1, 0)
        while i < len(s2_leaves) and s2_leaves[i].start < end:
            b = s2_leaves[i]
            lo, hi = max(gpa, b.start), min(end, b.start + b.size)
            if lo < hi:
                key = (id(a.acc), id(b.acc))
                perms = combined.get(key)
                if perms is None:
                    perms = combined[key] = _combined(machine, a.acc, b.acc)
                out.append(
                    Leaf(a.start + lo - gpa, b.out + lo - b.start, hi - lo, perms,
                         f"{a.attrs} / {b.attrs}".strip(" /"), None)
                )  # fmt: skip
            i += 1
    return out, problems + p2


def _combined(machine: ImageMachine, acc1: Any, acc2: Any) -> str:
    """Both stages' verdicts for each (privilege, access), as a walk would combine them."""
    s1, s2 = machine.walker.s1, machine.walker.s2
    user = s1.user_page(acc1)
    allowed = {
        (p, a): s1.allows(acc1, AccessRequest(a, p)) is None
        and s2.allows(acc2, AccessRequest(a, p, guest_user_page=user)) is None
        for p in Priv
        for a in Access
    }
    return perm_string(allowed)


def ranges(machine: ImageMachine, stage: str) -> tuple[list[Run], list[str]]:
    """`image ranges --stage 1|2|both`: merged runs and the problems met on the way."""
    if stage == "both":
        leaves, problems = both_leaves(machine)
    else:
        leaves, problems = stage_leaves(machine, int(stage))
    return merge(stage, leaves), problems

"""The messages linked panels talk through (ARCHITECTURE.md: panels post upward, the app
coordinates, no panel reaches into another), and the entry address they carry."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..engine import Walk, WalkStep
from ..scenario.results import StepResult


@dataclass(frozen=True, slots=True)
class EntryTarget:
    """One page-table entry, named the way `poke` and `expect entry` name it: the stage, an
    address whose path reaches it (gVA for stage 1, gPA for stage 2) and its depth."""

    stage: int
    addr: int
    depth: int

    @property
    def key(self) -> str:
        return "gva" if self.stage == 1 else "gpa"

    def command(self, op: str = "poke", **extra: str) -> str:
        parts = [op, f"stage={self.stage}", f"{self.key}={self.addr:#x}", f"depth={self.depth}"]
        parts += [f"{k}={v}" for k, v in extra.items()]
        return " ".join(parts)

    def label(self) -> str:
        return f"stage {self.stage}, {self.key} {self.addr:#x}, depth {self.depth}"


def step_target(walk: Walk, index: int) -> EntryTarget:
    """The entry a walk step read. A stage-2 step serves either a guest table entry (its gPA
    is that stage-1 step's entry address, or the fault's gPA if the sub-walk faulted) or the
    final gPA."""
    step = walk.steps[index]
    if step.stage == 1:
        return EntryTarget(1, walk.gva, step.depth)
    if step.for_depth is None:
        gpa = walk.gpa if walk.gpa is not None else (walk.fault.gpa if walk.fault else 0)
        return EntryTarget(2, gpa or 0, step.depth)
    for later in walk.steps[index + 1 :]:
        if later.stage == 1 and later.depth == step.for_depth:
            return EntryTarget(2, later.entry_addr, step.depth)
    gpa = walk.fault.gpa if walk.fault is not None and walk.fault.gpa is not None else 0
    return EntryTarget(2, gpa, step.depth)


class StepSelected(Message):
    """The walk cursor moved to reference `index` of `walk`."""

    def __init__(self, walk: Walk, index: int) -> None:
        super().__init__()
        self.walk = walk
        self.index = index

    @property
    def step(self) -> WalkStep:
        return self.walk.steps[self.index]

    @property
    def target(self) -> EntryTarget:
        return step_target(self.walk, self.index)


class EntrySelected(Message):
    """An entry was picked in the page-table tree or the regions list."""

    def __init__(self, target: EntryTarget, origin: str) -> None:
        super().__init__()
        self.target = target
        self.origin = origin


class MachineChanged(Message):
    """The machine (or, with `reset`, the whole session) changed; panels re-read it.
    `keep_step`: the walk on screen was re-run, keep its cursor where it was."""

    def __init__(
        self, result: StepResult | None = None, *, reset: bool = False, keep_step: bool = False
    ) -> None:
        super().__init__()
        self.result = result
        self.reset = reset
        self.keep_step = keep_step


class CommandRequested(Message):
    """A panel asks the app to run a command line (a poke from the entry editor, a flush
    button) through the same path as a typed command. `rerun_walk` re-runs the walk on
    screen afterwards."""

    def __init__(self, text: str, *, rerun_walk: bool = False) -> None:
        super().__init__()
        self.text = text
        self.rerun_walk = rerun_walk


class PrefillCommand(Message):
    """Put `text` on the command line and focus it (for commands that need one more key)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

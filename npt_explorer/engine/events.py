"""The machine's log as typed data: one frozen shape per kind of `Event` (REDESIGN §5: the
engine logs data, `scenario/events.py` words it), so mypy holds the machine that writes an
event and the renderer that reads it to the same fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from .faults import Fault
from .flags import MappingFlags
from .walk import Walk

WalkKind = Literal["access", "translate"]
EventKind = Literal[
    "map", "unmap", "protect", "poke", "access", "translate", "fault", "handle-fault",
    "context", "control", "flush",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Mapped:
    """`map`: stage 1 to `out` (a gPA); stage 2 `linear` to `out` (an hPA) or `alloc`."""

    kind: ClassVar[Literal["map"]] = "map"
    stage: int
    addr: int
    size: int
    flags: MappingFlags
    out: int | None = None
    backend: str = ""  # stage 2: linear | alloc
    populate: bool = False  # alloc: frames now, not on the first fault


@dataclass(frozen=True, slots=True)
class Unmapped:
    kind: ClassVar[Literal["unmap"]] = "unmap"
    stage: int
    addr: int
    size: int


@dataclass(frozen=True, slots=True)
class Protected:
    kind: ClassVar[Literal["protect"]] = "protect"
    stage: int
    addr: int
    size: int
    flags: MappingFlags


@dataclass(frozen=True, slots=True)
class Poked:
    """An entry's raw bits written (`overlay`: an image's, never the file)."""

    kind: ClassVar[Literal["poke"]] = "poke"
    stage: int
    level: str
    addr: int
    old: int
    new: int
    overlay: bool = False


@dataclass(frozen=True, slots=True)
class Walked:
    """A walk that gave an address (`image`: an image's, which has no TLB)."""

    kind: WalkKind
    walk: Walk
    image: bool = False


@dataclass(frozen=True, slots=True)
class Faulted:
    kind: ClassVar[Literal["fault"]] = "fault"
    op: WalkKind
    walk: Walk
    fault: Fault


@dataclass(frozen=True, slots=True)
class Handled:
    """The hypervisor's `handle_page_fault` of the last stage-2 fault."""

    kind: ClassVar[Literal["handle-fault"]] = "handle-fault"
    gpa: int
    flags: MappingFlags
    handled: bool


@dataclass(frozen=True, slots=True)
class ContextSet:
    """The current tags; `pcid` where the arch has one, `stage2` (tag name, EPT number, tag)
    once there are several stage-2 roots (x86 `context eptp = N`)."""

    kind: ClassVar[Literal["context"]] = "context"
    vmid: int
    asid: int
    pcid: int | None = None
    stage2: tuple[str, int, int] | None = None


@dataclass(frozen=True, slots=True)
class ControlChanged:
    """A machine's control state after a change: the fields now off their configured values
    (a field set back reads "the defaults"), and the TLB entries an x86 MOV to CR4 flushed
    (None: nothing flushed)."""

    kind: ClassVar[Literal["control"]] = "control"
    changed: tuple[tuple[str, str, int], ...]
    flushed: int | None


@dataclass(frozen=True, slots=True)
class ControlSet:
    """An image's one write: a register (`field` None) or a field, as typed. Another fact than
    `ControlChanged` (the write, not the state; an image has no TLB to flush), so another
    shape: one class whose flag chose which fact it held would be this union unchecked."""

    kind: ClassVar[Literal["control"]] = "control"
    register: str
    field: str | None
    value: int


@dataclass(frozen=True, slots=True)
class Flushed:
    kind: ClassVar[Literal["flush"]] = "flush"
    op: str
    addr: int | None
    removed: int


EventData = (
    Mapped | Unmapped | Protected | Poked | Walked | Faulted | Handled | ContextSet
    | ControlChanged | ControlSet | Flushed
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a machine's log: what was asked and what came of it, as data."""

    seq: int
    data: EventData

    @property
    def kind(self) -> EventKind:
        return self.data.kind

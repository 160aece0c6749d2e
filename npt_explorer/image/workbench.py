"""An image as the TUI's machine (IMAGES.md "Verbs", the TUI on an image): the `Machine`
methods the panels and the scenario runner call, answered from the dump's own tables.

`translate` walks without writing; `access` walks with the hardware's A/D write-backs, which go
to the overlay; `poke` edits an entry in the overlay; `control` toggles a modelled control bit
and re-roots nothing. What would change the dump's mappings wholesale (`map`, `unmap`,
`protect`, `handle-fault`, TLB flushes, `trace`) is refused with a message: the tables are the
dump's, not ours.
"""

from __future__ import annotations

from typing import Any

from ..engine import (
    Access,
    Control,
    ControlSet,
    Decoded,
    EntryRef,
    Event,
    EventData,
    Faulted,
    MachineConfig,
    MemoryHole,
    PagingError,
    PagingFormat,
    Poked,
    Priv,
    TableView,
    Walk,
    Walked,
    Walker,
    WalkKind,
    write_entry,
)
from .machine import ImageMachine

#: commands that make no sense on a dump, and why (the message the TUI shows)
REFUSED = {
    "map": "an image's tables are the dump's: map cannot add to them (poke edits one entry)",
    "unmap": "an image's tables are the dump's: unmap cannot remove from them (poke edits one "
    "entry)",
    "protect": "an image's tables are the dump's: protect cannot rewrite them (poke edits one "
    "entry)",
    "handle-fault": "no hypervisor runs on an image to handle a fault",
    "flush": "an image has no TLB (every walk reads the tables)",
    "context": "an image's VMID/ASID come from its registers",
    "trace": "a trace maps its own pages: run it on a scenario machine",
    "query": "query reads our own page tables: on an image, translate GVA shows the walk",
}


class ImageWorkbench:
    """The TUI's machine over an image: what `Machine` offers the panels and the runner."""

    tlb = None
    no_tlb = "no TLB: an image's walks read its tables (flushes are refused)"  # the TLB panel
    walk_caches = None
    frames_in_use = 0

    def __init__(self, image: ImageMachine, config: MachineConfig) -> None:
        self.image = image
        self.config = config
        self.log: list[Event] = []
        self.last_fault = None
        self.vmid = self.asid = 1
        self.pcid = 0

    # ------------------------------------------------------------------ state

    @property
    def arch(self) -> str:
        return self.image.arch

    @property
    def walker(self) -> Walker:
        return self.image.walker

    @property
    def s1(self) -> PagingFormat:
        return self.image.walker.s1

    @property
    def s2(self) -> PagingFormat:
        return self.image.walker.s2

    @property
    def control(self) -> Control:
        return self.image.control

    @property
    def memory(self) -> Any:
        return self.image.memory

    @property
    def root_registers(self) -> tuple[int, ...]:
        return self.image.walker.root_registers

    @property
    def guest_pt_frames(self) -> int:
        """1 when stage 1 is on (the panels ask whether the guest has a table)."""
        return 0 if self.image.walker.guest_root is None else 1

    @property
    def tag_vmid(self) -> int:
        return self.vmid

    def table(self, stage: int) -> TableView | None:
        """The stage's tables, or None when that stage is off."""
        return self.image.paging.table(stage)

    def areas(self) -> list[Any]:
        return []  # an image has no stage-2 areas: its tables are all there is

    def tlb_entries(self) -> list[Any]:
        return []

    def _log(self, data: EventData) -> Event:
        event = Event(len(self.log) + 1, data)
        self.log.append(event)
        return event

    # ------------------------------------------------------------------ entries

    def locate(self, stage: int, addr: int, depth: int) -> EntryRef:
        return self.image.paging.locate(stage, addr, depth)[1]

    def entry(self, stage: int, addr: int, depth: int) -> tuple[EntryRef, Decoded]:
        return self.image.paging.entry(stage, addr, depth)

    def poke(
        self,
        stage: int,
        addr: int,
        depth: int,
        *,
        value: int | None = None,
        set: int = 0,
        clear: int = 0,
        fields: dict[str, int] | None = None,
    ) -> tuple[int, int]:
        """Write an entry's raw bits into the overlay (never the image); returns (old, new)."""
        pt, ref = self.image.paging.locate(stage, addr, depth)
        fmt = pt.fmt
        new = ref.poked(fmt, value, set, clear, fields)
        try:
            write_entry(pt.mem, ref.addr, new, fmt.entry_bytes)  # a 4-byte entry: its half
        except MemoryHole as hole:
            raise PagingError("NotMapped", f"no memory at {hole.paddr:#x}") from None
        level = fmt.level_name(depth)
        self._log(Poked(stage, level, ref.addr, ref.raw, new, overlay=True))
        return ref.raw, new

    @property
    def pokes(self) -> int:
        """Frames the overlay holds (pokes and A/D write-backs)."""
        return len(self.image.memory.overlay)

    # ------------------------------------------------------------------ walks

    def _walk(self, gva: int, access: Any, priv: Any, ac: bool, via: str, write: bool) -> Walk:
        problem = self.image.refused(gva)
        if problem is not None:
            raise PagingError("InvalidRequest", problem)
        return self.image.walker.translate(
            gva, Access.parse(access), Priv.parse(priv), side_effects=write, ac=ac, via=via
        )

    def translate(self, gva: int, access: Any, priv: Any = Priv.KERNEL, *, ac: bool = False,
                  via: str = "") -> Walk:  # fmt: skip
        """The walk the hardware would do, nothing written."""
        walk = self._walk(gva, access, priv, ac, via, write=False)
        self._record(walk, "translate")
        return walk

    def access(self, gva: int, access: Any, priv: Any = Priv.KERNEL, *, ac: bool = False,
               via: str = "") -> Walk:  # fmt: skip
        """The walk with the hardware's accessed/dirty write-backs, into the overlay."""
        walk = self._walk(gva, access, priv, ac, via, write=True)
        self._record(walk, "access")
        return walk

    def _record(self, walk: Walk, kind: WalkKind) -> None:
        if walk.fault is not None:
            self._log(Faulted(kind, walk, walk.fault))
        else:
            self._log(Walked(kind, walk, image=True))

    # ------------------------------------------------------------------ control state

    def set_register(self, register: str, field: str | None, value: int) -> None:
        """A control bit toggled (the `control` command, the control-state panel), under the
        machine's rule (`MachineConfig.check_control`): the formats read it again; the roots
        stay the image's."""
        control = self.control.with_value(register, field, value)
        self.config.check_control(control)
        self.image = self.image.with_control(control)
        self._log(ControlSet(register, field, value))

    # ------------------------------------------------------------------ refused

    def _refuse(self, op: str) -> PagingError:
        return PagingError("InvalidRequest", f"{op}: {REFUSED[op]}")

    def map(self, *_args: Any, **_kwargs: Any) -> None:
        raise self._refuse("map")

    def unmap(self, *_args: Any) -> None:
        raise self._refuse("unmap")

    def protect(self, *_args: Any) -> None:
        raise self._refuse("protect")

    def query(self, *_args: Any) -> Any:
        raise self._refuse("query")

    def flush(self, *_args: Any, **_kwargs: Any) -> Any:
        raise self._refuse("flush")

    def handle_fault(self) -> bool:
        raise self._refuse("handle-fault")

    def set_context(self, *_args: Any) -> None:
        raise self._refuse("context")

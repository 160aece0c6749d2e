"""Both stages' page tables where they lie, over any `Frames`: the walker and the inspecting
side (a table's entries, the entry on an address's path) for memory we built ourselves or a
memory image we were handed.

`Paging.rooted` is the one place a `Walker` is made: `Machine` makes its own through it (over
our RAM and its `GuestRAM`), and a memory image is nothing more than its memory, its
registers' roots and formats given to it. `cursor.entry_path` is the one inspecting descent
(`PageTable.path`/`locate` and `Paging.locate` share it): it follows table entries as the
hardware decodes them, as the walker does, but records nothing and checks no permission.
"""

from __future__ import annotations

from dataclasses import dataclass

from .cursor import EntryRef, locate_entry
from .errors import PagingError
from .formats import Decoded, PagingFormat
from .guest import GuestRAM, WalkedStage2
from .memory import Frames, MemoryHole
from .walk import Walker


def read_root_registers(fmt: PagingFormat, guest: Frames, root: int) -> tuple[int, ...]:
    """x86 PAE: the four PDPTEs the CPU loads from guest memory when CR3 is written (SDM Vol.
    3A 4.4.1), read through stage 2; what cannot be read loads as 0. () for other formats."""
    if not fmt.root_registers:
        return ()
    out = []
    for i in range(fmt.levels[0].entries):
        try:
            out.append(guest.read_u64(root + 8 * i))
        except MemoryHole:
            out.append(0)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class TableView:
    """One stage's tables as the inspecting side reads them (`read_table`, `table_entries`,
    `locate`): format, root and the memory the root's address is in."""

    fmt: PagingFormat
    root: int
    mem: Frames

    def locate(self, vaddr: int, depth: int) -> EntryRef:
        return locate_entry(self.fmt, self.mem, self.root, vaddr, depth)


@dataclass(slots=True)
class Paging:
    """The walker over host memory and roots, and guest-physical memory (`guest`: through
    stage 2, or host memory itself when stage 2 is off; looked up again after any write to
    memory, its `generation`)."""

    walker: Walker
    guest: Frames

    @classmethod
    def rooted(
        cls,
        arch: str,
        s1: PagingFormat,
        s2: PagingFormat,
        memory: Frames,
        roots: tuple[int | None, int | None],
        *,
        guest_root_hi: int | None = None,
        root_registers: tuple[int, ...] | None = None,
        guest: Frames | None = None,
    ) -> Paging:
        """The walker over `memory` at (guest root, stage-2 root), None for a stage that is
        off. `guest`: guest RAM when the caller has its own (else read through the walker's
        stage 2); `root_registers` None: loaded from guest memory at the root."""
        guest_root, npt_root = roots
        walker = Walker(arch, s1, s2, memory, guest_root, npt_root)
        if guest_root is not None:
            walker.guest_root_hi = guest_root_hi
        if guest is None:
            guest = memory if npt_root is None else GuestRAM(WalkedStage2(walker), memory)
        if root_registers is None and guest_root is not None:
            root_registers = read_root_registers(s1, guest, guest_root)
        walker.root_registers = root_registers or ()
        return cls(walker, guest)

    def table(self, stage: int, addr: int | None = None) -> TableView | None:
        """Stage 1's tables (TTBR1's for an upper-range AArch64 gVA) or stage 2's; None when
        that stage is off."""
        w = self.walker
        if stage == 1:
            if w.guest_root is None:
                return None
            hi = w.guest_root_hi
            upper = addr is not None and hi is not None and w.s1.upper(addr)
            return TableView(w.s1, hi if upper and hi is not None else w.guest_root, self.guest)
        if stage == 2:
            return None if w.npt_root is None else TableView(w.s2, w.npt_root, w.memory)
        raise PagingError("InvalidRequest", f"stage must be 1 or 2 (got {stage!r})")

    def locate(self, stage: int, addr: int, depth: int) -> tuple[TableView, EntryRef]:
        """The entry at `depth` on `addr`'s path at `stage`, and the tables it is in."""
        view = self.table(stage, addr)
        if view is None:
            raise PagingError("NotMapped", f"stage {stage} is off (no root)")
        return view, view.locate(addr, depth)

    def entry(self, stage: int, addr: int, depth: int) -> tuple[EntryRef, Decoded]:
        view, ref = self.locate(stage, addr, depth)
        return ref, view.fmt.decode(ref.raw, depth)

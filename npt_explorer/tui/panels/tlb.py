"""The TLB panel: the machine's TLB entries with their tags, page size, both stages'
permissions and stale marks; hit/miss counters; a button per invalidation the architecture
defines, named as its manual names it."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import HorizontalGroup, Vertical
from textual.widgets import Button, DataTable, Static

from ...engine import COMBINED, FLUSHES, Machine, TlbEntry
from ...scenario.report import kib_text
from ..messages import CommandRequested, PrefillCommand

HELP = """\
### TLB

The translations the TLB caches, as the hardware tags them:

* **combined** entries cache a whole gVA → hPA translation; **stage2** entries cache
  gPA → hPA (used for the final gPA of a walk).
* Tags: x86 **VPID** and **EPTP** (AMD nested paging: **ASID** and **nCR3**); AArch64
  **ASID** and **VMID**; RISC-V **ASID** and **VMID**. `G` marks a global entry (matches
  every ASID/VPID).
* **perms** are both stages' permissions as cached (stage 1 / stage 2); **D** an entry
  filled by a write.
* **stale** (yellow): the tables no longer agree with the entry (after a `poke`,
  `protect` or `unmap`). The hardware keeps using it until you flush.

The buttons run the architecture's invalidations (`flush kind=…`). Those that need
an address use the selected entry's (gVA for VA kinds, gPA for IPA/GPA kinds); with no
entry selected the command line opens for you to type it.
"""

_TAGS = {
    "x86_64": ("VPID", "EPTP"),
    "aarch64": ("ASID", "VMID"),
    "riscv64": ("ASID", "VMID"),
    "loongarch64": ("ASID", "GID"),  # LVZ tags guest entries with the GID
    "teach": ("ASID", "VMID"),  # the teaching machine names the two tags generically
}
#: AMD nested paging: the guest's entries are tagged by the VMCB's ASID (APM Vol. 2 §15.16);
#: the nested table is named by nCR3, which stands where Intel's EPTP does
_NPT_TAGS = ("ASID", "nCR3")


def flush_kinds(machine: Machine) -> tuple[str, ...]:
    """The invalidations worth offering (buttons, palette): none when nothing caches a
    translation — a memory image, whose walks read its tables and which refuses flushes, or
    a machine with neither a TLB nor walk caches."""
    if machine.tlb is None and machine.walk_caches is None:
        return ()
    return machine.config.spec.flushes


class TlbPanel(Vertical):
    HELP = HELP

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.machine: Machine | None = None
        self.entries: list[TlbEntry] = []
        self.border_title = "TLB"
        self._flushes: tuple[str, ...] | None = None  # the buttons shown (None: not yet)
        self._tags: tuple[str, str] = ("", "")
        self._state: object = None

    def compose(self) -> ComposeResult:
        yield Static(id="tlb-stats")
        yield DataTable(id="tlb-table", cursor_type="row", zebra_stripes=True)
        yield HorizontalGroup(id="tlb-flushes")

    @property
    def table(self) -> DataTable:
        return self.query_one("#tlb-table", DataTable)

    def show(self, machine: Machine) -> None:
        self.machine = machine
        flushes = flush_kinds(machine)
        if flushes != self._flushes:
            self._flushes = flushes
            bar = self.query_one("#tlb-flushes", HorizontalGroup)
            bar.display = bool(flushes)  # an image: no bar, its row goes to the table
            bar.remove_children()
            bar.mount_all(
                Button(
                    k,
                    id=f"flush-{k.replace('.', '_')}",
                    compact=True,
                    tooltip=FLUSHES[k].doc,
                    classes="flush",
                )
                for k in flushes
            )
        npt = machine.arch == "x86_64" and machine.config.npt.startswith("npt")
        asid_name, vmid_name = _NPT_TAGS if npt else _TAGS[machine.arch]
        stats = self.query_one("#tlb-stats", Static)
        tlb = machine.tlb
        if tlb is None:
            why = getattr(machine, "no_tlb", "TLB disabled ([machine] tlb = false)")  # an image's
            stats.update(Text(why, "italic"))
            self.table.clear()
            return
        s = tlb.stats
        state = (
            machine,
            machine.tag_vmid,
            machine.asid,
            str(s),
            [(e.kind, e.base, e.size, e.stale, e.dirty, e.vmid, e.asid) for e in tlb.all()],
        )
        if state == self._state:
            return  # nothing new: no table rebuild (and no re-layout)
        self._state = state
        total = s.hits + s.misses
        rate = f"{100 * s.hits / total:.0f}%" if total else "-"
        stats.update(
            Text.assemble(
                ("hit ", "bold"),
                str(s.hits),
                (" miss ", "bold"),
                str(s.misses),
                f" ({rate})",
                (" fill ", "bold"),
                str(s.fills),
                (" evict ", "bold"),
                str(s.evictions),
                (" flush ", "bold"),
                str(s.flushes),
                (" stale hit ", "bold"),
                (str(s.stale_hits), "yellow" if s.stale_hits else ""),
                (f" │ now {vmid_name} {machine.tag_vmid:#x} {asid_name} {machine.asid}", "dim"),
            ),
            layout=False,
        )
        table = self.table
        keep = table.cursor_row
        if self._tags != (asid_name, vmid_name):  # the tag columns are named per arch
            self._tags = (asid_name, vmid_name)
            table.clear(columns=True)
            table.add_columns(
                "kind",
                asid_name,
                vmid_name,
                "G",
                "input",
                "size",
                "gPA",
                "hPA",
                "perms S1 / S2",
                "D",
                "stale",
            )
        else:
            table.clear()
        self.entries = sorted(tlb.all(), key=lambda e: (e.kind, e.base))
        for i, e in enumerate(self.entries):
            style = "yellow" if e.stale else ""
            table.add_row(
                Text(e.kind, style),
                "-" if e.kind != COMBINED else str(e.asid),
                f"{e.vmid:#x}",
                "G" if e.global_ else "",
                f"{e.base:#x}",
                kib_text(e.size),
                f"{e.gpa:#x}",
                f"{e.hpa:#x}",
                e.perms,
                "D" if e.dirty else "",
                Text("STALE", "bold yellow") if e.stale else "",
                key=str(i),
            )
        if table.row_count:
            table.move_cursor(row=min(max(keep, 0), table.row_count - 1), animate=False)
        self.border_title = Text(
            f"TLB · {len(self.entries)} entries of {tlb.entries} ({tlb.ways}-way)"
        )

    def select_line(self, kind: str, base: int, vmid: int, asid: int) -> None:
        """Put the cursor on that TLB entry, if the TLB holds it (the diff view's link)."""
        for i, e in enumerate(self.entries):
            if (e.kind, e.base, e.vmid, e.asid) == (kind, base, vmid, asid):
                self.table.move_cursor(row=i, animate=False)
                return

    def selected_entry(self) -> TlbEntry | None:
        row = self.table.cursor_row
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def flush_command(self, kind: str) -> str | None:
        """The command a flush button runs, or None when it needs an address typed."""
        scope = FLUSHES[kind]
        if scope.by_addr is None:
            return f"flush kind={kind}"
        entry = self.selected_entry()
        if entry is None:
            return None if scope.addr_required else f"flush kind={kind}"
        addr = entry.gpa if scope.by_addr == "gpa" else entry.base
        if scope.by_addr == "va" and entry.kind != COMBINED:
            return None if scope.addr_required else f"flush kind={kind}"
        return f"flush kind={kind} addr={addr:#x}"

    @on(Button.Pressed, ".flush")
    def flush(self, event: Button.Pressed) -> None:
        event.stop()
        kind = str(event.button.label)
        command = self.flush_command(kind)
        if command is None:
            self.post_message(PrefillCommand(f"flush kind={kind} addr="))
        else:
            self.post_message(CommandRequested(command))

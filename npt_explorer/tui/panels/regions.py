"""The Regions panel: both stages' mappings folded into ranges (engine/regions.py), VA+PA or
VA-only, with backend, flags and page sizes, and a filter."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Static
from textual.worker import get_current_worker

from ...engine import Machine, Region, RegionFolder
from ...scenario.colours import STAGE_STYLE
from ..messages import EntrySelected, EntryTarget
from ..region_filter import FILTER_HELP, FilterRow, RegionFilter, parse_filter, region_row

HELP = f"""\
### Regions

Every leaf of both stages' tables, folded into ranges: **S1** maps guest-virtual to
guest-physical (the guest's tables), **S2** maps guest-physical to host-physical (the
hypervisor's), with the stage-2 area (backend and name) behind each range.

* **VA+PA** (default) merges pages whose inputs *and* outputs follow each other;
  **VA only** merges on the input alone (`~` marks a range whose output jumps).
* Flags are what the hardware grants through the leaf (`rwxudc` letters); `!` marks a
  range where the seed's `MappingFlags` read-back differs or an entry has problems.
* **Filter** (`/`): {FILTER_HELP}.

`enter`/click on a range selects its first page's entry in the tree and the decoder.
`m` switches VA+PA / VA only.
"""


def size_text(n: int) -> str:
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return f"{n:#x}"


class RegionsPanel(Vertical):
    HELP = HELP
    BINDINGS = [
        Binding("slash", "focus_filter", "filter", show=False),
        Binding("m", "toggle_merge", "VA+PA / VA only", show=False),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.machine: Machine | None = None
        self.contiguous = True
        self.filter = RegionFilter()
        self.regions: list[Region] = []
        self.rows: list[FilterRow] = []  # the regions as the filter reads them
        self.shown: list[Region] = []
        self.filter_error = ""  # what was wrong with the filter typed last
        self.problems: list[str] = []  # what listing the rows met (an image's tables)
        self.folder = RegionFolder()
        self._asked = 0  # show() calls so far: a fold answers only the latest
        self._wanted: tuple[int, int] | None = None  # select_at's (stage, addr), kept for a fold
        self.border_title = "Regions"

    def compose(self) -> ComposeResult:
        with Horizontal(id="regions-bar"):
            yield Input(placeholder="/ filter: s1 w !x ro huge 0x…", id="regions-filter")
            yield Button("m: VA+PA", id="regions-merge", compact=True)
        yield Static(id="regions-error")
        yield DataTable(id="regions-table", cursor_type="row", zebra_stripes=True)

    @property
    def table(self) -> DataTable:
        return self.query_one("#regions-table", DataTable)

    def on_mount(self) -> None:
        self.table.add_columns("S", "input", "size", "→ output", "flags", "pages", "backend")

    def show(self, machine: Machine) -> None:
        if machine is not self.machine:
            self.folder = RegionFolder()  # a new machine: nothing of the old fold applies
        self.machine = machine
        self._asked += 1
        # after the screen has shown the command's own result: the fold (tens of ms of a
        # worker thread for a big guest, holding the interpreter) must not delay that frame
        self.call_after_refresh(self._start, machine, self._asked)

    def _start(self, machine: Machine, asked: int) -> None:
        if asked == self._asked:  # no newer request came in the meantime
            self._compute(machine, self.contiguous, asked)

    @work(thread=True, exclusive=True, group="regions", exit_on_error=False)
    def _compute(self, machine: Machine, contiguous: bool, asked: int) -> None:
        """Off the event loop, and only the tables changed since the last fold (a guest of
        8 GiB in 4 KiB pages is 4096 leaf tables). A newer request cancels this one."""
        worker = get_current_worker()
        regions = self.folder.regions(
            machine,
            contiguous=contiguous,
            cancelled=lambda: worker.is_cancelled or asked != self._asked,
        )
        if regions is not None:
            self.app.call_from_thread(self._computed, machine, regions, asked)

    def _computed(self, machine: Machine, regions: list[Region], asked: int) -> None:
        if asked != self._asked:
            return  # the machine changed while folding: the newer fold will show
        if machine is not self.machine or (regions == self.regions and self.table.row_count):
            return  # the same ranges: leave the table (and its cursor) alone
        self.regions = regions
        self.rows = [region_row(r) for r in regions]
        self._fill()

    def _fill(self) -> None:
        table = self.table
        keep = table.cursor_row
        table.clear()
        matches = self.filter.matches
        self.shown = [r for r, row in zip(self.regions, self.rows, strict=True) if matches(row)]
        for i, r in enumerate(self.shown):
            sizes = "+".join(size_text(s) for s in r.page_sizes)
            out = f"{r.out:#x}" + ("" if r.contiguous else " ~")
            flags = r.flags.letters() + (" !" if r.problems or r.seed_flags != r.flags else "")
            backend = f"{r.backend} {r.area}".strip() if r.area != "unbacked" else "unbacked"
            table.add_row(
                Text(f"S{r.stage}", STAGE_STYLE[r.stage]),
                f"{r.start:#x}",
                size_text(r.size),
                out,
                flags,
                f"{r.pages}×{sizes}",
                backend,
                key=str(i),
            )
        if table.row_count:
            table.move_cursor(row=min(max(keep, 0), table.row_count - 1), animate=False)
        if self._wanted is not None:
            self.select_at(*self._wanted)
        total = len(self.regions)
        note = f"{len(self.shown)} of {total}" if len(self.shown) != total else f"{total}"
        mode = "VA+PA" if self.contiguous else "VA only"
        self.border_title = Text(f"Regions · {note} ranges · {mode}")

    def select_at(self, stage: int, addr: int) -> None:
        """Put the cursor on the range of `stage` holding `addr` (the diff view's link); a
        fold still running puts it there when it is done."""
        self._wanted = (stage, addr)
        for i, r in enumerate(self.shown):
            if r.stage == stage and r.start <= addr < r.start + r.size:
                self.table.move_cursor(row=i, animate=False)
                self._wanted = None
                return

    @on(Input.Changed, "#regions-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        try:
            self.filter, self.filter_error = parse_filter(event.value), ""
        except ValueError as err:  # the rows stay as the last good filter showed them
            self.filter_error = str(err)
        self.show_note()
        if not self.filter_error:
            self._fill()

    def show_note(self) -> None:
        """Under the filter box: a bad filter's message, else the listing's problems."""
        note = self.query_one("#regions-error", Static)
        if self.filter_error:
            note.update(Text(self.filter_error, "red"))
        else:
            note.update(Text("\n".join(self.problems), "yellow"))
        note.display = bool(self.filter_error or self.problems)

    @on(Input.Submitted, "#regions-filter")
    def filter_done(self) -> None:
        self.table.focus()

    @on(Button.Pressed, "#regions-merge")
    def action_toggle_merge(self) -> None:
        self.contiguous = not self.contiguous
        self.query_one("#regions-merge", Button).label = (
            "m: VA+PA" if self.contiguous else "m: VA only"
        )
        if self.machine is not None:
            self.show(self.machine)

    def action_focus_filter(self) -> None:
        self.query_one("#regions-filter", Input).focus()

    @on(DataTable.RowSelected, "#regions-table")
    def selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        r = self.shown[int(str(event.row_key.value))]
        self.post_message(EntrySelected(EntryTarget(r.stage, r.start, r.depth), "regions"))

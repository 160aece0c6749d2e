"""The Regions panel on a memory image: `image ranges` (IMAGES.md), i.e. what the dump's tables
map, merged into runs of equal effective permissions and attributes as Linux ptdump and
gdb-pt-dump print them, with physical addresses."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.events import Mount
from textual.widgets import Button, DataTable, Input

from ...engine import PagingError
from ...image.ranges import Run, ranges
from ...image.workbench import ImageWorkbench
from ...scenario.colours import STAGE_STYLE
from ..image_source import ImageSession
from ..messages import EntrySelected, EntryTarget
from ..region_filter import FILTER_HELP, run_row
from .regions import RegionsPanel, size_text

HELP = f"""\
### Regions (image)

`image ranges` of the dump: every mapping of its tables, merged into runs of equal
effective permissions and attributes (as Linux ptdump and gdb-pt-dump list them), with
the physical output address.

* **S1 + S2** (default): stage 1 (gVA → gPA) then stage 2 (gPA → hPA), each stage's
  permissions combined over its levels (`K:rwx U:r--` = kernel and user rights).
* **both** (`m`): gVA → final hPA, both stages' permissions combined.
* **Filter** (`/`), the same words as on a machine's Regions: {FILTER_HELP}.

`enter`/click on a run selects its first page's leaf entry in the tree and the decoder.
"""

_STAGES = {"S1 + S2": ("1", "2"), "both": ("both",)}


COLUMNS = ("S", "input", "size", "→ output", "permissions", "pages", "attrs")


def _cells(r: Run) -> tuple[Text, ...]:
    """One `image ranges` run as the table's row."""
    stage = 1 if r.stage == "1" else 2
    sizes = "+".join(size_text(s) for s in sorted(r.page_sizes))
    return (
        Text("S1·2" if r.stage == "both" else f"S{r.stage}", STAGE_STYLE[stage]),
        Text(f"{r.start:#x}"),
        Text(size_text(r.size)),
        Text(f"{r.out:#x}"),
        Text(r.perms),
        Text(f"{r.pages}×{sizes}"),
        Text(r.attrs),
    )


class ImageRegionsPanel(RegionsPanel):
    """`RegionsPanel` with `image ranges` for its rows (the same id, keys and filter box)."""

    HELP = HELP

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.mode = "S1 + S2"
        self.runs: list[Run] = []
        self.shown_runs: list[Run] = []

    def on_mount(self, event: Mount) -> None:
        event.prevent_default()  # RegionsPanel's columns are not ours
        self.table.add_columns(*COLUMNS)
        self.query_one("#regions-merge", Button).label = f"m: {self.mode}"
        self.query_one("#regions-filter", Input).placeholder = "/ filter: s1 s2 huge K:rw 0x…"

    def show(self, machine: object) -> None:
        if not isinstance(machine, ImageWorkbench):
            return  # the app swaps this panel out when the session is no image
        self.machine = machine  # type: ignore[assignment]
        self._asked += 1
        self._list(machine, self.mode, self._asked)

    @work(thread=True, exclusive=True, group="regions", exit_on_error=False)
    def _list(self, bench: ImageWorkbench, mode: str, asked: int) -> None:
        """Off the event loop (a kernel's tables take a fraction of a second)."""
        runs: list[Run] = []
        problems: list[str] = []
        for stage in _STAGES[mode]:
            found, trouble = ranges(bench.image, stage)
            runs += found
            problems += [p for p in trouble if not p.endswith("is off")]
        self.app.call_from_thread(self._listed, bench, runs, problems, asked)

    def _listed(
        self, bench: ImageWorkbench, runs: list[Run], problems: list[str], asked: int
    ) -> None:
        if asked != self._asked or bench is not self.machine:
            return
        self.problems = problems
        self.show_note()
        if runs == self.runs and self.table.row_count:
            return
        self.runs = runs
        self.rows = [run_row(r) for r in runs]
        self._fill()

    def _fill(self) -> None:
        table = self.table
        keep = table.cursor_row
        matches = self.filter.matches
        self.shown_runs = [r for r, row in zip(self.runs, self.rows, strict=True) if matches(row)]
        rows = [_cells(r) for r in self.shown_runs]
        # columns sized here, from every row: a DataTable measures added rows only when idle,
        # and lines it painted before that stay cached at the header's widths
        table.clear(columns=True)
        for n, label in enumerate(COLUMNS):
            table.add_column(label, width=max([len(label)] + [row[n].cell_len for row in rows]))
        for i, row in enumerate(rows):
            table.add_row(*row, key=str(i))
        if table.row_count:
            table.move_cursor(row=min(max(keep, 0), table.row_count - 1), animate=False)
        total = len(self.runs)
        count = f"{len(self.shown_runs)} of {total}" if len(self.shown_runs) != total else total
        self.border_title = Text(f"Regions · image ranges · {count} runs · {self.mode}")

    @on(Button.Pressed, "#regions-merge")
    def merge_pressed(self, event: Button.Pressed) -> None:
        event.prevent_default()
        self.action_toggle_merge()

    def action_toggle_merge(self) -> None:
        self.mode = "both" if self.mode == "S1 + S2" else "S1 + S2"
        self.query_one("#regions-merge", Button).label = f"m: {self.mode}"
        if self.machine is not None:
            self.show(self.machine)

    @on(DataTable.RowSelected, "#regions-table")
    def selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        event.prevent_default()
        bench = self.machine
        if not isinstance(bench, ImageWorkbench):
            return
        r = self.shown_runs[int(str(event.row_key.value))]
        stage = 1 if r.stage in ("1", "both") else 2
        fmt = bench.s1 if stage == 1 else bench.s2
        try:  # the leaf's depth: where its first page's walk ends
            depth = max(
                d for d in range(fmt.depth_count)
                if bench.entry(stage, r.start, d)[1].page_size is not None
            )  # fmt: skip
        except (PagingError, ValueError):
            return
        self.post_message(EntrySelected(EntryTarget(stage, r.start, depth), "regions"))


def regions_panel_class(session: object) -> type[RegionsPanel]:
    """The Regions panel a session shows: `image ranges` on an image, else the fold."""
    return ImageRegionsPanel if isinstance(session, ImageSession) else RegionsPanel

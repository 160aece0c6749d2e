"""The Walk panel: the two-dimensional grid of one translation's memory references (rows =
guest levels + the final gPA, columns = stage-2 levels + the guest entry read), a cursor on
the current reference, the list of references beside it, and what the current one did."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from ...engine import PagingFormat, Walk, WalkStep, hx
from ...scenario.colours import FAULT_STYLE, STAGE_STYLE, colour_key
from ...scenario.report import flag_string, walk_summary
from ..messages import StepSelected
from ..widgets.text_grid import TextGrid

HELP = f"""\
### Walk

One guest memory access, as the hardware makes it. The guest's own page tables live in
guest memory, so **every guest table entry's gPA is translated by a full stage-2 walk
before it can be read**, and so is the final gPA.

* **Grid**: a row per guest level (and the final gPA), a column per stage-2 level, then
  the guest entry read. Each cell is one memory reference, numbered in the order the
  hardware makes it: a 4-level guest over a 4-level EPT costs 4×(4+1)+4 = 24. A PAE
  guest starts from one of its four PDPTE registers (row `PDPTEn reg`, loaded when CR3 was
  written, no reference): 2×(4+1)+4 = 14.
* **Cursor** = the current reference. Done references are coloured, later ones dim.
  Colours: {colour_key()}. With `[machine] walk_caches`, a reference a walk cache
  served is grey and names the cache (`PDE`, `EPT PDE`, `PWC`, `NTLB`): it never went
  to memory.
* The **list** beside the grid shows every reference with its raw entry.

Keys: `n`/`p` next/previous reference, `home`/`end` first/last, `f` the fault,
`space` play/pause (`+` faster, `-` slower). Click a cell or a row to jump there. The
page-table tree and the entry decoder follow the cursor.
"""


#: a reference a walk cache served: grey, it never reached memory
CACHED_STYLE = "grey50 italic"


def cache_tag(name: str) -> str:
    """`PDE cache` → `PDE`, `stage-2 L2 walk cache` → `stage-2 L2` (grid cells)."""
    return name.removesuffix(" cache").removesuffix(" walk")


#: what each stage-2 format calls its input (the Arm ARM says IPA, not guest-physical)
INTERMEDIATE = {"aarch64-s2": "IPA"}


def short_level(name: str) -> str:
    """`level 2 (VPN[2])` → `VPN[2]`, `EPT PDPTE` → `PDPTE` (column headers)."""
    if "(" in name and name.endswith(")"):
        return name[name.index("(") + 1 : -1]
    return name.removeprefix("EPT ")


class WalkGrid(TextGrid):
    """The 2D grid: a cell cursor (the current reference); click a cell to go there."""


class WalkPanel(Vertical):
    HELP = HELP

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.walk: Walk | None = None
        self.index = 0
        self.s1: PagingFormat | None = None
        self.s2: PagingFormat | None = None
        self.op: str | None = None  # the command that made the walk: access | translate
        self._detail_lines = 0
        self._end_lines: int | None = None  # lines the walk's summary takes
        self._cells: dict[int, tuple[int, int]] = {}  # step index -> (row, column)
        self._at: dict[tuple[int, int], int] = {}
        self._shape: tuple[object, ...] = ()
        self.border_title = "Walk"

    def compose(self) -> ComposeResult:
        with Horizontal(id="walk-body"):
            yield WalkGrid(id="walk-grid", cursor="cell")
            yield TextGrid(id="walk-steps", cursor="row")
        with VerticalScroll(id="walk-detail-box"):
            yield Static(id="walk-detail")

    def fit(self, grid_height: bool) -> None:
        """`grid_height`: the body is as tall as the grid (its rows and header), the detail
        takes what it needs below; else (one panel on a small screen) the body fills."""
        if not self.query(WalkGrid):  # not composed yet, or being removed at exit
            return
        rows = self.grid.row_count
        body = self.query_one("#walk-body")
        body.styles.height = rows + 1 if grid_height and rows else "1fr"
        self._post_height()

    @property
    def grid(self) -> WalkGrid:
        return self.query_one(WalkGrid)

    @property
    def steps_table(self) -> TextGrid:
        return self.query_one("#walk-steps", TextGrid)

    # ------------------------------------------------------------------ showing a walk

    def show_walk(
        self,
        walk: Walk | None,
        s1: PagingFormat,
        s2: PagingFormat,
        title: str = "",
        index: int | None = None,
        op: str | None = None,
    ) -> None:
        """Show `walk` with the cursor on reference `index`; by default the first one, or
        the faulting one when the walk faulted (where the story ends)."""
        self.walk, self.s1, self.s2, self.op = walk, s1, s2, op
        self._end_lines = None
        if index is None:
            index = self.fault_reference() if walk is not None and walk.fault else 0
        self.border_title = Text(f"Walk · {title}" if title else "Walk")
        self._layout_cells()
        self._fill_grid()
        self._fill_steps()
        self.index = -1
        self.select(max(0, min(index, self.count - 1)), post=True)

    @property
    def count(self) -> int:
        return 0 if self.walk is None else len(self.walk.steps)

    def _layout_cells(self) -> None:
        self._cells.clear()
        self._at.clear()
        if self.walk is None or self.s1 is None or self.s2 is None:
            return
        result_col = self.s2.depth_count
        final_row = self.s1.depth_count
        for i, step in enumerate(self.walk.steps):
            if step.stage == 1:
                cell = (step.depth, result_col)
            else:
                row = final_row if step.for_depth is None else step.for_depth
                cell = (row, step.depth)
            self._cells[i] = cell
            self._at[cell] = i

    def _fill_grid(self) -> None:
        grid = self.grid
        if self.s1 is None or self.s2 is None:
            grid.set_rows([])
            return
        shape = (self.s1.name, self.s1.depth_count, self.s2.name, self.s2.depth_count)
        if shape != self._shape:  # new formats: new columns
            self._shape = shape
            grid.set_columns(
                Text("guest level"),
                *(
                    Text(f"S2 {short_level(self.s2.level_name(d))}", STAGE_STYLE[2])
                    for d in range(self.s2.depth_count)
                ),
                Text("guest entry / result", STAGE_STYLE[1]),
            )
        rows = []
        for row in range(self.s1.depth_count + 1):
            label = (
                Text(f"S1 {self._register_name()}", STAGE_STYLE[1])
                if row == 0 and self.s1.root_registers
                else Text(f"S1 {short_level(self.s1.level_name(row))}", STAGE_STYLE[1])
                if row < self.s1.depth_count
                else Text(f"final {INTERMEDIATE.get(self.s2.name, 'gPA')}", "bold")
            )
            rows.append(
                [label, *(self._cell_text(row, col) for col in range(self.s2.depth_count + 1))]
            )
        grid.set_rows(rows)
        self.fit(grid_height=not self.screen.has_class("-narrow"))

    def _register_name(self) -> str:
        """The root register a walk starts from (PAE: the PDPTE its gVA bits 31:30 pick)."""
        assert self.s1 is not None
        name = short_level(self.s1.level_name(0))
        return name if self.walk is None else f"{name}{self.s1.index(self.walk.gva, 0)} reg"

    def _cell_text(self, row: int, col: int) -> Text:
        assert self.s1 is not None and self.s2 is not None
        i = self._at.get((row, col))
        walk = self.walk
        if i is None and row == 0 and self.s1.root_registers:  # loaded with CR3, never read
            last = col == self.s2.depth_count
            return Text("register" if last else "—", STAGE_STYLE[1] if last else "dim")
        if i is None:
            if (
                walk is not None
                and walk.ok
                and row == self.s1.depth_count
                and col == self.s2.depth_count
            ):
                tail = " (S2 TLB)" if walk.s2_cached else ""
                return Text(
                    f"hPA {hx(walk.hpa, '-')}{tail}",
                    "bold green" if self.index >= self.count - 1 else "dim",
                )
            return Text("·", "dim")
        step = walk.steps[i] if walk else None
        assert step is not None
        text = f"{i + 1:>2}"
        if step.stage == 1:
            text += f" {step.outcome}"
        if i > self.index:
            return Text(text, "dim")
        if step.outcome == "fault":
            return Text(text + (" ✗" if step.stage == 2 else ""), FAULT_STYLE)
        if step.cached is not None:  # served by a walk cache: no memory read
            return Text(
                f"{text} {cache_tag(step.cached)}",
                CACHED_STYLE + (" bold" if i == self.index else ""),
            )
        return Text(text, STAGE_STYLE[step.stage] + (" bold" if i == self.index else ""))

    def _refresh_cells(self, indices: set[int]) -> None:
        grid = self.grid
        assert self.s1 is not None and self.s2 is not None
        cells = {self._cells[i] for i in indices if i in self._cells}
        cells.add((self.s1.depth_count, self.s2.depth_count))  # the result cell
        for row, col in cells:
            grid.set_cell(row, col + 1, self._cell_text(row, col))

    def on_mount(self) -> None:
        self.steps_table.set_columns(
            "#",
            "S",
            "level",
            "for",
            "idx",
            "raw",
            "flags",
            "→",
            justify=("right", "left", "left", "left", "right"),
        )

    def _fill_steps(self) -> None:
        if self.walk is None or self.s1 is None:
            self.steps_table.set_rows([])
            return
        self.steps_table.set_rows(
            [self._step_row(i, step) for i, step in enumerate(self.walk.steps)]
        )

    def _step_row(self, i: int, step: WalkStep) -> list[Text | str]:
        assert self.s1 is not None
        style = STAGE_STYLE[step.stage]
        if step.stage == 2:
            serves = (
                "final"
                if step.for_depth is None
                else short_level(self.s1.level_name(step.for_depth))
            )
        else:
            serves = ""
        out = step.outcome + (" +A/D" if step.written is not None else "")
        if step.cached is not None:
            out += f" · {step.cached}"
            style = CACHED_STYLE
        return [
            str(i + 1),
            Text(f"S{step.stage}", style),
            Text(short_level(step.level_name), style),
            serves,
            str(step.index),
            f"{step.raw:#018x}",
            flag_string(step.decoded),
            Text(
                out, FAULT_STYLE if step.outcome == "fault" else CACHED_STYLE if step.cached else ""
            ),
        ]

    # ------------------------------------------------------------------ the cursor

    def select(self, index: int, *, post: bool = True) -> None:
        """Move the cursor to reference `index` (clamped); posts StepSelected."""
        if self.walk is None or not self.walk.steps:
            self.index = 0
            self._show_detail()
            self._refresh_result()
            return
        index = max(0, min(index, self.count - 1))
        old, self.index = self.index, index
        self._refresh_cells(set(range(min(old, index), max(old, index) + 1)) | {old, index})
        row, col = self._cells[index]
        self.grid.move_to(row, col + 1)
        self.steps_table.move_to(index)
        self._show_detail()
        if post and old != index:
            self.post_message(StepSelected(self.walk, index))

    def _refresh_result(self) -> None:
        if self.s1 is not None and self.s2 is not None and self.grid.row_count:
            self._refresh_cells(set())

    def step(self, delta: int) -> None:
        self.select(self.index + delta)

    def first(self) -> None:
        self.select(0)

    def last(self) -> None:
        self.select(self.count - 1)

    def fault_index(self) -> int | None:
        if self.walk is None:
            return None
        for i, step in enumerate(self.walk.steps):
            if step.outcome == "fault":
                return i
        return None

    def fault_reference(self) -> int:
        """The reference a faulting walk stopped at: the entry that faulted, or (a
        permission fault, found after the leaf was read) the last one."""
        found = self.fault_index()
        return found if found is not None else max(0, self.count - 1)

    @property
    def at_end(self) -> bool:
        return self.index >= self.count - 1

    def on_text_grid_cursor_moved(self, event: TextGrid.CursorMoved) -> None:
        """A click or an arrow key moved the cursor of the grid or of the list."""
        event.stop()
        if event.grid is self.steps_table:
            if 0 <= event.row < self.count:
                self.select(event.row)
            return
        i = self._at.get((event.row, event.column - 1))
        if i is not None:
            self.select(i)
        elif self.count:  # an empty cell: the cursor goes back to the current reference
            row, col = self._cells[self.index]
            self.grid.move_to(row, col + 1)

    # ------------------------------------------------------------------ the detail line

    def _show_detail(self) -> None:
        detail = self.query_one("#walk-detail", Static)
        walk = self.walk
        if walk is None:
            detail.update(
                Text(
                    "No walk yet. Type :access gva=0x… access=read (or step a "
                    "scenario with ]) to make one.",
                    "italic",
                ),
                layout=False,
            )
            return
        if not walk.steps:
            why = (
                "a TLB hit: the TLB gave gVA → hPA directly, no page-table reference"
                if walk.tlb == "hit"
                else "the walk faulted before reading any entry"
            )
            detail.update(Group(Text(why, "italic"), walk_summary(walk, self.op)), layout=False)
            return
        step = walk.steps[self.index]
        parts = self._reference_lines(step)
        end = walk_summary(walk, self.op)
        if self._end_lines is None:
            self._end_lines = self._lines(end)
        if self.at_end or step.outcome == "fault":
            parts.append(end)
        else:  # keep the height the end will need: the panel does not jump while stepping
            parts.append(Text("\n" * (self._end_lines - 1)))
        width = max(20, self._width())
        lines = sum(-(-t.cell_len // width) for t in parts[:2]) + self._end_lines  # type: ignore[union-attr]
        detail.update(Group(*parts), layout=lines != self._detail_lines)
        if lines != self._detail_lines:
            self._detail_lines = lines
            self._post_height()

    class HeightWanted(Message):
        """The rows the panel needs to show its grid and the whole detail (borders in)."""

        def __init__(self, rows: int) -> None:
            super().__init__()
            self.rows = rows

    def _post_height(self) -> None:
        if not self.query(WalkGrid):
            return
        box = self.query_one("#walk-detail-box")
        cap = box.styles.max_height.value if box.styles.max_height is not None else 16
        self.post_message(
            self.HeightWanted(2 + self.grid.row_count + 1 + min(self._detail_lines, int(cap)))
        )

    def _width(self) -> int:
        return (
            self.query_one("#walk-detail", Static).content_region.width
            or self.content_region.width
            or self.app.size.width - 4
        )

    def _lines(self, renderable: RenderableType) -> int:
        """Lines `renderable` takes at the detail's width."""
        options = self.app.console.options.update_width(max(20, self._width()))
        return len(self.app.console.render_lines(renderable, options, pad=False))

    def _reference_lines(self, step: WalkStep) -> list[RenderableType]:
        head = Text.assemble(
            (f"reference {self.index + 1} of {self.count}", "bold"),
            "  ",
            (f"S{step.stage} {step.level_name}", STAGE_STYLE[step.stage]),
            f" · {step.purpose}",
        )
        space = "gPA" if step.stage == 1 else "hPA"
        body = Text.assemble(
            f"table {space} {hx(step.table, '-')} [{step.index}] → ",
            f"entry {space} {hx(step.entry_addr, '-')}",
            (f" (hPA {hx(step.entry_hpa, '-')})" if step.stage == 1 else ""),
            " = ",
            (f"{step.raw:#018x}", "bold"),
            " ",
            flag_string(step.decoded),
            f" → {step.outcome}",
            (f", wrote back {step.written:#x}" if step.written is not None else ""),
            (
                (f" · served by the {step.cached}: no memory read", CACHED_STYLE)
                if step.cached is not None
                else ""
            ),
        )
        return [head, body]

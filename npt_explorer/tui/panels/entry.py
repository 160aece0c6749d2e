"""The Entry panel: one page-table entry as a bit ruler and a field table (bits, value,
meaning; reserved bits set in red), the seed's `MappingFlags` reading beside the hardware's,
and the problems where they differ. Editing a field runs a `poke` command."""

from __future__ import annotations

from itertools import groupby
from operator import itemgetter

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from ...engine import Decoded, Field, Machine, PagingError, Role, stage_table
from ...scenario.colours import RESERVED_SET_STYLE, ROLE_STYLE, STAGE_STYLE, colour_key
from ...scenario.report import size_words
from ..messages import CommandRequested, EntryTarget
from ..widgets.dialogs import EditValue
from ..widgets.paint import set_border_title
from ..widgets.text_grid import TextGrid

HELP = f"""\
### Entry

The selected page-table entry, bit by bit, as the hardware reads it at this level
(the same bits mean different things at different levels and stages).

* **Ruler**: all 64 bits, coloured by what the field is for (valid, permission,
  address, attribute, status: A/D, written by hardware, type). Colours: {colour_key()}.
* **Fields**: bits, name, value and meaning of every field.
* **Seed vs hardware**: what the seed crates' `MappingFlags` read-back says these bits
  mean, beside what the hardware grants; the problems line says where they differ.

`enter` on a field edits it: a one-bit field toggles, a wider one asks for a value.
`e` sets the whole raw value. Either runs a `poke` command (it appears in the log
and is saved with the others), then the walk on screen runs again (as `translate`:
no TLB, no A/D writes), so you see at once what the change does.
"""


def bit_ruler(dec: Decoded) -> Text:
    """Bit numbers, then the entry's bits (64, or 32 for a 4-byte entry) in groups of 8,
    coloured by field role."""
    role_of: dict[int, tuple[Field, bool]] = {}
    for fv in dec.fields:
        for bit in range(fv.field.lo, fv.field.hi + 1):
            role_of[bit] = (fv.field, fv.flagged)
    groups = (max(role_of, default=63) + 8) // 8  # the fields cover the whole entry
    tops = range(groups * 8 - 1, -1, -8)
    head = Text(" ".join(f"{hi:<4}{hi - 7:>4}" for hi in tops), "dim")
    cells: list[tuple[str, str]] = []  # (bit, style), a space between groups
    for hi in tops:
        for bit in range(hi, hi - 8, -1):
            value = dec.raw >> bit & 1
            field, flagged = role_of.get(bit, (None, False))
            if field is None:
                style = "dim"
            elif flagged and value:
                style = RESERVED_SET_STYLE
            else:
                style = ROLE_STYLE[field.role] if value else "dim"
            cells.append((str(value), style))
        cells.append((" ", ""))
    bits = Text()
    # one span per run of a style: a Static renders span by span (half the cost)
    for style, run in groupby(cells[:-1], key=itemgetter(1)):
        bits.append("".join(bit for bit, _ in run), style or None)
    return Text.assemble(head, "\n", bits)


def readings(dec: Decoded) -> RenderableType:
    """The seed's read-back beside the hardware's (leaves), where the entry points, and the
    problems."""
    line = Text.assemble((f"{dec.kind}", "bold"))
    if dec.kind == "leaf":
        seed = (
            "panics (the seed cannot read this entry back)"
            if dec.mapping_flags is None
            else dec.mapping_flags.short()
        )
        line.append_text(
            Text.assemble(
                "   seed MappingFlags: ",
                (seed, "bold"),
                "   hardware: ",
                (dec.hw_flags.short(), "bold"),
            )
        )
    if dec.paddr is not None:
        line.append(f"   → {'next table ' if dec.kind == 'table' else ''}{dec.paddr:#x}")
    if dec.page_size:
        line.append(f" ({size_words(dec.page_size)} page)")
    problems = [Text(f"⚠ {p}", "yellow") for p in dec.problems]
    if (
        dec.mapping_flags is not None
        and dec.kind == "leaf"
        and dec.mapping_flags != dec.hw_flags
        and not problems
    ):
        problems.append(Text("⚠ the seed reads these bits differently from the hardware", "yellow"))
    return Group(line, *problems)


class EntryPanel(Vertical):
    HELP = HELP
    BINDINGS = [
        Binding("e", "edit_raw", "edit raw", show=False),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.target: EntryTarget | None = None
        self.decoded: Decoded | None = None
        self._rows: list[str] = []  # field names on show, top to bottom
        self.border_title = "Entry"

    def compose(self) -> ComposeResult:
        yield Static(id="entry-ruler")
        yield TextGrid(id="entry-fields", cursor="row")
        yield Static(id="entry-readings")

    @property
    def fields_table(self) -> TextGrid:
        return self.query_one("#entry-fields", TextGrid)

    def on_mount(self) -> None:
        self.fields_table.set_columns(
            "bits", "field", "value", "meaning", justify=("right", "left", "right")
        )

    def show(
        self, machine: Machine, target: EntryTarget | None, walk_raw: int | None = None
    ) -> None:
        """Decode `target` as the tables hold it now (`walk_raw`: what a walk read there)."""
        self.target = target
        ruler = self.query_one("#entry-ruler", Static)
        below = self.query_one("#entry-readings", Static)
        if target is None:
            self._set_rows([])
            self.decoded = None
            set_border_title(self, "Entry")
            ruler.update(
                Text("Select a walk reference, a page-table entry or a region.", "italic"),
                layout=False,
            )
            below.update("", layout=False)
            return
        try:
            if stage_table(machine, target.stage) is None:
                raise PagingError("NotMapped", "the guest has no page table yet")
            ref, dec = machine.entry(target.stage, target.addr, target.depth)
        except PagingError as err:
            self._set_rows([])
            self.decoded = None
            ruler.update(Text(f"{target.label()}: {err.message}", "yellow"), layout=False)
            below.update("", layout=False)
            return
        self.decoded = dec
        space = "gPA" if target.stage == 1 else "hPA"
        set_border_title(
            self,
            Text.assemble(
                "Entry · ",
                (f"S{target.stage} {dec.level_name}", STAGE_STYLE[target.stage]),
                f" at {space} {ref.addr:#x}",
            ),
        )
        ruler.update(bit_ruler(dec), layout=False)
        rows = []
        for fv in reversed(dec.fields):
            if fv.field.role is Role.IGNORED and not fv.value:
                continue
            style = RESERVED_SET_STYLE if fv.flagged else ROLE_STYLE[fv.field.role]
            value = f"{fv.value:#x}" if fv.field.width > 4 else str(fv.value)
            rows.append(
                (
                    fv.field.name,
                    [
                        Text(fv.field.bits, "dim"),
                        Text(fv.field.name, style),
                        Text(value),
                        Text(fv.meaning),
                    ],
                )
            )
        self._set_rows(rows)
        parts: list[RenderableType] = [
            readings(dec),
            Text("enter: edit the field (a bit toggles) · e: edit the raw value", "dim"),
        ]
        if walk_raw is not None and walk_raw != dec.raw:
            parts.append(
                Text(
                    f"the walk read {walk_raw:#018x} here; the table holds {dec.raw:#018x} now",
                    "dim",
                )
            )
        below.update(Group(*parts), layout=False)

    def _set_rows(self, rows: list[tuple[str, list[Text | str]]]) -> None:
        """Fill the field table, keeping the cursor on the same field when it is there."""
        table = self.fields_table
        current = self._rows[table.row] if 0 <= table.row < len(self._rows) else None
        self._rows = [name for name, _ in rows]
        table.set_rows([cells for _, cells in rows])
        if current in self._rows:
            table.move_to(self._rows.index(current))

    # ------------------------------------------------------------------ editing

    def _field(self, name: str) -> tuple[Field, int] | None:
        if self.decoded is None:
            return None
        for fv in self.decoded.fields:
            if fv.field.name == name:
                return fv.field, fv.value
        return None

    def on_text_grid_selected(self, event: TextGrid.Selected) -> None:
        event.stop()
        if not 0 <= event.row < len(self._rows):
            return
        found = self._field(self._rows[event.row])
        if found is None or self.target is None:
            return
        field, value = found
        if field.width == 1:
            self._poke(f"fields.{field.name}={1 - value}")
            return
        target = self.target

        def done(text: str | None) -> None:
            if text:
                self._poke(f"fields.{field.name}={text}", target)

        self.app.push_screen(
            EditValue(f"{field.name} (bits {field.bits})", f"{value:#x}", field.doc), done
        )

    def action_edit_raw(self) -> None:
        if self.decoded is None or self.target is None:
            return
        target = self.target

        def done(text: str | None) -> None:
            if text:
                self._poke(f"value={text}", target)

        self.app.push_screen(EditValue("raw entry", f"{self.decoded.raw:#x}", "all 64 bits"), done)

    def _poke(self, assignment: str, target: EntryTarget | None = None) -> None:
        target = target or self.target
        if target is None:
            return
        key, _, value = assignment.partition("=")
        self.post_message(CommandRequested(target.command("poke", **{key: value}), rerun_walk=True))

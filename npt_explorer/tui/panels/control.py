"""The control-state panel: every register bit the walker consults, with its value and what it
changes. Enter on a bit toggles it through the `control` command (so it is logged and saved like
any typed command) and re-runs the walk on screen; the walk's explanation then names the bit
when it decided the outcome."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Static

from ...engine import ControlBit, Machine
from ..messages import CommandRequested
from ..widgets.dialogs import Dialog


def toggle_command(row: ControlBit, value: int) -> str:
    """The `control` command that flips a one-bit field."""
    return f"control register={row.register} field={row.name} value={1 - value}"


class ControlPanel(Dialog[None]):
    """A modal table of the machine's control state; enter toggles a one-bit field."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close")]

    def __init__(self, machine: Callable[[], Machine]) -> None:
        super().__init__()
        self.machine = machine
        self._rows: list[tuple[ControlBit, int]] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(Text("Control state", "bold"))
            yield DataTable(id="control-table", cursor_type="row", zebra_stripes=True)
            yield Static(Text("enter: toggle the bit and re-run the walk   escape: close", "dim"))

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("register", "field", "bits", "value", "what it changes")
        self.refresh_rows()

    def refresh_rows(self) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        self._rows = self.machine().control.rows()
        for row, value in self._rows:
            shown = Text(str(value), "bold green" if value else "dim")
            table.add_row(row.register, row.name, row.bits, shown, row.effect)
        if self._rows:
            table.move_cursor(row=min(cursor, len(self._rows) - 1))

    @on(DataTable.RowSelected)
    def toggle(self, event: DataTable.RowSelected) -> None:
        row, value = self._rows[event.cursor_row]
        if not row.toggle:
            self.notify(f"{row.register}.{row.name} is a field: type `control register=…`")
            return
        self.app.post_message(CommandRequested(toggle_command(row, value), rerun_walk=True))
        self.set_timer(0.1, self.refresh_rows)  # after the app has run the command

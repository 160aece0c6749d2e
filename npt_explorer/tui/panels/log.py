"""The Log panel: every command run, what the machine did, the result, and each fault with
its explanation and decoded syndrome."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import RichLog

from ...scenario.events import event_text
from ...scenario.report import data_words, verdict_lines, walk_summary
from ...scenario.session import LogEntry
from ...scenario.trace_report import trace_block

HELP = """\
### Log

Everything run on this machine, oldest first: scenario steps and the demo's (`·`),
and commands typed or made by the panels (`>`: a poke from the entry editor, a flush
button). Under each: what the machine did, the walk's result (or the fault: which
stage, why, in one sentence, and the syndrome as the hardware reports it: exit
qualification, ESR/HPFAR, scause/htval…) and the expectations, if the step had any.
A typed command that failed is shown in red; it changed nothing and is not saved.
"""


def entry_block(entry: LogEntry) -> RenderableType:
    r = entry.result
    cmd = r.command
    mark = ">" if entry.by_hand else "·"
    if cmd.op == "note":
        return Text.assemble((f"{mark} [{r.index}] ", "dim"), (cmd.args["text"], "italic"))
    parts: list[RenderableType] = [
        Text.assemble((f"{mark} [{r.index}] ", "dim"), (cmd.to_line(), "bold"))
    ]
    for event in entry.events:
        if event.kind not in ("access", "translate", "fault"):
            parts.append(Text(f"    {event_text(event)}", "dim"))
    if r.error is not None:
        parts.append(Text(f"    error {r.error.kind}: {r.error.message}", "red"))
    elif r.walk is not None:
        parts.append(Padding(walk_summary(r.walk, cmd.op), (0, 0, 0, 4)))
        if r.walk.note:
            parts.append(Text(f"    {r.walk.note}", "yellow"))
    elif cmd.op == "trace" and "trace" in r.data:  # the trace's cost view
        parts.append(trace_block(r.data["trace"]))
    elif r.data:
        parts.append(Text("    " + data_words(r.data), "dim"))
    if "expect" in cmd.args or cmd.op == "expect":
        parts.extend(verdict_lines(r))
    return Group(*parts)


class TailLog(RichLog):
    """A RichLog that keeps showing its last line when its view loses rows: RichLog
    scrolls to the end after a write, but a panel that shrinks afterwards (the walk
    detail growing to show a syndrome), or a horizontal scrollbar that comes with a wide
    line after the scroll was computed, would leave the newest line below the fold."""

    def on_resize(self) -> None:
        self._follow_end()

    def watch_show_horizontal_scrollbar(self) -> None:
        self._follow_end()

    def _follow_end(self) -> None:
        if self.auto_scroll:
            self.scroll_end(animate=False, x_axis=False)


class LogPanel(Vertical):
    HELP = HELP

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.shown = 0
        self.border_title = "Log"

    def compose(self) -> ComposeResult:
        yield TailLog(id="log-view", wrap=True, markup=False, highlight=False, auto_scroll=True)

    @property
    def log_widget(self) -> RichLog:
        return self.query_one(RichLog)

    def show(self, entries: list[LogEntry]) -> None:
        """Append what is new (or start over when the session was replaced)."""
        log = self.log_widget
        if len(entries) < self.shown:
            log.clear()
            self.shown = 0
        for entry in entries[self.shown :]:
            log.write(entry_block(entry))
        self.shown = len(entries)
        self.border_title = Text(f"Log · {len(entries)} commands")

    def reset(self) -> None:
        self.log_widget.clear()
        self.shown = 0

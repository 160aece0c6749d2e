"""Two one-line bars: the panel switcher (which panel is current; click to change) and the
caption bar (the demo's or scenario's title, the last note, step k/N, expectations)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from ...scenario.session import Session

#: panel id → the name shown in the bar, in `tab` order
PANELS: dict[str, str] = {
    "walk": "Walk",
    "tables": "Page tables",
    "entry": "Entry",
    "tlb": "TLB",
    "regions": "Regions",
    "log": "Log",
}


class PanelChosen(Message):
    def __init__(self, panel: str) -> None:
        super().__init__()
        self.panel = panel


class PanelTab(Static):
    def __init__(self, panel: str) -> None:
        super().__init__(PANELS[panel], id=f"tab-{panel}", classes="panel-tab")
        self.panel = panel

    def on_click(self) -> None:
        self.post_message(PanelChosen(self.panel))


class PanelBar(Horizontal):
    def compose(self) -> ComposeResult:
        for panel in PANELS:
            yield PanelTab(panel)

    def set_current(self, panel: str) -> None:
        for tab in self.query(PanelTab):
            tab.set_class(tab.panel == panel, "-current")


class CaptionBar(VerticalScroll):
    """What is loaded, where we are in it, and the last note, whole: the bar grows with the
    note (up to a few lines; a longer one scrolls) so a lesson's note is never cut."""

    def compose(self) -> ComposeResult:
        yield Static(id="caption-text")

    def show(self, session: Session) -> None:
        s = session.scenario
        line = Text()
        if session.mode == "image":  # tui/image_source.py: the machine is a memory image's
            line.append("Image ", "bold reverse")
            line.append(f" {s.title}", "bold")
            line.append(f"   overlay: {session.machine.pokes} frame(s) changed", "bold")
            line.append("   translate gva=… · poke · save FILE.toml|FILE.elf · ? help", "dim")
        elif session.mode == "demo":
            line.append("Demo ", "bold reverse")
            line.append(f" {s.title}", "bold")
            line.append("   o open a scenario · a arch · ? help", "dim")
        else:
            line.append("Scenario ", "bold reverse")
            line.append(f" {s.title}", "bold")
            line.append(f"   step {session.position}/{session.total}", "bold")
            checked = [e.result for e in session.log if not e.by_hand and e.result.checked]
            passed = sum(r.passed for r in checked)
            failed = len(checked) - passed
            if checked:
                line.append("   expectations ")
                line.append(f"{passed} ✓", "bold green")
                if failed:
                    line.append(f" {failed} ✗", "bold red")
            last = next((e.result for e in reversed(session.log) if not e.by_hand), None)
            if last is not None and last.checked:
                line.append("   last step: ")
                line.append(
                    "pass"
                    if last.passed
                    else "FAIL: "
                    + ", ".join(
                        f"{m['key']} expected {m['expected']!r} got {m['actual']!r}"
                        for m in last.mismatches
                    ),
                    "green" if last.passed else "bold red",
                )
            hint = (
                "   ] next step · [ back"
                if session.position < session.total
                else "   end of scenario · [ back"
            )
            line.append(hint, "dim")
        caption = session.caption or s.summary
        self.query_one("#caption-text", Static).update(
            Text.assemble(line, "\n", (caption, "italic"))
        )
        self.scroll_home(animate=False)

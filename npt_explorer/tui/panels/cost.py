"""The cost view: every trace this session ran, drawn rather than listed — memory references
per access over the trace's length, one line per trace and page size (the windows of
`TraceStats.series_by_size`), and references per walk, all and to memory, a pair of bars per
trace. Typed command `cost`; escape closes it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, Static
from textual_plotext import PlotextPlot

from ...scenario.trace_report import SIZE_NAMES
from ..widgets.dialogs import Dialog


@dataclass(frozen=True, slots=True)
class Curve:
    """One line of the time plot: memory references per access, per window of accesses."""

    label: str
    window: int  # accesses per point
    values: list[float | None]  # None: no access to pages of this size in that window


@dataclass(frozen=True, slots=True)
class TraceCost:
    """One trace step's numbers as the view draws them."""

    label: str
    curves: list[Curve]
    refs_per_walk: float
    mem_refs_per_walk: float
    mem_refs_per_access: float


def trace_costs(results: list[Any]) -> list[TraceCost]:
    """The traces among step results (`StepResult`s, in order), labelled by step and pages."""
    out = []
    for r in results:
        doc = r.data.get("trace") if r.ok else None
        if not doc:
            continue
        args = r.command.args
        if "file" in args:
            what = f"{Path(args['file']).name} {args.get('s1_page', '4K')}/"
            what += "native" if args.get("native") else args.get("s2_page", "4K")
        else:
            sizes = "+".join(_size(size) for size in doc["page_sizes"])
            what = f"{args.get('pattern', 'sequential')} {sizes}"
        label = f"step {r.index} {what}"
        by_size = doc.get("mem_refs_per_access_series_by_size") or {}
        curves = [
            Curve(
                label if len(by_size) == 1 else f"{label} {_size(size)} pages",
                doc["series_window"],
                values,
            )
            for size, values in by_size.items()
        ]
        out.append(
            TraceCost(
                label, curves, doc["refs_per_walk"], doc["mem_refs_per_walk"],
                doc["mem_refs_per_access"],
            )
        )  # fmt: skip
    return out


def _size(hex_size: str) -> str:
    return SIZE_NAMES.get(int(hex_size, 16), hex_size)


class CostView(Dialog[None]):
    """A modal pair of plots over the session's traces."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close")]

    def __init__(self, costs: list[TraceCost]) -> None:
        super().__init__()
        self.costs = costs

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog cost-view"):
            yield Label(Text("What the walks cost", "bold"))
            yield PlotextPlot(id="cost-time")
            yield PlotextPlot(id="cost-walks")
            yield Static(self._note(), id="cost-note")

    def _note(self) -> Text:
        if not self.costs:
            return Text("no trace yet: run one (trace gva=… size=… count=…, or file=…)", "dim")
        return Text("escape: close", "dim")

    def on_mount(self) -> None:
        self._draw_time(self.query_one("#cost-time", PlotextPlot).plt)
        self._draw_walks(self.query_one("#cost-walks", PlotextPlot).plt)

    def _draw_time(self, plt: Any) -> None:
        curves = [c for t in self.costs for c in t.curves if len(c.values) > 1]
        longest = max((len(c.values) * c.window for c in curves), default=0)
        scale, unit = (1e6, "M") if longest >= 2_000_000 else (1e3, "k")
        plt.title("memory references per access over the trace")
        plt.xlabel(f"accesses ({unit})")
        for c in curves:
            points = [
                ((k + 0.5) * c.window / scale, v) for k, v in enumerate(c.values) if v is not None
            ]
            plt.plot(
                [x for x, _ in points], [y for _, y in points], label=c.label, marker="braille"
            )
        if not curves:
            plt.title("memory references per access over time: traces of 2+ windows of 65,536")

    def _draw_walks(self, plt: Any) -> None:
        plt.title("references per TLB miss: all, and those that went to memory")
        labels: list[str] = []
        values: list[float] = []
        for t in self.costs:
            labels += [f"{t.label}: all", f"{t.label}: to memory"]
            values += [t.refs_per_walk, t.mem_refs_per_walk]
        if labels:  # the first trace on top
            plt.bar(labels[::-1], values[::-1], orientation="horizontal", width=0.6)

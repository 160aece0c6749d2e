"""Modal dialogs: edit a value, pick a scenario, pick an architecture and machine options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, SelectionList, Static
from textual.widgets.option_list import Option

from ...engine import ARCHES, Encoding, MachineConfig, PagingError
from ...image.files import is_image_command
from ...scenario import bundled_dir
from ...scenario.loader import ScenarioError, load
from ...scenario.session import DEMO_DIR

T = TypeVar("T")

#: where the scenario picker looks: the working directory's scenarios/, then the bundled ones
SCENARIO_DIRS = (Path("scenarios"), bundled_dir())


@dataclass(frozen=True, slots=True)
class ScenarioInfo:
    path: Path
    title: str
    summary: str
    arch: str
    error: str = ""


def scenario_paths(dirs: tuple[Path, ...] = SCENARIO_DIRS, demos: bool = False) -> list[Path]:
    """Every `*.toml` in `dirs` (and the demos), each file once, in order."""
    seen: set[Path] = set()
    out: list[Path] = []
    for folder in (*dirs, DEMO_DIR) if demos else dirs:
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
            if path.resolve() not in seen:
                seen.add(path.resolve())
                out.append(path)
    return out


def scenario_files() -> list[str]:
    """What the command line completes after `load`: files under ./scenarios/ as paths, the
    other bundled lessons by the short name `load` accepts from any directory."""
    bundled = bundled_dir().resolve()
    return [p.stem if p.resolve().parent == bundled else str(p) for p in scenario_paths()]


def find_scenarios(dirs: tuple[Path, ...] = SCENARIO_DIRS) -> list[ScenarioInfo]:
    """The scenario files and the demos, with their titles and summaries (or the error that
    makes one invalid)."""
    found: list[ScenarioInfo] = []
    for path in scenario_paths(dirs, demos=True):
        try:
            s = load(path)
            found.append(ScenarioInfo(path, s.title, s.summary, s.arch))
        except ScenarioError as err:
            found.append(ScenarioInfo(path, path.name, "", "?", err.message))
    return found


class Dialog(ModalScreen[T | None], Generic[T]):
    """A modal dialog that answers once. Keys queued in one burst (two Enters from a paste
    or an SSH double tap) reach it after it has answered: the second answer is dropped,
    never a second `dismiss` of a screen already off the stack (ScreenStackError)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]
    _answered = False

    def answer(self, value: T | None) -> None:
        if self._answered or not self.is_current:
            return
        self._answered = True
        self.dismiss(value)

    def action_dismiss_none(self) -> None:
        self.answer(None)


class PagedOptionList(OptionList):
    """An OptionList whose page keys wait until it has a size: Textual 8.2.8 pages through a
    line table that is empty before the first layout (`KeyError: 0`, an upstream bug), which
    `o` followed at once by PageDown hits."""

    def _move_page(self, direction: Literal[-1, 1]) -> None:
        if self.scrollable_content_region and self.highlighted in self._index_to_line:
            super()._move_page(direction)


class EditValue(Dialog[str]):
    """Ask for one value (a field, a raw entry)."""

    def __init__(self, what: str, value: str, doc: str = "") -> None:
        super().__init__()
        self.what, self.value, self.doc = what, value, doc

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(Text(f"New value for {self.what}", "bold"))
            if self.doc:
                yield Static(Text(self.doc, "dim"))
            yield Input(self.value, id="edit-value", select_on_focus=True)
            yield Static(Text("enter: poke it   escape: cancel", "dim"))

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        self.answer(event.value.strip() or None)


def matches(info: ScenarioInfo, query: str) -> bool:
    """Does every word of `query` appear (any case) in the scenario's title, arch, file
    name or summary?"""
    text = f"{info.title} {info.arch} {info.path.name} {info.summary}".casefold()
    return all(word in text for word in query.casefold().split())


class ScenarioPicker(Dialog[Path | str]):
    """Titles and summaries of the scenario files. Typing filters them (every word typed
    must appear in the title, arch, file name or summary); up/down/page keys move in the
    list while the filter keeps the focus; enter loads the highlighted one. Typed text that
    matches no scenario but names a file (a scenario, or a memory image and its root
    options: `dump.elf --cr3 V`) is answered as typed."""

    BINDINGS = [
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
    ]

    def __init__(self, scenarios: list[ScenarioInfo] | None = None) -> None:
        super().__init__()
        self.scenarios = find_scenarios() if scenarios is None else scenarios

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog wide"):
            yield Label(
                Text("Load a scenario (type to filter, enter: load, escape: cancel)", "bold")
            )
            yield Input(
                placeholder="filter: x86 tlb, aarch64 fault, … or a file: dump.elf --cr3 V",
                id="scenario-filter",
            )
            yield Static(id="scenario-none").set_styles("display: none;")
            yield PagedOptionList(*self._options(""), id="scenario-list")

    def _options(self, query: str) -> list[Option]:
        options = []
        for i, s in enumerate(self.scenarios):
            if not matches(s, query):
                continue
            prompt = Text.assemble((s.title, "bold"), f"  [{s.arch}] ", (str(s.path), "dim"))
            if s.summary or s.error:
                prompt.append("\n" + (s.summary or s.error), "italic" if s.summary else "red")
            options.append(Option(prompt, id=str(i), disabled=bool(s.error)))
        return options

    @property
    def listing(self) -> PagedOptionList:
        return self.query_one("#scenario-list", PagedOptionList)

    def on_mount(self) -> None:
        self._highlight_first()

    def _highlight_first(self) -> None:
        listing = self.listing
        first = next(
            (i for i in range(listing.option_count) if not listing.get_option_at_index(i).disabled),
            None,
        )
        listing.highlighted = first

    @on(Input.Changed, "#scenario-filter")
    def filter(self, event: Input.Changed) -> None:
        listing = self.listing
        options = self._options(event.value)
        listing.clear_options()
        listing.add_options(options)
        self._highlight_first()
        none = self.query_one("#scenario-none", Static)
        none.update(Text(f"no scenario matches {event.value!r}", "italic"))
        none.display = not options

    def action_move(self, delta: int) -> None:
        listing = self.listing
        (listing.action_cursor_down if delta > 0 else listing.action_cursor_up)()

    def action_page(self, delta: int) -> None:
        self.listing._move_page(1 if delta > 0 else -1)

    @on(Input.Submitted, "#scenario-filter")
    def submit(self, event: Input.Submitted) -> None:
        event.stop()
        listing = self.listing
        if listing.highlighted is None:  # no scenario matches: a file or an image (+ roots)
            if is_image_command(event.value.split()) or Path(event.value.strip()).is_file():
                self.answer(event.value.strip())
            return  # else the filter stays open for another try
        option = listing.get_option_at_index(listing.highlighted)
        if not option.disabled:
            self.answer(self.scenarios[int(option.id or 0)].path)

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.answer(self.scenarios[int(event.option.id or 0)].path)


class MachinePicker(Dialog[MachineConfig]):
    """Architecture, both stages' modes, features and the flag encoding."""

    def __init__(self, current: MachineConfig) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        cfg = self.current
        spec = cfg.spec
        with Vertical(id="dialog", classes="dialog"):
            yield Label(Text("Architecture and machine options (runs that arch's demo)", "bold"))
            yield Select(
                [(f"{a}: {s.title}", a) for a, s in ARCHES.items()],
                value=cfg.arch,
                allow_blank=False,
                id="pick-arch",
            )
            with Horizontal(classes="row"):
                yield Select(
                    [(g, g) for g in spec.guests],
                    value=cfg.guest,
                    allow_blank=False,
                    id="pick-guest",
                )
                yield Select(
                    [(n, n) for n in spec.npts], value=cfg.npt, allow_blank=False, id="pick-npt"
                )
                yield Select(
                    [(f"encoding {e}", str(e)) for e in Encoding],
                    value=str(cfg.encoding),
                    allow_blank=False,
                    id="pick-encoding",
                )
            yield SelectionList[str](
                *[(f, f, f in cfg.features) for f in spec.features], id="pick-features"
            )
            yield Static(id="pick-error")
            with Horizontal(classes="row buttons"):
                yield Button("Apply", variant="primary", id="apply", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    @on(Select.Changed, "#pick-arch")
    def arch_changed(self, event: Select.Changed) -> None:
        spec = ARCHES[str(event.value)]
        guest = self.query_one("#pick-guest", Select)
        npt = self.query_one("#pick-npt", Select)
        guest.set_options([(g, g) for g in spec.guests])
        guest.value = spec.default_guest
        npt.set_options([(n, n) for n in spec.npts])
        npt.value = spec.default_npt
        features = self.query_one("#pick-features", SelectionList)
        features.clear_options()
        features.add_options([(f, f, False) for f in spec.features])

    def config(self) -> MachineConfig:
        """The chosen options; raises PagingError if they do not fit together."""

        def value(sel: str) -> str:
            return str(self.query_one(sel, Select).value)

        table = {
            "guest": value("#pick-guest"),
            "npt": value("#pick-npt"),
            "features": list(self.query_one("#pick-features", SelectionList).selected),
            "encoding": value("#pick-encoding"),
        }
        return MachineConfig.from_table(table, value("#pick-arch"))

    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        try:
            self.answer(self.config())
        except PagingError as err:
            self.query_one("#pick-error", Static).update(Text(err.message, "red"))

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.answer(None)

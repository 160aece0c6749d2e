"""The npt-explorer TUI: six linked panels over one `Session`, a command line, scenario mode.

The app is the coordinator (ARCHITECTURE.md): panels post `StepSelected`, `EntrySelected`,
`CommandRequested` upward; the app runs commands through the session (the scenario runner's
`execute`) and posts `MachineChanged`, on which every panel re-reads the model.
"""

from __future__ import annotations

import gc
import os
import shlex
import sys
from pathlib import Path

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import CommandPalette
from textual.containers import Container
from textual.css.query import NoMatches
from textual.events import DescendantFocus, Resize
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, Input, RichLog, Tree

from ..engine import ARCHES, Encoding, MachineConfig, PagingError, Walk, stage_table
from ..scenario.loader import ScenarioError
from ..scenario.session import Session
from .classroom import PROJECTOR_PANELS, Classroom
from .command_runner import CommandRunner
from .config import PLAY_SECONDS, THEMES, ConfigError, Settings, remember_theme
from .files import FileRoot, remove_scratch, scratch_session
from .frames import PanelsScreen
from .image_source import open_session
from .messages import (
    CommandRequested,
    EntrySelected,
    MachineChanged,
    PrefillCommand,
    StepSelected,
    step_target,
)
from .palette import GuardedPalette, NptCommands
from .panels.control import ControlPanel
from .panels.diff import DiffFollow
from .panels.entry import EntryPanel
from .panels.image_regions import regions_panel_class
from .panels.log import LogPanel
from .panels.regions import RegionsPanel
from .panels.tables import PageTablesPanel
from .panels.tlb import TlbPanel
from .panels.walk import WalkGrid, WalkPanel
from .widgets.bars import PANELS, CaptionBar, PanelBar, PanelChosen
from .widgets.command_line import CommandInput, CommandLine
from .widgets.dialogs import MachinePicker, ScenarioPicker, scenario_files
from .widgets.text_grid import TextGrid
from .widgets.themes import DEFAULT_THEME, HIGH_CONTRAST

#: layouts by terminal size (columns, rows), largest first: all six panels; the walk grid
#: with the entry below it (a projector's ~100×30); one panel at a time (tab switches)
LAYOUTS: tuple[tuple[str, int, int], ...] = (
    ("wide", 140, 44),
    ("medium", 100, 26),
    ("narrow", 0, 0),
)
#: the panels the medium layout shows together (the others one at a time)
PAIRED = ("walk", "entry")
#: the play speeds + and - step through (seconds per reference)
PLAY_STEPS = (0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0)
#: a full collection once per this many middle-generation ones (Python's default: 10), in a
#: terminal: each walks the ~30k live objects of Textual's render caches made since the
#: freeze (20–35 ms of CPU), and at 10 one landed inside every ~20th step
FULL_COLLECTION_EVERY = 100

_STEP = Binding.Group("step")
_ENDS = Binding.Group("ends")
_SCENARIO = Binding.Group("scenario")


def _wide_only(
    key: str, action: str, description: str, arg: int = 0, group: Binding.Group | None = None
) -> tuple[Binding, Binding]:
    """A key shown in the Footer on wide screens only (80 columns hold the essential ones;
    the caption bar names these): the same action, bound twice, one binding shown."""
    return (
        Binding(key, f"{action}({arg}, True)", description, priority=True, group=group),
        Binding(key, f"{action}({arg}, False)", description, priority=True, show=False),
    )


_BINDINGS: list[Binding] = [
    Binding("n", "step(1)", "next", priority=True, group=_STEP),
    Binding("p", "step(-1)", "prev", priority=True, group=_STEP),
    Binding("home", "first", "start", priority=True, group=_ENDS),
    Binding("end", "last", "end", priority=True, group=_ENDS),
    Binding("f", "fault", "fault", priority=True),
    Binding("space", "play", "play", priority=True),
    Binding("plus", "play_speed(-1)", "faster", priority=True, show=False),
    Binding("minus", "play_speed(1)", "slower", priority=True, show=False),
    Binding("colon", "command", "cmd", priority=True),
    Binding("question_mark", "help", "help", priority=True),
    Binding("tab", "panel(1)", "panel", priority=True),
    Binding("shift+tab", "panel(-1)", "previous panel", priority=True, show=False),
    *_wide_only("o", "pick_scenario", "open"),
    *_wide_only("a", "pick_machine", "arch"),
    *_wide_only("left_square_bracket", "scenario_step", "back", -1, _SCENARIO),
    *_wide_only("right_square_bracket", "scenario_step", "next", 1, _SCENARIO),
    Binding("q", "quit", "quit", priority=True),
    Binding("f5", "projector", "projector", priority=True, show=False),
    Binding("c", "control_state", "control state", priority=True, show=False),
]

_ACTIONS = frozenset(b.action.split("(")[0] for b in _BINDINGS)
#: keys that replace or change the session (refused while time travel rebuilds it)
_CHANGES_SESSION = frozenset({"scenario_step", "pick_scenario", "pick_machine", "control_state"})


class NptExplorerApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "npt-explorer"
    COMMANDS = App.COMMANDS | {NptCommands}
    BINDINGS = _BINDINGS

    def __init__(
        self, session: Session, *, theme: str | None = None, play_seconds: float = PLAY_SECONDS
    ) -> None:
        super().__init__()
        self.session = session
        self.commands = CommandRunner(self)  # typed lines and the panels' command requests
        self.classroom = Classroom(self)  # quiz, diff, time travel, the projector layout
        self.register_theme(HIGH_CONTRAST)
        self.theme = theme or DEFAULT_THEME
        self.current_panel = "walk"
        self.play_seconds = play_seconds
        self._player: Timer | None = None
        self._before_command: Widget | None = None
        self._shown_walk: object = None  # the StepResult whose walk the Walk panel shows
        self._discard_asked: tuple[str, int] | None = None  # (what, unsaved) last warned of
        self._walk_rows = 0  # the wide layout's top row
        self._linked: tuple[int, int] | None = None  # (id(walk), index) the panels show
        self._log: LogPanel | None = None  # composed once; gone (detached) at shutdown
        #: freeze the session's objects out of the collector (run_app: a real terminal; a
        #: test process starts many apps, whose frozen objects would never be freed)
        self.freeze_heap = False
        self._frozen = False
        #: a theme picked in the palette is written to the settings file (run_app, not in
        #: served mode: a browser tab must not rewrite the server's settings)
        self.remember_theme = False

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        # the layout's class before the panels are styled: set on mount instead, it would
        # restyle every widget and lay the screen out once more (~0.1 s of the first screen)
        layout = layout_for(self.size.width, self.size.height)
        self.screen.add_class(f"-{layout}")
        yield Header(icon="⇶")
        yield PanelBar(id="panel-bar")
        with Container(id="panels"):
            # grid order on wide screens: walk across the top; tables | entry (2 rows);
            # regions; log | TLB
            yield WalkPanel(id="walk", classes="panel")
            yield PageTablesPanel(id="tables", classes="panel")
            yield EntryPanel(id="entry", classes="panel")
            yield regions_panel_class(self.session)(id="regions", classes="panel")
            self._log = LogPanel(id="log", classes="panel")
            yield self._log
            yield TlbPanel(id="tlb", classes="panel")
        yield CaptionBar(id="caption")
        yield CommandLine(lambda: self.session.arch, scenario_files, id="command-line")
        yield Footer(compact=True, show_command_palette=layout == "wide")

    def get_default_screen(self) -> Screen[object]:
        return PanelsScreen(id="_default")  # a key's frame at once (frames.py)

    @property
    def main(self) -> Screen[object]:
        """The screen the panels live on (under any dialog, palette or help screen): what
        the app updates whatever is on top."""
        return self.screen_stack[0] if self.screen_stack else self.screen

    @property
    def closing(self) -> bool:
        """The app is shutting down: its screens, or the panels on them, are gone, and
        messages posted before (a step, the walk panel's height) may still arrive."""
        log = self._log  # asked on every step: a query of the whole DOM took ~0.4 ms
        return not self.screen_stack or log is None or not log.is_attached

    @property
    def walk(self) -> WalkPanel:
        return self.main.query_one(WalkPanel)

    @property
    def tables(self) -> PageTablesPanel:
        return self.main.query_one(PageTablesPanel)

    @property
    def entry(self) -> EntryPanel:
        return self.main.query_one(EntryPanel)

    @property
    def command_line(self) -> CommandLine:
        return self.main.query_one(CommandLine)

    def on_mount(self) -> None:
        if self.remember_theme:
            self.theme_changed_signal.subscribe(self, self._theme_chosen)
        self._apply_size(self.size.width, self.size.height, first=True)
        self.post_message(MachineChanged(reset=True))
        self.focus_panel("walk")

    def on_resize(self, event: Resize) -> None:
        self._apply_size(event.size.width, event.size.height)

    @property
    def wide(self) -> bool:
        return self.screen.has_class("-wide")

    @property
    def layout_name(self) -> str:
        return next((n for n, _, _ in LAYOUTS if self.screen.has_class(f"-{n}")), "narrow")

    def _apply_size(self, width: int, height: int, first: bool = False) -> None:
        name = layout_for(width, height)
        if self.screen.has_class(f"-{name}") and not first:
            return  # restyling the screen costs tens of ms: only when it changes
        for other, _, _ in LAYOUTS:
            self.screen.set_class(other == name, f"-{other}")
        self.walk.fit(grid_height=name != "narrow")
        self._set_current(self.current_panel)
        if first:
            return  # compose gave the screen and the footer this layout's classes and keys
        for footer in self.main.query(Footer):
            footer.show_command_palette = name == "wide"  # ctrl+p still works (? help)
        self.refresh_bindings()

    def shows(self, panel: str, current: str) -> bool:
        """Is `panel` on screen while `current` is the current panel (in this layout)?"""
        if self.classroom.projector:
            return panel in PROJECTOR_PANELS
        name = self.layout_name
        if name == "wide" or panel == current:
            return True
        return name == "medium" and panel in PAIRED and current in PAIRED

    def _set_current(self, panel: str) -> None:
        """Mark `panel` current and show what the layout shows with it. `display` is set
        directly (not by a CSS class) so that focus can move to it at once."""
        self.current_panel = panel
        for widget in self.main.query(".panel"):
            widget.set_class(widget.id == panel, "-current")
            widget.display = self.shows(str(widget.id), panel)
        self.main.query_one(PanelBar).set_current(panel)

    def _primary(self, panel: str) -> Widget:
        widget = self.main.query_one(f"#{panel}")
        for kind in (WalkGrid, Tree, TextGrid, DataTable, RichLog):
            found = widget.query(kind)
            if found:
                return found.first()
        return widget

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        for node in event.widget.ancestors_with_self:
            if isinstance(node, Widget) and node.id in PANELS and node.has_class("panel"):
                if node.id != self.current_panel:
                    self._set_current(node.id)
                return

    @on(PanelChosen)
    def panel_chosen(self, event: PanelChosen) -> None:
        self.focus_panel(event.panel)

    def focus_panel(self, panel: str) -> None:
        self._set_current(panel)
        self.set_focus(self._primary(panel))

    # ------------------------------------------------------------------ bindings

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys are for the panels: inside a text box or a dialog they are typed."""
        if action not in _ACTIONS:
            return True
        if isinstance(self.screen, ModalScreen) or isinstance(self.focused, Input):
            return False
        if action == "scenario_step" and self.session.mode != "scenario":
            return False
        if action in _CHANGES_SESSION and self.classroom.travelling is not None:
            return False  # a worker is rebuilding the session at an earlier point
        if action in ("pick_scenario", "pick_machine", "scenario_step"):
            return parameters[-1] == self.screen.has_class("-wide")
        return True

    def move_walk(self, index: int) -> None:
        """The walk cursor to reference `index` and the linked panels with it, in one frame
        (the keys and the player; StepSelected still goes out, and is then already done)."""
        panel = self.walk
        with self.batch_update():
            panel.select(index)
            walk = panel.walk
            if walk is not None and walk.steps and self._linked != (id(walk), panel.index):
                self._link_step(walk, panel.index)

    def action_step(self, delta: int) -> None:
        self.move_walk(self.walk.index + delta)

    def action_first(self) -> None:
        self.move_walk(0)

    def action_last(self) -> None:
        self.move_walk(self.walk.count - 1)

    def action_fault(self) -> None:
        index = self.walk.fault_index()
        if index is None:
            walk = self.walk.walk
            why = (
                "the walk faulted before reading an entry"
                if walk and walk.fault
                else "no fault in this walk"
            )
            self.notify(why, timeout=3)
            if walk is not None and walk.fault is not None:
                self.move_walk(self.walk.count - 1)
            return
        self.move_walk(index)

    def action_play(self) -> None:
        if self._player is not None:
            self._stop_playing()
            return
        if self.walk.at_end:
            self.move_walk(0)
        self._player = self.set_interval(self.play_seconds, self._tick)
        self.notify("playing the walk (space pauses)", timeout=2)

    def action_play_speed(self, delta: int) -> None:
        """+ plays faster, - slower (the next speed of PLAY_STEPS); a running play follows."""
        slower = [s for s in PLAY_STEPS if s > self.play_seconds]
        faster = [s for s in PLAY_STEPS if s < self.play_seconds]
        if delta > 0 and slower:
            self.play_seconds = slower[0]
        elif delta < 0 and faster:
            self.play_seconds = faster[-1]
        if self._player is not None:
            self._player.stop()
            self._player = self.set_interval(self.play_seconds, self._tick)
        self.notify(f"play: {self.play_seconds:g} s per reference (+ faster, - slower)", timeout=2)

    def _tick(self) -> None:
        if self.walk.at_end:
            self._stop_playing()
        else:
            self.move_walk(self.walk.index + 1)

    def _stop_playing(self) -> None:
        if self._player is not None:
            self._player.stop()
            self._player = None

    def action_command(self) -> None:
        if not isinstance(self.focused, CommandInput):
            self._before_command = self.focused
        # now, not at the next idle as `focus()` would: keys already queued behind the `:`
        # (a fast typist, a paste, a busy machine) must be typed, not taken as hotkeys
        self.screen.set_focus(self.command_line.input)

    def action_leave_command(self) -> None:
        target = self._before_command
        if target is None or not target.is_attached or not target.display:
            target = self._primary(self.current_panel)
        self.screen.set_focus(target)

    def action_panel(self, delta: int) -> None:
        order = [p for p in PANELS if not self.classroom.projector or p in PROJECTOR_PANELS]
        index = order.index(self.current_panel) if self.current_panel in order else 0
        self.focus_panel(order[(index + delta) % len(order)])

    def action_command_palette(self) -> None:
        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(GuardedPalette(id="--command-palette"))

    def action_control_state(self) -> None:
        """The control-state panel (tui/panels/control.py): toggle a bit, the walk re-runs."""
        self.push_screen(ControlPanel(lambda: self.session.machine))

    def action_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_quit(self) -> None:  # type: ignore[override]
        if self.may_discard("quit", "press q again to quit without them"):
            self.exit(0)

    # ------------------------------------------------------------------ commands

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "cmd-input":
            event.stop()
            self.commands.submit(event.value)

    def on_command_requested(self, event: CommandRequested) -> None:
        event.stop()
        self.commands.run_text(event.text, rerun_walk=event.rerun_walk)

    def on_prefill_command(self, event: PrefillCommand) -> None:
        self.commands.prefill(event.text)

    # ------------------------------------------------------------------ the classroom

    def action_projector(self) -> None:
        self.classroom.toggle_projector()

    def on_machine_changed(self, event: MachineChanged) -> None:
        self.classroom.machine_changed()  # the panels re-read the model on their own handlers

    def on_diff_follow(self, event: DiffFollow) -> None:
        self.classroom.follow(event)

    # ------------------------------------------------------------------ sessions

    def may_discard(self, what: str, again: str) -> bool:
        """May `what` drop the typed commands not yet saved? The first time, no: it warns
        (`save FILE.toml` keeps them); asked again with nothing typed since, yes."""
        unsaved = self.session.unsaved
        if not unsaved or self._discard_asked == (what, unsaved):
            self._discard_asked = None
            return True
        self._discard_asked = (what, unsaved)
        message = f"{unsaved} typed command(s) not saved: save FILE.toml keeps them; {again}"
        self.command_line.show_error(message)
        self.notify(message, severity="warning", timeout=6)
        return False

    def replace_session(self, session: Session) -> None:
        self._stop_playing()
        if self._frozen:  # the old session's objects become collectable again
            gc.unfreeze()
        self.session = session
        old = self.main.query_one(RegionsPanel)
        want = regions_panel_class(session)  # an image's Regions panel is `image ranges`
        if type(old) is want:
            self.post_message(MachineChanged(reset=True))
            return

        async def swap() -> None:
            await old.remove()
            await self.main.query_one("#panels").mount(
                want(id="regions", classes="panel"), after=self.main.query_one("#entry")
            )
            self._set_current(self.current_panel)
            self.post_message(MachineChanged(reset=True))

        self.call_later(swap)

    def switch_arch(self, arch: str, config: MachineConfig | None = None) -> bool:
        if not self.may_discard("arch", "switch again to drop them"):
            return False
        self.replace_session(Session.demo(arch, config))
        self.notify(f"{arch}: {ARCHES[arch].title}", timeout=3)
        return True

    def load_scenario(self, path: str | Path, *options: str) -> bool:
        """A scenario, a memory image with its root options, or an image's patch file."""
        try:
            session = open_session([str(path), *options])
        except ScenarioError as err:
            self.command_line.show_error(str(err))
            self.notify(str(err), severity="error", timeout=6)
            return False
        if not self.may_discard("load", "load again to drop them"):
            return False
        self.replace_session(session)
        return True

    def action_pick_machine(self, _arg: int = 0, _shown: bool = True) -> None:
        def chosen(config: MachineConfig | None) -> None:
            if config is not None:
                self.switch_arch(config.arch, config)

        self.push_screen(MachinePicker(self.session.machine.config), chosen)

    def action_pick_scenario(self, _arg: int = 0, _shown: bool = True) -> None:
        def chosen(path: Path | str | None) -> None:
            if isinstance(path, str):  # typed: a file, or an image and its root options
                self.load_scenario(*shlex.split(path))
            elif path is not None:
                self.load_scenario(path)

        self.push_screen(ScenarioPicker(), chosen)

    def action_scenario_step(self, delta: int, _shown: bool = True) -> None:
        s = self.session
        if delta > 0:
            if s.position >= s.total:
                self.notify("end of the scenario", timeout=2)
                return
            results = s.run_scenario_steps(1)
            self.post_message(MachineChanged(results[-1]))
        elif s.position > 0:
            if not self.may_discard("rewind", "step back again to drop them"):
                return
            dropped = s.hand_commands
            self.replace_session(s.rewound(s.position - 1))
            if dropped:
                self.notify(f"{dropped} typed command(s) dropped with the rewind", timeout=4)

    # ------------------------------------------------------------------ linking panels

    @on(MachineChanged)
    def machine_changed(self, event: MachineChanged) -> None:
        if self.closing:
            return
        s = self.session
        m = s.machine
        if event.reset:
            self.main.query_one(LogPanel).reset()
            cfg = m.config
            features = f" +{','.join(sorted(cfg.features))}" if cfg.features else ""
            encoding = "" if cfg.encoding is Encoding.FIXED else f" · {cfg.encoding} encoding"
            npt = cfg.npt if stage_table(m, 2) is not None else "stage 2 off"  # an image's
            self.sub_title = f"{m.arch} · {cfg.guest} × {npt}{features}{encoding} · {s.mode}"
        self.tables.show(m)
        for regions in self.main.query(RegionsPanel):  # none while an image's is swapped in
            regions.show(m)
        self.main.query_one(TlbPanel).show(m)
        self.main.query_one(LogPanel).show(s.log)
        self.main.query_one(CaptionBar).show(s)
        walk_result = s.walk_result
        if event.reset or walk_result is not self._shown_walk:
            self._shown_walk = walk_result
            self._linked = None  # a new walk: nothing of it is linked yet
            walk = walk_result.walk if walk_result is not None else None
            op = walk_result.command.op if walk_result else None
            title = walk_title(walk, op) if op and walk else ""
            keep = self.walk.index if event.keep_step else None
            self.walk.show_walk(walk, m.s1, m.s2, title, keep, op)
            if walk is None or not walk.steps:
                self.entry.show(m, self.entry.target)
            else:
                self.tables.read_ahead(walk)
        else:
            self.entry.show(m, self.entry.target)
        if event.reset:
            self.refresh_bindings()  # the scenario keys come and go with scenario mode
            if self.freeze_heap:
                self.call_after_refresh(self._freeze)

    def _theme_chosen(self, theme: Theme) -> None:
        """The theme changed (the palette's Theme command): remember it as `--theme` is;
        F5's high contrast is for the room, not a choice."""
        if self.classroom.projector:
            return
        try:
            kept = remember_theme(theme.name)
        except (ConfigError, OSError) as err:
            self.notify(f"theme not remembered: {err}", severity="warning", timeout=6)
            return
        if kept is None:
            names = " or ".join(THEMES)
            self.notify(f"{theme.name}: for this session (the settings file keeps {names})")

    def _freeze(self) -> None:
        """After a session's first frame: its machine, model and panels live until the next
        session, yet every full collection walked them (~0.15 s on the demo, a missed
        frame every few dozen steps). `gc.freeze` moves them out of the collector's
        generations; the garbage of the session before is collected first, once no worker
        (a regions fold of the old machine) can still hold it. Full collections of what
        later steps keep (render caches) are then made rarer: FULL_COLLECTION_EVERY."""
        if any(worker.is_running for worker in self.workers):
            self.set_timer(0.2, self._freeze)
            return
        if self._frozen:
            gc.collect()
        gc.freeze()
        self._frozen = True
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)

    @on(WalkPanel.HeightWanted)
    def walk_height(self, event: WalkPanel.HeightWanted) -> None:
        """The wide grid's top row is as tall as the Walk panel needs (a CSS `auto` row
        would measure the two-column panel at one column's width)."""
        if self.closing:
            return
        if event.rows != self._walk_rows:
            self._walk_rows = event.rows
            self.main.query_one("#panels").set_styles(f"grid-rows: {event.rows} 1fr 1fr 1fr;")

    @on(StepSelected)
    def step_selected(self, event: StepSelected) -> None:
        if self.closing:
            return
        panel = self.walk
        if event.walk is not panel.walk or event.index != panel.index:
            return  # the cursor has moved on since (keys in one burst): that move links
        if self._linked != (id(event.walk), event.index):
            self._link_step(event.walk, event.index)

    def _link_step(self, walk: Walk, index: int) -> None:
        """The entry decoder and the page-table tree on what reference `index` read."""
        target = step_target(walk, index)
        try:
            self.entry.show(self.session.machine, target, walk_raw=walk.steps[index].raw)
            self.tables.follow(target)
        except NoMatches:
            return  # the app is shutting down under a playing walk: its panels are going
        self._linked = (id(walk), index)

    @on(EntrySelected)
    def entry_selected(self, event: EntrySelected) -> None:
        if self.closing:
            return
        m = self.session.machine
        self.entry.show(m, event.target)
        if event.origin != "tables":
            self.tables.follow(event.target)
        walk = self.walk.walk
        if walk is None or stage_table(m, event.target.stage) is None:
            return
        try:
            ref = m.locate(event.target.stage, event.target.addr, event.target.depth)
        except PagingError:
            return
        reads = [
            i
            for i, step in enumerate(walk.steps)
            if step.stage == event.target.stage and step.entry_addr == ref.addr
        ]
        if reads and self.walk.index not in reads:  # the walk read this entry: go there
            self.walk.select(reads[0], post=False)


def layout_for(width: int, height: int) -> str:
    """The name of the layout (LAYOUTS) a terminal of `width`×`height` gets."""
    return next(n for n, w, h in LAYOUTS if width >= w and height >= h)


def walk_title(walk: Walk, op: str) -> str:
    priv = " (user)" if walk.priv == "user" else ""
    return f"{op} {walk.access}{priv} gVA {walk.gva:#x}"


def make_app(
    file: str | Path | None = None,
    arch: str | None = None,
    theme: str | None = None,
    play_seconds: float = PLAY_SECONDS,
    options: tuple[str, ...] = (),
) -> NptExplorerApp:
    """The app on `file` (scenario mode; a memory image with its root `options`, or an
    image's patch file) or on `arch`'s demo (x86_64 by default), in the Textual `theme`.
    Raises `ScenarioError` for a bad file."""
    session = open_session([str(file), *options]) if file else Session.demo(arch or "x86_64")
    return NptExplorerApp(session, theme=theme, play_seconds=play_seconds)


def run_app(
    file: str | Path | None = None,
    arch: str | None = None,
    served_root: str | None = None,
    settings: Settings | None = None,
    options: tuple[str, ...] = (),
) -> int:
    """The TUI with `settings` (config.py: theme, play speed); with `served_root` (one
    browser tab of `serve`) it works in a scratch directory of its own under that root,
    confined to it, and removes it on exit."""
    settings = settings or Settings()
    try:
        app = make_app(
            file=file,
            arch=arch,
            theme=settings.textual_theme,
            play_seconds=settings.play_seconds,
            options=options,
        )
    except ScenarioError as err:
        print(f"npt-explorer: error: {err}", file=sys.stderr)
        return 2
    app.freeze_heap = True
    app.remember_theme = served_root is None
    if served_root is None:
        app.run()
        return app.return_code or 0
    scratch = scratch_session(served_root)
    try:
        os.chdir(scratch)
        app.commands.files = FileRoot(scratch)
        app.run()
    finally:
        remove_scratch(scratch)
    return app.return_code or 0

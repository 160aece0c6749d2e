"""Running commands in the TUI: typed lines, the panels' requests (a poke from the entry
editor, a flush button), the UI-only verbs (`save`, `load`, `arch`, `export-walk`,
`screenshot`) and the exports. A plain object the app owns (`app.commands`): every change to
the machine goes through `Session.run`, i.e. the scenario runner's `execute`, then one
`MachineChanged` the app posts to itself. A bad line shows its error under the command line
and changes nothing; no typed command raises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen

from ..engine import ARCHES, MachineConfig, PagingError
from ..scenario import OPS, CommandError
from ..scenario.loader import ScenarioError
from ..scenario.results import walk_json
from ..scenario.session import Session
from .classroom import CLASSROOM_COMMANDS, Classroom
from .completion import UI_COMMANDS, usage
from .files import FILE_COMMANDS, FileRoot
from .messages import MachineChanged
from .panels.tlb import TlbPanel
from .widgets.command_line import CommandLine


class CommandHost(Protocol):
    """What the runner asks of the app (the app is not imported: no cycle)."""

    session: Session

    @property
    def command_line(self) -> CommandLine: ...
    @property
    def main(self) -> Screen[object]: ...
    def post_message(self, message: Message) -> bool: ...
    def notify(
        self, message: str, *, severity: SeverityLevel = ..., timeout: float | None = ...
    ) -> None: ...
    def push_screen(self, screen: Screen[object]) -> object: ...
    def save_screenshot(self, filename: str | None = None) -> str: ...
    def action_show_help_panel(self) -> None: ...
    def action_command(self) -> None: ...
    @property
    def classroom(self) -> Classroom: ...
    def switch_arch(self, arch: str, config: MachineConfig | None = None) -> bool: ...
    def load_scenario(self, path: str | Path, *options: str) -> bool: ...


class CommandRunner:
    """The app's command half: runs a line through the session and tells the app."""

    def __init__(self, host: CommandHost, files: FileRoot | None = None) -> None:
        self.host = host
        self.files = files or FileRoot()  # served mode: the session's scratch directory
        self._overwrite_asked: Path | None = None  # the file a `save` was last refused on

    @property
    def session(self) -> Session:
        return self.host.session  # the app's: a load or an arch switch replaces it

    @property
    def command_line(self) -> CommandLine:
        return self.host.command_line

    # ------------------------------------------------------------------ running commands

    def submit(self, value: str) -> None:
        """Enter on the command line: run it, remembered; a line that ran is cleared."""
        line = value.strip()
        if not line:
            return
        self.command_line.input.remember(line)
        if self.run_text(line):
            self.command_line.input.value = ""

    def run_text(self, text: str, *, rerun_walk: bool = False) -> bool:
        """Run one command line. A bad one shows its error inline and changes nothing."""
        text = text.strip().removeprefix(":")  # ":answer 0x…" typed as the docs spell it
        busy = self.host.classroom.refuse_while_travelling()
        if busy is not None:
            self.command_line.show_error(busy)
            return False
        words = text.split()
        if words and words[0] in UI_COMMANDS:
            return self.run_ui_command(words[0], words[1:])
        try:
            result = self.session.run_line(text)
        except CommandError as err:
            self.command_line.show_error(err.message)
            return False
        if result.error is not None:
            self.host.post_message(MachineChanged(result))
            self.command_line.show_error(f"{result.error.kind}: {result.error.message}")
            return False
        walk_result = self.session.walk_result
        rerun = rerun_walk and walk_result is not None and walk_result.walk is not None
        if rerun:
            assert walk_result is not None and walk_result.walk is not None
            w = walk_result.walk
            result = self.session.run_line(
                f"translate gva={w.gva:#x} access={w.access} priv={w.priv}"
            )
        self.host.post_message(MachineChanged(result, keep_step=rerun))
        fault = result.walk.fault if result.walk is not None else None
        if fault is not None:
            self.command_line.show_fault(
                f"{result.command.to_line()} → fault: stage {fault.stage} {fault.reason} at "
                f"{fault.level_name or 'the input'}"
            )
        else:
            self.command_line.show_ok(result.command.to_line())
        return True

    def run_ui_command(self, op: str, args: list[str]) -> bool:
        line = self.command_line
        refused = self.session.ui_refusal(op)
        if refused is not None:
            line.show_error(refused)
            return False
        try:
            if op in FILE_COMMANDS:  # the file name: the first word that is not an --option
                first = next((i for i, a in enumerate(args) if not a.startswith("--")), None)
                if first is not None:
                    name = self.files.resolve(args[first], reading=op == "load")
                    args = [*args[:first], name, *args[first + 1 :]]
            if op == "save":
                self.save(args)
            elif op == "load":
                if not args:
                    raise CommandError("load needs a file: load scenarios/NAME.toml")
                return self.host.load_scenario(*args)  # an image takes its root options too
            elif op == "arch":
                if not self.host.switch_arch(*arch_config(args)):
                    return False
                line.show_ok(f"arch {' '.join(args)}")
            elif op == "export-walk":
                self.export_walk(args[0] if args else None)
            elif op == "screenshot":
                self.screenshot(args[0] if args else None)
            elif op == "help":
                self.show_help(args[0] if args else None)
            elif op == "cost":
                from .panels.cost import CostView, trace_costs  # plotext: only when asked for

                self.host.push_screen(CostView(trace_costs([e.result for e in self.session.log])))
            elif op in CLASSROOM_COMMANDS:
                return self.host.classroom.command(op, args)
        except (CommandError, PagingError) as err:
            line.show_error(err.message)
            return False
        except (ScenarioError, OSError) as err:
            line.show_error(str(err))
            return False
        return True

    def save(self, args: list[str]) -> None:
        """`save FILE [--expect]`: the session as a scenario file; `--expect` writes what each
        step was observed to do as its expectations (`replay --check` then fails when a
        result changes: a saved bug reproduction becomes a regression test)."""
        options = [a for a in args if a.startswith("--")]
        names = [a for a in args if not a.startswith("--")]
        unknown = [o for o in options if o != "--expect"]
        if unknown or len(names) != 1:
            raise CommandError(
                f"{' '.join(unknown) or 'save'}: save FILE.toml [--expect] (one file name)"
            )
        target = self.session.save_path(names[0])
        expect = "--expect" in options
        try:
            path = self.session.save(
                target, overwrite=self._overwrite_asked == target, expect=expect
            )
        except FileExistsError:
            self._overwrite_asked = target
            raise
        self._overwrite_asked = None
        self.command_line.show_ok(self.session.saved_line(path, expect))

    def show_help(self, op: str | None) -> None:
        """`help`: the command reference in the help panel (the line keeps the focus);
        `help OP`: that command's usage under the line."""
        if op is None:
            self.host.action_show_help_panel()
            self.command_line.show_ok("help: the command reference is in the help panel (? hides)")
            return
        try:
            self.command_line.show_ok(usage(op))
        except KeyError:
            known = " ".join((*OPS, *UI_COMMANDS))
            raise CommandError(f"help: unknown command {op!r} (commands: {known})") from None

    def prefill(self, text: str) -> None:
        """`text` on the command line, focused, the cursor at its end (not run)."""
        self.host.action_command()
        field = self.command_line.input
        field.value = text
        field.cursor_position = len(text)

    def flush(self, kind: str) -> None:
        """The palette's `flush: KIND`: run it, or prefill it when it needs an address."""
        command = self.host.main.query_one(TlbPanel).flush_command(kind)
        if command is None:
            self.prefill(f"flush kind={kind} addr=")
        else:
            self.run_text(command)

    # ------------------------------------------------------------------ exports

    def export_walk(self, path: str | None = None) -> None:
        result = self.session.walk_result
        if result is None or result.walk is None:
            self.host.notify("no walk on screen to export", severity="warning")
            return
        walk = result.walk
        doc = {"arch": self.session.arch, "command": result.command.to_line(), **walk_json(walk)}
        target = Path(path or f"walk-{walk.gva:x}.json")
        target.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        self.host.notify(f"walk written to {target}", timeout=4)
        self.command_line.show_ok(f"walk written to {target}")

    def screenshot(self, path: str | None = None) -> None:
        saved = self.host.save_screenshot(filename=path)
        self.host.notify(f"screenshot saved to {saved}", timeout=4)


def arch_config(args: list[str]) -> tuple[str, MachineConfig]:
    """`arch NAME [guest=…] [npt=…] [features=a,b] [encoding=…]` → (name, config): the words
    as a `[machine]` table (`MachineConfig.from_table` says what is wrong with one)."""
    if not args:
        raise CommandError(f"arch needs a name ({', '.join(ARCHES)})")
    table: dict[str, Any] = {}
    for word in args[1:]:
        key, sep, value = word.partition("=")
        if not sep or key not in ("guest", "npt", "features", "encoding"):
            raise CommandError(f"{word!r}: arch takes guest=, npt=, features=, encoding=")
        table[key] = [f for f in value.split(",") if f] if key == "features" else value
    return args[0], MachineConfig.from_table(table, args[0])

"""The command line: the scenario verbs typed by hand (`map stage=2 gpa=0 size=16M …`), with
completion from `OPS`, a hint of what can come next, history, and errors shown inline."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, Static

from ...scenario.report import FAULT_STYLE
from ..completion import complete, hint, reference

HELP = """\
### Command line

The scenario verbs, as `key=value` words: exactly what a `[[step]]` of a scenario file
holds, so anything typed here can be saved and replayed (`save FILE`).

    map stage=2 gpa=0x20_0000 size=8M flags=rwx hpa=0x8020_0000
    map stage=1 gva=0x4000_0000 gpa=0x20_0000 size=8K flags=rw
    access gva=0x4000_1008 access=write
    poke stage=1 gva=0x4000_1000 depth=3 fields.RW=0
    flush kind=invept-single

Also: `save FILE`, `load FILE`, `arch NAME`, `export-walk [FILE]`, `screenshot [FILE]`.
`tab` or `→` completes ops, keys and values; `↑`/`↓` recall earlier lines;
`escape` goes back to the panels. A command that fails shows why in red under the
line and changes nothing. Quitting, `load`, `arch` or stepping a scenario back with typed
commands not yet saved warns first; the same request again drops them. `save` over an
existing file asks the same way (saving again to the file last saved to just updates it).
`help OP` shows one command's keys under the line; `pageup`/`pagedown` scroll this help.

#### Every command (`*` marks a required key)

""" + reference()


class CommandSuggester(Suggester):
    def __init__(self, arch: Callable[[], str], files: Callable[[], list[str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.arch = arch
        self.files = files

    async def get_suggestion(self, value: str) -> str | None:
        return complete(value, self.arch(), self.files)


class CommandInput(Input):
    class NothingToComplete(Message):
        """Tab found nothing to complete (the hint line says so)."""

    BINDINGS = [
        Binding("tab", "complete", "Complete", show=False),
        Binding("escape", "leave", "Back to panels"),
        Binding("up", "history(-1)", "Earlier", show=False),
        Binding("down", "history(1)", "Later", show=False),
        Binding("pageup", "scroll_help(-1)", "Help up", show=False),
        Binding("pagedown", "scroll_help(1)", "Help down", show=False),
    ]

    def __init__(
        self, arch: Callable[[], str], files: Callable[[], list[str]], **kwargs: object
    ) -> None:
        super().__init__(suggester=CommandSuggester(arch, files), **kwargs)  # type: ignore
        self.history: list[str] = []
        self._back = 0

    def action_complete(self) -> None:
        """Accept the suggestion (as → does at the end of the line). With nothing to
        complete the focus stays here (escape leaves): letters typed next are text, never
        the panels' hotkeys."""
        before = self.value
        if self.cursor_at_end:
            self.action_cursor_right()
        if self.value == before:
            self.post_message(self.NothingToComplete())

    def action_leave(self) -> None:
        self.app.action_leave_command()  # type: ignore[attr-defined]

    def action_scroll_help(self, delta: int) -> None:
        """Page the help panel (`help` opens it on the command reference; the line keeps
        the focus, so its page keys scroll it)."""
        for help_area in self.screen.query("HelpPanel #widget-help"):
            (help_area.scroll_page_down if delta > 0 else help_area.scroll_page_up)()

    def action_history(self, delta: int) -> None:
        if not self.history:
            return
        self._back = max(-len(self.history), min(0, self._back + delta))
        self.value = "" if self._back == 0 else self.history[self._back]
        self.cursor_position = len(self.value)

    def remember(self, line: str) -> None:
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._back = 0


class CommandLine(Vertical):
    HELP = HELP

    def __init__(
        self, arch: Callable[[], str], files: Callable[[], list[str]], **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._arch = arch
        self._files = files

    def compose(self) -> ComposeResult:
        yield CommandInput(
            self._arch,
            self._files,
            id="cmd-input",
            placeholder=":  type a command here (press : to come here)",
        )
        yield Static(id="cmd-hint")

    @property
    def input(self) -> CommandInput:
        return self.query_one(CommandInput)

    def on_input_changed(self, event: Input.Changed) -> None:
        """Hint what can come next; an emptied line keeps the last result on show."""
        if event.input is self.input and event.value:
            self.remove_class("-error", "-fault")
            self.query_one("#cmd-hint", Static).update(
                Text(hint(event.value, self._arch(), self._files), "dim"), layout=False
            )

    def on_command_input_nothing_to_complete(self) -> None:
        hint_line = self.query_one("#cmd-hint", Static)
        hint_line.update(
            Text(
                f"nothing to complete · {hint(self.input.value, self._arch(), self._files)}",
                "dim",
            ),
            layout=False,
        )

    def on_descendant_focus(self) -> None:
        if not self.input.value and not str(self.query_one("#cmd-hint", Static).render()):
            self.query_one("#cmd-hint", Static).update(
                Text(hint("", self._arch(), self._files), "dim"), layout=False
            )

    def show_error(self, message: str) -> None:
        self.remove_class("-fault")
        self.add_class("-error")
        self.query_one("#cmd-hint", Static).update(Text(f"✗ {message}", "bold red"), layout=False)

    def show_fault(self, message: str) -> None:
        """A command that ran and made a translation fault (kept, not an error)."""
        self.remove_class("-error")
        self.add_class("-fault")
        self.query_one("#cmd-hint", Static).update(Text(f"✗ {message}", FAULT_STYLE), layout=False)

    def show_ok(self, message: str) -> None:
        self.remove_class("-error", "-fault")
        self.query_one("#cmd-hint", Static).update(Text(f"✓ {message}", "green"), layout=False)

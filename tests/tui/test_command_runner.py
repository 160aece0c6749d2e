"""The command runner is a plain object the app owns (`app.commands`, REDESIGN P8): it runs a
line through the session and reports to its host, so it works without a running app."""

from __future__ import annotations

from pathlib import Path

import pytest

from npt_explorer.engine import MachineConfig
from npt_explorer.scenario.session import Session
from npt_explorer.tui.command_runner import CommandRunner
from npt_explorer.tui.messages import MachineChanged


class Field:
    def __init__(self) -> None:
        self.value = ""
        self.cursor_position = 0
        self.history: list[str] = []

    def remember(self, line: str) -> None:
        self.history.append(line)


class Line:
    """The command line's reporting half: what the runner said, in order."""

    def __init__(self) -> None:
        self.input = Field()
        self.said: list[tuple[str, str]] = []

    def show_error(self, message: str) -> None:
        self.said.append(("error", message))

    def show_fault(self, message: str) -> None:
        self.said.append(("fault", message))

    def show_ok(self, message: str) -> None:
        self.said.append(("ok", message))


class Classroom:
    """The classroom half the runner asks: may a command run now (no goto rebuilding)?"""

    def __init__(self) -> None:
        self.travelling: str | None = None

    def refuse_while_travelling(self) -> str | None:
        return self.travelling

    def command(self, op: str, args: list[str]) -> bool:
        raise AssertionError("not asked for here")


class Host:
    """Just what `CommandHost` asks of the app."""

    def __init__(self) -> None:
        self.session = Session.demo("x86_64")
        self.command_line = Line()
        self.posted: list[object] = []
        self.switched: list[tuple[str, MachineConfig | None]] = []
        self.focused_line = False
        self.classroom = Classroom()

    def post_message(self, message: object) -> bool:
        self.posted.append(message)
        return True

    def notify(self, message: str, **_: object) -> None:
        pass

    def switch_arch(self, arch: str, config: MachineConfig | None = None) -> bool:
        self.switched.append((arch, config))
        return True

    def load_scenario(self, path: str | Path, *options: str) -> bool:
        raise AssertionError("not asked for here")

    def action_command(self) -> None:
        self.focused_line = True


@pytest.fixture
def host() -> Host:
    return Host()


def test_a_command_runs_through_the_session_and_the_host_hears_of_it(host: Host) -> None:
    runner = CommandRunner(host)  # type: ignore[arg-type]
    before = len(host.session.log)
    assert runner.run_text("translate gva=0x1000 access=read")
    assert len(host.session.log) == before + 1
    assert [type(m) for m in host.posted] == [MachineChanged]
    assert host.command_line.said[-1][0] in ("ok", "fault")


def test_a_bad_line_says_why_and_changes_nothing(host: Host) -> None:
    runner = CommandRunner(host)  # type: ignore[arg-type]
    before = len(host.session.log)
    for line in ("translate gva=", "frobnicate", "map stage=1 gva=0x1000 size=3K", "arch vax"):
        assert not runner.run_text(line)
        kind, message = host.command_line.said[-1]
        assert kind == "error" and message
    assert len(host.session.log) == before and host.posted == [] and host.switched == []


def test_the_session_is_read_from_the_host_each_time(host: Host) -> None:
    """A load or an arch switch replaces the app's session: the runner follows it."""
    runner = CommandRunner(host)  # type: ignore[arg-type]
    host.session = Session.demo("riscv64")
    assert runner.session is host.session


def test_ui_verbs_go_back_to_the_host(host: Host) -> None:
    runner = CommandRunner(host)  # type: ignore[arg-type]
    assert runner.run_text("arch riscv64 npt=sv48x4")
    arch, config = host.switched[-1]
    assert arch == "riscv64" and config is not None and config.npt == "sv48x4"


def test_nothing_runs_while_time_travel_rebuilds_the_session(host: Host) -> None:
    runner = CommandRunner(host)  # type: ignore[arg-type]
    host.classroom.travelling = "goto is rebuilding the session"
    assert not runner.run_text("translate gva=0x1000")
    assert host.command_line.said[-1] == ("error", "goto is rebuilding the session")


def test_enter_remembers_the_line_and_clears_it_once_it_ran(host: Host) -> None:
    runner = CommandRunner(host)  # type: ignore[arg-type]
    field = host.command_line.input
    field.value = "translate gva=0x1000"
    runner.submit(field.value)
    assert field.history == ["translate gva=0x1000"] and field.value == ""
    field.value = "translate gva=zz"
    runner.submit(field.value)
    assert field.value == "translate gva=zz"  # kept to be mended


def test_prefill_puts_the_text_on_the_focused_line(host: Host) -> None:
    runner = CommandRunner(host)  # type: ignore[arg-type]
    runner.prefill("save ")
    assert host.focused_line
    assert (host.command_line.input.value, host.command_line.input.cursor_position) == ("save ", 5)

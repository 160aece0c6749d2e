"""Typed commands are the user's work: quitting, switching arch, loading a scenario or stepping
back with some not saved first warns (the command line and a notification say how to keep them),
and only the same request again, with nothing typed in between, drops them. Likewise `save` over
an existing file that is not the one last saved to asks first."""

from __future__ import annotations

from pathlib import Path

from test_linked import hint_text, type_command
from tui_helpers import settle

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "x86_01_first_walk.toml"


async def test_quit_and_arch_warn_once_about_unsaved_commands(app_factory, tmp_path) -> None:
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("q")  # nothing typed yet: nothing to lose
        assert not app.is_running
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await type_command(pilot, "map stage=2 gpa=0x9000_0000 size=4K flags=rw hpa=0x9000_0000")
        assert app.session.unsaved == 1
        await type_command(pilot, "arch aarch64")
        assert app.session.arch == "x86_64" and "1 typed command(s) not saved" in hint_text(app)
        await type_command(pilot, "access gva=0x4000_0000 access=read")  # typed since: ask again
        await type_command(pilot, "arch aarch64")
        assert app.session.arch == "x86_64" and "2 typed command(s)" in hint_text(app)
        await pilot.press("escape", "q")
        await settle(pilot)
        assert app.is_running and "press q again" in hint_text(app)
        other = tmp_path / "other.toml"
        other.write_text("# someone else's file\n")
        await type_command(pilot, f"save {other}")  # an existing file: asked first
        assert "exists: save to it again" in hint_text(app) and app.session.unsaved == 2
        assert other.read_text() == "# someone else's file\n"
        await type_command(pilot, f"save {tmp_path / 'work'}")  # .toml added
        assert app.session.unsaved == 0 and (tmp_path / "work.toml").exists()
        await type_command(pilot, "access gva=0x4000_0000 access=write")
        await type_command(pilot, f"save {tmp_path / 'work.toml'}")  # our own file: no question
        assert app.session.unsaved == 0
        await type_command(pilot, f"save {other}")
        await type_command(pilot, f"save {other}")  # asked again: overwrites
        assert "[scenario]" in other.read_text()
        await pilot.press("escape", "q")
        assert not app.is_running


async def test_the_same_request_twice_drops_them(app_factory) -> None:
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await type_command(pilot, "access gva=0x4000_0000 access=read")
        await type_command(pilot, f"load {SCENARIO}")
        assert app.session.mode == "demo" and "load again" in hint_text(app)
        await type_command(pilot, f"load {SCENARIO}")
        assert app.session.mode == "scenario" and app.session.unsaved == 0
        await pilot.press("escape", "right_square_bracket", "right_square_bracket")
        await settle(pilot)
        await type_command(pilot, "access gva=0x4000_0000 access=read")
        await pilot.press("escape", "left_square_bracket")
        await settle(pilot)
        assert app.session.position == 2 and "step back again" in hint_text(app)
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert app.session.position == 1 and app.session.unsaved == 0

"""Issue 16, items 1-5: bursts of keys, the palette's paging keys, unreadable files and Tab in
the command line never crash, freeze or steal keys (each test failed before its fix)."""

from __future__ import annotations

import os
import time

from textual.command import CommandPalette
from tui_helpers import burst, settle

from npt_explorer.tui.widgets.command_line import CommandInput
from npt_explorer.tui.widgets.dialogs import ScenarioPicker


async def test_two_enters_in_one_burst_load_the_scenario_once(app_factory):
    """`o`, then Enter twice before the picker has closed (a paste, an SSH double tap):
    the first Enter loads, the second is not a second dismiss of a closed dialog."""
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await burst(pilot, "o", "enter", "enter")
        assert app.is_running
        assert app.session.mode == "scenario"
        assert len(app.screen_stack) == 1


async def test_escape_and_enter_in_one_burst_close_the_picker_once(app_factory):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await burst(pilot, "o", "escape", "enter", "escape")
        assert app.is_running and len(app.screen_stack) == 1
        assert app.session.mode == "demo"


async def test_page_keys_at_once_after_ctrl_p_do_not_crash_the_palette(app_factory):
    """Textual's OptionList pages from a line table that is empty until the list has a size
    (KeyError: 0 upstream): the palette ignores paging until it has been laid out."""
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await burst(pilot, "ctrl+p", "pagedown", "pageup", "pagedown")
        assert app.is_running
        assert isinstance(app.screen, CommandPalette)
        await pilot.press("pagedown", "pageup", "escape")
        assert app.is_running and len(app.screen_stack) == 1


async def test_page_keys_at_once_after_o_do_not_crash_the_scenario_picker(app_factory):
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await burst(pilot, "o", "pagedown", "pageup", "pagedown")
        assert app.is_running and isinstance(app.screen, ScenarioPicker)


async def _typed(pilot, line: str) -> None:
    app = pilot.app
    await pilot.press("colon")
    app.command_line.input.value = line
    await pilot.press("enter")
    await settle(pilot)


async def test_load_of_a_device_is_refused_at_once(app_factory):
    """`load /dev/zero` read forever (memory growing to gigabytes, keys ignored)."""
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        started = time.monotonic()
        await _typed(pilot, "load /dev/zero")
        assert time.monotonic() - started < 5
        hint = str(app.command_line.query_one("#cmd-hint").render())
        assert "/dev/zero" in hint and "not a regular file" in hint
        assert app.session.mode == "demo"


async def test_load_of_a_named_pipe_is_refused_without_opening_it(app_factory, tmp_path):
    fifo = tmp_path / "stuck.toml"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await _typed(pilot, f"load {fifo}")
        hint = str(app.command_line.query_one("#cmd-hint").render())
        assert "not a regular file" in hint


async def test_keys_typed_right_after_colon_reach_the_command_line(app_factory):
    """`:` and the command in one write: the focus moves to the line before the next key is
    handled, so `a` (arch picker), `c`, `e` … are typed, not taken as hotkeys."""
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        commands = len(app.session.log)
        await burst(pilot, "colon", "enter", text="access gva=0x4000_0000 access=read")
        await burst(pilot, "enter")
        assert len(app.screen_stack) == 1  # no picker opened
        assert [e.result.command.to_line() for e in app.session.log[commands:]] == [
            "access gva=0x40000000 access=read"
        ]


async def test_tab_with_nothing_to_complete_keeps_the_focus_in_the_line(app_factory):
    """Tab used to leave the line when there was nothing to complete; the next `q` quit."""
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("colon", "tab", "q")
        assert isinstance(app.focused, CommandInput)
        assert app.command_line.input.value == "q"
        await pilot.press("tab")  # `q` completes nothing either
        assert isinstance(app.focused, CommandInput) and app.is_running


async def test_a_player_tick_while_the_panels_are_being_removed_does_not_crash(app_factory):
    """The fuzz's find: quitting (or any teardown) while space plays a walk — the entry
    decoder's children were already gone when the player's next tick linked the panels."""
    app = app_factory(play_seconds=0.6)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("space")
        await app.entry.remove_children()  # as shutdown prunes them
        app._tick()  # the player's next tick
        assert app.walk.index == 1
        await pilot.press("space")


async def test_an_app_closed_before_its_first_messages_are_handled_closes_cleanly(app_factory):
    """Closed as soon as it is up (a test without settle, a `q` in the first frames): the
    walk's first step and height messages arrive after the screens are gone, and are
    dropped instead of asking a screen that is no longer there."""
    for arch in ("x86_64", "aarch64", "riscv64"):
        app = app_factory(arch=arch)
        async with app.run_test(size=(160, 48)):
            pass
        assert app.return_code in (0, None)

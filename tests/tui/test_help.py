"""`help` on the command line: the whole command reference, and one command's keys
(issue 16 item 15)."""

from __future__ import annotations

from test_linked import hint_text, type_command
from textual.widgets import HelpPanel, Markdown
from tui_helpers import settle

from npt_explorer.scenario import OPS
from npt_explorer.tui.completion import UI_COMMANDS, reference


def test_the_reference_names_every_verb_and_ui_command_with_its_required_keys() -> None:
    text = reference()
    for op in (*OPS, *UI_COMMANDS):
        assert f"- `{op}" in text
    assert "- `map: stage* " in text  # a required key carries its star


async def test_help_opens_the_command_reference_and_keeps_the_line_focused(app_factory) -> None:
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_command(pilot, "help")
        await settle(pilot)
        panel = app.screen.query_one(HelpPanel)
        shown = panel.query_one("#widget-help", Markdown).source
        assert "Every command" in shown and "`flush: kind*" in shown
        assert app.focused is app.command_line.input  # typing goes on in the line


async def test_help_op_shows_its_keys_and_an_unknown_op_is_named(app_factory) -> None:
    app = app_factory(arch="aarch64")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await type_command(pilot, "help map")
        assert "map: stage*" in hint_text(app)
        await type_command(pilot, "help frobnicate")
        assert "unknown command 'frobnicate'" in hint_text(app)
        assert app.is_running


async def test_the_command_reference_scrolls_to_its_end_on_a_small_terminal(app_factory) -> None:
    """At 80×24 the reference is many times taller than the help panel: it scrolls (the
    Markdown was overflow-hidden, its end unreachable), and the line's page keys page it."""
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await type_command(pilot, "help")
        area = app.screen.query_one("HelpPanel #widget-help", Markdown)
        assert area.styles.overflow_y == "auto" and area.max_scroll_y > 0
        assert app.focused is app.command_line.input
        await pilot.press("pagedown")
        await pilot.pause(0.3)  # the page scroll animates
        assert area.scroll_y > 0
        area.scroll_end(animate=False)  # (paging there took ~40 animated presses, 9 s)
        await pilot.pause()
        assert area.scroll_y == area.max_scroll_y
        last = list(UI_COMMANDS)[-1]  # the reference lists the UI commands last
        blocks = [b for b in area.query("MarkdownBlock") if f"{last}" in str(b._content)]
        assert blocks and area.region.contains_region(blocks[-1].region)  # on screen now
        await pilot.press("pageup")
        await pilot.pause(0.3)
        assert area.scroll_y < area.max_scroll_y

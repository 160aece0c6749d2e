"""Issue 16, item 18: `--theme high-contrast` and `--play-seconds` on the command line, used
and remembered in $XDG_CONFIG_HOME/npt-explorer/config.toml; a bad settings file or value is
one line naming it, the key and the allowed values (exit 2); + and - change the play speed."""

from __future__ import annotations

import pytest
from tui_helpers import settle

import npt_explorer.tui.app as tui_app
from npt_explorer.cli import main
from npt_explorer.tui.app import make_app
from npt_explorer.tui.config import Settings, config_path, load_settings


@pytest.fixture
def started(monkeypatch, tmp_path):
    """The settings each `npt-explorer …` start would run the app with (the app itself is
    built by the test), with the config directory under tmp_path."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runs: list[Settings] = []

    def run_app(file=None, arch=None, served_root=None, settings=None):
        runs.append(settings)
        return 0

    monkeypatch.setattr(tui_app, "run_app", run_app)
    return runs


async def test_theme_high_contrast_from_the_command_line_is_used_and_remembered(started, tmp_path):
    assert main(["--theme", "high-contrast"]) == 0
    path = tmp_path / "config" / "npt-explorer" / "config.toml"
    assert config_path() == path and 'theme = "high-contrast"' in path.read_text()
    assert main([]) == 0  # the next start, without the flag
    assert [s.theme for s in started] == ["high-contrast", "high-contrast"]
    settings = started[-1]
    app = make_app(theme=settings.textual_theme, play_seconds=settings.play_seconds)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.theme == "npt-high-contrast"
        # the projector theme: pure black under white text (themes.HIGH_CONTRAST)
        assert app.screen.styles.background.hex == "#000000"
    assert main(["--theme", "dark"]) == 0 and 'theme = "dark"' in path.read_text()


def test_play_seconds_from_the_command_line_is_remembered_beside_the_theme(started, tmp_path):
    assert main(["--theme", "high-contrast"]) == 0
    assert main(["--play-seconds", "0.2"]) == 0
    assert main([]) == 0
    assert started[-1] == Settings(theme="high-contrast", play_seconds=0.2)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('theme = "neon"\n', ["theme = 'neon'", "allowed: dark, high-contrast"]),
        ("play_seconds = -1\n", ["play_seconds = -1", "0.05 to 10"]),
        ('play_seconds = "fast"\n', ["play_seconds = 'fast'", "0.05 to 10"]),
        ('colour = "red"\n', ["unknown key 'colour'", "allowed: theme, play_seconds"]),
        ("theme = \n", ["not valid TOML", "line 1"]),
    ],
)
def test_a_bad_settings_file_is_one_line_naming_it_and_exit_2(
    started, tmp_path, capsys, text, words
):
    path = tmp_path / "config" / "npt-explorer" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    assert main([]) == 2 and not started
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"npt-explorer: error: {path}: ")
    for word in words:
        assert word in err
    assert path.read_text() == text  # never rewritten


def test_bad_values_on_the_command_line_exit_2(started, capsys):
    assert main(["--play-seconds", "0"]) == 2
    assert (
        "--play-seconds 0.0 (allowed: seconds per reference, 0.05 to 10" in capsys.readouterr().err
    )
    assert main(["--theme", "neon"]) == 2
    assert "invalid choice: 'neon'" in capsys.readouterr().err
    assert not started and not config_path().exists()


def test_a_settings_path_that_is_not_a_file_is_refused(started, tmp_path, capsys):
    config_path().mkdir(parents=True)
    assert main([]) == 2
    assert "config.toml: not a regular file" in capsys.readouterr().err


async def test_plus_and_minus_change_the_play_speed_and_a_running_play_follows(app_factory):
    app = app_factory(play_seconds=0.6)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("plus")
        assert app.play_seconds == 0.45
        await pilot.press("minus", "minus")
        assert app.play_seconds == 0.8
        await pilot.press("space")  # playing
        await pilot.press("plus", "plus", "plus")
        assert app.play_seconds == 0.3
        assert app._player is not None and app._player._interval == 0.3
        await pilot.press("space")
        assert app._player is None


async def test_a_theme_picked_in_the_palette_is_remembered_but_not_the_projectors(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = tmp_path / "config" / "npt-explorer" / "config.toml"
    app = make_app(theme="textual-dark")
    app.remember_theme = True  # as run_app sets it for a terminal
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert not path.exists()  # starting writes nothing
        await pilot.press("f5")  # the projector's high contrast is not a choice
        await settle(pilot)
        assert app.theme == "npt-high-contrast" and not path.exists()
        await pilot.press("f5")
        await settle(pilot)
        app.theme = "npt-high-contrast"  # what the palette's Theme command does
        await settle(pilot)
        assert 'theme = "high-contrast"' in path.read_text()
        app.theme = "nord"  # a Textual theme the file cannot name: used, not kept
        await settle(pilot)
        assert 'theme = "high-contrast"' in path.read_text()
    assert load_settings().theme == "high-contrast"

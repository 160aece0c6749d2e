"""The TUI's settings file: `$XDG_CONFIG_HOME/npt-explorer/config.toml` (default
`~/.config/npt-explorer/config.toml`). Two keys, both optional:

    theme = "high-contrast"     # or "dark" (the default)
    play_seconds = 0.3          # space plays the walk: seconds per reference (0.05 to 10)

`npt-explorer --theme T` / `--play-seconds S` use a value and remember it there, and so does
a theme picked in the TUI's command palette (`remember_theme`). A file that
is not valid is refused with one line naming it, the key and the allowed values (exit 2).
No Textual here: the command line reads it before the app starts."""

from __future__ import annotations

import math
import os
import sys
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

#: --theme / `theme =` names → the Textual theme (themes.py registers npt-high-contrast)
THEMES = {"dark": "textual-dark", "high-contrast": "npt-high-contrast"}
PLAY_SECONDS = 0.6
PLAY_RANGE = (0.05, 10.0)
MAX_BYTES = 64 * 1024  # a settings file is a few lines; refuse /dev/zero and the like


class ConfigError(Exception):
    """A settings file or value that cannot be used: one line for the user."""


@dataclass(frozen=True, slots=True)
class Settings:
    theme: str = "dark"  # a key of THEMES
    play_seconds: float = PLAY_SECONDS

    @property
    def textual_theme(self) -> str:
        return THEMES[self.theme]


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"  # XDG: absolute only
    return root / "npt-explorer" / "config.toml"


def check_theme(value: object, name: str) -> str:
    """`value` as a theme name; `name` says where it came from ("FILE: theme =", "--theme")."""
    if not isinstance(value, str) or value not in THEMES:
        raise ConfigError(f"{name} {value!r} (allowed: {', '.join(THEMES)})")
    return value


def check_play_seconds(value: object, name: str) -> float:
    low, high = PLAY_RANGE
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or not low <= number <= high:
        raise ConfigError(f"{name} {value!r} (allowed: seconds per reference, {low} to {high})")
    return float(number)


_CHECKS = {"theme": check_theme, "play_seconds": check_play_seconds}


def load_settings(path: Path | None = None) -> Settings:
    """The settings in `path` (default `config_path()`); defaults when there is no file."""
    path = path or config_path()
    if not path.exists():
        return Settings()
    if not path.is_file():
        raise ConfigError(f"{path}: not a regular file")
    with path.open("rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES // 1024} KiB, not a settings file")
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    values = {}
    for key, value in table.items():
        if key not in _CHECKS:
            raise ConfigError(f"{path}: unknown key {key!r} (allowed: {', '.join(_CHECKS)})")
        values[key] = _CHECKS[key](value, f"{path}: {key} =")
    return Settings(**values)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# npt-explorer settings (npt-explorer --theme / --play-seconds write them)\n"
        f'theme = "{settings.theme}"\n'
        f"play_seconds = {settings.play_seconds!r}\n",
        encoding="utf-8",
    )
    return path


def settings_for(theme: str | None, play_seconds: float | None) -> Settings:
    """The saved settings with the command line's on top; what the command line gave is
    remembered (written back) for the next start."""
    saved = load_settings()
    given = {k: v for k, v in (("theme", theme), ("play_seconds", play_seconds)) if v is not None}
    if not given:
        return saved
    settings = replace(
        saved, **{k: _CHECKS[k](v, f"--{k.replace('_', '-')}") for k, v in given.items()}
    )
    if settings != saved:
        try:
            save_settings(settings)
        except OSError as err:  # a read-only home: use the values, say they are not kept
            print(f"npt-explorer: warning: not remembered: {err}", file=sys.stderr)
    return settings


def remember_theme(textual_theme: str) -> str | None:
    """A theme picked in the running TUI (the command palette): written to the settings file
    when it is one the file can name and not already the saved one. Returns the file's name
    for it (None: a Textual theme the file cannot name). Raises ConfigError (a bad file: it
    is never rewritten) or OSError (it cannot be written)."""
    key = next((k for k, v in THEMES.items() if v == textual_theme), None)
    if key is None:
        return None
    saved = load_settings()
    if saved.theme != key:
        save_settings(replace(saved, theme=key))
    return key

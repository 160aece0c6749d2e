"""Scenarios: TOML files → commands → a `Machine`, with expectations and reports."""

from importlib.resources import files
from pathlib import Path

from .commands import OPS, Command, CommandError, build, parse_line
from .loader import Scenario, ScenarioError, load, loads
from .replay import Replay, run

__all__ = [
    "OPS",
    "bundled_dir",
    "Command",
    "CommandError",
    "Replay",
    "Scenario",
    "ScenarioError",
    "build",
    "load",
    "loads",
    "parse_line",
    "run",
]


def bundled_dir() -> Path:
    """The folder of the bundled scenario files, located as package data
    (`npt_explorer/scenario/bundled/`: in an installed wheel a folder, in a source checkout a
    link to the repository's `scenarios/`)."""
    return Path(str(files(__name__) / "bundled"))

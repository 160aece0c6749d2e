"""Scenarios: TOML files → commands → a `Machine`, with expectations and reports."""

from .commands import OPS, Command, CommandError, build, parse_line
from .library import bundled_dir, find_scenario
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
    "find_scenario",
    "load",
    "loads",
    "parse_line",
    "run",
]

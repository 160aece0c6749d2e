"""Scenarios: TOML files → commands → a `Machine`, with expectations and reports."""

from .commands import OPS, Command, CommandError, build, parse_line
from .loader import Scenario, ScenarioError, load, loads
from .replay import Replay, run

__all__ = [
    "OPS",
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

"""Scenarios: TOML files → commands → a `Machine`, with expectations and reports.

The command vocabulary (`vocabulary`), the validated `Command` (`command`), the command-line
parser (`parse`) and the values a command holds (`values`) are exported here for the layers
above."""

from .command import Command, build, toml_key, toml_value
from .library import bundled_dir, find_scenario
from .loader import Scenario, ScenarioError, header_toml, load, loads
from .parse import parse_line
from .replay import Replay, run
from .values import CommandError, parse_flags, parse_number
from .vocabulary import HYPERVISOR_ACCESSES, OPS, Key, op_name

__all__ = [
    "HYPERVISOR_ACCESSES",
    "OPS",
    "bundled_dir",
    "Command",
    "CommandError",
    "Key",
    "Replay",
    "Scenario",
    "ScenarioError",
    "build",
    "find_scenario",
    "header_toml",
    "load",
    "loads",
    "op_name",
    "parse_flags",
    "parse_line",
    "parse_number",
    "run",
    "toml_key",
    "toml_value",
]

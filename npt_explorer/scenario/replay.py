"""A whole scenario run: the machine it built and every step's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..engine import Machine
from .loader import Scenario
from .results import StepResult
from .runner import execute


@dataclass(slots=True)
class Replay:
    scenario: Scenario
    machine: Machine
    results: list[StepResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[StepResult]:
        return [r for r in self.results if not r.passed]

    def to_json(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "file": s.path,
            "title": s.title,
            "arch": s.arch,
            "passed": self.passed,
            "steps": [r.to_json() for r in self.results],
        }


def run(scenario: Scenario, upto: int | None = None) -> Replay:
    """Replay `scenario` (its first `upto` steps) on a fresh machine."""
    replay = Replay(scenario, Machine(scenario.config))
    for index, command in enumerate(scenario.steps[:upto], 1):
        replay.results.append(execute(replay.machine, command, index))
    return replay

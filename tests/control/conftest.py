"""Control-state tests run scenarios: a TOML text in, every step's expectation checked."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from npt_explorer.scenario import Replay, loads, run


def replay_green(text: str) -> Replay:
    """Replay a scenario text; fail naming every mismatching step."""
    replay = run(loads(text))
    problems = [
        (r.index, r.command.op, r.error.message if r.error else r.mismatches)
        for r in replay.failures
    ]
    assert not problems, problems
    return replay


@pytest.fixture
def green() -> Callable[[str], Replay]:
    return replay_green

"""`image walk --accesses` walks a batch with the vector walker (`engine.walk_many`) and leaves
faults and undecided lanes to the scalar walker: its lines must be exactly the scalar walker's,
on every bundled scenario's final state (successes, faults of both stages, huge pages, A/D
regimes) with each of its accesses read, written and fetched, kernel and user."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_roundtrip import IMAGE_ARCHES, SCENARIOS, _image_machine

from npt_explorer.image.export import NO_IMAGE_GUESTS
from npt_explorer.image_cli import _walk_line, batch_lines, export_machine
from npt_explorer.scenario.loader import load
from npt_explorer.scenario.replay import run


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_a_batch_prints_what_the_scalar_walker_prints(path: Path, tmp_path: Path) -> None:
    scenario = load(path)
    if scenario.arch not in IMAGE_ARCHES:
        pytest.skip(f"{scenario.arch}: IMAGES.md names no registers for its roots")
    if scenario.config.guest in NO_IMAGE_GUESTS:
        pytest.skip(NO_IMAGE_GUESTS[scenario.config.guest])
    out = tmp_path / "end.elf"
    export_machine(run(scenario).machine, out)
    machine = _image_machine(out)
    gvas = sorted({c.args["gva"] for c in scenario.steps if c.op in ("access", "translate")})
    gvas += [g + 0x1000 for g in gvas] + [g + 0x20_0000 for g in gvas]  # neighbours, holes
    requests = [
        (g, a, p) for g in gvas for a in ("read", "write", "exec") for p in ("kernel", "user")
    ]
    want = [_walk_line(machine.walk(g, a, p)) for g, a, p in requests]
    assert list(batch_lines(_image_machine(out), requests)) == want

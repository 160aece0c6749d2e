"""Every bundled scenario, end to end: after its replay `destroy` returns every host frame and
every guest page-table frame; saved back as TOML (a [scenario]/[machine] header from its
config, then `Command.to_toml()` for each step) it loads and replays to the identical state —
every table frame of both stages byte for byte, the TLB entries, the frames in use — and to the
same step results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _robust import count

from npt_explorer.engine.machine import Machine
from npt_explorer.scenario import Scenario, header_toml, load, loads, run

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_destroy_after_the_replay_returns_every_frame(path):
    machine = run(load(path)).machine
    assert machine.frames_in_use > 0
    machine.destroy()
    assert machine.host_frames.in_use == 0 and machine.frames_in_use == 0
    assert machine.guest_frames.in_use == 0 and machine.guest_pt_frames == 0
    count("scenarios destroyed to zero frames")


# ------------------------------------------------------------------ round trip


def saved(scenario: Scenario) -> str:
    """The scenario as a file: a header from its config, then each command's `to_toml()`."""
    head = header_toml(scenario.title, scenario.summary, scenario.tags, scenario.config)
    return head + "\n\n" + "\n\n".join(c.to_toml() for c in scenario.steps) + "\n"


def state(m: Machine) -> dict[str, Any]:
    """Everything a replay leaves behind that a user can see."""
    stage2 = {
        f"{base:#x}": m.memory.read_bytes(base, 0x1000)
        for first, frames in m.npt.tables.items()
        for base in range(first, first + frames * 0x1000, 0x1000)
    }
    guest = m._guest_pt
    stage1 = (
        {}
        if guest is None
        else {
            f"{gpa:#x}": m.space.read(gpa, 0x1000) if m.space.translate(gpa) is not None else None
            for gpa in guest.tables
        }
    )
    tlb = sorted(
        (e.kind, e.vmid, e.asid, e.global_, e.base, e.size, e.gpa, e.hpa, e.perms, e.stale)
        for e in m.tlb_entries()
    )
    return {
        "stage 2 tables": stage2,
        "stage 1 tables": stage1,
        "tlb": tlb,
        "frames_in_use": m.frames_in_use,
        "guest_pt_frames": m.guest_pt_frames,
        "areas": [(a.start, a.size, a.flags, a.backend, a.hpa, a.name) for a in m.areas()],
    }


def results(replay: Any) -> list[dict[str, Any]]:
    out = []
    for r in replay.results:
        doc = r.to_json()
        doc.pop("line")
        if "trace" in doc:
            doc["trace"] = {k: v for k, v in doc["trace"].items() if k != "seconds"}
        out.append(doc)
    return out


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in SCENARIOS])
def test_saved_scenario_replays_to_the_identical_state(path, tmp_path):
    original = load(path)
    first = run(original)
    text = saved(original)
    copy = tmp_path / path.name
    copy.write_text(text, encoding="utf-8")
    again = run(load(copy))
    assert [c.op for c in again.scenario.steps] == [c.op for c in original.steps]
    assert state(again.machine) == state(first.machine)
    assert results(again) == results(first)
    assert again.passed == first.passed
    # and the saved file saves to itself
    assert saved(loads(text, str(copy))) == text
    count("scenarios saved and replayed identically")

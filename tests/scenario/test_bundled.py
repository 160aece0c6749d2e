"""The bundled scenario library: every file replays green, reads as a lesson, and the CLI agrees."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import npt_explorer.scenario
from npt_explorer.engine.formats import Encoding
from npt_explorer.scenario import load, run

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_DIR = ROOT / "scenarios"
FILES = sorted(SCENARIO_DIR.glob("*.toml"))
PREFIX = {
    "x86_64": "x86",
    "aarch64": "arm",
    "riscv64": "rv",
    "loongarch64": "la",
    "teach": "teach",
}
#: the architectures with a full library (eight lessons or more each)
FULL = ("x86_64", "aarch64", "riscv64")
NAME = re.compile(r"^(x86|arm|rv|la|teach)_(\d\d)_[a-z0-9_]+\.toml$")


def _ids(path: Path) -> str:
    return path.stem


def test_the_library_has_eight_or_more_scenarios_per_architecture():
    scenarios = [load(p) for p in FILES]
    per_arch = Counter(s.arch for s in scenarios)
    assert len(scenarios) >= 24
    assert all(per_arch[arch] >= 8 for arch in FULL), per_arch


@pytest.mark.parametrize("path", FILES, ids=_ids)
def test_file_name_is_arch_number_topic(path: Path):
    m = NAME.match(path.name)
    assert m, f"{path.name}: name it like x86_01_first_walk.toml"
    assert m.group(1) == PREFIX[load(path).arch]


def test_numbers_are_unique_per_architecture():
    seen = Counter(NAME.match(p.name).groups() for p in FILES if NAME.match(p.name))
    assert [key for key, n in seen.items() if n > 1] == []


@pytest.mark.parametrize("path", FILES, ids=_ids)
def test_bundled_scenario_replays_green(path: Path):
    replay = run(load(path))
    failures = [
        f"{path.name}:{r.command.line}: step {r.index} ({r.command.op}): "
        f"{r.error if r.error is not None and not r.mismatches else r.mismatches}"
        for r in replay.failures
    ]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", FILES, ids=_ids)
def test_bundled_scenario_reads_as_a_lesson(path: Path):
    """A title, a summary, notes first (never a note with nothing after it to explain), and an
    expectation on every walk: its result and reference count, and for a fault where and why."""
    s = load(path)
    assert s.title and s.summary
    assert s.steps[0].op == "note", "start by saying what the scenario is about"
    assert s.steps[-1].op != "note", "a note explains the step after it"
    for cmd in s.steps:
        if cmd.op not in ("access", "translate"):
            continue
        expect = cmd.args.get("expect", {})
        where = f"{path.name}:{cmd.line}"
        assert {"result", "refs"} <= expect.keys(), f"{where}: expect result and refs"
        if expect["result"] == "fault":
            needed = {"fault_stage", "fault_reason", "fault_depth", "syndrome"}
            assert needed <= expect.keys() or expect.get("fault_reason") == "address-size", where


def test_every_seed_bug_has_its_fixed_twin():
    """`x86_08_ept_write_only.toml` (encoding = "seed") and `x86_09_ept_write_only_fixed.toml`."""
    by_topic = {p.stem.split("_", 2)[2]: load(p) for p in FILES}
    fixed = {topic: s for topic, s in by_topic.items() if topic.endswith("_fixed")}
    assert len(fixed) >= 4  # EPT write-only, ARM XN, ARM DEVICE|UNCACHED, RISC-V U
    for topic, s in fixed.items():
        seed = by_topic.get(topic.removesuffix("_fixed"))
        assert seed is not None, f"{topic}: no seed-encoded twin"
        assert seed.config.encoding is Encoding.SEED and s.config.encoding is Encoding.FIXED
        assert seed.arch == s.arch


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "npt_explorer", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_replay_check_of_every_bundled_scenario_exits_0():
    proc = _cli("replay", "--check", *(str(p.relative_to(ROOT)) for p in FILES))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "expectation failed" not in proc.stderr


def test_scenarios_verb_lists_every_title():
    proc = _cli("scenarios")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for path in FILES:
        title = load(path).title
        assert any(path.name in line and title in line for line in lines), path.name


def test_the_bundled_scenarios_are_package_data_located_through_the_package():
    # pyproject ships scenario/bundled/*.toml in the wheel; in a checkout the folder is a
    # link to scenarios/, so both see the same files
    from npt_explorer.scenario import bundled_dir

    assert sorted(p.name for p in bundled_dir().glob("*.toml")) == [p.name for p in FILES]
    assert '"scenario/bundled/*.toml"' in (ROOT / "pyproject.toml").read_text()


def test_the_tui_demos_are_package_data_beside_the_session():
    from npt_explorer.engine import ARCHES
    from npt_explorer.scenario.session import DEMO_DIR, demo_path

    assert DEMO_DIR.parent == Path(npt_explorer.scenario.__file__).parent
    assert all(demo_path(arch).is_file() for arch in ARCHES)
    assert '"scenario/demos/*.toml"' in (ROOT / "pyproject.toml").read_text()

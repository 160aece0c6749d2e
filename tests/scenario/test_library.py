"""Bundled lessons are found by their short name from any directory (issue 16 item 16)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from npt_explorer.scenario import ScenarioError, bundled_dir, find_scenario, load
from npt_explorer.tui.widgets.dialogs import scenario_files

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_name_loads_the_bundled_lesson_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load("x86_02").title == load(bundled_dir() / "x86_02_huge_pages.toml").title
    assert find_scenario("x86_02_huge_pages") == bundled_dir() / "x86_02_huge_pages.toml"
    assert find_scenario("x86_02_huge_pages.toml") == bundled_dir() / "x86_02_huge_pages.toml"


def test_a_file_in_the_working_directory_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x86_02").write_text('[scenario]\ntitle = "mine"\narch = "riscv64"\n')
    assert load("x86_02").title == "mine"


def test_a_name_that_is_no_file_and_no_single_lesson_is_a_read_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("x86_0", "nowhere", "sub/x86_02"):
        with pytest.raises(ScenarioError, match="cannot read"):
            load(name)


def test_replay_takes_short_names_outside_the_checkout(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "npt_explorer", "replay", "rv_01", "--check"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pass rv_01")


def test_load_completes_bundled_lessons_by_short_name_outside_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = scenario_files()
    assert "x86_02_huge_pages" in names and not any("/" in n for n in names)

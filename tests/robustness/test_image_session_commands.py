"""Typed commands on the TUI's image session (issue #13: "the TUI never crashes on a typed
command"): random command lines — every op with plausible or random keys — run on an image of
the real Linux dump (one stage) and on an exported two-stage scenario. Each either fails to
parse (a CommandError naming the key), runs, or is refused / fails with its message; no other
exception escapes, and the image file is never written."""

from __future__ import annotations

import hashlib
import lzma
from pathlib import Path

import pytest
from _robust import budget, count
from hypothesis import given
from hypothesis import strategies as st
from test_scenario_inputs import command_lines

from npt_explorer.image_cli import export_machine
from npt_explorer.scenario import CommandError, load, parse_line, run
from npt_explorer.tui.image_source import ImageSession

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("images")
    linux = tmp / "linux.elf"
    linux.write_bytes(lzma.decompress((ROOT / "tests/image/data/linux_x86_64.elf.xz").read_bytes()))
    scenario = tmp / "x86_03.elf"
    export_machine(run(load(ROOT / "scenarios/x86_03_ept_dirty_logging.toml")).machine, scenario)
    return [linux, scenario]


def test_random_command_lines_never_raise_on_an_image_session(images: list[Path]) -> None:
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in images]
    sessions = [ImageSession.open([str(p)]) for p in images]

    @budget(150)
    @given(command_lines(), st.integers(0, 1))
    def check(line: str, which: int) -> None:
        try:
            command = parse_line(line)
        except CommandError:
            return
        result = sessions[which].run(command)  # raises nothing: errors are in the result
        count("image session commands: " + ("ok" if result.ok else "refused or failed"))

    check()
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in images] == before

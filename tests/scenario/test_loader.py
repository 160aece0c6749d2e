"""A bad scenario file is reported as ONE line naming file, line and key — exit code 2 through
the CLI, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from npt_explorer.cli import main
from npt_explorer.scenario import ScenarioError, load

ROOT = Path(__file__).resolve().parents[2]

HEAD = """\
[scenario]
title = "a broken scenario"
arch  = "{arch}"
"""

#: name -> (arch, body after HEAD, line of the error, key named, words in the message)
BAD: dict[str, tuple[str, str, int, str | None, str]] = {
    "syntax_error": (
        "x86_64",
        """
[[step]]
op = "map
""",
        6,
        None,
        "TOML syntax error",
    ),
    "unknown_op": (
        "x86_64",
        """
[[step]]
op = "note"
text = "fine"

[[step]]
op = "mapp"
stage = 1
""",
        10,
        "op",
        "unknown op 'mapp'",
    ),
    "bad_address": (
        "x86_64",
        """
[[step]]
op = "access"
access = "read"
gva = "0x4000_zz00"
""",
        8,
        "gva",
        "is not a number",
    ),
    "missing_key": (
        "aarch64",
        """
[[step]]
op = "map"
stage = 2
gpa = "0x4000_0000"
flags = "rw"
hpa = "0x8000_0000"
""",
        5,
        "size",
        "map needs size",
    ),
    "misaligned_region": (
        "riscv64",
        """
[[step]]
op = "map"
stage = 2
gpa = "0x8000_0800"
size = "4K"
flags = "rw"
hpa = "0x2_0000_0000"
""",
        5,
        "gpa",
        "misaligned region",
    ),
    "overlapping_region": (
        "x86_64",
        """
[[step]]
op = "map"
stage = 2
gpa = "0x20_0000"
size = "64K"
flags = "rw"
hpa = "0x8000_0000"

[[step]]
op = "map"
stage = 2
gpa = "0x20_8000"
size = "64K"
flags = "rw"
hpa = "0x9000_0000"
""",
        13,
        "gpa",
        "overlapping region",
    ),
    "region_over_the_page_table_pool": (
        "x86_64",
        """
[[step]]
op = "map"
stage = 2
gpa = "0x0"
size = "2M"
flags = "rw"
hpa = "0x8000_0000"
""",
        5,
        "gpa",
        "guest page-table pool",
    ),
    "unknown_machine_key": (
        "x86_64",
        """
[machine]
guest = "4-level"
page_size = "4K"
""",
        7,
        "machine.page_size",
        "unknown key",
    ),
    "unknown_table": (
        "x86_64",
        """
[machine]
guest = "4-level"

[machin.registers]
cr4 = 0
""",
        8,
        "machin",
        "unknown table (allowed: scenario, machine, step)",
    ),
    "unknown_feature": (
        "x86_64",
        """
[machine]
features = ["ept-ad", "hafdbs"]
""",
        6,
        "machine.features",
        "unknown x86_64 feature(s) hafdbs",
    ),
    "wrong_arch": (
        "mips64",
        "",
        3,
        "scenario.arch",
        "'mips64' (allowed: x86_64, aarch64, riscv64, loongarch64, teach)",
    ),
    "teach_unknown_preset": (
        "teach",
        """
[machine]
geometry = "6.824"
""",
        6,
        "machine.geometry",
        "'6.824': a preset of arch = \"teach\" (allowed: 6.823, ostep)",
    ),
    "teach_bad_entry_size": (
        "teach",
        """
[machine]
guest = { levels = 2, index_bits = [5, 5], offset_bits = 5, entry_bytes = 3 }
""",
        6,
        "machine.guest",
        "bad entry_bytes (allowed: 1, 2, 4 or 8)",
    ),
    "teach_unknown_geometry_key": (
        "teach",
        """
[machine]
geometry = "6.823"
npt = { geometry = "6.823", page_bits = 12 }
""",
        7,
        "machine.npt",
        "unknown key(s) page_bits (allowed: geometry, levels, index_bits",
    ),
    "teach_packed_host_table": (
        "teach",
        """
[machine]
npt = "ostep"
""",
        5,
        "machine",
        "npt 'ostep': its tables are smaller than a 4 KiB frame",
    ),
    "guest_mode_of_another_arch": (
        "aarch64",
        """
[machine]
guest = "sv39"
""",
        6,
        "machine.guest",
        "not a guest mode of aarch64",
    ),
    "flush_of_another_arch": (
        "riscv64",
        """
[[step]]
op = "note"
text = "an x86 invalidation on a RISC-V machine"

[[step]]
op = "flush"
kind = "invept-single"
""",
        11,
        "kind",
        "not an invalidation of riscv64",
    ),
    "expect_key_the_op_does_not_check": (
        "x86_64",
        """
[[step]]
op = "access"
gva = "0x4000_0000"
expect = { result = "ok", hits = 3 }
""",
        8,
        "expect",
        "expect key 'hits'",
    ),
}


def _write(tmp_path: Path, name: str) -> Path:
    arch, body, *_ = BAD[name]
    path = tmp_path / f"{name}.toml"
    path.write_text(HEAD.format(arch=arch) + body, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", BAD)
def test_loader_error_names_file_line_and_key(tmp_path: Path, name: str):
    path = _write(tmp_path, name)
    _, _, line, key, words = BAD[name]
    with pytest.raises(ScenarioError) as info:
        load(path)
    err = info.value
    assert (err.file, err.line) == (str(path), line)
    assert key is None or err.key.endswith(key)
    text = str(err)
    assert "\n" not in text
    assert text.startswith(f"{path}:{line}: ")
    assert words in text


@pytest.mark.parametrize("name", BAD)
def test_replay_check_prints_one_line_and_exits_2(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
):
    path = _write(tmp_path, name)
    _, _, line, key, _ = BAD[name]
    assert main(["replay", "--check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {path}:{line}: ")
    assert key is None or f"{key}: " in lines[0]


def test_cli_subprocess_reports_every_bad_file_on_one_line_each(tmp_path: Path):
    """Through a real process: exit 2, one stderr line per bad file, no traceback; a good file
    in the same run still replays."""
    bad = [_write(tmp_path, name) for name in BAD]
    good = ROOT / "scenarios" / "x86_01_first_walk.toml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "npt_explorer",
            "replay",
            "--check",
            "--json",
            str(good),
            *map(str, bad),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == len(bad), proc.stderr
    for path, text in zip(bad, lines, strict=True):
        _, _, line, key, _ = BAD[path.stem]
        assert text.startswith(f"error: {path}:{line}: "), text
        assert key is None or f"{key}: " in text
    assert '"passed": true' in proc.stdout  # the good file's JSON document


def test_a_failing_expectation_is_exit_1_not_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "wrong_refs.toml"
    path.write_text(
        HEAD.format(arch="riscv64")
        + """
[[step]]
op = "map"
stage = 2
gpa = "0x8000_0000"
size = "4K"
flags = "rw"
hpa = "0x2_0000_0000"

[[step]]
op = "map"
stage = 1
gva = "0x1000_0000"
gpa = "0x8000_0000"
size = "4K"
flags = "rw"

[[step]]
op = "access"
gva = "0x1000_0000"
expect = { result = "ok", refs = 24 }
""",
        encoding="utf-8",
    )
    assert main(["replay", "--check", "--json", str(path)]) == 1
    _, err = capsys.readouterr()
    assert err.splitlines() == [f"{path}:21: step 3 (access): expectation failed: refs"]

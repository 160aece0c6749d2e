"""Issue 16, item 3: scenario files are read with a size limit, and only regular files are
opened: `replay /dev/zero` ended in a MemoryError traceback, `replay` of a named pipe hung."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from npt_explorer.scenario import ScenarioError, load
from npt_explorer.scenario.loader import MAX_FILE_BYTES


def replay(*argv: str) -> subprocess.CompletedProcess[str]:
    """`npt-explorer replay ARGV` in a child limited to 1 GiB of address space and 30 s."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "npt_explorer", "replay", "--check", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=limit,
    )


def test_replay_of_dev_zero_is_one_line_and_exit_2():
    done = replay("/dev/zero")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: /dev/zero: not a regular file (a character device): give a .toml file"
    ]
    assert "Traceback" not in done.stderr


def test_replay_of_a_named_pipe_does_not_wait_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    done = replay(str(fifo))
    assert done.returncode == 2
    assert "not a regular file (a named pipe)" in done.stderr


def test_a_file_over_the_limit_is_refused_before_parsing(tmp_path):
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(ScenarioError, match="larger than 4 MiB"):
        load(big)


def test_a_file_at_the_limit_is_read(tmp_path):
    ok = tmp_path / "ok.toml"
    head = b'[scenario]\ntitle = "t"\narch = "x86_64"\n'
    ok.write_bytes(head + b"#" * (MAX_FILE_BYTES - len(head)))
    assert load(ok).title == "t"


def test_a_directory_is_named_as_such(tmp_path):
    with pytest.raises(ScenarioError, match="not a regular file \\(a directory\\)"):
        load(tmp_path)


def test_replay_check_of_many_files_prints_one_line_per_file(tmp_path):
    """Issue 16, item 19: `replay --check` of the bundled scenarios printed every trace
    (3,885 lines for 29 files); now a line per file, the failures on stderr, `--verbose` for
    the traces."""
    import glob

    files = sorted(glob.glob("scenarios/*.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[scenario]\ntitle = "wrong refs"\narch = "x86_64"\n'
        '[[step]]\nop = "map"\nstage = 2\ngpa = "0x20_0000"\nsize = "2M"\nflags = "rwx"\n'
        'hpa = "0x8020_0000"\n'
        '[[step]]\nop = "map"\nstage = 1\ngva = "0x4000_0000"\ngpa = "0x20_0000"\n'
        'size = "4K"\nflags = "rw"\n'
        '[[step]]\nop = "access"\ngva = "0x4000_0008"\nexpect = { refs = 23 }\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "npt_explorer", "replay", "--check", *files, str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == len(files) + 1
    assert lines[-1].startswith(f"FAIL {bad}: wrong refs")
    assert done.stderr.strip().endswith("expectation failed: refs")
    verbose = subprocess.run(
        [sys.executable, "-m", "npt_explorer", "replay", "--check", "--verbose", files[0]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert len(verbose.stdout.splitlines()) > 20

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

"""The installed `npt-explorer` console script in a real pseudo-terminal: it draws its first
screen and `q` quits it with exit status 0 (stdlib pty, no pexpect)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pty_driver import ANSI, read_until, spawn, stop, wait_exit


@pytest.mark.slow_tui
def test_console_script_shows_the_demo_and_q_quits(tmp_path: Path) -> None:
    try:
        pid, fd = spawn([], tmp_path)
    except FileNotFoundError as err:
        pytest.skip(str(err))
    try:
        out, shown = read_until(fd, b"reference 1 of 24", timeout=30)
        assert shown is not None, ANSI.sub(b"", out)[-2000:]
        os.write(fd, b"q")
        assert wait_exit(pid, fd, timeout=15) == 0
    finally:
        stop(pid, fd)

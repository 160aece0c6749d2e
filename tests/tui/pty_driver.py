"""Drive the installed `npt-explorer` console script in a pseudo-terminal (stdlib `pty`):
used by the console-script test and by benchmarks/tui_bench.py."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import termios
import time
from pathlib import Path

ANSI = re.compile(rb"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


def read_until(fd: int, wanted: bytes, timeout: float) -> tuple[bytes, float | None]:
    """Read the terminal until `wanted` shows (escape sequences removed): (output, when)."""
    out = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
            if wanted in ANSI.sub(b"", out).replace(b"\xc2\xa0", b" "):
                return out, time.monotonic()
    return out, None


def quiet(fd: int, still: float, timeout: float) -> bool:
    """Read the terminal until it has written nothing for `still` seconds (the app idle):
    True, or False if it was still writing after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], still)
        if not ready:
            return True
        try:
            os.read(fd, 65536)
        except OSError:
            return True
    return False


def spawn(args: list[str], cwd: Path, size: tuple[int, int] = (100, 30)) -> tuple[int, int]:
    """Start `npt-explorer ARGS` on a new pty of `size` (columns, rows): (pid, pty fd)."""
    exe = shutil.which("npt-explorer")
    if exe is None:
        raise FileNotFoundError("npt-explorer is not installed: pip install -e .")
    pid, fd = pty.fork()
    if pid == 0:  # the child: size its terminal, then become the console script
        cols, rows = size
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.chdir(cwd)
        env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor")
        env.pop("TEXTUAL", None)
        os.execve(exe, [exe, *args], env)
    return pid, fd


def wait_exit(pid: int, fd: int, timeout: float) -> int | None:
    """The child's exit code, or None if it is still running after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        read_until(fd, b"\x00never", 0.05)  # keep draining the terminal
    return None


def stop(pid: int, fd: int) -> None:
    """Kill the child if it is still there; close the terminal."""
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    os.close(fd)

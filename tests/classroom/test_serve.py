"""`npt-explorer serve` end to end: a real server on a free loopback port, a real headless
Chromium (skipped when absent) driven over the DevTools protocol, loopback traffic only."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from cdp import CHROMIUM, Browser

from npt_explorer.scenario import CommandError
from npt_explorer.tui.files import FileRoot

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, proc: subprocess.Popen[str], port: int, root: Path) -> None:
        self.proc, self.port, self.root = proc, port, root
        self.url = f"http://127.0.0.1:{port}/"

    def sessions(self) -> list[Path]:
        return sorted(self.root.glob("session-*"))

    def wait_sessions(self, count: int, timeout: float = 30) -> list[Path]:
        deadline = time.monotonic() + timeout
        while len(self.sessions()) != count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.sessions()) == count
        return self.sessions()


def _app_processes(root: Path) -> list[int]:
    """Processes running an app of this server (their command line names its root)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--served-root" in cmd and str(root).encode() in cmd:
                found.append(int(entry.name))
    return found


def _serve(*options: str) -> Iterator[Served]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "npt_explorer", "serve", "--port", str(port), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    assert "npt-explorer classroom on http://127.0.0.1:" in banner, banner
    root = Path(banner.split("scratch directories under ")[1].split(")")[0])
    served = Served(proc, port, root)
    deadline = time.monotonic() + 30
    while True:  # the banner comes from on_startup, just before the socket listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "serve did not listen"
            time.sleep(0.1)
    try:
        yield served
    finally:
        proc.terminate()
        try:
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert code == 0
        assert not root.exists()  # every scratch directory went with the server
        assert _app_processes(root) == []


@pytest.fixture
def served() -> Iterator[Served]:
    yield from _serve("--max-sessions", "2")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
async def test_two_browsers_get_their_own_sessions_that_step_walks_and_stay_in_scratch(
    served: Served, tmp_path: Path
) -> None:
    async with Browser(tmp_path / "profile") as browser:
        first = await browser.open(served.url)
        # the first screen: the demo's cold walk, its first reference selected
        await first.wait_for_text("reference 1 of 24")
        assert "-first-byte" in await first.eval("document.body.className")
        shot = await first.send("Page.captureScreenshot", format="png")
        assert len(base64.b64decode(shot["data"])) > 20_000  # a painted terminal, not blank
        await first.eval("document.querySelector('textarea').focus()")
        await first.key("n")
        await first.wait_for_text("reference 2 of 24")

        second = await browser.open(served.url)
        await second.wait_for_text("reference 1 of 24")  # its own app: not at reference 2
        [mine, theirs] = served.wait_sessions(2)
        await second.eval("document.querySelector('textarea').focus()")
        await second.keys("nn")
        await second.wait_for_text("reference 3 of 24")
        assert "reference 3 of 24" not in await first.received()

        # save and open stay inside the session's scratch directory
        outside = tmp_path / "escaped"
        await second.keys(f":save {outside}")
        await second.enter()
        await second.wait_for_text("outside this session's scratch directory")
        # a refused line stays typed: ctrl+u clears it; the leading ':' (kept off the line by
        # the TUI) brings the focus back to the line should anything have taken it
        for typed in ("save ../escaped", "load /etc/passwd"):
            await second.ctrl("u")
            await second.keys(f":{typed}")
            await second.enter()
            await second.wait_for_text(f"use a plain file name): {typed.split()[1]}")
        assert not outside.with_suffix(".toml").exists()
        assert not served.root.joinpath("escaped.toml").exists()
        await second.ctrl("u")
        await second.keys(":save mine")
        await second.enter()
        await second.wait_for_text("saved")
        saved = [p for p in served.sessions() if (p / "mine.toml").exists()]
        assert len(saved) == 1 and saved[0] in (mine, theirs)

        # closing the tabs ends their apps and removes their scratch directories
        await browser.close_page(second)
        await browser.close_page(first)
        served.wait_sessions(0)
    deadline = time.monotonic() + 20
    while _app_processes(served.root) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert _app_processes(served.root) == []


async def test_a_full_classroom_refuses_more_tabs_and_idle_sessions_end() -> None:
    for served in _serve("--max-sessions", "1", "--idle-minutes", "0.05"):  # 3 s
        async with aiohttp.ClientSession() as http:
            started = time.monotonic()
            ws = await http.ws_connect(f"{served.url}ws?width=80&height=24")
            served.wait_sessions(1)
            async with http.get(served.url) as full:
                assert full.status == 503
                assert "all 1 sessions of this classroom are in use" in await full.text()
            message = await ws.receive(timeout=30)
            while message.type == aiohttp.WSMsgType.BINARY:  # terminal output (no input sent)
                message = await ws.receive(timeout=30)
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert message.extra == "idle session ended"
            assert 3 <= time.monotonic() - started < 30
            served.wait_sessions(0)
            status, deadline = 503, time.monotonic() + 20
            while status == 503 and time.monotonic() < deadline:  # until its app has exited
                async with http.get(served.url) as again:
                    status = again.status
                await asyncio.sleep(0.2)
            assert status == 200


@pytest.mark.parametrize("name", ["../out.toml", "/etc/passwd", "a/../../out", "~/x"])
def test_a_served_file_name_outside_the_scratch_directory_is_refused(tmp_path, name):
    scratch = tmp_path / "session"
    scratch.mkdir()
    if name == "~/x":  # not the home directory: a directory named ~ inside the scratch one
        assert FileRoot(scratch).resolve(name) == str(scratch / "~" / "x")
        return
    with pytest.raises(CommandError, match="outside this session's scratch directory"):
        FileRoot(scratch).resolve(name)


def test_a_symlink_out_of_the_scratch_directory_is_refused(tmp_path):
    scratch = tmp_path / "session"
    scratch.mkdir()
    (scratch / "door").symlink_to(tmp_path)
    with pytest.raises(CommandError):
        FileRoot(scratch).resolve("door/out.toml")
    assert FileRoot(scratch).resolve("in.toml") == str(scratch.resolve() / "in.toml")
    assert FileRoot().resolve("/anywhere.toml") == "/anywhere.toml"  # the local TUI


def test_a_served_load_finds_a_bundled_lesson_by_its_short_name_read_only(tmp_path):
    from npt_explorer.scenario.library import bundled_matches

    scratch = tmp_path / "session"
    scratch.mkdir()
    files = FileRoot(scratch)
    [lesson] = bundled_matches("x86_03")
    assert files.resolve("x86_03", reading=True) == str(lesson)
    # only for reading, and only a bare name: saving writes to the scratch directory
    assert files.resolve("x86_03") == str(scratch.resolve() / "x86_03")
    with pytest.raises(CommandError, match="outside"):
        files.resolve("../x86_03", reading=True)
    # a file of the session's own comes first
    (scratch / "x86_03").write_text("")
    assert files.resolve("x86_03", reading=True) == str(scratch.resolve() / "x86_03")


async def test_a_served_tui_loads_a_lesson_by_name_and_refuses_a_path_out(tmp_path):
    from npt_explorer.tui.app import make_app

    scratch = tmp_path / "session"
    scratch.mkdir()
    app = make_app(arch="x86_64")
    app.commands.files = FileRoot(scratch)
    async with app.run_test(size=(120, 40)) as pilot:
        for line in ("load /etc/passwd", "load x86_03"):
            await pilot.press("colon")
            app.command_line.input.value = line
            await pilot.press("enter")
            await pilot.pause()
            if line.startswith("load /"):
                hint = str(app.command_line.query_one("#cmd-hint").render())
                assert "outside this session's scratch directory" in hint
                assert app.session.mode == "demo"
        assert app.session.mode == "scenario"
        assert app.session.scenario.title.startswith("x86_64: EPT write protection")

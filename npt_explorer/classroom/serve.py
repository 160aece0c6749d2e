"""`npt-explorer serve`: the TUI in the browser for a classroom, with textual-serve (one app
process per browser tab), bounded.

* At most `max_sessions` apps run at once; further tabs get HTTP 503 with a sentence.
* A session with no keyboard or mouse input for `idle_seconds` is ended (its websocket is
  closed, which quits its app; the browser offers "Restart").
* Each app runs with `--served-root ROOT`: it makes its own scratch directory under ROOT,
  works in it, and refuses any file name (`save`, `load`, `export-walk`, `screenshot`) that
  resolves outside it; the directory is removed when the app quits, ROOT when the server
  stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.server import Server

DEFAULT_MAX_SESSIONS = 40
DEFAULT_IDLE_MINUTES = 30


def app_command(root: Path, scenario: str | None) -> str:
    """The shell command textual-serve runs for each browser tab."""
    words = [sys.executable, "-m", "npt_explorer", "--served-root", str(root)]
    # exec: the shell textual-serve starts becomes the app, so waiting on it waits on the app
    return "exec " + shlex.join(words + ([scenario] if scenario else []))


async def _reap(app_service: AppService, grace: float = 10) -> None:
    """Wait for the app process to exit (textual-serve stops at its output's end); kill it
    after `grace` seconds, so no app outlives its session or the server."""
    process = getattr(app_service, "_process", None)  # textual-serve 1.1: the app's Process
    if process is None or process.returncode is not None:
        return
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        process.kill()
        await process.wait()


class ClassroomServer(Server):
    """textual-serve's server with a session limit, an idle timeout and scratch space."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        public_url: str | None,
        scenario: str | None,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        idle_seconds: float = DEFAULT_IDLE_MINUTES * 60,
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="npt-explorer-serve-"))
        super().__init__(
            app_command(self.root, scenario),
            host=host,
            port=port,
            title="npt-explorer",
            public_url=public_url,
        )
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self.active = 0  # browser tabs with a running app
        self.last_input: dict[web.WebSocketResponse, float] = {}
        self._reaper: asyncio.Task[None] | None = None

    def _full(self) -> web.HTTPServiceUnavailable:
        return web.HTTPServiceUnavailable(
            text=f"npt-explorer: all {self.max_sessions} sessions of this classroom are in use; "
            "try again when one ends.\n"
        )

    async def handle_index(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        if self.active >= self.max_sessions:
            raise self._full()
        return await super().handle_index(request)  # type: ignore[misc]

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if self.active >= self.max_sessions:
            raise self._full()
        self.active += 1
        try:
            return await super().handle_websocket(request)
        finally:
            self.active -= 1

    async def _process_messages(
        self, websocket: web.WebSocketResponse, app_service: AppService
    ) -> None:
        """textual-serve's message loop, noting the time of every input (pings are not)."""
        self.last_input[websocket] = time.monotonic()
        try:
            async for message in websocket:
                if message.type != WSMsgType.TEXT:
                    continue
                kind, *rest = message.json()
                data = rest[0] if rest else None
                if kind != "ping":
                    self.last_input[websocket] = time.monotonic()
                if kind == "stdin":
                    await app_service.send_bytes(data.encode("utf-8"))
                elif kind == "resize":
                    await app_service.set_terminal_size(data["width"], data["height"])
                elif kind == "ping":
                    await websocket.send_json(["pong", data])
                elif kind == "blur":
                    await app_service.blur()
                elif kind == "focus":
                    await app_service.focus()
        finally:
            self.last_input.pop(websocket, None)
            await app_service.stop()  # quits the app; textual-serve's own call is then a no-op
            await _reap(app_service)

    async def _reap_idle(self) -> None:
        while True:
            await asyncio.sleep(max(0.2, min(self.idle_seconds / 4, 30)))
            now = time.monotonic()
            for websocket, last in list(self.last_input.items()):
                if now - last > self.idle_seconds:
                    await websocket.close(message=b"idle session ended")

    async def on_startup(self, app: web.Application) -> None:
        self._reaper = asyncio.create_task(self._reap_idle())
        print(
            f"npt-explorer classroom on {self.public_url} (at most {self.max_sessions} "
            f"sessions, idle ones end after {self.idle_seconds / 60:g} min; scratch "
            f"directories under {self.root}); Ctrl+C stops",
            flush=True,
        )

    async def on_shutdown(self, app: web.Application) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for websocket in list(self.last_input):
            await websocket.close(message=b"server stopped")

    def serve(self, debug: bool = False) -> None:
        try:
            super().serve(debug)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

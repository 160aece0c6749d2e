"""A headless Chromium driven over the DevTools protocol on loopback (for the serve tests).

Every host name but 127.0.0.1 resolves to nothing, and Chromium's background services are
off, so the browser makes loopback traffic only."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

#: records every websocket message the page receives (textual-serve's terminal stream)
RECORDER = """
(() => {
  window.__received = [];
  const Native = window.WebSocket;
  function Recording(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string') { window.__received.push(ev.data); }
      else if (ev.data instanceof Blob) { ev.data.text().then(t => window.__received.push(t)); }
      else { window.__received.push(new TextDecoder().decode(ev.data)); }
    });
    return ws;
  }
  Recording.prototype = Native.prototype;
  Object.assign(Recording, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Recording;
})();
"""
_ANSI = re.compile(
    r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78M])"
)


def plain(text: str) -> str:
    return _ANSI.sub("", text)


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self.ids)
        await self.ws.send_json({"id": n, "method": method, "params": params})
        while True:
            msg = json.loads((await self.ws.receive(timeout=30)).data)
            if msg.get("id") == n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def eval(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        return result["result"].get("value")

    async def received(self) -> str:
        return plain("".join(await self.eval("window.__received || []") or []))

    async def wait_for_text(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            seen = await self.received()
            if text in seen:
                return seen
            await asyncio.sleep(0.2)
        raise AssertionError(f"{text!r} never reached the page; it got {seen[-400:]!r}")

    async def key(self, text: str) -> None:
        """One typed character, as the keyboard delivers it to the focused terminal."""
        for kind in ("keyDown", "char", "keyUp"):
            params: dict[str, Any] = {"type": kind, "key": text}
            if kind == "char":
                params["text"] = text
            await self.send("Input.dispatchKeyEvent", **params)

    async def keys(self, text: str) -> None:
        for ch in text:
            await self.key(ch)

    async def ctrl(self, letter: str) -> None:
        code = ord(letter.upper())
        for kind in ("rawKeyDown", "keyUp"):
            await self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                modifiers=2,
                key=letter,
                code=f"Key{letter.upper()}",
                windowsVirtualKeyCode=code,
            )

    async def press(self, key: str, code: int) -> None:
        """A key without a character (`F5`, `ArrowDown`), `code` its Windows virtual key."""
        for kind in ("rawKeyDown", "keyUp"):
            await self.send(
                "Input.dispatchKeyEvent", type=kind, key=key, code=key, windowsVirtualKeyCode=code
            )

    async def enter(self) -> None:
        for kind in ("rawKeyDown", "char", "keyUp"):
            params = {"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
            if kind == "char":
                params["text"] = "\r"
            await self.send("Input.dispatchKeyEvent", **params)


class Browser:
    """`async with Browser(tmp) as b: page = await b.open(url)`."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.proc: subprocess.Popen[bytes] | None = None
        self.http: aiohttp.ClientSession | None = None
        self.port = 0

    async def __aenter__(self) -> Browser:
        assert CHROMIUM is not None
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-extensions",
                "--metrics-recording-only",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--window-size=1280,800",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            await asyncio.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])
        self.http = aiohttp.ClientSession()
        return self

    async def open(self, url: str, size: tuple[int, int] | None = None) -> Page:
        """A new tab on `url`; `size` (CSS pixels) sets its viewport first."""
        assert self.http is not None
        async with self.http.put(f"http://127.0.0.1:{self.port}/json/new?about:blank") as r:
            target = await r.json()
        ws = await self.http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(ws)
        page.target = target["id"]  # type: ignore[attr-defined]
        await page.send("Page.enable")
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=RECORDER)
        if size is not None:
            width, height = size
            await page.send(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
        await page.send("Page.navigate", url=url)
        return page

    async def close_page(self, page: Page) -> None:
        assert self.http is not None
        await page.ws.close()
        async with self.http.get(f"http://127.0.0.1:{self.port}/json/close/{page.target}"):  # type: ignore[attr-defined]
            pass

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

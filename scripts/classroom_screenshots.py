"""Regenerate the screenshots docs/classroom.md shows (docs/img/classroom-*.png).

Each is the served TUI as a student's browser shows it: `npt-explorer serve` on a free
loopback port, headless Chromium driven over DevTools (tests/classroom/cdp.py: loopback
traffic only), keys typed as a keyboard types them, and the shot taken once the terminal
stream holds the text that proves the screen got there.

    PYTHONPATH=$PWD python3 scripts/classroom_screenshots.py [--out docs/img] [--only NAME]

Needs Debian's `chromium`. Takes about a minute; check the images by eye before committing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "classroom"))

from cdp import CHROMIUM, Browser, Page  # noqa: E402

X86_03 = ROOT / "scenarios" / "x86_03_ept_dirty_logging.toml"
#: CSS pixels of the browser's viewport: the medium layout (walk grid above the entry)
SMALL = (1280, 713)
#: the wide layout's six panels need 140×44 cells
LARGE = (1500, 960)
F5, DOWN = ("F5", 116), ("ArrowDown", 40)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(*options: str) -> Iterator[str]:
    """`npt-explorer serve` on a free loopback port until the block ends; yields its URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "npt_explorer", "serve", "--port", str(port), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("npt-explorer serve did not listen") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def command(page: Page, line: str) -> None:
    await page.keys(f":{line}")
    await page.enter()


async def shoot(page: Page, path: Path) -> None:
    await asyncio.sleep(1.5)  # the stream is in; let the page paint it
    shot = await page.send("Page.captureScreenshot", format="png")
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"wrote {path}")


async def opened(browser: Browser, url: str, size: tuple[int, int], first: str) -> Page:
    page = await browser.open(url, size)
    await page.wait_for_text(first)
    await page.eval("document.querySelector('textarea').focus()")
    return page


async def served_walk_and_quiz(browser: Browser, url: str, out: Path) -> None:
    page = await opened(browser, url, SMALL, "reference 1 of 24")
    await shoot(page, out / "classroom-served-walk.png")
    await command(page, "quiz topic=walk arch=x86_64 seed=3 count=2")
    await page.wait_for_text("type :answer")
    await shoot(page, out / "classroom-quiz-question.png")
    await command(page, "answer 0x0")  # no walk of these problems ends at 0: a wrong answer
    await page.wait_for_text("wrong (you said 0x0)")
    await shoot(page, out / "classroom-quiz-verdict.png")


async def projector(browser: Browser, url: str, out: Path) -> None:
    page = await opened(browser, url, SMALL, "reference 1 of 24")
    before = len(await page.received())
    await page.press(*F5)
    deadline = time.monotonic() + 30
    while len(await page.received()) == before and time.monotonic() < deadline:
        await asyncio.sleep(0.2)  # the repaint in the high-contrast theme
    await shoot(page, out / "classroom-projector.png")


async def linked_diff(browser: Browser, url: str, out: Path) -> None:
    page = await opened(browser, url, LARGE, "step 0/23")
    await page.keys("]]]]]]]")  # to the protect (step 7)
    await page.wait_for_text("step 7/23")
    await command(page, "diff 6 7")
    await page.wait_for_text("the panels show point 7")
    for _ in range(19):  # to the stale combined TLB entry: the panels follow it
        await page.press(*DOWN)
    await page.wait_for_text("! TLB stale")
    await shoot(page, out / "classroom-diff.png")


#: shot group → (serve options, what it does)
SHOTS: dict[str, tuple[tuple[str, ...], Callable[[Browser, str, Path], Awaitable[None]]]] = {
    "quiz": ((), served_walk_and_quiz),
    "projector": ((), projector),
    "diff": (("--scenario", str(X86_03)), linked_diff),
}


async def main(out: Path, only: list[str]) -> None:
    with tempfile.TemporaryDirectory() as profile:
        async with Browser(Path(profile)) as browser:
            for name in only:
                options, run = SHOTS[name]
                with serving(*options) as url:
                    await run(browser, url, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--only", choices=sorted(SHOTS), action="append")
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("classroom_screenshots: needs chromium (apt-get install chromium)")
    asyncio.run(main(args.out, args.only or list(SHOTS)))

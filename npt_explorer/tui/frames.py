"""When the panels' screen is painted. A key's frame should follow the key at once when the
screen was idle, and frames should still come at most `MAX_FPS` a second.

Textual's screen timer keeps a grid of slots from its start. After a frame that ran past its
slot, it sleeps to the slot after the next one (`Timer._run` with `skip`: `count =
int(elapsed / interval + 1)`, then the next tick is `count + 1` intervals from the start),
and it sleeps to its next slot even when the screen had nothing to paint. A 160×48 frame
takes 10–25 ms of CPU on a shared host, so most frames ran past their slot: the next key
waited ~20 ms for its frame, and a step took ~50 ms where key and paint took ~30
(benchmarks/README.md, "Session 7 (tuistep)"). Pinned Textual 8.2.8."""

from __future__ import annotations

import asyncio
from math import inf
from time import monotonic

from textual.screen import UPDATE_PERIOD, Screen
from textual.timer import EventTargetGone, Timer

from .compositor import SpanCompositor


class FrameTimer(Timer):
    """Ticks when resumed (a widget wants painting), at least an interval after the last
    tick: at once after a quiet spell, else when the interval is up. Textual pauses it at
    the start of each frame."""

    async def _run(self) -> None:
        last = -inf
        while True:
            await self._active.wait()
            wait = last + self._interval - monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue  # still wanted? (a layout paints synchronously and pauses it)
            last = monotonic()
            try:
                await self._tick(next_timer=last, count=0)
            except EventTargetGone:
                return


class PanelsScreen(Screen[object]):
    """The app's first screen (the panels), painted on a FrameTimer; its partial frames
    render only the lines that changed (compositor.py)."""

    _frames: FrameTimer | None = None

    def __init__(self, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._compositor = SpanCompositor()

    @property
    def _update_timer(self) -> Timer:
        if self._frames is None:
            self._frames = FrameTimer(
                self,
                UPDATE_PERIOD,
                name="screen_update",
                callback=self._on_timer_update,
                pause=True,
            )
            self._frames._start()
            self._timers.add(self._frames)  # stopped with the screen, as set_interval's
        return self._frames

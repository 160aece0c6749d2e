"""When the panels' screen is painted (tui/frames.py): a key's frame follows it at once when
the screen was idle, and frames still come at most one an interval. Intervals here are an
hour long, so nothing depends on how fast the machine is."""

from __future__ import annotations

import asyncio

from tui_helpers import settle

from npt_explorer.tui.frames import FrameTimer, PanelsScreen

HOUR = 3600.0


async def _turns(count: int = 10) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_frame_asked_for_after_a_quiet_spell_comes_at_once_the_next_waits(
    app_factory,
) -> None:
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        frames: list[int] = []

        def frame() -> None:
            timer.pause()  # as the screen's update does at the start of each frame
            frames.append(len(frames))

        timer = FrameTimer(app.screen, HOUR, callback=frame, pause=True)
        timer._start()
        try:
            await _turns()
            assert frames == []  # nothing asked for: no frame
            timer.resume()
            await _turns()
            assert frames == [0]  # Textual's timer would wait for its first slot, an hour
            timer.resume()
            await _turns()
            assert frames == [0]  # the next frame waits for the interval
        finally:
            timer.stop()


async def test_the_panels_are_painted_on_a_frame_timer(app_factory) -> None:
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.main, PanelsScreen)
        assert isinstance(app.main._update_timer, FrameTimer)

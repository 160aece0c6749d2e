"""A real terminal's app freezes each session's objects out of the garbage collector after
its first frame (full collections no longer walk the machine and the panels: a missed frame
every few dozen steps before); a new session makes the old one's collectable again."""

from __future__ import annotations

import gc
import weakref

from test_linked import type_command
from tui_helpers import settle

from npt_explorer.tui.app import make_app


async def until(pilot, done, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if done():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


async def test_the_session_is_frozen_and_a_new_session_frees_the_old_one() -> None:
    app = make_app(arch="x86_64")
    app.freeze_heap = True  # as run_app sets it
    try:
        async with app.run_test(size=(100, 32)) as pilot:
            await settle(pilot)
            await until(pilot, lambda: gc.get_freeze_count() > 0)  # once no worker runs
            old = weakref.ref(app.session.machine)
            await type_command(pilot, "arch aarch64")
            await settle(pilot)
            # collected before the new session was frozen (a frozen one would live on)
            await until(pilot, lambda: old() is None and gc.get_freeze_count() > 0)
            assert app.session.arch == "aarch64"
    finally:
        gc.unfreeze()


async def test_an_app_under_test_leaves_the_collector_alone(app_factory) -> None:
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        assert gc.get_freeze_count() == 0

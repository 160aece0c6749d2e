"""Going back in time rebuilds the session by replaying its first commands, which takes a
second on a big guest: the replay runs in a worker thread, the command line shows how far it
is, every command typed meanwhile is refused (nothing may change the session under it), and
the panels keep showing the present until the rebuilt session replaces it."""

from __future__ import annotations

import threading

from test_linked import hint_text, type_command
from tui_helpers import settle

from npt_explorer.scenario.session import Session
from npt_explorer.tui import timeline


async def until(pilot, done, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if done():
            return
        await pilot.pause(0.02)
    raise AssertionError("timed out")


async def test_going_back_replays_in_a_worker_and_refuses_commands_until_it_arrives(
    app_factory, monkeypatch
) -> None:
    gate, replayed = threading.Event(), []
    real = timeline.replay

    def held(back: Session, entry: timeline.LogEntry) -> object:
        replayed.append(threading.current_thread() is threading.main_thread())
        if len(replayed) == 3:
            gate.wait(10)  # the worker waits here until the test has looked
        return real(back, entry)

    monkeypatch.setattr(timeline, "replay", held)
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_command(pilot, "access gva=0x4000_0000 access=read")
        assert app.session.log[-1].by_hand
        present, now = app.session, len(app.session.log)
        await type_command(pilot, f"goto {now - 4}", wait_workers=False)
        await until(pilot, lambda: "replayed 2 of" in hint_text(app))
        assert app.session is present and len(present.log) == now  # the present, unchanged
        await type_command(pilot, "access gva=0x4000_0008 access=read", wait_workers=False)
        assert f"going back to point {now - 4} (replayed 2 of {now - 4})" in hint_text(app)
        assert "wait for it" in hint_text(app) and len(present.log) == now  # refused
        await pilot.press("escape", "right_square_bracket")  # keys that change it: nothing
        assert app.session is present
        gate.set()
        await until(pilot, lambda: app.session is not present)
        await settle(pilot)
        assert len(app.session.log) == now - 4 and f"at point {now - 4}" in hint_text(app)
        assert not any(replayed)  # every replay ran off the event loop
        await type_command(pilot, "redo 4")  # the future was kept: forward again
        assert len(app.session.log) == now
        assert app.session.log[-1].by_hand and app.session.log[-1].result.ok


async def test_a_replay_that_fails_says_so_and_keeps_the_present(app_factory, monkeypatch):
    def broken(back: Session, entry: timeline.LogEntry) -> object:
        raise RuntimeError("the disk is gone")

    monkeypatch.setattr(timeline, "replay", broken)
    app = app_factory(arch="x86_64")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        present = app.session
        await type_command(pilot, "undo")
        assert app.session is present and "the disk is gone" in hint_text(app)
        await type_command(pilot, "access gva=0x4000_0000 access=read")  # commands work again
        assert len(app.session.log) == len(present.log) and present.log[-1].by_hand


def test_progress_counts_every_replayed_command() -> None:
    session = Session.demo("riscv64")
    seen: list[tuple[int, int]] = []
    back = timeline.session_at(session, 3, lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)] and len(back.log) == 3

"""Random key and command sequences never crash the app, and a command that fails changes
nothing (issue 8); bursts of keys in one write, pastes and terminal resizes neither (issue 16).
Seeds are fixed so CI sees the same sequences every run. `NPT_ROBUST_PROFILE=deep` runs 10×
the rounds with other seeds."""

from __future__ import annotations

import os
import random

import pytest
from tui_helpers import burst, paste, settle

from npt_explorer.scenario import OPS

#: every key a user may hit outside the command line (q and ctrl+q would end the run)
KEYS = [
    "n",
    "p",
    "f",
    "home",
    "end",
    "space",
    "tab",
    "shift+tab",
    "escape",
    "question_mark",
    "enter",
    "up",
    "down",
    "left",
    "right",
    "pageup",
    "pagedown",
    "o",
    "e",
    "left_square_bracket",
    "right_square_bracket",
    "1",
    "x",
    "escape",
]
VALUES = [
    "0",
    "1",
    "2",
    "3",
    "0x1000",
    "0x4000_0000",
    "0x20_0000",
    "4K",
    "2M",
    "rwx",
    "r",
    "zz",
    "-1",
    "write",
    "exec",
    "user",
    "true",
    "{",
    "}",
    '"',
    "={x=1}",
    "1e9",
    "0x" + "f" * 20,
]


DEEP = os.environ.get("NPT_ROBUST_PROFILE") == "deep"
ROUNDS = 60 if DEEP else 4  # (each round is a few seconds of app time: the suite's budget)
SIZES = [(80, 24), (100, 30), (120, 40), (160, 48), (60, 16), (139, 43)]


def random_command(rng: random.Random) -> str:
    op = rng.choice([*OPS, "frobnicate", "", "map", "access", "poke"])
    keys = [k.name for k in OPS.get(op, ())] + ["colour", "expect.refs", "fields.R"]
    args = " ".join(f"{rng.choice(keys)}={rng.choice(VALUES)}" for _ in range(rng.randint(0, 5)))
    return f"{op} {args}".strip()


def state(app) -> tuple:
    m = app.session.machine
    return (
        len(app.session.commands),
        m.frames_in_use,
        m.guest_pt_frames,
        sorted((e.kind, e.base, e.stale) for e in m.tlb_entries()),
    )


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "riscv64"])
async def test_random_keys_and_commands_never_crash_the_app(app_factory, arch):
    rng = random.Random(f"npt-{arch}" + ("-deep" if DEEP else ""))
    app = app_factory(arch=arch)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        for _ in range(ROUNDS):
            for key in rng.choices(KEYS, k=4):
                await pilot.press(key)
            await pilot.press("escape", "escape")
            text = random_command(rng)
            before = state(app)
            await pilot.press("colon")
            app.command_line.input.value = text
            await pilot.press("enter")
            await settle(pilot)
            failed = app.command_line.has_class("-error")
            if failed:  # an inline error, and nothing changed
                assert state(app) == before, text
            app.command_line.input.value = ""
            await pilot.press("escape")
            assert app.is_running, text


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
async def test_bursts_pastes_and_resizes_never_crash_the_app(app_factory, arch):
    """Keys several to a write (a paste without bracketed paste, an SSH double tap, a busy
    machine), bracketed pastes into whatever has focus, and the terminal resized between
    layouts (80×24 … 160×48) at random."""
    rng = random.Random(f"burst-{arch}" + ("-deep" if DEEP else ""))
    app = app_factory(arch=arch)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        for _ in range(ROUNDS):
            action = rng.random()
            if action < 0.5:
                await burst(pilot, *rng.choices(KEYS, k=rng.randint(2, 8)))
            elif action < 0.7:
                await burst(pilot, "colon", text=random_command(rng))
                await burst(pilot, "enter", "escape")
            elif action < 0.85:
                await paste(pilot, rng.choice([random_command(rng), "\n\n", "q" * 50, "é✗\t"]))
            else:
                await pilot.resize_terminal(*rng.choice(SIZES))
                await settle(pilot)
            await burst(pilot, "escape", "escape")
            assert app.is_running
            assert len(app.screen_stack) >= 1

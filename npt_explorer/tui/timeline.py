"""Time travel over a session: point K is the machine after the first K commands of its log
(typed, from the scenario, or a quiz's reveal), point 0 the machine before any. No Textual."""

from __future__ import annotations

from ..engine import Machine
from ..scenario.commands import CommandError
from ..scenario.runner import execute
from .session import Session


def check_point(session: Session, point: int) -> int:
    if not 0 <= point <= len(session.log):
        raise CommandError(f"point {point} (allowed: 0 .. {len(session.log)})", "point")
    return point


def machine_at(session: Session, point: int) -> Machine:
    """A fresh machine with the first `point` commands of `session`'s log run on it. Failed
    commands changed nothing, so running them again fails again and changes nothing."""
    machine = Machine(session.scenario.config)
    for n, entry in enumerate(session.log[: check_point(session, point)], 1):
        execute(machine, entry.result.command, n)
    return machine


def session_at(session: Session, point: int) -> Session:
    """`session` as it was at `point` (the log after it is dropped)."""
    back = Session(session.scenario, session.mode)
    steps = session.scenario.steps
    for entry in session.log[: check_point(session, point)]:
        command = entry.result.command
        back.run(command, by_hand=entry.by_hand)
        if not entry.by_hand and back.position < len(steps) and steps[back.position] is command:
            back.position += 1
    return back

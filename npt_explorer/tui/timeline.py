"""Time travel over a session: point K is the machine after the first K commands of its log
(typed, from the scenario, or a quiz's reveal), point 0 the machine before any. Going back
keeps the points after it as the *future*: `redo`/`goto` run them again. A command that is
not the next point (anything typed after going back) starts a new future: the old one is
dropped, as an editor's undo history is. No Textual.

Going back rebuilds the session by replaying its first commands on a new machine; the app
runs that in a worker thread (`rebuild`), then makes the result the present (`arrive`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine import Machine
from ..scenario import CommandError
from ..scenario.results import StepResult
from ..scenario.runner import execute
from ..scenario.session import LogEntry, Session


def check_point(session: Session, point: int, last: int | None = None) -> int:
    last = len(session.log) if last is None else last
    if not 0 <= point <= last:
        raise CommandError(f"point {point} (allowed: 0 .. {last})", "point")
    return point


def machine_at(session: Session, point: int, entries: list[LogEntry] | None = None) -> Machine:
    """A fresh machine with the first `point` commands of `entries` (default: `session`'s
    log) run on it. Failed commands changed nothing, so running them again fails again and
    changes nothing."""
    entries = session.log if entries is None else entries
    machine = Machine(session.scenario.config)
    for n, entry in enumerate(entries[: check_point(session, point, len(entries))], 1):
        execute(machine, entry.result.command, n)
    return machine


def replay(session: Session, entry: LogEntry) -> StepResult:
    """Run `entry`'s command on `session` again, as it ran first (typed or a scenario step)."""
    command = entry.result.command
    steps = session.scenario.steps
    result = session.run(command, by_hand=entry.by_hand)
    if not entry.by_hand and session.position < len(steps) and steps[session.position] is command:
        session.position += 1
    return result


def session_at(
    session: Session, point: int, progress: Callable[[int, int], None] | None = None
) -> Session:
    """`session` as it was at `point` (the log after it is dropped); `progress(done, total)`
    after each command replayed."""
    back = Session(session.scenario, session.mode)
    for n, entry in enumerate(session.log[: check_point(session, point)], 1):
        replay(back, entry)
        if progress is not None:
            progress(n, point)
    return back


def _same(a: LogEntry, b: LogEntry) -> bool:
    ca, cb = a.result.command, b.result.command
    return a.by_hand == b.by_hand and (ca.op, ca.args) == (cb.op, cb.args)


@dataclass
class Timeline:
    """The points after the present that going back left: `future[0]` is point `base + 1`.
    They belong to one session object (`session`); another session has no future."""

    session: Session | None = None
    base: int = 0
    future: list[LogEntry] = field(default_factory=list)

    def ahead(self, session: Session) -> list[LogEntry]:
        return self.future if session is self.session else []

    def points(self, session: Session) -> list[LogEntry]:
        """Every point's entry, the present's log then the future."""
        return [*session.log, *self.ahead(session)]

    def rebuild(
        self, session: Session, point: int, progress: Callable[[int, int], None] | None = None
    ) -> Session:
        """`session` at `point` (< now), a new session; `session` is not changed, so this may
        run in a worker thread while the app only reads it. `arrive` makes it the present."""
        check_point(session, point, len(session.log))
        return session_at(session, point, progress)

    def arrive(self, session: Session, back: Session) -> Session:
        """`back` (rebuilt from `session`) becomes the present: the log after its point and
        the old future become the future."""
        point = len(back.log)
        self.future = [*session.log[point:], *self.ahead(session)]
        self.session, self.base = back, point
        return back

    def forward(self, session: Session, count: int) -> list[StepResult]:
        """Run the next `count` points of the future on `session` (redo)."""
        ahead = self.ahead(session)
        if not 1 <= count <= len(ahead):
            raise CommandError(
                f"redo {count}: {len(ahead)} point(s) ahead" if ahead else "nothing to redo"
            )
        results = [replay(session, entry) for entry in ahead[:count]]
        self.sync(session)
        return results

    def sync(self, session: Session) -> int:
        """Take the commands `session` ran since the last look: each that is the next point
        moves the present forward; the first that is not drops the whole future. Returns the
        number of points dropped (0 when none were)."""
        if session is not self.session:
            self.session, self.base, self.future = session, len(session.log), []
            return 0
        for entry in session.log[self.base :]:
            if self.future and _same(entry, self.future[0]):
                self.future.pop(0)
                self.base += 1
                continue
            dropped = len(self.future)
            self.future, self.base = [], len(session.log)
            return dropped
        return 0

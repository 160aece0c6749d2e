"""The TUI's classroom: quiz mode (a bar with the open question; `answer` scores it and runs
the step that explains it, so the usual panels show why), the diff view between two points
of the session, time travel (`goto`) and the projector layout. A plain object the app owns
(`app.classroom`, as `app.commands`): the CommandRunner hands it the classroom verbs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from rich.text import Text
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Static

from ..classroom.diff import StateDiff, diff
from ..classroom.quiz import ANY_MODE, NO_QUIZ, QUIZ_ARCHES, TOPICS, generate, modes
from ..classroom.quiz_run import QuizRun, Verdict
from ..classroom.quiz_text import part_lines
from ..classroom.state import capture
from ..scenario import CommandError, parse_line, parse_number
from ..scenario.session import Session
from .messages import MachineChanged
from .panels.diff import DiffFollow, DiffPanel
from .panels.regions import RegionsPanel
from .panels.tlb import TlbPanel
from .timeline import Timeline, check_point, machine_at
from .widgets.themes import HIGH_CONTRAST

#: typed words the classroom adds to the command line (completion lists them beside the ops)
CLASSROOM_COMMANDS: dict[str, str] = {
    "quiz": "quiz [topic=walk|faults|tlb|huge|seed-bugs] [arch=…] [guest=MODE] [npt=MODE] "
    "[seed=N] [count=K]: predict, then see",
    "answer": "answer VALUE: answer the open quiz question (0x…, a number, a word or a letter)",
    "next": "next: the next quiz problem",
    "diff": "diff [A] [B]: what changed from point A to point B (default: the last command)",
    "goto": "goto K: back (or forward) to point K, the machine after the first K commands",
    "undo": "undo: back one point (the later points stay: redo)",
    "redo": "redo [N]: forward N points after going back (a new command drops them instead)",
}


#: the key=value words of the classroom commands, with the values completion offers
CLASSROOM_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "quiz": {
        "topic": TOPICS,
        "arch": QUIZ_ARCHES,
        "guest": (*dict.fromkeys(m for a in QUIZ_ARCHES for m in modes(a, "guest")), ANY_MODE),
        "npt": (*dict.fromkeys(m for a in QUIZ_ARCHES for m in modes(a, "npt")), ANY_MODE),
        "seed": (),
        "count": (),
    },
}


class QuizBar(Static):
    """The open problem: its steps, the question, the last verdicts and the score."""

    DEFAULT_CSS = """
    QuizBar {
        height: auto;
        max-height: 14;
        border: round $accent;
        border-title-style: bold;
        padding: 0 1;
    }
    """

    def show(self, run: QuizRun) -> None:
        p = run.problem
        self.border_title = (
            f"Quiz · problem {p.number}/{len(run.problems)} · {p.topic}, {p.arch} · "
            f"score {run.score}/{run.asked}"
        )
        text = Text()
        shown = p.premise
        for n, c in enumerate(p.steps, 1):
            style = "dim" if n <= shown else "bold"
            text.append(f"{n:>2} {c.to_line()}\n", style=style)
        for v in run.verdicts:
            text.append("✓ " if v.right else "✗ ", style="green" if v.right else "red")
            text.append(v.text() + "\n")
        part = run.open_part
        if part is not None:
            label = chr(ord("a") + run.part)
            text.append("\n".join(part_lines(part, label)) + "\n", style="bold")
            text.append("type :answer VALUE", style="italic")
        elif run.finished:
            text.append(f"quiz done: {run.score} of {run.asked} right", style="bold")
        else:
            text.append("all parts answered: :next opens the next problem", style="italic")
        self.update(text)


def _options(args: list[str], allowed: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for word in args:
        key, eq, value = word.partition("=")
        if not eq or key not in allowed:
            raise CommandError(f"{word!r}: expected one of {', '.join(k + '=…' for k in allowed)}")
        out[key] = value
    return out


#: the panels the projector layout keeps (stacked, everything else hidden)
PROJECTOR_PANELS = ("walk", "entry")


class Reports(Protocol):
    """Where the classroom says what happened: the command line."""

    def show_ok(self, message: str) -> None: ...
    def show_error(self, message: str) -> None: ...


class Selects(Protocol):
    """The walk panel, as the classroom uses it: go to one reference."""

    def select(self, index: int) -> None: ...


class ClassroomHost(Protocol):
    """What the classroom asks of the app (the app is not imported: no cycle)."""

    session: Session
    theme: str

    @property
    def command_line(self) -> Reports: ...
    @property
    def main(self) -> Screen[object]: ...
    @property
    def screen(self) -> Screen[object]: ...
    @property
    def walk(self) -> Selects: ...
    def replace_session(self, session: Session) -> None: ...
    def may_discard(self, what: str, again: str) -> bool: ...
    def focus_panel(self, panel: str) -> None: ...
    def post_message(self, message: Message) -> bool: ...
    def notify(
        self, message: str, *, severity: SeverityLevel = ..., timeout: float | None = ...
    ) -> None: ...
    def call_after_refresh(self, callback: Callable[[], object]) -> bool: ...
    def call_from_thread(self, callback: Callable[..., object], *args: Any) -> Any: ...
    def run_worker(
        self,
        work: Callable[[], None],
        *,
        group: str = ...,
        exclusive: bool = ...,
        thread: bool = ...,
        exit_on_error: bool = ...,
    ) -> object: ...


class Classroom:
    """The app's classroom half: quiz, diff, time travel and the projector layout."""

    def __init__(self, host: ClassroomHost) -> None:
        self.host = host
        self.quiz: QuizRun | None = None
        self.projector = False
        self._theme_before_projector: str | None = None
        self._timeline: Timeline | None = None
        self._diff_at: tuple[Session, int] | None = None  # the session and point the diff is at
        #: (target point, replayed, to replay) while a worker rebuilds the session at a point
        self.travelling: tuple[int, int, int] | None = None

    @property
    def session(self) -> Session:
        return self.host.session  # the app's: a load, an arch switch or a goto replaces it

    @property
    def command_line(self) -> Reports:
        return self.host.command_line

    def toggle_projector(self) -> None:
        """F5: the walk grid and the entry ruler alone, large, in the high-contrast theme (for
        the back of a lecture room); F5 again restores the layout and the theme."""
        app = self.host
        self.projector = not self.projector
        app.screen.set_class(self.projector, "-projector")
        if self.projector:
            self._theme_before_projector = app.theme
            app.theme = HIGH_CONTRAST.name
        elif self._theme_before_projector is not None:
            app.theme = self._theme_before_projector
        app.focus_panel("walk")

    def command(self, op: str, args: list[str]) -> bool:
        handler = {
            "quiz": self._start_quiz,
            "answer": self._answer,
            "next": self._next_problem,
            "diff": self._diff,
            "goto": self._goto,
            "undo": self._undo,
            "redo": self._redo,
        }[op]
        handler(args)
        return True

    # ------------------------------------------------------------------ quiz

    def _start_quiz(self, args: list[str]) -> None:
        opts = _options(args, ("topic", "arch", "guest", "npt", "seed", "count"))
        topic, arch = opts.get("topic"), opts.get("arch")
        if topic is not None and topic not in TOPICS:
            raise CommandError(f"topic={topic} (allowed: {', '.join(TOPICS)})")
        if arch in NO_QUIZ:
            raise CommandError(f"arch={arch}: {NO_QUIZ[arch]}")
        if arch is not None and arch not in QUIZ_ARCHES:
            raise CommandError(f"arch={arch} (allowed: {', '.join(QUIZ_ARCHES)})")
        seed = parse_number(opts.get("seed", "0"), "seed")
        count = parse_number(opts.get("count", "5"), "count")
        if not 1 <= count <= 100:
            raise CommandError(f"count={count} (allowed: 1 .. 100)")
        if ("guest" in opts or "npt" in opts) and arch is None:
            arch = self.session.arch if self.session.arch in QUIZ_ARCHES else None
        try:
            problems = generate(seed, count, arch, topic, opts.get("guest"), opts.get("npt"))
        except ValueError as err:
            raise CommandError(str(err)) from None
        if not self.host.may_discard("quiz", "start the quiz again to drop them"):
            return
        self.quiz = QuizRun(problems)
        self._open_problem()
        self.command_line.show_ok(f"quiz: {count} problem(s), seed {seed}")

    def _open_problem(self) -> None:
        assert self.quiz is not None
        session = Session(self.quiz.scenario(), "quiz")
        session.run_scenario_steps(self.quiz.problem.premise)
        self.host.replace_session(session)
        self._show_quiz()

    def _show_quiz(self) -> None:
        assert self.quiz is not None
        bars = self.host.main.query(QuizBar)
        if bars:
            bar = bars.first()
        else:
            bar = QuizBar(id="quiz-bar")
            self.host.main.mount(bar, before="#caption")
        bar.show(self.quiz)

    def _answer(self, args: list[str]) -> None:
        if self.quiz is None:
            raise CommandError("no quiz open: quiz [topic=…] [arch=…] [seed=N] [count=K]")
        if not args:
            raise CommandError("answer needs a value: answer 0x…")
        try:
            verdict = self.quiz.answer(" ".join(args))
        except ValueError as err:
            raise CommandError(str(err)) from None
        self._reveal(verdict)
        self._show_quiz()
        line = self.command_line
        (line.show_ok if verdict.right else line.show_error)(verdict.text())

    def _reveal(self, verdict: Verdict) -> None:
        """Run what the answer is about, so the walk, tables and TLB panels explain it."""
        part, s = verdict.part, self.session
        results = []
        if part.choices:
            results.append(s.run(parse_line(str(part.answer)), by_hand=False))
        elif part.step > s.position:
            results = s.run_scenario_steps(part.step - s.position)
        if results:
            self.host.post_message(MachineChanged(results[-1]))
        if part.key.startswith("walk."):  # a question about one reference: go to it
            index = int(part.key.split(".")[1])
            self.host.call_after_refresh(lambda: self.host.walk.select(index))

    def _next_problem(self, args: list[str]) -> None:
        if self.quiz is None:
            raise CommandError("no quiz open: quiz [topic=…] [arch=…] [seed=N] [count=K]")
        if not self.quiz.next_problem():
            raise CommandError(f"that was the last problem: {self.quiz.score}/{self.quiz.asked}")
        self._open_problem()

    # ------------------------------------------------------------------ diff and time travel

    @property
    def timeline(self) -> Timeline:
        if self._timeline is None:
            self._timeline = Timeline()
        return self._timeline

    def machine_changed(self) -> None:
        """After any change: the commands run since move the present along the future, or
        drop it (said in a notice); the diff view closes once the panels leave its point."""
        app = self.host
        dropped = self.timeline.sync(self.session)
        if dropped:
            message = (
                f"{dropped} later point(s) dropped: a new command after going back starts "
                "a new future"
            )
            app.notify(message, severity="warning", timeout=6)
        self._show_timeline()
        if self._diff_at is not None and self._diff_at != (self.session, len(self.session.log)):
            self._diff_at = None
            for panel in app.main.query(DiffPanel):
                panel.remove()

    def follow(self, event: DiffFollow) -> None:
        """The diff view's cursor is on a range or a TLB entry: those panels go there too."""
        app = self.host
        if event.perm is not None:
            app.main.query_one(RegionsPanel).select_at(event.perm.stage, event.perm.start)
        if event.tlb is not None:
            t = event.tlb
            app.main.query_one(TlbPanel).select_line(t.kind, t.base, t.vmid, t.asid)

    def _show_timeline(self) -> None:
        app = self.host
        ahead = len(self.timeline.ahead(self.session))
        bars = app.main.query(TimelineBar)
        if not ahead:
            bars.remove()
            return
        bar = bars.first() if bars else TimelineBar(id="timeline-bar")
        if not bars:
            app.main.mount(bar, before="#caption")
        bar.show(len(self.session.log), ahead)

    def _present(self) -> int:
        return len(self.session.log)

    def _last_point(self) -> int:
        return self._present() + len(self.timeline.ahead(self.session))

    def _point(self, word: str) -> int:
        return check_point(self.session, parse_number(word, "point"), self._last_point())

    def _diff(self, args: list[str]) -> None:
        """`diff [A] [B]`: both points are rebuilt and compared off the event loop (a big
        machine takes seconds); the view opens when they are, at point B."""
        if len(args) > 2:
            raise CommandError("diff takes at most two points: diff [A] [B]")
        now = self._present()
        numbers = [self._point(a) for a in args]
        a = numbers[0] if numbers else max(0, now - 1)
        b = numbers[1] if len(numbers) > 1 else now
        session, points = self.session, list(self.timeline.points(self.session))
        app = self.host

        def compare() -> None:
            d = diff(
                capture(machine_at(session, a, points)), capture(machine_at(session, b, points))
            )
            app.call_from_thread(self._show_diff, d, a, b, (session, now))

        app.run_worker(compare, thread=True, exclusive=True, group="diff", exit_on_error=False)
        self.command_line.show_ok(f"diff {a} {b}: comparing the two points …")

    def _show_diff(self, d: StateDiff, a: int, b: int, asked_at: tuple[Session, int]) -> None:
        if asked_at != (self.session, self._present()):
            self.command_line.show_error(
                "the session changed while the diff was computed: diff again"
            )
            return
        if b != self._present():  # to B first: the view's linked panels show point B
            self._travel(b, then=lambda: self._open_diff(d, a, b))
        else:
            self._open_diff(d, a, b)

    def _open_diff(self, d: StateDiff, a: int, b: int) -> None:
        app = self.host
        app.main.query(DiffPanel).remove()
        panel = DiffPanel(d, a, b, id="diff-panel")
        app.main.mount(panel, before="#caption")
        self._diff_at = (self.session, len(self.session.log))
        app.call_after_refresh(lambda: panel.table.focus() if panel.rows else None)
        self.command_line.show_ok(f"diff {a} {b}: {len(panel.rows)} change(s)")

    def _travel(self, point: int, then: Callable[[], None] | None = None) -> None:
        """To `point`: back (a new session, rebuilt in a worker thread; the later points stay
        reachable) or forward (the next points run again); then `then` (once there)."""
        app = self.host
        now = self._present()
        if point < now:
            self._go_back(point, then)
            return
        if point > now:
            results = self.timeline.forward(self.session, point - now)
            app.post_message(MachineChanged(results[-1]))
        self._said_where()
        if then is not None:
            then()

    def _go_back(self, point: int, then: Callable[[], None] | None = None) -> None:
        """Rebuild the session at `point` off the event loop (a big guest's `map` takes
        a second to replay): the command line shows the progress and every command is
        refused meanwhile (`refuse_while_travelling`); the panels show the present until
        the rebuilt session replaces it."""
        app = self.host
        session, timeline = self.session, self.timeline
        self.travelling = (point, 0, 0)

        def progress(done: int, total: int) -> None:
            app.call_from_thread(self._travel_progress, point, done, total)

        def rebuild() -> None:
            try:
                back = timeline.rebuild(session, point, progress)
            except Exception as err:  # a command that ran once fails to replay: say so
                app.call_from_thread(self._travel_failed, f"goto {point}: {err}")
                return
            app.call_from_thread(self._arrived, session, back, then)

        app.run_worker(rebuild, thread=True, exclusive=True, group="travel", exit_on_error=False)
        self.command_line.show_ok(f"going back to point {point} …")

    def _travel_progress(self, point: int, done: int, total: int) -> None:
        self.travelling = (point, done, total)
        self.command_line.show_ok(f"going back to point {point}: replayed {done} of {total} …")

    def _travel_failed(self, message: str) -> None:
        self.travelling = None
        self.command_line.show_error(message)

    def _arrived(self, session: Session, back: Session, then: Callable[[], None] | None) -> None:
        self.travelling = None
        if session is not self.session:  # cannot happen: commands wait; never jump anyway
            return
        self.host.replace_session(self.timeline.arrive(session, back))
        self._said_where()
        if then is not None:
            then()

    def refuse_while_travelling(self) -> str | None:
        """Why nothing may change the session now (None: it may)."""
        if self.travelling is None:
            return None
        point, done, total = self.travelling
        where = f" (replayed {done} of {total})" if total else ""
        return f"going back to point {point}{where}: wait for it, then type again"

    def _goto(self, args: list[str]) -> None:
        if len(args) != 1:
            raise CommandError(f"goto needs one point (0 .. {self._last_point()})")
        self._travel(self._point(args[0]))

    def _undo(self, args: list[str]) -> None:
        if self._present() == 0:
            raise CommandError("undo: already at point 0 (before any command)")
        self._travel(self._present() - 1)

    def _redo(self, args: list[str]) -> None:
        ahead = len(self.timeline.ahead(self.session))
        count = parse_number(args[0], "count") if args else 1
        if not ahead:
            raise CommandError("nothing to redo: no later point (goto or undo goes back)")
        if not 1 <= count <= ahead:
            raise CommandError(f"redo {count}: {ahead} later point(s)")
        self._travel(self._present() + count)

    def _said_where(self) -> None:
        now, last = self._present(), self._last_point()
        later = f"; redo goes forward (to {last})" if last > now else ""
        self.command_line.show_ok(f"at point {now} (after {now} command(s)){later}")


class TimelineBar(Static):
    """Shown while later points exist: where the present is, how to go forward, and that a
    new command drops them."""

    DEFAULT_CSS = """
    TimelineBar {
        height: auto;
        background: $boost;
        color: $text;
        padding: 0 1;
    }
    """

    def show(self, now: int, ahead: int) -> None:
        last = now + ahead
        later = f"point {last}" if ahead == 1 else f"points {now + 1}..{last}"
        self.update(
            Text.assemble(
                (f"⏪ time travel: at point {now} of {last}", "bold"),
                f" · redo / goto {last} go forward · ",
                (f"a new command here drops {later}", "bold yellow"),
            )
        )

"""The TUI's classroom: quiz mode (a bar with the open question; `answer` scores it and runs
the step that explains it, so the usual panels show why), the diff view between two points
of the session, and time travel (`goto`). Mixed into the app beside `CommandRunner`."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..classroom.diff import diff, diff_lines
from ..classroom.quiz import QUIZ_ARCHES, TOPICS, generate
from ..classroom.quiz_run import QuizRun, Verdict
from ..classroom.quiz_text import part_lines
from ..classroom.state import capture
from ..scenario.commands import CommandError, parse_line, parse_number
from .messages import MachineChanged
from .session import Session
from .themes import HIGH_CONTRAST
from .timeline import check_point, machine_at, session_at

#: typed words the classroom adds to the command line (completion lists them beside the ops)
CLASSROOM_COMMANDS: dict[str, str] = {
    "quiz": "quiz [topic=walk|faults|tlb|huge|seed-bugs] [arch=…] [seed=N] [count=K]: "
    "predict, then see",
    "answer": "answer VALUE: answer the open quiz question (0x…, a number, a word or a letter)",
    "next": "next: the next quiz problem",
    "diff": "diff [A] [B]: what changed from point A to point B (default: the last command)",
    "goto": "goto K: back (or forward) to the machine after the first K commands of the log",
}


#: the key=value words of the classroom commands, with the values completion offers
CLASSROOM_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "quiz": {"topic": TOPICS, "arch": QUIZ_ARCHES, "seed": (), "count": ()},
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


class DiffScreen(ModalScreen[None]):
    """What changed between two points of the session."""

    DEFAULT_CSS = """
    DiffScreen {
        align: center middle;
    }
    DiffScreen > VerticalScroll {
        width: 90%;
        height: 80%;
        border: round $accent;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape", "close", "close"), Binding("q", "close", "close")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = self.title_text
            box.border_subtitle = "esc closes"
            yield Static(Text("\n".join(self.lines)), id="diff-text")

    def action_close(self) -> None:
        self.dismiss(None)


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


class ClassroomCommands:
    """The app's classroom half (it needs the app's `session`, `command_line`,
    `replace_session`, `may_discard`, `mount`, `push_screen`, `query`)."""

    session: Session
    command_line: Any
    quiz: QuizRun | None = None
    projector = False
    _theme_before_projector: str | None = None

    def action_projector(self) -> None:
        """F5: the walk grid and the entry ruler alone, large, in the high-contrast theme (for
        the back of a lecture room); F5 again restores the layout and the theme."""
        app: Any = self
        self.projector = not self.projector
        app.screen.set_class(self.projector, "-projector")
        if self.projector:
            self._theme_before_projector = app.theme
            app.theme = HIGH_CONTRAST.name
        elif self._theme_before_projector is not None:
            app.theme = self._theme_before_projector
        app.focus_panel("walk")

    def classroom_command(self, op: str, args: list[str]) -> bool:
        handler = {
            "quiz": self._start_quiz,
            "answer": self._answer,
            "next": self._next_problem,
            "diff": self._diff,
            "goto": self._goto,
        }[op]
        handler(args)
        return True

    # ------------------------------------------------------------------ quiz

    def _start_quiz(self, args: list[str]) -> None:
        opts = _options(args, ("topic", "arch", "seed", "count"))
        topic, arch = opts.get("topic"), opts.get("arch")
        if topic is not None and topic not in TOPICS:
            raise CommandError(f"topic={topic} (allowed: {', '.join(TOPICS)})")
        if arch is not None and arch not in QUIZ_ARCHES:
            raise CommandError(f"arch={arch} (allowed: {', '.join(QUIZ_ARCHES)})")
        seed = parse_number(opts.get("seed", "0"), "seed")
        count = parse_number(opts.get("count", "5"), "count")
        if not 1 <= count <= 100:
            raise CommandError(f"count={count} (allowed: 1 .. 100)")
        if not self.may_discard("quiz", "start the quiz again to drop them"):  # type: ignore[attr-defined]
            return
        self.quiz = QuizRun(generate(seed, count, arch, topic))
        self._open_problem()
        self.command_line.show_ok(f"quiz: {count} problem(s), seed {seed}")

    def _open_problem(self) -> None:
        assert self.quiz is not None
        session = Session(self.quiz.scenario(), "quiz")
        session.run_scenario_steps(self.quiz.problem.premise)
        self.replace_session(session)  # type: ignore[attr-defined]
        self._show_quiz()

    def _show_quiz(self) -> None:
        assert self.quiz is not None
        bars = self.query(QuizBar)  # type: ignore[attr-defined]
        if bars:
            bar = bars.first()
        else:
            bar = QuizBar(id="quiz-bar")
            self.mount(bar, before="#caption")  # type: ignore[attr-defined]
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
            self.post_message(MachineChanged(results[-1]))  # type: ignore[attr-defined]
        if part.key.startswith("walk."):  # a question about one reference: go to it
            index = int(part.key.split(".")[1])
            self.call_after_refresh(lambda: self.walk.select(index))  # type: ignore[attr-defined]

    def _next_problem(self, args: list[str]) -> None:
        if self.quiz is None:
            raise CommandError("no quiz open: quiz [topic=…] [arch=…] [seed=N] [count=K]")
        if not self.quiz.next_problem():
            raise CommandError(f"that was the last problem: {self.quiz.score}/{self.quiz.asked}")
        self._open_problem()

    # ------------------------------------------------------------------ diff and time travel

    def _diff(self, args: list[str]) -> None:
        last = len(self.session.log)
        numbers = [parse_number(a, "point") for a in args[:2]]
        if len(args) > 2:
            raise CommandError("diff takes at most two points: diff [A] [B]")
        a = numbers[0] if numbers else max(0, last - 1)
        b = numbers[1] if len(numbers) > 1 else last
        check_point(self.session, a)
        check_point(self.session, b)
        lines = diff_lines(diff(capture(self._machine(a)), capture(self._machine(b))))
        self.push_screen(DiffScreen(f"diff: point {a} → point {b}", lines))  # type: ignore[attr-defined]
        self.command_line.show_ok(f"diff {a} {b}")

    def _machine(self, point: int) -> Any:
        return (
            self.session.machine
            if point == len(self.session.log)
            else machine_at(self.session, point)
        )

    def _goto(self, args: list[str]) -> None:
        if len(args) != 1:
            raise CommandError(f"goto needs one point (0 .. {len(self.session.log)})")
        point = check_point(self.session, parse_number(args[0], "point"))
        if not self.may_discard("goto", "goto again to drop them"):  # type: ignore[attr-defined]
            return
        self.replace_session(session_at(self.session, point))  # type: ignore[attr-defined]
        self.command_line.show_ok(f"at point {point} (after {point} command(s))")

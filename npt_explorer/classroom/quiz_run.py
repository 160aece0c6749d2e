"""A quiz being taken: which problem and part is open, the score, the verdict on the last
answer. No Textual: the TUI shows it and runs the steps it says to reveal."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..scenario.loader import Scenario
from .quiz import Part, Problem


@dataclass(frozen=True, slots=True)
class Verdict:
    part: Part
    given: str
    right: bool

    def text(self) -> str:
        mark = "right" if self.right else f"wrong (you said {self.given})"
        why = f" — {self.part.explanation}" if self.part.explanation else ""
        return f"{mark}: {self.part.shown()}{why}"


@dataclass(slots=True)
class QuizRun:
    problems: list[Problem]
    index: int = 0  # the open problem
    part: int = 0  # its open part (== len(parts) when all are answered)
    score: int = 0
    asked: int = 0
    verdicts: list[Verdict] = field(default_factory=list)  # the open problem's

    @property
    def problem(self) -> Problem:
        return self.problems[self.index]

    @property
    def open_part(self) -> Part | None:
        parts = self.problem.parts
        return parts[self.part] if self.part < len(parts) else None

    @property
    def finished(self) -> bool:
        return self.index == len(self.problems) - 1 and self.open_part is None

    def answer(self, text: str) -> Verdict:
        """Score `text` against the open part and move to the next part."""
        part = self.open_part
        if part is None:
            raise ValueError("this problem is answered: `next` opens the next one")
        verdict = Verdict(part, text.strip(), part.accepts(text))
        self.score += verdict.right
        self.asked += 1
        self.part += 1
        self.verdicts.append(verdict)
        return verdict

    def next_problem(self) -> bool:
        """Open the next problem (unanswered parts count as asked); False at the end."""
        if self.index + 1 >= len(self.problems):
            return False
        self.asked += len(self.problem.parts) - self.part
        self.index += 1
        self.part = 0
        self.verdicts = []
        return True

    def scenario(self) -> Scenario:
        """The open problem's steps as a scenario (no expectations: nothing gives it away)."""
        p = self.problem
        return Scenario(
            path=f"quiz problem {p.number}",
            title=f"quiz problem {p.number} ({p.topic})",
            summary=p.context,
            arch=p.arch,
            tags=["quiz"],
            config=p.config,
            steps=list(p.steps),
        )

"""What the TUI shows: one machine, every command that built it, the walk on screen, and (in
scenario mode) how far through a scenario file we are. No Textual here: the panels read it,
and every change goes through `scenario.runner.execute`, as a scenario replay's would."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..engine import ARCHES, Event, Machine, MachineConfig
from .command import Command
from .loader import Scenario, header_toml, load, loads
from .observed import with_observed
from .parse import parse_line
from .results import StepResult
from .runner import execute
from .values import CommandError

DEMO_DIR = Path(__file__).resolve().parent / "demos"


def demo_path(arch: str) -> Path:
    if arch not in ARCHES:
        raise CommandError(f"unknown arch {arch!r} (allowed: {', '.join(ARCHES)})", "arch")
    return DEMO_DIR / f"{arch}.toml"


@dataclass(slots=True)
class LogEntry:
    """One command as the Log panel shows it: its result and the machine events it caused."""

    result: StepResult
    events: list[Event]
    by_hand: bool


@dataclass(slots=True)
class Session:
    """A machine, the scenario (or demo) it came from, and everything run on it since."""

    scenario: Scenario
    mode: str  # "demo" | "scenario"
    machine: Machine = field(init=False)
    position: int = 0  # scenario steps run so far
    kept: list[StepResult] = field(default_factory=list)  # what `save` writes, in order
    log: list[LogEntry] = field(default_factory=list)
    walk_result: StepResult | None = None  # the access/translate on screen
    saved_hand: int = 0  # `hand_commands` when last saved
    saved_to: Path | None = None  # the file last saved to (saving there again overwrites)
    caption: str = ""  # the last note

    def __post_init__(self) -> None:
        self.machine = Machine(self.scenario.config)

    # ------------------------------------------------------------------ construction

    @classmethod
    def demo(cls, arch: str = "x86_64", config: MachineConfig | None = None) -> Session:
        """The built-in demo of `arch`, run to its end (its last step is a cold access).
        `config` replaces the demo's own `[machine]` (the machine-options picker)."""
        scenario = load(demo_path(arch))
        if config is not None:
            scenario.config = config
        session = cls(scenario, "demo")
        session.run_scenario_steps(len(scenario.steps))
        return session

    @classmethod
    def from_file(cls, path: str | Path) -> Session:
        """Scenario mode on `path`, nothing run yet. Raises `ScenarioError`."""
        return cls(load(path), "scenario")

    @property
    def arch(self) -> str:
        return self.machine.arch

    @property
    def total(self) -> int:
        return len(self.scenario.steps)

    # ------------------------------------------------------------------ running

    def run(self, command: Command, *, by_hand: bool = True) -> StepResult:
        """Execute one command. A typed command that fails changed nothing and is not kept;
        a scenario's own steps are kept as written (their `expect` may want the failure)."""
        before = len(self.machine.log)
        result = execute(self.machine, command, len(self.log) + 1)
        self.log.append(LogEntry(result, self.machine.log[before:], by_hand))
        if result.ok or not by_hand:
            self.kept.append(result)
        if result.walk is not None and result.ok:
            self.walk_result = result
        if command.op == "note":
            self.caption = command.args["text"]
        return result

    def run_line(self, text: str) -> StepResult:
        """A typed command line; raises `CommandError` (nothing run) when it does not parse."""
        return self.run(parse_line(text))

    def run_scenario_steps(self, count: int = 1) -> list[StepResult]:
        results = []
        while count > 0 and self.position < self.total:
            results.append(self.run(self.scenario.steps[self.position], by_hand=False))
            self.position += 1
            count -= 1
        return results

    def rewound(self, position: int) -> Session:
        """A fresh session on the same scenario with its first `position` steps run (commands
        typed since are dropped: they were made on a state that no longer exists)."""
        session = Session(self.scenario, self.mode)
        session.run_scenario_steps(max(0, min(position, self.total)))
        return session

    @property
    def commands(self) -> list[Command]:
        """The commands `save` writes: every scenario step run, every typed one that worked."""
        return [r.command for r in self.kept]

    @property
    def hand_commands(self) -> int:
        return sum(1 for e in self.log if e.by_hand and e.result.ok)

    @property
    def unsaved(self) -> int:
        """Typed commands kept since the last `save` (what quitting or replacing would lose)."""
        return self.hand_commands - self.saved_hand

    # ------------------------------------------------------------------ saving

    def to_toml(
        self, title: str | None = None, *, expect: bool = False, folder: Path | None = None
    ) -> str:
        """A scenario file that replays every kept command on the same machine; with
        `expect`, each step expects what it was observed to do (a regression test). Trace
        files are written relative to `folder`, where it will be saved (default: the current
        directory)."""
        s = self.scenario
        cfg = self.machine.config
        title = title or f"{s.title} (saved from npt-explorer)"
        head = header_toml(title, s.summary, s.tags, cfg)
        commands = [with_observed(r) for r in self.kept] if expect else self.commands
        folder = Path.cwd() if folder is None else folder
        body = "\n\n".join(c.relative_to(folder).to_toml() for c in commands)
        return head + "\n\n" + body + ("\n" if body else "")

    def ui_refusal(self, op: str) -> str | None:
        """Why a typed UI command cannot run on this session (None: it can)."""
        return None

    def saved_line(self, path: Path, expect: bool = False) -> str:
        what = " with the observed results as expectations" if expect else ""
        return f"saved {len(self.kept)} commands{what} to {path}"

    @staticmethod
    def save_path(path: str | Path) -> Path:
        """Where `save(path)` writes (`~` expanded, `.toml` added)."""
        path = Path(path).expanduser()
        return path if path.suffix == ".toml" else path.with_suffix(".toml")

    def save(self, path: str | Path, *, overwrite: bool = False, expect: bool = False) -> Path:
        """Write `to_toml(expect=expect)` to `path`, after checking that it loads back. An
        existing file other than the one last saved to raises `FileExistsError` unless
        `overwrite`."""
        path = self.save_path(path)
        if path.exists() and path != self.saved_to and not overwrite:
            raise FileExistsError(f"{path} exists: save to it again to overwrite it")
        text = self.to_toml(expect=expect, folder=path.parent)
        loads(text, str(path))  # raises ScenarioError: never write a file that cannot replay
        path.write_text(text, encoding="utf-8")
        self.saved_hand, self.saved_to = self.hand_commands, path
        return path

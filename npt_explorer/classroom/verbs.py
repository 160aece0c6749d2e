"""The classroom's command-line verbs: `quiz`, `diff`, `serve` (argument parsing lives in
`cli.py`; these take its namespace and return the exit code)."""

from __future__ import annotations

import argparse
import json
import shlex
from typing import Any


def add_quiz_args(p: argparse.ArgumentParser) -> None:
    from .quiz import ANY_MODE, NO_QUIZ, QUIZ_ARCHES, TOPICS

    p.add_argument(
        "--arch",
        choices=(*QUIZ_ARCHES, *NO_QUIZ),
        help="default: a mix of the three lessons' arches",
    )
    p.add_argument(
        "--guest",
        metavar="MODE",
        help=f"the guest's paging mode (pae, 5-level, va39, sv48 …; {ANY_MODE}: drawn per "
        "problem; default: the arch's default); needs --arch",
    )
    p.add_argument(
        "--npt",
        metavar="MODE",
        help=f"the stage-2 mode (ept5, npt4 = AMD NPT, ipa48, sv48x4 …; {ANY_MODE}: drawn per "
        "problem); needs --arch",
    )
    p.add_argument("--topic", choices=TOPICS, help="default: a mix of all topics")
    p.add_argument("--seed", type=int, default=0, help="same seed, same problems (default 0)")
    p.add_argument("--count", type=int, default=10, help="number of problems (1..1000)")
    p.add_argument("--answers", action="store_true", help="print the answer key")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="machine-readable problems")
    out.add_argument("--markdown", action="store_true", help="a problem set for a course page")


def cmd_quiz(a: argparse.Namespace, usage_error: type[Exception]) -> int:
    from .quiz import generate
    from .quiz_text import quiz_markdown, quiz_text

    if not 1 <= a.count <= 1000:
        raise usage_error(f"--count {a.count} (allowed: 1 .. 1000)")
    try:
        problems = generate(a.seed, a.count, a.arch, a.topic, a.guest, a.npt)
    except ValueError as err:
        raise usage_error(str(err)) from None
    if a.json:
        doc = {
            "seed": a.seed,
            "arch": a.arch,
            "topic": a.topic,
            "guest": a.guest,
            "npt": a.npt,
            "problems": [p.to_json(a.answers) for p in problems],
        }
        print(json.dumps(doc, indent=1))
    elif a.markdown:
        words = ["npt-explorer", "quiz", "--seed", str(a.seed), "--count", str(a.count)]
        words += ["--arch", a.arch] if a.arch else []
        words += ["--topic", a.topic] if a.topic else []
        words += ["--guest", a.guest] if a.guest else []
        words += ["--npt", a.npt] if a.npt else []
        print(quiz_markdown(problems, a.answers, shlex.join(words)), end="")
    else:
        print(quiz_text(problems, a.answers), end="")
    return 0


# ------------------------------------------------------------------------------ diff


def add_diff_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "a",
        metavar="A.toml[:STEP]",
        help="the state after STEP steps (default: all), or a memory image (ELF/LiME)",
    )
    p.add_argument("b", metavar="B.toml[:STEP]")
    p.add_argument("--json", action="store_true")


def point(spec: str, usage_error: type[Exception]) -> tuple[str, int | None, Any]:
    """``FILE[:STEP]`` → (file, steps run, its state). STEP counts steps as `replay` numbers
    them: 0 is the machine before the first step. A file that is not ``.toml`` is a memory
    image (ELF or LiME carrying its roots, as `image export` writes them)."""
    from ..scenario import ScenarioError, load, run
    from .state import capture

    path, _, step = spec.rpartition(":")
    if not path or not step.isdigit():
        path, step = spec, ""
    if not path.endswith(".toml"):
        if step:
            raise usage_error(f"{spec}: a memory image has no steps")
        return path, None, _image_state(path, usage_error)
    try:
        scenario = load(path)
    except ScenarioError as err:
        raise usage_error(str(err)) from None
    upto = len(scenario.steps) if step == "" else int(step)
    if upto > len(scenario.steps):
        raise usage_error(f"{spec}: step {upto} (allowed: 0 .. {len(scenario.steps)})")
    return scenario.path, upto, capture(run(scenario, upto).machine)


def _image_state(path: str, usage_error: type[Exception]) -> Any:
    from ..engine import PagingError
    from ..image import ImageError
    from ..image_cli import image_machine
    from .image_state import capture_image

    try:
        return capture_image(image_machine([path]))
    except ImageError as err:
        raise usage_error(f"{path}: {err}") from None
    except PagingError as err:
        raise usage_error(f"{path}: {err.message}") from None


def _where(file: str, step: int | None) -> str:
    return file if step is None else f"{file} after step {step}"


def cmd_diff(a: argparse.Namespace, usage_error: type[Exception]) -> int:
    from .diff import diff, diff_lines

    fa, na, sa = point(a.a, usage_error)
    fb, nb, sb = point(a.b, usage_error)
    if sa.arch != sb.arch:
        raise usage_error(f"{a.a} is {sa.arch} and {a.b} is {sb.arch}: diff compares one arch")
    d = diff(sa, sb)
    if a.json:
        doc = {"a": {"file": fa, "step": na}, "b": {"file": fb, "step": nb}, **d.to_json()}
        print(json.dumps(doc, indent=1))
    else:
        print(f"--- {_where(fa, na)}\n+++ {_where(fb, nb)}")
        print("\n".join(diff_lines(d)))
    return 0


# ------------------------------------------------------------------------------ serve


def add_serve_args(p: argparse.ArgumentParser) -> None:
    from .serve import DEFAULT_IDLE_MINUTES, DEFAULT_MAX_SESSIONS

    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--public-url", help="the URL browsers use, when behind a proxy")
    p.add_argument("--scenario", metavar="FILE", help="every session starts on this scenario")
    p.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS)
    p.add_argument(
        "--idle-minutes", type=float, default=DEFAULT_IDLE_MINUTES, help="end idle sessions"
    )


def cmd_serve(a: argparse.Namespace, usage_error: type[Exception]) -> int:
    import sys
    from pathlib import Path

    from ..scenario import ScenarioError, load

    scenario = None
    if a.scenario:
        try:
            load(a.scenario)
        except ScenarioError as err:
            raise usage_error(str(err)) from None
        scenario = str(Path(a.scenario).resolve())
    if not 0 < a.port < 65536:
        raise usage_error(f"--port {a.port} (allowed: 1 .. 65535)")
    if a.max_sessions < 1 or a.idle_minutes <= 0:
        raise usage_error("--max-sessions and --idle-minutes must be positive")
    try:
        from .serve import ClassroomServer
    except ImportError as err:
        raise usage_error(f"serve needs textual-serve ({err.name} is missing)") from None
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"npt-explorer: note: serving on {a.host}: anyone who reaches this address gets a "
            "session",
            file=sys.stderr,
        )
    server = ClassroomServer(
        host=a.host,
        port=a.port,
        public_url=a.public_url,
        scenario=scenario,
        max_sessions=a.max_sessions,
        idle_seconds=a.idle_minutes * 60,
    )
    server.serve()
    return 0

"""`npt-explorer`: the TUI, and the headless verbs replay / decode / encode / scenarios."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from .console import make_console
from .engine import (
    ARCHES,
    FORMAT_NAMES,
    Encoding,
    MappingFlags,
    PagingError,
    PagingFormat,
    get_format,
)
from .scenario import CommandError, bundled_dir, parse_number
from .tui.config import PLAY_SECONDS, THEMES, ConfigError, settings_for

VERBS = ("replay", "decode", "encode", "scenarios", "quiz", "diff", "serve", "image", "trace")
SCENARIO_DIR = bundled_dir()


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def _format_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        required=True,
        choices=FORMAT_NAMES,
        metavar="FMT",
        help=f"one of: {', '.join(FORMAT_NAMES)}",
    )
    p.add_argument(
        "--features",
        default="",
        help="comma-separated machine features (e.g. ept-ad,mbec / hafdbs,xnx,arm-el2 / "
        "svadu,svpbmt / xuantie-c9xx)",
    )
    p.add_argument("--levels", type=int, help="ept: 4 or 5")
    p.add_argument("--ipa-bits", type=int, help="aarch64-s2: 39, 40, 44 or 48")
    p.add_argument("--va-bits", type=int, help="aarch64-s1: 39 or 48")
    p.add_argument("--stage", type=int, help="sv39/sv48: 1 (guest) or 2 (the seed's G-stage)")
    p.add_argument(
        "--geometry",
        help="teach: a preset (6.823, ostep) or key=value pairs, e.g. levels=2,index_bits=5/5,"
        "offset_bits=5,entry_bytes=1,valid_bit=7,pfn_bit=0,perms=false",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _make_format(a: argparse.Namespace) -> PagingFormat:
    opts = {
        k: v
        for k, v in (
            ("levels", a.levels),
            ("ipa_bits", a.ipa_bits),
            ("va_bits", a.va_bits),
            ("stage", a.stage),
        )
        if v is not None
    }
    features = [f for f in a.features.split(",") if f]
    try:
        if a.geometry is not None:
            opts.update(_geometry(a.geometry))
        return get_format(a.format, features=features, **opts)
    except TypeError:
        raise UsageError(f"{a.format} takes none of {', '.join(opts)}") from None
    except PagingError as err:
        raise UsageError(err.message) from None


def _geometry(text: str) -> dict[str, object]:
    """`--geometry`: a preset name, or `key=value` pairs (index_bits as 10/10; perms true|false)."""
    if "=" not in text:
        return {"geometry": text}
    out: dict[str, object] = {}
    for pair in filter(None, text.split(",")):
        key, _, value = pair.partition("=")
        if value in ("true", "false"):
            out[key] = value == "true"
        elif key == "geometry":
            out[key] = value
        else:
            try:
                numbers = [int(v, 0) for v in value.split("/")]
            except ValueError:
                raise UsageError(
                    f"--geometry {key}={value!r}: a number (or 10/10 for a list)"
                ) from None
            out[key] = numbers if key == "index_bits" and "/" in value else numbers[0]
    return out


def _has_huge(fmt: PagingFormat) -> bool:
    """Does any level above the last map a page (a teach geometry has no huge pages)?"""
    return any(lv.leaf_size for lv in fmt.levels[:-1])


def _number(text: str, what: str) -> int:
    try:
        return parse_number(text, what)
    except CommandError as err:
        raise UsageError(err.message) from None


# ------------------------------------------------------------------------------- decode


def decode_json(dec: Any) -> dict[str, Any]:
    return {
        "format": dec.format,
        "depth": dec.depth,
        "raw": f"{dec.raw:#x}",
        "kind": str(dec.kind),
        "paddr": None if dec.paddr is None else f"{dec.paddr:#x}",
        "fields": [
            {"name": fv.field.name, "bits": fv.field.bits, "value": fv.value, "meaning": fv.meaning}
            for fv in dec.fields
        ],
        "mapping_flags": None if dec.mapping_flags is None else dec.mapping_flags.names(),
        "problems": list(dec.problems),
    }


def cmd_decode(a: argparse.Namespace) -> int:
    fmt = _make_format(a)
    raw = _number(a.raw, "RAW")
    depth = fmt.leaf_depth if a.depth is None else a.depth
    if not 0 <= depth < fmt.depth_count:
        raise UsageError(f"--depth {depth} out of range for {fmt.name} (0..{fmt.leaf_depth})")
    dec = fmt.decode(raw, depth)
    if a.json:
        print(json.dumps(decode_json(dec), indent=2))
    else:
        from .scenario.report import decoded_block

        make_console().print(decoded_block(dec))
    return 0


# ------------------------------------------------------------------------------- encode


def _encode_row(
    fmt: PagingFormat, flags: MappingFlags, paddr: int, huge: bool, encoding: Encoding
) -> dict[str, Any]:
    raw = fmt.new_page(paddr, flags, huge, encoding)
    depth = fmt.depth_for_size(0x20_0000) if huge else fmt.leaf_depth
    dec = fmt.decode(raw, depth if depth is not None else fmt.leaf_depth)
    problems = list(
        dict.fromkeys(fmt.encoding_problems(flags, huge, encoding) + list(dec.problems))
    )
    return {
        "flags": flags.names(),
        "huge": huge,
        "raw": f"{raw:#x}",
        "read_back": None if dec.mapping_flags is None else dec.mapping_flags.names(),
        "problems": problems,
    }


def cmd_encode(a: argparse.Namespace) -> int:
    fmt = _make_format(a)
    encoding = Encoding(a.encoding)
    if a.table:
        default = min(0x4000_0000, 1 << (fmt.output_bits - 1))  # OSTEP's 12-bit PA: 0x800
        paddr = _number(a.paddr, "--paddr") if a.paddr else default
        rows = [
            _encode_row(fmt, MappingFlags(v), paddr, huge, encoding)
            for v in range(64)
            for huge in ((False, True) if _has_huge(fmt) else (False,))
        ]
        doc = {
            "format": fmt.name,
            "encoding": str(encoding),
            "features": sorted(fmt.features),
            "paddr": f"{paddr:#x}",
            "rows": rows,
        }
        if a.json:
            print(json.dumps(doc, indent=2))
        else:
            _print_encode_table(doc)
        return 0
    if a.flags is None or a.paddr is None:
        raise UsageError("encode needs --flags and --paddr (or --table)")
    try:
        flags = MappingFlags.parse(a.flags)
    except PagingError as err:
        raise UsageError(err.message) from None
    paddr = _number(a.paddr, "--paddr")
    if a.huge and not _has_huge(fmt):
        raise UsageError(f"--huge: {fmt.name} has no huge pages (only its last level maps)")
    row = _encode_row(fmt, flags, paddr, a.huge, encoding)
    if a.json:
        print(
            json.dumps(
                {
                    "format": fmt.name,
                    "encoding": str(encoding),
                    "flags": row["flags"],
                    "huge": a.huge,
                    "paddr": f"{paddr:#x}",
                    "raw": row["raw"],
                },
                indent=2,
            )
        )
    else:
        from .scenario.report import decoded_block

        depth = fmt.depth_for_size(0x20_0000) if a.huge else fmt.leaf_depth
        console = make_console()
        console.print(f"{fmt.name} {encoding} {flags.short()} → [bold]{row['raw']}[/bold]")
        console.print(decoded_block(fmt.decode(int(row["raw"], 16), depth or fmt.leaf_depth)))
    return 0


def _problem_template(problem: str, flags: str, back: str | None) -> str:
    """`problem` with its row's flags (and the flags the seed reads back) replaced by the
    names of the columns that show them."""
    if back is not None:
        problem = re.sub(
            rf"(reads(?: back as)? ){re.escape(back)}(?![\w+])", r"\1⟨read back⟩", problem
        )
    return re.sub(rf"(?<![\w+=-]){re.escape(flags)}(?![\w+=-])", "⟨flags⟩", problem)


def _stated_once(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Each row's problems, worded so that one problem is one text: texts that differ only
    in naming their own row's flags ("X maps nothing", "U+DEV maps nothing") become one
    ("⟨flags⟩ maps nothing"); a text no other row words alike stays as it is."""
    worded = []
    for row in rows:
        flags = MappingFlags.parse(row["flags"]).short()
        back = None if row["read_back"] is None else MappingFlags.parse(row["read_back"]).short()
        worded.append([(p, _problem_template(p, flags, back)) for p in row["problems"]])
    merges: dict[str, set[str]] = {}
    for pairs in worded:
        for text, template in pairs:
            merges.setdefault(template, set()).add(text)
    return [
        list(dict.fromkeys(t if len(merges[t]) > 1 else p for p, t in pairs)) for pairs in worded
    ]


def _print_encode_table(doc: dict[str, Any]) -> None:
    """The conversion table, each problem stated once: rows name their problems by number,
    the numbered problems follow the table with how many rows have each (⟨flags⟩ and
    ⟨read back⟩ stand for the row's columns where one problem names each row's flags)."""
    from rich.markup import escape
    from rich.table import Table

    numbers: dict[str, int] = {}
    counts: dict[str, int] = {}
    refs = []
    for said in _stated_once(doc["rows"]):
        for problem in said:
            numbers.setdefault(problem, len(numbers) + 1)
            counts[problem] = counts.get(problem, 0) + 1
        refs.append(" ".join(f"[{numbers[p]}]" for p in said))
    table = Table(
        title=f"{doc['format']}{''.join(' +' + f for f in doc['features'])} — "
        f"{doc['encoding']} encoding of all MappingFlags "
        f"(paddr {doc['paddr']})"
    )
    for col in ("flags", "huge", "raw", "read back", "problems (below)"):
        table.add_column(col, overflow="fold")
    for row, ref in zip(doc["rows"], refs, strict=True):
        flags = MappingFlags.parse(row["flags"]).short()
        back = "PANIC" if row["read_back"] is None else MappingFlags.parse(row["read_back"]).short()
        table.add_row(
            flags,
            "huge" if row["huge"] else "4K",
            row["raw"],
            back,
            ref,
            style="yellow" if ref else "",
        )
    console = make_console()
    console.print(table, markup=False)
    if not numbers:
        console.print("no problems: every combination reads back as written")
        return
    console.print("[bold]problems[/bold]")
    for problem, n in numbers.items():
        count = counts[problem]
        console.print(
            f"[{n}] {escape(problem)} [dim]({count} row{'s' if count > 1 else ''})[/dim]",
            soft_wrap=True,
        )


# ------------------------------------------------------------------------------- replay


def cmd_replay(a: argparse.Namespace) -> int:
    from rich.markup import escape

    from .scenario import ScenarioError, load, run

    docs, failed, invalid = [], False, False
    err = make_console(stderr=True)
    out = make_console()
    for file in a.files:
        try:
            scenario = load(file)
        except ScenarioError as e:
            # one line, whatever the terminal width; "[machine]" in a message is text, not markup
            err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
            invalid = True
            continue
        replay = run(scenario)
        failed |= not replay.passed
        if a.json:
            docs.append(replay.to_json())
        elif a.check and not a.verbose:  # one line per file; the failures follow on stderr
            verdict = "[green]pass[/green]" if replay.passed else "[bold red]FAIL[/bold red]"
            out.print(
                f"{verdict} {escape(str(file))}: {escape(scenario.title)} "
                f"({len(replay.results)} steps)",
                highlight=False,
                soft_wrap=True,
            )
        else:
            from .scenario.report import replay_block

            out.print(replay_block(replay))
        for r in replay.failures:
            keys = ", ".join(m["key"] for m in r.mismatches)
            err.print(
                escape(
                    f"{file}:{r.command.line}: step {r.index} ({r.command.op}): "
                    f"expectation failed: {keys}"
                ),
                highlight=False,
                soft_wrap=True,
            )
    if a.json:
        print(json.dumps(docs[0] if len(a.files) == 1 and docs else docs, indent=1))
    if invalid:
        return 2
    return 1 if a.check and failed else 0


def cmd_scenarios(a: argparse.Namespace) -> int:
    from rich.markup import escape

    from .scenario import ScenarioError, load

    rows = []
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            s = load(path)
            rows.append(
                {
                    "file": path.name,
                    "arch": s.arch,
                    "title": s.title,
                    "summary": s.summary,
                    "tags": s.tags,
                }
            )
        except ScenarioError as e:
            rows.append(
                {
                    "file": path.name,
                    "arch": "?",
                    "title": f"(invalid: {e.message})",
                    "summary": "",
                    "tags": [],
                }
            )
    if a.json:
        print(json.dumps(rows, indent=1))
        return 0
    # one line per scenario, grouped by architecture, never wrapped: `replay FILE` takes the
    # first column, and `--json` adds the summaries and tags
    console = make_console()
    console.print(f"[bold]bundled scenarios[/bold] in {escape(str(SCENARIO_DIR))}", soft_wrap=True)
    width = max((len(r["file"]) for r in rows), default=0)
    for arch in (*ARCHES, "?"):
        group = [r for r in rows if r["arch"] == arch]
        if not group:
            continue
        console.print(f"\n[bold]{'invalid files' if arch == '?' else arch}[/bold]")
        for r in group:
            console.print(
                f"  {escape(r['file'].ljust(width))}  {escape(r['title'])}",
                highlight=False,
                soft_wrap=True,
            )
    return 0


def cmd_quiz(a: argparse.Namespace) -> int:
    from .classroom.verbs import cmd_quiz as quiz

    return quiz(a, UsageError)


def cmd_diff(a: argparse.Namespace) -> int:
    from .classroom.verbs import cmd_diff as diff

    return diff(a, UsageError)


def cmd_trace(a: argparse.Namespace) -> int:
    from .traces.verb import run

    return run(a, UsageError)


def cmd_serve(a: argparse.Namespace) -> int:
    from .classroom.verbs import cmd_serve as serve

    return serve(a, UsageError)


# ------------------------------------------------------------------------------- main


def _parser(verb: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"npt-explorer {verb}")
    if verb == "replay":
        p.add_argument("files", nargs="+", metavar="FILE")
        p.add_argument("--json", action="store_true")
        p.add_argument(
            "--check",
            action="store_true",
            help="exit 1 when an expectation fails, 2 on an invalid file; one line per file",
        )
        p.add_argument(
            "--verbose", action="store_true", help="with --check: the full trace of every file"
        )
    elif verb == "decode":
        _format_args(p)
        p.add_argument("--depth", type=int, help="0 = root; default: the 4 KiB leaf depth")
        p.add_argument("raw", metavar="RAW")
    elif verb == "encode":
        _format_args(p)
        p.add_argument("--flags", help="letters of rwxudc, or names like READ,WRITE")
        p.add_argument("--paddr")
        p.add_argument("--huge", action="store_true")
        p.add_argument("--encoding", choices=("seed", "fixed"), default="fixed")
        p.add_argument("--table", action="store_true", help="all 64 MappingFlags × {4 KiB, huge}")
    elif verb == "scenarios":
        p.add_argument("--json", action="store_true")
    elif verb == "quiz":
        from .classroom.verbs import add_quiz_args

        add_quiz_args(p)
    elif verb == "diff":
        from .classroom.verbs import add_diff_args

        add_diff_args(p)
    elif verb == "trace":
        from .traces.verb import add_args

        add_args(p)
    elif verb == "serve":
        from .classroom.verbs import add_serve_args

        add_serve_args(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "image":
            from .image_cli import main as image_main

            return image_main(args[1:])
        if args and args[0] in VERBS:
            verb = args.pop(0)
            ns = _parser(verb).parse_args(args)
            return {
                "replay": cmd_replay,
                "decode": cmd_decode,
                "encode": cmd_encode,
                "scenarios": cmd_scenarios,
                "quiz": cmd_quiz,
                "diff": cmd_diff,
                "trace": cmd_trace,
                "serve": cmd_serve,
            }[verb](ns)
        return _tui(args)
    except UsageError as err:
        print(f"npt-explorer: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exit_:
        return int(exit_.code or 0) if isinstance(exit_.code, int) else 2
    except KeyboardInterrupt:
        return 130


def _tui(args: list[str]) -> int:
    from .image.files import is_image_command

    if is_image_command(args):  # `npt-explorer IMAGE... ROOTS`: the TUI on a memory image
        from .tui.app import run_app

        return run_app(file=args[0], options=tuple(args[1:]))
    p = argparse.ArgumentParser(
        prog="npt-explorer",
        description=(
            "Explore nested paging (npt-explorer IMAGE... ROOTS: the TUI on a memory image, "
            "roots as `image walk` takes them). Verbs: replay, decode, encode, scenarios, "
            "quiz, diff, serve, image, trace (npt-explorer VERB --help). Settings: "
            "$XDG_CONFIG_HOME/npt-explorer/config.toml (theme, play_seconds)."
        ),
    )
    p.add_argument("file", nargs="?", metavar="FILE.toml", help="start on this scenario")
    p.add_argument(
        "--arch",
        choices=tuple(ARCHES),
        default=None,
        help="start on the built-in demo of this architecture",
    )
    p.add_argument(
        "--theme",
        choices=tuple(THEMES),
        help="colours: dark (default) or high-contrast (projectors); remembered",
    )
    p.add_argument(
        "--play-seconds",
        type=float,
        metavar="S",
        help=f"space plays the walk, S seconds per reference ({PLAY_SECONDS} by default; "
        "+ and - change it while running); remembered",
    )
    p.add_argument("--served-root", help=argparse.SUPPRESS)  # one browser tab of `serve`
    ns = p.parse_args(args)
    try:
        settings = settings_for(ns.theme, ns.play_seconds)
    except ConfigError as err:
        raise UsageError(str(err)) from None
    from .tui.app import run_app

    return run_app(file=ns.file, arch=ns.arch, served_root=ns.served_root, settings=settings)

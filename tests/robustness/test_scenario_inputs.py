"""Whatever a user types or writes, the scenario layer answers with its own error type.

- Mutated bundled scenarios (lines deleted, duplicated, swapped, truncated; values, keys and
  types changed; stray characters) and TOML documents generated from scratch load, or fail with
  one `ScenarioError` whose one-line message names the file, a line inside it, and the key.
- Random command lines parse, or fail with one `CommandError` naming the offending key/token.
- Whatever loads or parses then runs: `execute` never raises (engine errors become
  `StepResult.error`), and the JSON and Rich reports of the results build.
"""

from __future__ import annotations

import datetime
import io
import json
import math
from pathlib import Path
from typing import Any

from _robust import budget, count
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from test_machine_stateful import configs

from npt_explorer.engine.machine import Machine
from npt_explorer.scenario import OPS, CommandError, ScenarioError, loads, parse_line, run
from npt_explorer.scenario.report import replay_block
from npt_explorer.scenario.runner import execute

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TEXTS = {p.name: p.read_text(encoding="utf-8") for p in sorted(SCENARIOS.glob("*.toml"))}
FILE = "mutant.toml"

#: TOML values a mutation writes in place of another: right and wrong types, edge numbers
VALUES = [
    '""',
    "0",
    "-1",
    "1e10",
    "nan",
    "inf",
    "true",
    "1979-05-27",
    "07:32:00",
    "[]",
    "[1]",
    "[[1]]",
    "{}",
    "{ a = 1 }",
    '"0x"',
    '"0xffff_ffff_ffff_f000"',
    "18446744073709551616",
    '"1T"',
    '"64G"',
    '"4K"',
    '"2"',
    "3",
    '"-"',
    '"rwxudc"',
    '"bogus"',
    '"[/red]"',
    '"\\n"',
    '{ result = "ok" }',
    '{ error = "NotMapped" }',
    "{ syndrome = 5 }",
    "{ flags = 7 }",
    '{ hit_rate = "abc" }',
    '{ handled = "yes" }',
    "{ stage = 3, gva = 0, depth = 0 }",
    '{ stage = 1, gva = "0x0", depth = 99 }',
    '{ gpa = "0x4000_0000", size = "2G" }',
    "{ entries = 1099511627776, ways = 1 }",
    '"invlpg"',
    '"hfence.gvma"',
    '["ept-ad", 1]',
    '"note"',
    '"map"',
    '"unmap"',
    '"protect"',
    '"access"',
    '"translate"',
    '"handle-fault"',
    '"flush"',
    '"poke"',
    '"query"',
    '"expect"',
    '"context"',
    '"trace"',
]
KEYS = sorted({k.name for keys in OPS.values() for k in keys}) + [
    "op",
    "guest",
    "npt",
    "features",
    "encoding",
    "guest_pt_pool",
    "map_pool",
    "tlb",
    "arch",
    "title",
    "tags",
    "summary",
    "bogus",
    "tlb_entries",
    "frames_in_use",
    "stale_entries",
]
HEADERS = ["[[step]]", "[machine]", "[scenario]", "[step]", "[[machine]]", "[bogus]", "x = 1"]
JUNK = ['"', "{", "}", "[", "]", "=", "#", "\\", "\x00", "é", " ", "'", "\t"]


@st.composite
def mutants(draw: st.DrawFn) -> str:
    lines = TEXTS[draw(st.sampled_from(sorted(TEXTS)))].split("\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        how = draw(
            st.sampled_from(["del", "dup", "value", "key", "cut", "add", "head", "swap", "char"])
        )
        count(f"scenario mutations: {how}")
        if not lines:
            break
        key, eq, _ = lines[i].partition("=")
        if how == "del":
            del lines[i]
        elif how == "dup":
            lines.insert(i, lines[i])
        elif how == "value" and eq:
            lines[i] = f"{key}= {draw(st.sampled_from(VALUES))}"
        elif how == "key" and eq:
            lines[i] = f"{draw(st.sampled_from(KEYS))} ={lines[i].partition('=')[2]}"
        elif how == "cut":
            lines = lines[:i]
        elif how == "add":
            lines.insert(i, f"{draw(st.sampled_from(KEYS))} = {draw(st.sampled_from(VALUES))}")
        elif how == "head":
            lines.insert(i, draw(st.sampled_from(HEADERS)))
        elif how == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif how == "char":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.sampled_from(JUNK)) + lines[i][at:]
    return "\n".join(lines)


# ------------------------------------------------------------------ TOML from scratch


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return (
            "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        )
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(v)  # a TOML basic string (a lone surrogate makes the file invalid)


SCALARS = st.one_of(
    st.integers(-(2**65), 2**65),
    st.sampled_from([0, 1, 2, 0x1000, 0x20_0000, 0x4000_0000, 1 << 63, -1]),
    st.sampled_from(
        [
            "0x4000_0000",
            "0x0",
            "4K",
            "2M",
            "1G",
            "16G",
            "rw",
            "rwx",
            "r",
            "",
            "-",
            "linear",
            "alloc",
            "read",
            "write",
            "exec",
            "user",
            "kernel",
            "ok",
            "fault",
            "hit",
            "miss",
            "x86_64",
            "aarch64",
            "riscv64",
            "ept4",
            "ipa40",
            "sv39x4",
            "seed",
            "fixed",
            "null",
        ]
    ),
    st.text(max_size=8),
    st.booleans(),
    st.floats(),
    st.dates(),
)
VALUES_DEEP = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS + ["R", "W", "ec", "result"]), inner, max_size=3),
    ),
    max_leaves=6,
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    def table(keys: list[str]) -> dict[str, Any]:
        chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=6))
        return {k: draw(VALUES_DEEP) for k in chosen}

    out = ["[scenario]", 'title = "generated"']
    meta = {"arch": draw(st.sampled_from(["x86_64", "aarch64", "riscv64", "arm"]))}
    meta.update(table(["summary", "tags", "arch", "bogus"]))
    out += [f"{k} = {toml_value(v)}" for k, v in meta.items()]
    if draw(st.booleans()):
        out.append("[machine]")
        machine = table(
            ["guest", "npt", "features", "encoding", "guest_pt_pool", "map_pool", "tlb"]
        )
        out += [f"{k} = {toml_value(v)}" for k, v in machine.items()]
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from([*OPS, "bogus"]))
        keys = [k.name for k in OPS.get(op, ())] + ["bogus"]
        out += ["[[step]]", f"op = {json.dumps(op)}"]
        out += [f"{k} = {toml_value(v)}" for k, v in table(keys).items()]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ the checks


def located(text: str) -> Any:
    """`loads`, which either gives a scenario or a one-line ScenarioError that names this file,
    a line inside it, and the key (or says the TOML itself is broken)."""
    try:
        return loads(text, FILE)
    except ScenarioError as err:
        message = str(err)
        assert "\n" not in message and message.startswith(f"{FILE}:{err.line}: "), message
        assert 1 <= err.line <= max(1, len(text.splitlines())), message
        assert err.key or err.message.startswith("TOML syntax error"), message
        count("scenario files: ScenarioError")
        return None


def replays(scenario: Any) -> None:
    """Run every step (no exception escapes `execute`) and build both reports."""
    replay = run(scenario)
    json.dumps(replay.to_json(), allow_nan=False)
    Console(file=io.StringIO(), width=132).print(replay_block(replay))
    count("scenario files: loaded and replayed")
    count("scenario steps executed", len(replay.results))


@budget(300)
@given(mutants())
def test_mutated_bundled_scenarios_load_or_name_file_line_and_key(text):
    scenario = located(text)
    if scenario is not None:
        replays(scenario)


@budget(200)
@given(documents())
def test_generated_toml_loads_or_names_file_line_and_key(text):
    scenario = located(text)
    if scenario is not None:
        replays(scenario)


# ------------------------------------------------------------------ command lines

WORDS = st.sampled_from(
    [
        "0",
        "0x4000_0000",
        "4K",
        "2M",
        "16G",
        "rw",
        "rwx",
        "zz",
        "1",
        "2",
        "3",
        "-1",
        "true",
        "linear",
        "alloc",
        "read",
        "write",
        "user",
        "invept-single",
        "hfence.gvma",
        "random",
        '"quoted text"',
        "'lit'",
        '{result="ok", refs=24}',
        "{R=1}",
        "[1, 2]",
        "{a=",
        '"open',
        "}",
        "=",
        "",
        "é",
        "0xffff_ffff_ffff_ffff",
        "[" * 2000 + "]" * 2000,
        "18446744073709551616",
    ]
)


#: plausible values per key kind (commands.Key.kind), so that most generated lines parse
KIND_VALUES = {
    "addr": ["0x4000_0000", "0x4000_1008", "0x10_0000", "0x20_0000", "0", "0x8000_0000"],
    "size": ["4K", "8K", "2M", "0x1000", "64K"],
    "int": ["0", "1", "2", "3", "24"],
    "int-or-all": ["0", "1", "2", "all"],
    "flags": ["rw", "rwx", "r", "-", "rwxu", "rdc"],
    "bool": ["true", "false"],
    "str": ['"a name"', "word"],
    "stage": ["1", "2"],
    "dict": [
        '{result="ok"}',
        "{R=1}",
        '{stage=1, gva="0x4000_0000", depth=3}',
        '{error="NotMapped"}',
    ],
}


@st.composite
def command_lines(draw: st.DrawFn) -> str:
    """Mostly well-formed lines for a random op (its keys, plausible values), with a random
    key, value or raw text now and then."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.text(max_size=30))
    op = draw(st.sampled_from([*OPS, "bogus"]))
    tokens = [op]
    for key in OPS.get(op, ()):
        if key.required or draw(st.booleans()):
            values = list(key.choices) or KIND_VALUES[key.kind]
            tokens.append(f"{key.name}={draw(st.sampled_from(values))}")
    for _ in range(draw(st.integers(0, 2))):
        names = [k.name for k in OPS.get(op, ())] + ["bogus", "fields.R", "expect.result", ""]
        tokens.insert(
            draw(st.integers(1, len(tokens))), f"{draw(st.sampled_from(names))}={draw(WORDS)}"
        )
    return " ".join(tokens)


def parsed(text: str) -> Any:
    try:
        command = parse_line(text)
    except CommandError as err:
        assert err.key and err.message, (text, err.key, err.message)
        named = err.key in err.message or repr(err.key) in err.message or err.key == "op"
        assert named, (err.key, err.message)
        count("command lines: CommandError")
        return None
    count("command lines: parsed")
    return command


@budget(600)
@given(command_lines())
def test_random_command_lines_parse_or_name_the_offending_key(text):
    parsed(text)


@budget(120)
@given(config=configs(), lines=st.lists(command_lines(), min_size=1, max_size=12))
def test_every_parsed_command_executes_without_raising(config, lines):
    machine = Machine(config)
    for n, text in enumerate(lines, 1):
        command = parsed(text)
        if command is None:
            continue
        result = execute(machine, command, n)
        assert result.error is None or result.error.kind, result
        json.dumps(result.to_json(), allow_nan=False)
        count(f"commands executed: {'ok' if result.ok else 'error'}")

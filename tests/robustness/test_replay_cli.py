"""`npt-explorer replay` as a user runs it, in a subprocess: on an invalid file it exits 2 with
one line per file on stderr (`error: FILE:LINE: KEY: message`) and never a traceback; valid
files in the same run still replay, and `--json` still prints valid JSON on stdout.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from _robust import count

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "scenarios" / "x86_01_first_walk.toml"
HEAD = '[scenario]\ntitle = "t"\narch = "x86_64"\n'

#: file name -> contents: each invalid in its own way
INVALID: dict[str, str | bytes] = {
    "empty.toml": "",
    "binary.toml": b"\xff\xfe\x00\x01garbage",
    "utf16.toml": HEAD.encode("utf-16"),
    "syntax.toml": HEAD + "[[step]]\nop = \n",
    "unclosed.toml": HEAD + '[[step]]\nop = "note\n',
    "op_list.toml": HEAD + "[[step]]\nop = [1, 2]\n",
    "op_table.toml": HEAD + "[[step]]\nop = { a = 1 }\n",
    "op_newline.toml": HEAD + '[[step]]\nop = "\\nmap"\n',
    "arch_list.toml": '[scenario]\ntitle = "t"\narch = ["x86_64"]\n',
    "arch_markup.toml": '[scenario]\ntitle = "[/red] t"\narch = "[/x]"\n',
    "no_scenario.toml": '[[step]]\nop = "note"\ntext = "hi"\n',
    "pool_out_of_range.toml": HEAD
    + '[machine]\nguest_pt_pool = { gpa = "0xffff_ffff_ffff_0000" }\n',
    "pool_huge.toml": HEAD + '[machine]\nguest_pt_pool = { size = "1T" }\n',
    "tlb_huge.toml": HEAD + "[machine]\ntlb = { entries = 1099511627776, ways = 1 }\n",
    "map_huge.toml": HEAD
    + '[[step]]\nop = "map"\nstage = 2\ngpa = "0x4000_0000"\nsize = "1T"\nflags = "rw"\n'
    + 'backend = "linear"\nhpa = "0x1_0000_0000"\n',
    "trace_count.toml": HEAD
    + '[[step]]\nop = "trace"\ngva = "0x4000_0000"\nsize = "4K"\ncount = 1000000000\n',
    "trace_random_tiny.toml": HEAD
    + '[[step]]\nop = "trace"\ngva = "0"\nsize = 4\ncount = 3\npattern = "random"\n',
    "flags_float.toml": HEAD
    + '[[step]]\nop = "protect"\nstage = 1\ngva = "0x4000_0000"\nsize = "4K"\nflags = 1.5\n',
    "syndrome_number.toml": HEAD
    + '[[step]]\nop = "access"\ngva = "0x4000_0000"\nexpect = { syndrome = 5 }\n',
    "expect_date.toml": HEAD
    + '[[step]]\nop = "access"\ngva = "0x4000_0000"\nexpect = { result = 1979-05-27 }\n',
    "hit_rate_nan.toml": HEAD
    + '[[step]]\nop = "trace"\ngva = "0"\nsize = "4K"\ncount = 3\nexpect = { hit_rate = nan }\n',
    "deep.toml": HEAD + '[[step]]\nop = "note"\ntext = ' + "[" * 5000 + "]" * 5000 + "\n",
    "name [b] [red] {x}.toml": HEAD + "[[step]]\nop = 7\n",
}


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "npt_explorer", "replay", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def mutants(count_: int, seed: int) -> list[str]:
    """Line-level mutants of a bundled scenario that are no longer valid files."""
    from npt_explorer.scenario import ScenarioError, loads

    rng = random.Random(seed)
    lines = VALID.read_text(encoding="utf-8").split("\n")
    out: list[str] = []
    while len(out) < count_:
        mutant = list(lines)
        i = rng.randrange(len(mutant))
        how = rng.randrange(3)
        if how == 0:
            del mutant[i]
        elif how == 1:
            mutant.insert(i, rng.choice(["[[step]]", "op = 5", 'size = "zz"', "= 1", "[x"]))
        else:
            mutant[i] = mutant[i][: rng.randrange(len(mutant[i]) + 1)]
        text = "\n".join(mutant)
        try:
            loads(text)
        except ScenarioError:
            out.append(text)
    return out


def write_invalid(tmp_path: Path) -> list[Path]:
    paths = []
    for name, content in INVALID.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        paths.append(path)
    for n, text in enumerate(mutants(8, seed=8)):
        path = tmp_path / f"mutant_{n}.toml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    paths.append(tmp_path / "missing.toml")
    (tmp_path / "a_directory.toml").mkdir()
    paths.append(tmp_path / "a_directory.toml")
    return paths


def test_each_invalid_file_is_one_line_on_stderr_and_exit_2(tmp_path):
    paths = write_invalid(tmp_path)
    done = replay(*map(str, paths))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == len(paths), done.stderr
    for path, line in zip(paths, lines, strict=True):
        assert line.startswith(f"error: {path}"), (path, line)
    count("replay subprocess: invalid files", len(paths))


def test_a_single_invalid_file_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(INVALID["op_list.toml"], encoding="utf-8")
    for flags in ([], ["--json"], ["--check"]):
        done = replay(str(path), *flags)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.splitlines() == [
            f"error: {path}:5: step 1 ([1, 2]): op: "
            + (
                "unknown op [1, 2] (allowed: note, map, unmap, protect, access, translate, "
                "handle-fault, flush, poke, query, expect, context, control, trace)"
            )
        ]
        assert done.stdout == ("[]\n" if flags == ["--json"] else "")
        count("replay subprocess: single-file runs")


def test_valid_files_still_replay_beside_invalid_ones_and_json_stays_valid(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(INVALID["syntax.toml"], encoding="utf-8")
    done = replay(str(VALID), str(bad), str(VALID), "--json", "--check")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    docs = json.loads(done.stdout)
    assert [d["passed"] for d in docs] == [True, True]
    assert len(done.stderr.splitlines()) == 1
    count("replay subprocess: mixed runs")

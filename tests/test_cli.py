"""The headless verbs exactly as the contract defines them: output shape and exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from npt_explorer.cli import main
from npt_explorer.engine import FORMAT_NAMES


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_decode_json_has_the_contract_fields(capsys):
    code, out, _ = run(capsys, "decode", "--format", "ept", "--depth", "3", "0x80000637", "--json")
    doc = json.loads(out)
    assert code == 0
    assert set(doc) == {
        "format",
        "depth",
        "raw",
        "kind",
        "paddr",
        "fields",
        "mapping_flags",
        "problems",
    }
    assert (doc["format"], doc["depth"], doc["raw"], doc["kind"]) == (
        "ept",
        3,
        "0x80000637",
        "leaf",
    )
    assert doc["paddr"] == "0x80000000"
    assert {"name": "R", "bits": "0", "value": 1}.items() <= doc["fields"][0].items()
    assert doc["mapping_flags"] == ["READ", "WRITE", "EXECUTE"]


def test_decode_defaults_to_the_4k_leaf_depth_and_reports_misconfiguration(capsys):
    _, out, _ = run(capsys, "decode", "--format", "ept", "0x1032", "--json")
    doc = json.loads(out)
    assert doc["depth"] == 3 and doc["kind"] == "misconfigured" and doc["problems"]


def test_decode_of_a_panicking_seed_entry_reads_back_null(capsys):
    _, out, _ = run(capsys, "decode", "--format", "aarch64-s2", "0x12345676df", "--json")
    assert json.loads(out)["mapping_flags"] is None


def test_encode_seed_matches_the_crates(capsys, seed_roundtrip):
    _, out, _ = run(
        capsys,
        "encode",
        "--format",
        "aarch64-s2",
        "--flags",
        "rw",
        "--paddr",
        "0x1234567000",
        "--encoding",
        "seed",
        "--json",
    )
    doc = json.loads(out)
    assert doc == {
        "format": "aarch64-s2",
        "encoding": "seed",
        "flags": ["READ", "WRITE"],
        "huge": False,
        "paddr": "0x1234567000",
        "raw": "0x12345676ff",
    }
    assert int(seed_roundtrip["aarch64-s2"]["rows"]["R+W"]["raw_4k"], 16) == 0x12345676FF


@pytest.mark.parametrize("fmt", [f for f in FORMAT_NAMES if f != "teach"])  # teach: below
def test_encode_table_has_128_rows_in_the_seeds_bit_order(capsys, fmt):
    _, out, _ = run(capsys, "encode", "--format", fmt, "--table", "--encoding", "seed", "--json")
    doc = json.loads(out)
    assert len(doc["rows"]) == 128
    assert doc["rows"][0]["flags"] == [] and doc["rows"][-1]["huge"] is True
    assert doc["rows"][2]["flags"] == ["READ"]
    assert all(set(r) == {"flags", "huge", "raw", "read_back", "problems"} for r in doc["rows"])


def test_teach_has_no_huge_pages_so_its_encode_table_has_64_rows(capsys):
    _, out, _ = run(capsys, "encode", "--format", "teach", "--table", "--json")
    rows = json.loads(out)["rows"]
    assert len(rows) == 64 and not any(r["huge"] for r in rows)
    rw = next(r for r in rows if r["flags"] == ["READ", "WRITE"])
    assert rw["raw"] == "0x40000007" and rw["problems"] == []  # V R W + the frame at 1 GiB
    assert (
        run(capsys, "encode", "--format", "teach", "--flags", "rw", "--paddr", "0", "--huge")[0]
        == 2
    )


def test_teach_decodes_an_ostep_byte_and_refuses_a_bad_geometry_by_key(capsys):
    code, out, _ = run(
        capsys, "decode", "--format", "teach", "--geometry", "ostep", "--depth", "1", "0xb5",
        "--json",
    )  # fmt: skip
    doc = json.loads(out)
    assert code == 0 and doc["kind"] == "leaf" and doc["paddr"] == "0x6a0"  # PFN 0x35 × 32
    code, _, err = run(
        capsys, "decode", "--format", "teach", "--geometry", "levels=2,index_bits=5/5,"
        "offset_bits=5,entry_bytes=3", "0x1",
    )  # fmt: skip
    assert code == 2 and "bad entry_bytes (allowed: 1, 2, 4 or 8)" in err


def test_encode_table_shows_the_riscv_g_stage_u_bug_as_a_problem(capsys):
    _, out, _ = run(
        capsys, "encode", "--format", "sv39x4", "--table", "--encoding", "seed", "--json"
    )
    rw = next(r for r in json.loads(out)["rows"] if r["flags"] == ["READ", "WRITE"])
    assert any("U" in p for p in rw["problems"])


@pytest.mark.parametrize(
    "argv",
    [
        ["decode", "--format", "nope", "0x1"],
        ["decode", "--format", "ept", "zzz"],
        ["decode", "--format", "ept", "--depth", "9", "0x1"],
        ["encode", "--format", "ept", "--flags", "rq", "--paddr", "0x1000"],
        ["encode", "--format", "ept", "--flags", "rw"],
        ["encode", "--format", "ept", "--ipa-bits", "40", "--table"],
        ["replay"],
    ],
)
def test_bad_arguments_exit_2_with_one_message_and_no_traceback(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err and err.strip()


def test_module_entry_point_runs_every_verb():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "npt_explorer",
            "decode",
            "--format",
            "sv39x4",
            "--depth",
            "0",
            "0x1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and json.loads(done.stdout)["kind"] == "table"


_SHORT = {"READ": "R", "WRITE": "W", "EXECUTE": "X", "USER": "U", "DEVICE": "DEV", "UNCACHED": "UC"}


@pytest.mark.parametrize(
    ("fmt", "features", "table"),
    [
        ("aarch64-s1", "arm-el2", "aarch64-s1-arm-el2"),
        ("sv39", "xuantie-c9xx", "riscv-xuantie-c9xx"),
        ("sv48x4", "xuantie-c9xx", "riscv-xuantie-c9xx"),
    ],
)
def test_encode_table_reproduces_the_seeds_other_builds(
    capsys, seed_roundtrip, fmt, features, table
):
    argv = ["encode", "--format", fmt, "--features", features, "--table", "--paddr", "0x1234567000"]
    _, out, _ = run(capsys, *argv, "--encoding", "seed", "--json")
    rows = json.loads(out)["rows"]
    want = seed_roundtrip[table]["rows"]
    for row in rows:
        short = "+".join(_SHORT[n] for n in row["flags"]) or "-"
        assert int(row["raw"], 16) == int(want[short]["raw_huge" if row["huge"] else "raw_4k"], 16)
        if not row["huge"]:
            back = "+".join(_SHORT[n] for n in row["read_back"]) or "-"
            assert back == want[short]["read_back"]


def test_encode_table_for_la64_reproduces_the_seeds_la64pte(capsys, seed_roundtrip):
    argv = ["encode", "--format", "la64", "--table", "--paddr", "0x1234567000", "--encoding"]
    _, out, _ = run(capsys, *argv, "seed", "--json")
    want = seed_roundtrip["la64"]["rows"]
    for row in json.loads(out)["rows"]:
        short = "+".join(_SHORT[n] for n in row["flags"]) or "-"
        assert int(row["raw"], 16) == int(want[short]["raw_huge" if row["huge"] else "raw_4k"], 16)
        assert ("+".join(_SHORT[n] for n in row["read_back"]) or "-") == want[short]["read_back"]


def test_decode_la64_reads_a_directory_entry_as_a_bare_address(capsys):
    _, out, _ = run(capsys, "decode", "--format", "la64", "--depth", "2", "0x5000", "--json")
    doc = json.loads(out)
    assert doc["kind"] == "table" and doc["paddr"] == "0x5000"
    assert any("walk() stops here" in p for p in doc["problems"])


@pytest.mark.parametrize(("fmt", "encoding"), [("ept", "fixed"), ("aarch64-s2", "seed")])
def test_encode_table_states_each_problem_once_and_rows_refer_to_it(capsys, fmt, encoding):
    """Issue 16 item 19: "EPT has no user bit: USER is ignored" was printed on 64 rows, "X maps
    nothing: VALID=0 …" once per flag combination; now each is one numbered line below the
    table and a row names its problems by number."""
    argv = ["encode", "--format", fmt, "--table", "--encoding", encoding]
    _, out, _ = run(capsys, *argv)
    table, _, legend = out.partition("\nproblems\n")
    lines = legend.splitlines()
    assert lines and all(line.startswith(f"[{n}] ") for n, line in enumerate(lines, 1))
    stated = [line.split("] ", 1)[1].rsplit(" (", 1)[0] for line in lines]
    assert len(set(stated)) == len(stated)
    for text in stated:
        assert out.count(text) == 1
    # every problem of the JSON rows is one of the stated ones, the row's own flags (or the
    # flags read back) standing in words where several rows share the sentence
    _, js, _ = run(capsys, *argv, "--json")
    rows = json.loads(js)["rows"]
    patterns = [
        re.escape(s).replace("⟨flags⟩", "[A-Z+-]+").replace("⟨read\\ back⟩", "[A-Z+-]+")
        for s in stated
    ]
    for row in rows:
        for problem in row["problems"]:
            assert any(re.fullmatch(p, problem) for p in patterns), problem
    # the rows' references add up to the counts the legend gives
    counts = [int(line.rsplit(" (", 1)[1].split()[0]) for line in lines]
    assert sum(counts) == sum(table.count(f"[{n}]") for n in range(1, len(lines) + 1))
    if fmt == "ept":  # 32 flag combinations with USER, each 4 KiB and huge
        assert "[7] EPT has no user bit: USER is ignored (64 rows)" in lines

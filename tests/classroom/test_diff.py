"""Diffs between two moments of a scenario: entries with their fields, permissions per range,
stale TLB entries, frames. Expected values come from the bundled scenarios' own notes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from npt_explorer.classroom.diff import diff, diff_lines
from npt_explorer.classroom.state import capture
from npt_explorer.cli import main
from npt_explorer.scenario import load, loads, run

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
X86_03 = SCENARIOS / "x86_03_ept_dirty_logging.toml"  # step 7 = protect 64K r, 8 = invept
X86_05 = SCENARIOS / "x86_05_lazy_allocation.toml"  # step 11 = handle-fault


def _state(path: Path, steps: int):
    return capture(run(load(path), steps).machine)


def test_the_dirty_logging_protect_clears_w_on_exactly_the_16_ept_leaves():
    d = diff(_state(X86_03, 6), _state(X86_03, 7))
    assert [c.change for c in d.entries] == ["changed"] * 16
    # 64K at gPA 0x200000 = 16 EPT PTEs (depth 3), each 0x…033 → 0x…031: W (bit 1) 1 → 0
    assert [c.where.input for c in d.entries] == [0x20_0000 + n * 0x1000 for n in range(16)]
    assert {(c.where.stage, c.where.depth, c.level_name) for c in d.entries} == {(2, 3, "EPT PTE")}
    assert {c.fields for c in d.entries} == {(("W", 1, 0),)}
    [perm] = d.permissions
    assert (perm.stage, perm.start, perm.end) == (2, 0x20_0000, 0x21_0000)
    assert (perm.before, perm.after) == ("R+W", "R")
    # effective: the same range, in the EPT's words (describe_perms: r w x letters)
    [eff] = d.effective
    assert (eff.stage, eff.start, eff.end, eff.before, eff.after) == (
        2,
        0x20_0000,
        0x21_0000,
        "rw-",
        "r--",
    )
    # through both stages: the guest's 64K at gVA 0x4000_0000 (step 4 maps it onto gPA
    # 0x200000) is now kernel rw at stage 1 but read-only at stage 2
    [both] = d.nested
    assert (both.start, both.end) == (0x4000_0000, 0x4001_0000)
    assert (both.before, both.after) == ("rw- s / rw-", "rw- s / r--")


def test_the_protect_without_invept_leaves_the_cached_write_entry_stale():
    d = diff(_state(X86_03, 6), _state(X86_03, 7))
    stale = {(t.kind, t.base) for t in d.tlb_stale}
    assert ("combined", 0x4000_0000) in stale  # the write at step 5 filled it
    assert not d.tlb_added and not d.tlb_removed
    assert not (d.host_gained or d.host_lost or d.guest_gained or d.guest_lost)


def test_invept_single_removes_the_stale_entries_and_changes_no_entry():
    before, after = _state(X86_03, 7), _state(X86_03, 8)
    d = diff(before, after)
    assert not d.entries and not d.permissions
    assert {t.key for t in d.tlb_removed} == set(before.tlb)
    assert not after.tlb


def test_handle_fault_adds_one_ept_leaf_and_gains_one_host_frame():
    d = diff(_state(X86_05, 11), _state(X86_05, 12))
    [added] = d.entries
    assert added.change == "added"
    assert (added.where.stage, added.where.depth, added.where.input) == (2, 3, 0x20_0000)
    assert len(d.host_gained) == 1 and not d.host_lost
    assert added.after is not None and added.after.raw >> 12 == d.host_gained[0] >> 12
    [perm] = d.permissions
    assert (perm.before, perm.after, perm.end - perm.start) == (None, "R+W", 0x1000)


UPPER_LEVEL = """
[scenario]
title = "a read-only PDE over writable PTEs"
arch = "x86_64"

[[step]]
op = "map"
stage = 2
gpa = "0x200000"
size = "2M"
flags = "rwx"
hpa = "0x80000000"

[[step]]
op = "map"
stage = 1
gva = "0x40000000"
gpa = "0x200000"
size = "8K"
flags = "rw"

[[step]]
op = "poke"
stage = 1
gva = "0x40000000"
depth = 2
fields = { RW = 0 }
"""


def test_a_read_only_table_entry_changes_the_effective_permissions_not_the_leaves():
    # Intel SDM Vol. 3A 4.6.1: a write needs R/W=1 in every paging-structure entry of the
    # translation, so R/W=0 in the PDE makes both 4K pages under it read-only
    scenario = loads(UPPER_LEVEL)
    d = diff(capture(run(scenario, 2).machine), capture(run(scenario, 3).machine))
    [pde] = d.entries
    assert (pde.where.depth, pde.fields) == (2, (("RW", 1, 0),))
    assert not d.permissions  # the leaves (PTEs) still say R+W
    [eff] = d.effective
    assert (eff.stage, eff.start, eff.end) == (1, 0x4000_0000, 0x4000_2000)
    assert (eff.before, eff.after) == ("rw- s", "r-- s")
    [both] = d.nested
    assert (both.before, both.after) == ("rw- s / rwx", "r-- s / rwx")


def test_a_state_against_itself_has_no_differences():
    state = _state(X86_03, 12)
    d = diff(state, state)
    assert d.empty and diff_lines(d) == ["no differences"]


def test_diff_text_names_entries_fields_permissions_and_stale_lines(capsys):
    assert main(["diff", f"{X86_03}:6", f"{X86_03}:7"]) == 0
    out = capsys.readouterr().out
    assert "16 changed" in out
    assert out.count("EPT PTE (depth 3)") == 16 and out.count("[W 1→0]") == 16
    assert "stage 2 gPA 0x200000-0x210000: R+W → R" in out
    assert "combined 0x40000000 (4 KiB)" in out and "STALE" in out


def test_diff_json_has_the_documented_sections(capsys):
    assert main(["diff", f"{X86_03}:6", f"{X86_03}:7", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["a"]["step"] == 6 and doc["b"]["step"] == 7
    assert len(doc["entries"]) == 16
    assert doc["entries"][0] == {
        "change": "changed",
        "stage": 2,
        "depth": 3,
        "level_name": "EPT PTE",
        "input": "0x200000",
        "table": doc["entries"][0]["table"],
        "index": 0,
        "before": "0x80200033",
        "after": "0x80200031",
        "fields": {"W": [1, 0]},
    }
    assert doc["permissions"] == [
        {"stage": 2, "start": "0x200000", "end": "0x210000", "before": "R+W", "after": "R"}
    ]
    assert doc["effective_permissions"] == [
        {"stage": 2, "start": "0x200000", "end": "0x210000", "before": "rw-", "after": "r--"}
    ]
    assert [(p["start"], p["after"]) for p in doc["nested_permissions"]] == [
        ("0x40000000", "rw- s / r--")
    ]
    assert "0x40000000" in [t["base"] for t in doc["tlb"]["became_stale"]]
    assert set(doc["frames"]) == {"host", "guest"}


def test_a_file_without_step_is_its_end_state(capsys):
    assert main(["diff", str(X86_03), f"{X86_03}:{len(load(X86_03).steps)}"]) == 0
    assert "no differences" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        ([f"{X86_03}:99", str(X86_03)], "step 99 (allowed: 0 .. "),
        ([str(X86_03), str(SCENARIOS / "arm_01_first_walk.toml")], "diff compares one arch"),
        (["nope.toml", str(X86_03)], "nope.toml"),
    ],
)
def test_bad_diff_points_exit_2_with_one_line(argv, message, capsys):
    assert main(["diff", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def _exported(tmp_path: Path, scenario: Path, step: int, capsys) -> Path:
    out = tmp_path / f"{scenario.stem}-{step}.elf"
    assert main(["image", "export", str(scenario), "--step", str(step), "-o", str(out)]) == 0
    capsys.readouterr()
    return out


def test_two_memory_images_diff_as_the_scenario_points_they_were_exported_from(tmp_path, capsys):
    before = _exported(tmp_path, X86_03, 6, capsys)
    after = _exported(tmp_path, X86_03, 7, capsys)
    assert main(["diff", str(before), str(after), "--json"]) == 0
    images = json.loads(capsys.readouterr().out)
    assert main(["diff", f"{X86_03}:6", f"{X86_03}:7", "--json"]) == 0
    scenario = json.loads(capsys.readouterr().out)
    # the same 16 EPT leaves, W 1→0; an image holds no TLB and its frames are its tables'
    assert images["entries"] == scenario["entries"]
    assert [(p["stage"], p["start"], p["end"]) for p in images["permissions"]] == [
        (2, "0x200000", "0x210000")
    ]
    assert images["tlb"] == {"added": [], "removed": [], "became_stale": []}
    assert images["a"] == {"file": str(before), "step": None}


def test_a_memory_image_has_no_steps(tmp_path, capsys):
    image = _exported(tmp_path, X86_03, 6, capsys)
    assert main(["diff", f"{image}:3", str(image)]) == 2
    assert "a memory image has no steps" in capsys.readouterr().err


# ---- two images through both stages: gVA range → gPA → hPA, as the scenario points show it


def _json(capsys, *argv: str) -> dict:
    assert main(["diff", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_dirty_logging_protect_through_both_stages_from_two_images(tmp_path, capsys):
    before = _exported(tmp_path, X86_03, 6, capsys)
    after = _exported(tmp_path, X86_03, 7, capsys)
    images = _json(capsys, str(before), str(after))
    # the 64 KiB at gVA 0x40000000 sit on gPA 0x200000 (the guest's map) and hPA 0x80200000
    # (the EPT's map, step 1); only the EPT's W went: stage 1 still says rw- s
    assert images["nested_permissions"] == [
        {
            "stage": 1,
            "start": "0x40000000",
            "end": "0x40010000",
            "before": "rw- s / rw-",
            "after": "rw- s / r--",
            "gpa": ["0x200000", "0x200000"],
            "hpa": ["0x80200000", "0x80200000"],
        }
    ]
    scenario = _json(capsys, f"{X86_03}:6", f"{X86_03}:7")
    assert images["nested_permissions"] == scenario["nested_permissions"]
    assert images["controls"] == scenario["controls"]
    # per stage too: the EPT's own rw- → r-- on the 16 pages, in the format's words
    assert images["effective_permissions"] == scenario["effective_permissions"] == [
        {"stage": 2, "start": "0x200000", "end": "0x210000", "before": "rw-", "after": "r--"}
    ]


def test_a_page_the_hypervisor_populates_gains_its_hpa_in_the_image_diff(tmp_path, capsys):
    before = _exported(tmp_path, X86_05, 11, capsys)
    after = _exported(tmp_path, X86_05, 12, capsys)
    images = _json(capsys, str(before), str(after))
    scenario = _json(capsys, f"{X86_05}:11", f"{X86_05}:12")
    [row] = images["nested_permissions"]
    # before: the guest maps gVA 0x40000000 to gPA 0x200000 but the EPT has no leaf there
    # ("-", no hPA); after: the frame handle-fault allocated, the one the host gained
    [frame] = scenario["frames"]["host"]["gained"]
    assert (row["start"], row["end"]) == ("0x40000000", "0x40001000")
    assert (row["before"], row["after"]) == ("rw- s / -", "rw- s / rw-")
    assert row["gpa"] == ["0x200000", "0x200000"] and row["hpa"] == [None, frame]
    assert images["nested_permissions"] == scenario["nested_permissions"]
    assert images["effective_permissions"] == scenario["effective_permissions"]


def test_the_image_diff_text_shows_the_range_landing_in_both_stages(tmp_path, capsys):
    before = _exported(tmp_path, X86_03, 6, capsys)
    after = _exported(tmp_path, X86_03, 7, capsys)
    assert main(["diff", str(before), str(after)]) == 0
    out = capsys.readouterr().out
    assert "through both stages (gVA → gPA → hPA: stage 1 / stage 2):" in out
    assert (
        "  stage 1 gVA 0x40000000-0x40010000 → gPA 0x200000 → hPA 0x80200000: "
        "rw- s / rw- → rw- s / r--"
    ) in out
    assert "  (assuming stage 1: CR0.WP=1 CR4.SMEP=0 CR4.SMAP=0 CR4.PKE=0 EFLAGS.AC=0)" in out

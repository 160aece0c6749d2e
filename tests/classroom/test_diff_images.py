"""Diffs of two memory images (`image export` of two moments of a bundled scenario) through
both stages: gVA range → gPA → hPA with the permissions before and after, the same rows a
diff of the scenario's own points gives (docs/classroom.md, "Time travel and diffs")."""

from __future__ import annotations

import json
from pathlib import Path

from npt_explorer.cli import main

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
X86_03 = SCENARIOS / "x86_03_ept_dirty_logging.toml"  # step 7 = protect 64K r
X86_05 = SCENARIOS / "x86_05_lazy_allocation.toml"  # step 12 = handle-fault for gPA 0x200008


def _exported(tmp_path: Path, scenario: Path, step: int, capsys) -> Path:
    out = tmp_path / f"{scenario.stem}-{step}.elf"
    assert main(["image", "export", str(scenario), "--step", str(step), "-o", str(out)]) == 0
    capsys.readouterr()
    return out


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

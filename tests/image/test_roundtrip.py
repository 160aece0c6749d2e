"""Round trip (issue #13, "Must show"): every bundled scenario, exported with `image export` at
the state before each of its accesses, walks in the image exactly as `replay`'s `translate`
walks at that state: result, gpa, hpa, page size, refs, every entry of the walk, the fault and
its syndrome."""

from __future__ import annotations

from pathlib import Path

import pytest

from npt_explorer.cli import main
from npt_explorer.engine.regions import leaves, stage_table
from npt_explorer.image import open_images
from npt_explorer.image.export import NO_IMAGE_GUESTS
from npt_explorer.image.machine import ImageMachine
from npt_explorer.image.ranges import stage_leaves
from npt_explorer.image.roots import decode
from npt_explorer.image_cli import export_machine
from npt_explorer.scenario.loader import load
from npt_explorer.scenario.replay import run
from npt_explorer.scenario.results import walk_json

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml"))
#: IMAGES.md defines the roots of these architectures (LoongArch has none there yet)
IMAGE_ARCHES = ("x86_64", "aarch64", "riscv64")


def _image_machine(path: Path) -> ImageMachine:
    memory, files = open_images([str(path)])
    note = files[0].roots
    assert note is not None
    regs = {k: int(v, 16) for k, v in note["roots"].items()}
    regime = decode(note["arch"], regs, set(note["features"]))
    regime.guest, regime.npt = note["guest"], note["npt"]
    return ImageMachine.build(memory, regime)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_an_exported_scenario_walks_as_replay_translates(path: Path, tmp_path: Path) -> None:
    scenario = load(path)
    if scenario.arch not in IMAGE_ARCHES:
        pytest.skip(f"{scenario.arch}: IMAGES.md names no registers for its roots")
    if scenario.config.guest in NO_IMAGE_GUESTS:
        pytest.skip(NO_IMAGE_GUESTS[scenario.config.guest])
    accesses = [
        (n, c.args) for n, c in enumerate(scenario.steps) if c.op in ("access", "translate")
    ]
    assert accesses, "every bundled scenario accesses memory"
    for n, args in accesses:
        machine = run(scenario, n).machine  # the state just before step n + 1
        out = tmp_path / f"step{n}.elf"
        export_machine(machine, out)
        image = _image_machine(out)
        access, priv = args.get("access", "read"), args.get("priv", "kernel")
        want = walk_json(machine.translate(args["gva"], access, priv))
        got = walk_json(image.walk(args["gva"], access, priv, translate=True))
        assert got == want, f"{path.name} before step {n + 1}: gVA {args['gva']:#x}"


def test_image_walk_json_needs_no_root_flags_after_export(tmp_path: Path, capsys) -> None:
    out = tmp_path / "x86.elf"
    scenario = next(p for p in SCENARIOS if p.stem == "x86_01_first_walk")
    assert main(["image", "export", str(scenario), "-o", str(out), "--step", "0"]) == 0
    capsys.readouterr()
    assert main(["image", "walk", str(out), "0x40001008", "--json"]) == 0
    import json

    walk = json.loads(capsys.readouterr().out)
    # before step 1 nothing is mapped at stage 1: the PML4E read (after its 4 EPT reads) faults
    assert (walk["result"], walk["refs"], walk["fault"]["stage"]) == ("fault", 5, 1)
    assert walk["fault"]["reason"] == "not-present"


@pytest.mark.parametrize(
    "name", ["x86_02_huge_pages", "arm_02_huge_pages", "rv_02_huge_pages", "x86_05_lazy_allocation"]
)
def test_a_machine_and_its_image_list_the_same_leaves_by_the_one_lister(
    name: str, tmp_path: Path
) -> None:
    # engine.TableLister serves both: the engine's regions (entries as the hardware decodes
    # them) and an image's ranges (entries as its walker judges them)
    machine = run(load(SCENARIOS[0].parent / f"{name}.toml")).machine
    export_machine(machine, tmp_path / "out.elf")
    image = _image_machine(tmp_path / "out.elf")
    for stage in (1, 2):
        pt = stage_table(machine, stage)
        assert pt is not None
        ours = [(lf.start, lf.out, lf.size) for lf in leaves(pt, stage)]
        listed, problems = stage_leaves(image, stage)
        assert not problems
        assert ours and ours == [(lf.start, lf.out, lf.size) for lf in listed]

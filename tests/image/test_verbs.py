"""The `image` verbs on one exported scenario (x86_01_first_walk: gVA 0x40001008 → gPA
0x201008 → hPA 0x80201008, a 4×4 walk of 24 references) and the same memory as raw files and
as LiME: every image form walks alike."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from npt_explorer.cli import main
from npt_explorer.image import open_image

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "x86_01_first_walk.toml"
GVA, GPA, HPA = 0x40001008, 0x201008, 0x80201008


@pytest.fixture(scope="module")
def elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("img") / "x86.elf"
    assert main(["image", "export", str(SCENARIO), "-o", str(out)]) == 0
    return out


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    capsys.readouterr()
    assert main(["image", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _roots(elf: Path) -> list[str]:
    note = open_image(str(elf)).roots
    assert note is not None
    return ["--arch", "x86_64"] + [x for k, v in note["roots"].items() for x in (f"--{k}", v)]


def test_walk_follows_the_scenario_s_translation(elf: Path, capsys) -> None:
    walk = _json(capsys, "walk", str(elf), hex(GVA))
    assert isinstance(walk, dict)
    assert (walk["result"], walk["gpa"], walk["hpa"], walk["refs"]) == (
        "ok",
        hex(GPA),
        hex(HPA),
        24,
    )


def test_accesses_give_an_array_in_order(elf: Path, tmp_path: Path, capsys) -> None:
    acc = tmp_path / "acc.json"
    acc.write_text(json.dumps([{"gva": hex(GVA)}, {"gva": 0, "access": "exec", "priv": "user"}]))
    walks = _json(capsys, "walk", str(elf), "--accesses", str(acc))
    assert isinstance(walks, list) and [w["result"] for w in walks] == ["ok", "fault"]


def test_ranges_json_has_the_contract_s_keys(elf: Path, capsys) -> None:
    runs = _json(capsys, "ranges", str(elf), "--stage", "both")
    assert isinstance(runs, list) and runs
    keys = {"stage", "start", "end", "output", "page_size", "perms", "attrs", "pages"}
    assert all(set(r) == keys for r in runs)
    hit = [r for r in runs if int(r["start"], 16) <= GVA < int(r["end"], 16)]
    assert len(hit) == 1
    assert int(hit[0]["output"], 16) + GVA - int(hit[0]["start"], 16) == HPA


def test_find_answers_who_maps_the_frame(elf: Path, capsys) -> None:
    hits = _json(capsys, "find", str(elf), "--hpa", hex(HPA))
    assert {"gva": hex(GVA), "gpa": hex(GPA)}.items() <= hits[0].items()  # type: ignore[index]
    assert any(h["gva"] is None and h["gpa"] == hex(GPA) for h in hits)  # type: ignore[union-attr]
    by_gpa = _json(capsys, "find", str(elf), "--gpa", hex(GPA))
    assert [h["gva"] for h in by_gpa] == [hex(GVA)]  # type: ignore[union-attr, index]


def _segments(elf: Path) -> list[tuple[int, bytes]]:
    return [
        (s.start, bytes(s.data[s.offset : s.offset + s.size]))
        for s in open_image(str(elf)).segments
        if s.data is not None
    ]  # type: ignore[index]  # noqa: E501


def test_the_same_memory_as_raw_files_walks_alike(elf: Path, tmp_path: Path, capsys) -> None:
    raws = []
    for n, (start, data) in enumerate(_segments(elf)):
        path = tmp_path / f"part{n}.raw"
        path.write_bytes(data)
        raws.append(f"{path}@{start:#x}")
    want = _json(capsys, "walk", str(elf), hex(GVA))
    assert _json(capsys, "walk", *raws, *_roots(elf), hex(GVA)) == want


def test_the_same_memory_as_lime_walks_alike(elf: Path, tmp_path: Path, capsys) -> None:
    lime = tmp_path / "mem.lime"
    with open(lime, "wb") as f:
        for start, data in _segments(elf):  # LiME ranges: start, inclusive end
            f.write(struct.pack("<IIQQ8s", 0x4C694D45, 1, start, start + len(data) - 1, bytes(8)))
            f.write(data)
    want = _json(capsys, "walk", str(elf), hex(GVA))
    assert _json(capsys, "walk", str(lime), *_roots(elf), hex(GVA)) == want


def test_info_lists_ranges_and_the_roots_note(elf: Path, capsys) -> None:
    info = _json(capsys, "info", str(elf))
    files = info["files"]  # type: ignore[index]
    assert files[0]["kind"] == "elf" and files[0]["arch"] == "x86_64"
    assert files[0]["roots"]["npt"] == "ept4" and files[0]["ranges"]

"""An image's patch file (`save fix.toml` in the TUI on an image; `npt-explorer fix.toml`
reopens it) is read as a scenario is: every error names the file, the line, the key and what
the key allows, and exits 2 — never a traceback, and neither the patch nor the image is ever
written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from npt_explorer.cli import main
from npt_explorer.scenario.loader import PATCH_HEAD
from npt_explorer.scenario.patch import is_patch_file, load_patch
from npt_explorer.tui.image_source import ImageSession, open_session

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """x86_01's machine as an ELF core with a roots note: it needs no root flags."""
    out = tmp_path_factory.mktemp("image") / "hv.elf"
    scenario = ROOT / "scenarios" / "x86_01_first_walk.toml"
    assert main(["image", "export", str(scenario), "-o", str(out)]) == 0
    return out


def _patch(elf: Path, *, image: str | None = None, steps: str = "") -> str:
    """A patch file as `save` writes it; `image` replaces the body of its [image] table."""
    body = (
        image if image is not None else f'title = "image hv.elf"\nfiles = ["{elf}"]\noptions = []'
    )
    return f"{PATCH_HEAD}\n[image]\n{body}\n\n{steps}"


STEP = '[[step]]\nop = "translate"\ngva = 0x1000\n'


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(tmp_path: Path, elf: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Open the patch `text` from the command line; the one line of stderr it gives."""
    patch = tmp_path / "fix.toml"
    patch.write_text(text, encoding="utf-8")
    before = (_digest(patch), _digest(elf))
    assert main([str(patch)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert (_digest(patch), _digest(elf)) == before  # neither input written
    head = f"npt-explorer: error: {patch}:"  # the patch file, then its line
    assert err.startswith(head), err
    return err.strip().removeprefix(head)


# (what is wrong, the [image] body or None for the usual one, the steps,
#  the line and key the message must start with, and what it must list)
CASES = [
    ("TOML syntax", None, STEP + "gva = = 1\n", "10: TOML syntax error", "line 10"),
    ("unknown table", None, "[scenario]\ntitle = 'x'\n", "7: scenario:", "allowed: image, step"),
    ("unknown [image] key", "files = []\ncolour = 1", "", "4: image.colour:",
     "allowed: title, files, options"),
    ("files missing", "options = []", "", "2: image.files:", "a non-empty list of image paths"),
    ("files empty", "files = []", "", "3: image.files:", "PATH or PATH@BASE"),
    ("files not strings", "files = [1]", "", "3: image.files:", "PATH or PATH@BASE"),
    ("options not strings", 'files = ["x"]\noptions = "--cr3"', "", "4: image.options:",
     "a list of strings"),
    ("title not a string", 'title = 3\nfiles = ["x"]', "", "3: image.title:", "not a string"),
    ("unknown op", None, '[[step]]\nop = "jump"\n', "8: step 1 ('jump'): op:",
     "allowed: note, map, unmap"),
    ("unknown step key", None, STEP + "stage = 1\n", "10: step 1 (translate): stage:",
     "allowed: gva, access, priv"),
    ("bad step value", None, STEP + '\n[[step]]\nop = "poke"\nstage = 3\ngva = 0\ndepth = 0\n',
     "13: step 2 (poke): stage:", "allowed: 1, 2"),
    ("bad access word", None, STEP + 'access = "run"\n', "10: step 1 (translate): access:",
     "read"),
]  # fmt: skip


@pytest.mark.parametrize(("image", "steps", "where", "allowed"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])  # fmt: skip
def test_a_bad_patch_names_its_line_key_and_what_is_allowed(
    tmp_path: Path, elf: Path, capsys, image: str | None, steps: str, where: str, allowed: str
) -> None:
    message = _refused(tmp_path, elf, _patch(elf, image=image, steps=steps), capsys)
    assert message.startswith(where), message
    assert allowed in message, message


def test_a_patch_with_no_image_table_points_at_its_first_line(tmp_path, elf, capsys) -> None:
    message = _refused(tmp_path, elf, f"{PATCH_HEAD}\n{STEP}", capsys)
    assert message == "1: image: a patch file needs an [image] table"


def test_steps_written_as_a_list_of_other_than_tables_are_refused(tmp_path, elf, capsys) -> None:
    text = _patch(elf).replace("[image]", "step = [1]\n[image]")  # top level: before [image]
    assert _refused(tmp_path, elf, text, capsys) == "2: step: each step is a table"


def test_an_image_file_that_cannot_be_opened_is_refused_at_the_files_line(
    tmp_path, elf, capsys
) -> None:
    gone = tmp_path / "gone.elf"
    text = _patch(elf, image=f'title = "t"\nfiles = ["{gone}"]\noptions = []')
    message = _refused(tmp_path, elf, text, capsys)
    assert message == f"4: image.files: {gone}: cannot open: No such file or directory"


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ('["--cr3", "0xzz"]', "--cr3: '0xzz' is not a number"),
        ('["--colour", "1"]', "unrecognized arguments: --colour 1"),
        ('["--sctlr", "0x1"]', "--sctlr: not a x86_64 register (allowed: "),
    ],
)
def test_a_bad_image_option_is_refused_at_the_options_line(
    tmp_path: Path, elf: Path, capsys, options: str, says: str
) -> None:
    text = _patch(elf, image=f'files = ["{elf}"]\noptions = {options}')
    message = _refused(tmp_path, elf, text, capsys)
    assert message.startswith("4: image.options: "), message
    assert says in message, message


def test_each_step_of_a_patch_knows_its_line(tmp_path: Path, elf: Path) -> None:
    """As a scenario's steps do: a failing step's result names where it was written."""
    patch = tmp_path / "fix.toml"
    poke = '[[step]]\nop = "poke"\nstage = 1\ngva = 0x1000\ndepth = 0\nset = 0x2\n'
    patch.write_text(_patch(elf, steps=STEP + "\n" + poke), encoding="utf-8")
    assert [c.line for c in load_patch(str(patch)).commands] == [7, 11]
    session = open_session([str(patch)])
    assert isinstance(session, ImageSession)
    assert [r.command.line for r in session.kept] == [7, 11]


def test_replay_of_a_patch_says_the_tui_opens_it(tmp_path: Path, elf: Path, capsys) -> None:
    """A patch file is no scenario: `replay` refuses it at its first line and names the
    command that opens it (the TUI), not the [image] table a scenario does not have."""
    patch = tmp_path / "fix.toml"
    patch.write_text(_patch(elf, steps=STEP), encoding="utf-8")
    assert main(["replay", str(patch)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {patch}:1: an image patch file, not a scenario: "
        f"open it with `npt-explorer {patch}` (the TUI)"
    )


def test_a_patch_whose_header_was_edited_away_is_still_a_patch(
    tmp_path: Path, elf: Path, capsys
) -> None:
    """Its [image] table makes it one (no scenario has that table): the TUI opens it as a
    patch, and `replay` names the [image] line and the command that opens it."""
    patch = tmp_path / "fix.toml"
    patch.write_text(_patch(elf, steps=STEP).split("\n", 1)[1], encoding="utf-8")
    assert isinstance(open_session([str(patch)]), ImageSession)
    assert main(["replay", str(patch)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {patch}:1: an image patch file, not a scenario: "
        f"open it with `npt-explorer {patch}` (the TUI)"
    )


def test_an_image_table_deeper_in_the_file_is_named_by_its_line(tmp_path: Path, capsys) -> None:
    scenario = tmp_path / "mixed.toml"
    scenario.write_text('title = "t"\narch = "x86_64"\n\n[image]\nfiles = []\n', encoding="utf-8")
    assert main(["replay", str(scenario)]) == 2
    assert f"{scenario}:4: an image patch file" in capsys.readouterr().err


def test_a_binary_file_is_no_patch(elf: Path) -> None:
    assert not is_patch_file(str(elf))

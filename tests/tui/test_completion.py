"""Command-line completion comes from the scenario vocabulary's own OPS table."""

from __future__ import annotations

import pytest

from npt_explorer.scenario import OPS
from npt_explorer.tui.completion import UI_COMMANDS, candidates, complete, hint


@pytest.mark.parametrize(
    ("typed", "arch", "expected"),
    [
        ("m", "x86_64", "map "),
        ("acc", "x86_64", "access "),
        ("sa", "x86_64", "save "),
        ("map s", "x86_64", "map stage="),
        ("map stage=", "x86_64", "map stage=1"),
        ("map stage=2 ", "x86_64", "map stage=2 size="),  # required keys first
        ("access gva=0x1 access=w", "x86_64", "access gva=0x1 access=write"),
        ("flush kind=inv", "x86_64", "flush kind=invept-single"),
        ("flush kind=t", "aarch64", "flush kind=tlbi-ipas2e1is"),
        ("flush kind=h", "riscv64", "flush kind=hfence.gvma"),
        ("arch aarch64 npt=ipa4", "x86_64", "arch aarch64 npt=ipa40"),
        ("map stage=1 huge=t", "x86_64", "map stage=1 huge=true"),
    ],
)
def test_completes_ops_keys_and_values(typed: str, arch: str, expected: str) -> None:
    assert complete(typed, arch) == expected


def test_flush_kinds_are_only_the_architectures_own() -> None:
    _, found = candidates("flush kind=", "riscv64")
    assert found == ["hfence.gvma", "hfence.vvma"]


def test_every_op_and_ui_command_is_offered() -> None:
    _, found = candidates("", "x86_64")
    assert found == [*OPS, *UI_COMMANDS]


def test_keys_already_given_are_not_offered_again() -> None:
    _, found = candidates("poke stage=1 gva=0x1000 depth=3 ", "x86_64")
    assert "stage=" not in found and "depth=" not in found and "fields=" in found


def test_load_completes_file_names() -> None:
    assert complete("load sc", "x86_64", lambda: ["scenarios/a.toml"]) == "load scenarios/a.toml"


def test_hints_name_required_keys_and_values() -> None:
    assert hint("map ", "x86_64").startswith("map: stage* gva gpa size* flags*")
    assert hint("flush kind=", "aarch64").startswith("values: tlbi-ipas2e1is")
    assert "unknown op 'mpa'" in hint("mpa ", "x86_64")
    assert hint("save ", "x86_64") == UI_COMMANDS["save"]


async def test_typing_lists_the_scenario_files_only_to_complete_load(monkeypatch) -> None:
    """Listing the scenario folders took 3-14 ms; the hint and the suggester did it on every
    keystroke, so a pasted `access …` queued a second of work ahead of its Enter on a busy
    machine. Only `load` completes to file names: only `load` lists them."""
    from tui_helpers import settle

    from npt_explorer.tui import app as app_module

    listed: list[int] = []
    monkeypatch.setattr(app_module, "scenario_files", lambda: listed.append(1) or ["x86_02"])
    app = app_module.make_app(arch="x86_64")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"access gva=0x4000_0000 access=read")
        await settle(pilot)
        assert not listed
        await pilot.press("escape", "colon", *"load x8")
        await settle(pilot)
        assert listed and app.command_line.input.value == "load x8"
        assert app.command_line.input._suggestion == "load x86_02"

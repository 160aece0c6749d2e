"""Issue 16, item 16: the scenario picker (`o`) filters by typing; enter loads the highlighted
lesson, the arrows move in the filtered list while the filter keeps the focus."""

from __future__ import annotations

from pathlib import Path

from tui_helpers import settle

from npt_explorer.tui.widgets.dialogs import ScenarioPicker


def shown(picker: ScenarioPicker) -> list[str]:
    listing = picker.listing
    return [
        picker.scenarios[int(listing.get_option_at_index(i).id or 0)].path.name
        for i in range(listing.option_count)
    ]


async def test_typing_in_the_picker_filters_the_scenarios_and_enter_loads_the_highlighted(
    app_factory,
):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, ScenarioPicker)
        everything = len(shown(picker))
        # "stale" is in the titles of the three stale-TLB lessons (x86_06, arm_06, rv_06);
        # adding "rv" (RISC-V's file prefix and its arch riscv64) leaves one
        await pilot.press(*"stale")
        await settle(pilot)
        stale = shown(picker)
        assert 3 <= len(stale) < everything
        assert {"x86_06_stale_tlb.toml", "arm_06_stale_tlb.toml", "rv_06_stale_tlb.toml"} <= set(
            stale
        )
        await pilot.press(*" riscv64")
        await settle(pilot)
        assert shown(picker) == ["rv_06_stale_tlb.toml"]
        # the typed letters went to the filter, not to the panels' hotkeys
        assert app.session.mode == "demo" and isinstance(app.screen, ScenarioPicker)
        await pilot.press("enter")
        await settle(pilot)
        assert len(app.screen_stack) == 1
        assert app.session.mode == "scenario"
        assert Path(app.session.scenario.path).name == "rv_06_stale_tlb.toml"


async def test_the_arrows_move_in_the_filtered_list_and_a_filter_matching_nothing_says_so(
    app_factory,
):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        picker = app.screen
        await pilot.press(*"stale")
        await settle(pilot)
        second = shown(picker)[1]
        await pilot.press("down", "enter")
        await settle(pilot)
        assert Path(app.session.scenario.path).name == second
        await pilot.press("o")
        await settle(pilot)
        picker = app.screen
        await pilot.press(*"zzz")
        await settle(pilot)
        assert shown(picker) == []
        none = picker.query_one("#scenario-none")
        assert none.display and "no scenario matches 'zzz'" in str(none.render())
        await pilot.press("enter")  # nothing to load: the picker stays for another try
        await settle(pilot)
        assert app.screen is picker
        await pilot.press("escape")
        await settle(pilot)
        assert len(app.screen_stack) == 1

"""The walk grid with walk caches: references a cache served are grey and name the cache; the
summary says how many went to memory."""

from __future__ import annotations

from tui_helpers import plain, settle, typed

SCENARIO = """[scenario]
title = "PSC"
arch = "x86_64"
[machine]
walk_caches = "intel-psc"
[[step]]
op = "map"
stage = 2
gpa = "0x20_0000"
size = "16M"
flags = "rwx"
hpa = "0x8020_0000"
[[step]]
op = "map"
stage = 1
gva = "0x4000_0000"
gpa = "0x40_0000"
size = "8M"
flags = "rw"
[[step]]
op = "access"
gva = "0x4000_0000"
[[step]]
op = "access"
gva = "0x4000_1000"
expect = { refs = 24, mem_refs = 3 }
"""


async def test_cached_references_are_grey_and_name_their_cache(app_factory, tmp_path) -> None:
    path = tmp_path / "psc.toml"
    path.write_text(SCENARIO)
    app = app_factory(file=path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        for _ in range(4):
            await pilot.press("right_square_bracket")
            await settle(pilot)
        walk = app.walk.walk
        assert walk is not None and (walk.refs, walk.mem_refs) == (24, 3)
        await pilot.press("end")
        await settle(pilot)
        grid = [plain(cell) for row in app.walk.grid.rows for cell in row[1:]]
        # the guest PML4E..PDE rows came from the PDE cache, the PT's nested walk from the EPT
        # PDE cache (tests/engine/test_walk_cache.py works the counts out)
        assert sum("PDE" in c and "EPT" not in c for c in grid) == 15
        assert sum("EPT PDE" in c for c in grid) == 6
        first = app.walk.grid.rows[0][1]
        assert "grey50" in str(first.style)
        assert "3 to memory" in plain(app.query_one("#walk-detail").content)


async def test_a_typed_file_trace_shows_its_cost_in_the_log(app_factory, tmp_path) -> None:
    trace = tmp_path / "t.txt"
    trace.write_text("0x40000000\n0x40001000\n")
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await typed(pilot, f"trace file={trace}")
        text = "\n".join(line.text for line in app.query_one("#log-view").lines)
        assert "references per walk 24.00" in text and "walks by memory references" in text

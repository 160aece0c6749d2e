"""Issue 16, item 11: the footer's words stay apart at every width (the compact footer ran a
key's description into the next key: "home endends", "tab panelnp")."""

from __future__ import annotations

import pytest
from textual.widgets import Footer
from tui_helpers import screen_lines, settle

#: what the footer shows at every width: each key (or key group) and its description
SHOWN = ["home end ends", "tab panel", "n p step", "f fault", "space play", ": cmd", "? help"]


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 48)])
async def test_footer_words_stay_apart_at_every_width(app_factory, size):
    app = app_factory()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        footer = app.query_one(Footer)
        for _ in range(100):  # the footer fills in once the bindings have been gathered
            line = screen_lines(app)[footer.region.y]
            if "quit" in line:
                break
            await pilot.pause(0.05)
        words = line.split()
        for item in [*SHOWN, "q quit"]:
            # the item as whole words: nothing glued before or after it
            assert f" {item} " in f" {' '.join(words)} ", (item, line)
        if size[0] >= 140:  # wide: the keys the caption bar names on narrow screens too
            assert "o open" in line and "a arch" in line

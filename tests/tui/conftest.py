"""TUI test fixtures: apps built on a pinned theme; markers for the slower tests."""

from __future__ import annotations

import pytest

from npt_explorer.tui.app import NptExplorerApp, make_app
from npt_explorer.tui.widgets.themes import DEFAULT_THEME


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "snapshot: SVG snapshot of a TUI screen")
    config.addinivalue_line("markers", "slow_tui: starts a real terminal or a big machine")


@pytest.fixture
def app_factory():
    def build(**kwargs: object) -> NptExplorerApp:
        kwargs.setdefault("theme", DEFAULT_THEME)
        return make_app(**kwargs)  # type: ignore[arg-type]

    return build

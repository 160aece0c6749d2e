"""TUI test fixtures: apps built on a pinned theme; markers for the slower tests."""

from __future__ import annotations

import pickle
import sys

import pytest
from pytest_textual_snapshot import node_to_report_path
from snapshot_diff import screen_diff
from syrupy.assertion import SnapshotAssertion

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


@pytest.fixture
def snap_compare(snap_compare, request: pytest.FixtureRequest):
    """The plugin's snap_compare, saying on a mismatch which rows or runs differ (on stderr,
    which a CI log keeps; the plugin's HTML report is left behind on the CI machine)."""

    def compare(*args: object, **kwargs: object) -> bool:
        same = snap_compare(*args, **kwargs)
        if not same:
            data = pickle.loads(node_to_report_path(request.node).read_bytes())
            expected, actual = data[1], data[2]
            print(screen_diff(expected, actual), file=sys.stderr)
        return same

    return compare


@pytest.hookimpl(tryfirst=True)
def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """`svg(name=...) == app.export_screenshot()` failing: which rows or runs differ, not
    syrupy's diff of two 140 KB SVG texts."""
    if op != "==" or not isinstance(left, SnapshotAssertion) or not isinstance(right, str):
        return None
    if "<svg" not in right[:200]:
        return None
    return ["the screenshot differs from its snapshot", *screen_diff(str(left), right).splitlines()]

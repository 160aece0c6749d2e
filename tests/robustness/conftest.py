"""Loads the robustness hypothesis profile and prints the generated-case counts at the end."""

from __future__ import annotations

from typing import Any

import _robust


def pytest_terminal_summary(terminalreporter: Any) -> None:
    _robust.report(terminalreporter)

"""The Rich console every text verb prints through."""

from __future__ import annotations

import sys
from typing import Any


def make_console(stderr: bool = False) -> Any:
    """A Console on stdout (or stderr): 132 columns in pipes and CI, so output is byte-stable."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 132
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)

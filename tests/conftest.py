"""Shared fixtures: machines per architecture, the seed's round-trip table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "engine" / "data"


@pytest.fixture(scope="session")
def seed_roundtrip() -> dict:
    return json.loads((DATA / "seed_roundtrip.json").read_text())

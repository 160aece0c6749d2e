"""The bundled scenario library: where it lives, and finding a lesson by its short name."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled_dir() -> Path:
    """The folder of the bundled scenario files, located as package data
    (`npt_explorer/scenario/bundled/`: in an installed wheel a folder, in a source checkout a
    link to the repository's `scenarios/`)."""
    return Path(str(files(__package__) / "bundled"))


def bundled_matches(name: str) -> list[Path]:
    """Bundled files that a bare `name` names: `x86_02`, `x86_02_huge_pages` or the file name."""
    stem = name.removesuffix(".toml")
    found = sorted(bundled_dir().glob("*.toml"))
    exact = [p for p in found if p.stem == stem]
    return exact or [p for p in found if p.stem.startswith(stem + "_")]


def find_scenario(name: str | Path) -> Path:
    """`name` as a path when such a file exists (or it names a folder); else the bundled lesson
    it names, so `load x86_02` works from any directory. Ambiguous or unknown names stay as
    given, and reading them reports the missing file."""
    path = Path(name)
    if path.exists() or path.parent != Path("."):
        return path
    matches = bundled_matches(str(name))
    return matches[0] if len(matches) == 1 else path

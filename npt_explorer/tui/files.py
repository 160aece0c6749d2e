"""Where the TUI may read and write files: anywhere for a local user; in served mode only
inside the session's scratch directory (no absolute path, `..` or symlink leads out)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..scenario import CommandError
from ..scenario.library import bundled_matches

#: the UI commands whose first argument names a file
FILE_COMMANDS = ("save", "load", "export-walk", "screenshot")


@dataclass(frozen=True, slots=True)
class FileRoot:
    root: Path | None = None  # None: the local TUI, any path

    def resolve(self, name: str, *, reading: bool = False) -> str:
        """`name` as the command should use it; raises `CommandError` outside the root.
        `reading` (`load`): a bare lesson name (`x86_03`) that is no file of the session
        names the bundled lesson, read-only, as it does in the local TUI."""
        if self.root is None:
            return name
        root = self.root.resolve()
        path = (root / name).resolve()
        if reading and "/" not in name and not path.exists():
            lessons = bundled_matches(name)
            if len(lessons) == 1:
                return str(lessons[0])
        if not path.is_relative_to(root):
            raise CommandError(
                f"outside this session's scratch directory (served sessions keep their files "
                f"there; use a plain file name): {name}"
            )
        return str(path)


def scratch_session(served_root: str | Path) -> Path:
    """A new scratch directory for one served app under `served_root`."""
    return Path(tempfile.mkdtemp(prefix="session-", dir=served_root))


def remove_scratch(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

"""Check that every bundled scenario replays byte-identically at two git revisions.

    python scripts/compare_replay.py [OLD [NEW]]      (defaults: HEAD~1 and the work tree)

Each revision is exported with `git archive` into a temporary folder and every scenario in
its `scenarios/` folder that both revisions have is replayed there as
`python -m npt_explorer replay --json FILE` with that folder first on `PYTHONPATH`. Stdout,
stderr and exit code must match byte for byte, except the values of `"seconds"` keys (wall-clock
time of a trace step), which are masked. A refactoring must pass this against its own
parent; a change of output on purpose shows up here as a named difference.
Exit 0 when every scenario matches, 1 on a difference, 2 on a bad revision.
"""

from __future__ import annotations

import argparse
import difflib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK_TREE = "WORKTREE"
SECONDS = re.compile(rb'("seconds": )[0-9.e+-]+')


def export(rev: str, into: Path) -> Path:
    """The tree of `rev` (or the work tree itself) as a folder."""
    if rev == WORK_TREE:
        return ROOT
    try:
        data = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", rev],
            capture_output=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError as err:
        sys.exit(f"compare_replay: cannot export {rev!r}: {err.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="tar")
    return into


def scenarios(tree: Path) -> set[str]:
    return {p.name for p in (tree / "scenarios").glob("*.toml")}


def replay(tree: Path, name: str) -> tuple[int, bytes, bytes]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-m", "npt_explorer", "replay", "--json", f"scenarios/{name}"],
        capture_output=True,
        cwd=tree,
        env=env,
        check=False,
    )
    return out.returncode, SECONDS.sub(rb"\1*", out.stdout), out.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", nargs="?", default="HEAD~1")
    parser.add_argument("new", nargs="?", default=WORK_TREE, help="a revision, or the work tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        old, new = export(args.old, Path(a)), export(args.new, Path(b))
        names = sorted(scenarios(old) & scenarios(new))
        only = sorted(scenarios(old) ^ scenarios(new))
        differ = 0
        for name in names:
            before, after = replay(old, name), replay(new, name)
            if before == after:
                continue
            differ += 1
            print(f"DIFFERS {name}: exit {before[0]} -> {after[0]}")
            lines = difflib.unified_diff(
                (before[1] + before[2]).decode().splitlines(),
                (after[1] + after[2]).decode().splitlines(),
                args.old,
                args.new,
                lineterm="",
                n=2,
            )
            print("\n".join(list(lines)[:40]))
    for name in only:
        print(f"only in one revision (not compared): {name}")
    same = len(names) - differ
    print(f"{same} of {len(names)} scenarios byte-identical ({args.old} vs {args.new})")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())

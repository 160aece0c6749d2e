"""The one error the image layer raises: a file (or register) and what is wrong with it."""

from __future__ import annotations


class ImageError(Exception):
    """Bad input: `where` (a file, `FILE@BASE`, a register) and one line naming the problem.
    The CLI prints it and exits 2."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem

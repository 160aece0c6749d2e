"""The engine's one exception type, with the seed's error kinds."""

from __future__ import annotations

ERROR_KINDS = (
    "AlreadyMapped",
    "NotMapped",
    "NotAligned",
    "MappedToHugePage",
    "NoMemory",
    "InvalidAddress",
    "InvalidRequest",
)


class PagingError(Exception):
    """A failed engine call. `.kind` is one of `ERROR_KINDS`; the call changed nothing."""

    def __init__(self, kind: str, message: str) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown PagingError kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class BadValue(PagingError):
    """A bad value for a named key (a `[machine]` option, a number): `key` is the key, dotted
    below the top (`tlb.entries`); `problem` says what is wrong and what is allowed, and
    `message` is both, for a reader who does not see the key elsewhere."""

    def __init__(self, key: str, problem: str, kind: str = "InvalidRequest") -> None:
        super().__init__(kind, f"{key}: {problem}")
        self.key = key
        self.problem = problem


class SeedPanic(Exception):
    """Where the seed crate itself would panic (e.g. decoding an unknown stage-2 MemAttr)."""

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


class SeedPanic(Exception):
    """Where the seed crate itself would panic (e.g. decoding an unknown stage-2 MemAttr)."""

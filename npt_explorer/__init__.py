"""npt-explorer: see and debug nested (two-stage) paging."""

__version__ = "0.1.0"

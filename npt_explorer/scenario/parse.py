"""The TUI's command line: ``map stage=2 gpa=0 size=16M flags=rwx`` → the same `Command` a
scenario step builds."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from .command import Command, build
from .values import CommandError
from .vocabulary import OPS

__all__ = ["parse_line"]


def parse_line(text: str) -> Command:
    """A typed command: ``map stage=2 gpa=0 size=16M flags=rwx hpa=0x8000_0000``.

    Values are numbers, sizes, words, quoted strings, ``true``/``false``, or TOML inline tables
    (``expect={result="ok", refs=24}``); ``fields.R=1`` sets one key of a table.
    """
    text = text.strip()
    op, _, rest = text.partition(" ")
    if not op:
        raise CommandError(f"empty command (ops: {', '.join(OPS)})", "op")
    if op == "note":
        return build(op, {"text": rest.strip()})
    raw: dict[str, Any] = {}
    for token in _tokens(rest):
        key, eq, value = token.partition("=")
        if not eq or not key:
            raise CommandError(f"{token!r} is not key=value", token)
        parsed = _value(value, key)
        if "." in key:
            outer, _, inner = key.partition(".")
            table = raw.setdefault(outer, {})
            if not isinstance(table, dict):
                raise CommandError(f"{outer} is not a table", outer)
            table[inner] = parsed
        else:
            raw[key] = parsed
    return build(op, raw)


def _tokens(text: str) -> list[str]:
    """Split on blanks outside quotes and outside {...} / [...]."""
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        elif ch.isspace() and depth == 0:
            if cur:
                out.append("".join(cur))
                cur = []
            continue
        cur.append(ch)
    if quote or depth:
        token = "".join(cur)
        what = f"quote {quote}" if quote else ("brace" if depth > 0 else "closing brace")
        raise CommandError(f"unbalanced {what} in {token!r}", token.partition("=")[0] or token)
    if cur:
        out.append("".join(cur))
    return out


def _value(text: str, key: str) -> Any:
    if text[:1] in ("{", "[", '"', "'"):
        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError as err:
            raise CommandError(f"{key}: bad table {text!r}: {err}", key) from None
        except RecursionError:
            raise CommandError(f"{key}: tables or lists nested too deeply", key) from None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return text

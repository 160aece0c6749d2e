"""`Command`: one validated operation — `build` checks a raw table against the vocabulary and
converts its values; `to_toml`/`to_line` write it back as a scenario step or a command line."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..engine import MappingFlags
from .values import (
    MAX_ALLOC_SIZE,
    MAX_MAP_SIZE,
    MAX_TRACE_COUNT,
    CommandError,
    check_expect,
    check_numbers,
    parse_flags,
    parse_number,
)
from .vocabulary import OPS, Key, op_name

__all__ = ["Command", "build", "toml_key", "toml_value"]


@dataclass(frozen=True, slots=True)
class Command:
    """One validated operation, with where it came from (scenario line, or None)."""

    op: str
    args: dict[str, Any] = field(default_factory=dict)
    line: int | None = None

    def to_toml(self) -> str:
        """A `[[step]]` table that parses back to this command."""
        lines = ["[[step]]", f"op = {toml_value(self.op)}"]
        lines += [f"{k} = {toml_value(_outer(k, v))}" for k, v in self.args.items()]
        return "\n".join(lines)

    def relative_to(self, folder: Path) -> Command:
        """This command as a scenario in `folder` writes it: a trace step's `file` relative to
        that folder (the loader reads it so), other commands unchanged."""
        if self.op != "trace" or "file" not in self.args:
            return self
        file = Path(self.args["file"]).expanduser().resolve()
        relative = os.path.relpath(file, Path(folder).expanduser().resolve())
        return replace(self, args={**self.args, "file": relative})

    def to_line(self) -> str:
        """The same command as the TUI's command line spells it."""
        if self.op == "note":
            return f"note {self.args['text']}"
        parts = [self.op]
        for k, v in self.args.items():
            v = _outer(k, v)
            plain = _plain(v)
            simple = isinstance(v, bool | int) or re.fullmatch(r"[\w.:+-]+", plain)
            parts.append(f"{k}={plain}" if simple else f"{k}={toml_value(v)}")
        return " ".join(parts)


_ADDRESS_KEYS = {"gva", "gpa", "hpa", "addr", "size", "value", "set", "clear", "stride", "raw"}


def _outer(key: str, v: Any) -> Any:
    """Top-level values as a person writes them: addresses in hex, flags as letters."""
    if isinstance(v, MappingFlags):
        return "".join(ch for ch in v.letters() if ch != "-") or "-"
    if key in _ADDRESS_KEYS and isinstance(v, int) and not isinstance(v, bool):
        return f"{v:#x}"
    return v


def _plain(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def toml_value(v: Any) -> str:
    """`v` as an inline TOML value (a string, number, flag, list or table)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):  # a float: a trace's hit_rate
        return repr(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    text = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + text + '"'


def toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else toml_value(k)


def build(op: Any, raw: Mapping[str, Any], line: int | None = None) -> Command:
    """Validate `op` and its keys; convert values. Raises `CommandError`."""
    if op is None:
        raise CommandError(f"missing op (allowed: {', '.join(OPS)})", "op")
    if not isinstance(op, str) or op not in OPS:
        raise CommandError(f"unknown op {op_name(op)} (allowed: {', '.join(OPS)})", "op")
    spec = {k.name: k for k in OPS[op]}
    args: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "op":
            continue
        if name not in spec:
            raise CommandError(f"{op} has no key {name!r} (allowed: {', '.join(spec)})", name)
        args[name] = _convert(spec[name], value)
    for k in spec.values():
        if k.required and k.name not in args:
            raise CommandError(f"{op} needs {k.name}", k.name)
    _check_shape(op, args)
    return Command(op, args, line)


def _check_shape(op: str, args: dict[str, Any]) -> None:
    """Cross-key rules: which address a stage needs, what a backend needs, expect keys."""
    stage = args.get("stage")
    if stage == 1 and "gva" not in args:
        raise CommandError(f"a stage-1 {op} needs gva", "gva")
    if stage == 2 and "gpa" not in args:
        raise CommandError(f"a stage-2 {op} needs gpa", "gpa")
    if stage == 2 and "gva" in args:
        raise CommandError(f"a stage-2 {op} takes gpa, not gva", "gva")
    if op == "map" and stage == 1:
        if "gpa" not in args:
            raise CommandError("a stage-1 map needs gpa (the guest-physical target)", "gpa")
        for key in ("backend", "hpa", "populate"):
            if key in args:
                raise CommandError(f"{key} is a stage-2 key; stage-1 maps take gva, gpa", key)
    if op == "map" and stage == 2:
        backend = args.setdefault("backend", "linear" if "hpa" in args else "alloc")
        if backend == "linear" and "hpa" not in args:
            raise CommandError("a linear map needs hpa", "hpa")
        if backend == "alloc" and "hpa" in args:
            raise CommandError("an alloc map takes no hpa (frames come from the allocator)", "hpa")
    if op == "map":
        _check_map_size(args)
    if op == "trace" and "file" in args:
        for key in ("gva", "size", "count", "pattern", "stride", "seed", "access"):
            if key in args:
                raise CommandError(f"a trace of a file takes its addresses from it: no {key}", key)
    elif op == "trace":
        for key in ("gva", "size", "count"):
            if key not in args:
                raise CommandError(f"trace needs {key} (or file = a trace file)", key)
        for key in ("format", "s1_page", "s2_page", "native"):
            if key in args:
                raise CommandError(f"{key} goes with file = a trace file", key)
        if not 1 <= args["count"] <= MAX_TRACE_COUNT:
            allowed = f"1 .. {MAX_TRACE_COUNT:_}"
            raise CommandError(f"count = {args['count']} (allowed: {allowed})", "count")
        if args.get("pattern") == "random" and args["size"] < 8:
            raise CommandError("a random trace needs size of at least 8 bytes", "size")
    if op == "poke" and not ({"value", "set", "clear", "fields"} & args.keys()):
        raise CommandError("poke needs value, set/clear or fields", "value")
    if op in ("poke", "expect") and "fields" in args:
        check_numbers(args["fields"], "fields")
    if op == "expect":
        entry_keys = {"raw", "fields", "flags"} & args.keys()
        if entry_keys and "entry" not in args:
            raise CommandError(
                f"{', '.join(sorted(entry_keys))} need entry = {{ stage, gva/gpa, depth }}", "entry"
            )
        if "entry" in args:
            entry = args["entry"]
            try:
                build("query", {k: v for k, v in entry.items() if k not in ("depth", "op")})
                if "depth" not in entry:
                    raise CommandError("needs depth (0 = root table)")
                parse_number(entry["depth"], "depth")
            except CommandError as err:
                raise CommandError(f"entry: {err.message}", "entry") from None
    if "expect" in args:
        check_expect(op, args["expect"])


def _check_map_size(args: dict[str, Any]) -> None:
    alloc = args.get("backend") == "alloc"
    limit = MAX_ALLOC_SIZE if alloc else MAX_MAP_SIZE
    if args["size"] > limit:
        what = "an alloc region" if alloc else "one map"
        raise CommandError(
            f"size = {args['size']:#x}: {what} is limited to {limit >> 30} GiB "
            "(map a larger guest in several steps)",
            "size",
        )


def _convert(key: Key, value: Any) -> Any:
    kind = key.kind
    if kind in ("addr", "int"):
        return parse_number(value, key.name)
    if kind == "int-or-all":  # hfence.gvma vmid: a VMID, or "all"
        return "all" if value == "all" else parse_number(value, key.name)
    if kind == "size":
        size = parse_number(value, key.name, size=True)
        if size == 0:
            raise CommandError(f"{key.name} must be larger than 0", key.name)
        return size
    if kind == "stage":
        stage = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and value.strip() in ("1", "2"):
            stage = int(value)
        if stage not in (1, 2):
            raise CommandError(f"stage = {value!r} (allowed: 1, 2)", key.name)
        return stage
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise CommandError(f"{key.name} = {value!r} (allowed: true, false)", key.name)
        return value
    if kind == "flags":
        return parse_flags(value, key.name)
    if kind == "choice":
        if str(value) not in key.choices:
            raise CommandError(
                f"{key.name} = {value!r} (allowed: {', '.join(key.choices)})", key.name
            )
        return str(value)
    if kind == "dict":
        if not isinstance(value, Mapping):
            raise CommandError(f"{key.name} must be a table such as {{ R = 1 }}", key.name)
        return dict(value)
    if not isinstance(value, str):
        raise CommandError(f"{key.name} must be a string", key.name)
    return value

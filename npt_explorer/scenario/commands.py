"""The one command vocabulary: scenario `[[step]]` tables and TUI command lines both become a
`Command` here, checked against the same table of operations and keys."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..engine import ERROR_KINDS, Access, MappingFlags, PagingError, Priv
from ..engine.tlb import FLUSHES

_SIZE_SUFFIX = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_NUMBER = re.compile(r"^(0x[0-9a-f_]+|0o[0-7_]+|0b[01_]+|[0-9][0-9_]*)([kmgt]i?b?)?$", re.I)


class CommandError(Exception):
    """A bad command: `key` names the offending key (or None for the op itself)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


def parse_number(value: Any, key: str, *, size: bool = False) -> int:
    """TOML integers, or strings such as ``"0x4000_0000"``, ``"4096"``, ``"4K"``, ``"2M"``."""
    if isinstance(value, bool):
        raise CommandError(f"{key} must be a number, not a boolean", key)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        m = _NUMBER.match(value.strip())
        if not m or (m.group(2) and not size):
            what = (
                'a size such as 4096, "4K", "2M", "1G"'
                if size
                else ('a number such as 4096 or "0x4000_0000"')
            )
            raise CommandError(f"{key} = {value!r} is not {what}", key)
        number = int(m.group(1).replace("_", ""), 0)
        if m.group(2):
            number *= _SIZE_SUFFIX[m.group(2)[0].upper()]
    else:
        raise CommandError(f"{key} must be a number (got {type(value).__name__})", key)
    if number < 0 or number >= 1 << 64:
        raise CommandError(f"{key} = {number:#x} is outside 0 .. 2^64-1", key)
    return number


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    kind: str  # addr | size | int | flags | bool | str | choice | dict | stage
    required: bool = False
    choices: tuple[str, ...] = ()


def _k(name: str, kind: str, required: bool = False, choices: tuple[str, ...] = ()) -> Key:
    return Key(name, kind, required, choices)


_EXPECT = _k("expect", "dict")
_STAGE = _k("stage", "stage", True)
_WHERE = (_k("gva", "addr"), _k("gpa", "addr"))
_ACCESS = (
    _k("gva", "addr", True),
    _k("access", "choice", False, tuple(Access)),
    _k("priv", "choice", False, tuple(Priv)),
    _EXPECT,
)

#: op → its keys (SCENARIO_FORMAT.md "Operations", plus the documented extensions
#: `context`, `trace`, map `name`, expect `stale_entries`, access `stale`)
OPS: dict[str, tuple[Key, ...]] = {
    "note": (_k("text", "str", True),),
    "map": (
        _STAGE,
        *_WHERE,
        _k("size", "size", True),
        _k("flags", "flags", True),
        _k("backend", "choice", False, ("linear", "alloc")),
        _k("hpa", "addr"),
        _k("populate", "bool"),
        _k("huge", "bool"),
        _k("name", "str"),
        _EXPECT,
    ),
    "unmap": (_STAGE, *_WHERE, _k("size", "size", True), _EXPECT),
    "protect": (_STAGE, *_WHERE, _k("size", "size", True), _k("flags", "flags", True), _EXPECT),
    "access": _ACCESS,
    "translate": _ACCESS,
    "handle-fault": (_EXPECT,),
    "flush": (_k("kind", "choice", True, tuple(FLUSHES)), _k("addr", "addr"), _EXPECT),
    "poke": (
        _STAGE,
        *_WHERE,
        _k("depth", "int", True),
        _k("value", "addr"),
        _k("set", "addr"),
        _k("clear", "addr"),
        _k("fields", "dict"),
        _EXPECT,
    ),
    "query": (_STAGE, *_WHERE, _EXPECT),
    "expect": (
        _k("entry", "dict"),
        _k("raw", "addr"),
        _k("fields", "dict"),
        _k("flags", "flags"),
        _k("tlb_entries", "int"),
        _k("stale_entries", "int"),
        _k("frames_in_use", "int"),
        _k("guest_pt_frames", "int"),
    ),
    "context": (_k("vmid", "int"), _k("asid", "int"), _EXPECT),
    "trace": (
        _k("gva", "addr", True),
        _k("size", "size", True),
        _k("count", "int", True),
        _k("pattern", "choice", False, ("sequential", "random", "stride")),
        _k("stride", "size"),
        _k("seed", "int"),
        _k("access", "choice", False, tuple(Access)),
        _k("priv", "choice", False, tuple(Priv)),
        _EXPECT,
    ),
}

#: keys an `expect` table may hold, per op
EXPECT_KEYS: dict[str, tuple[str, ...]] = {
    "access": (
        "result",
        "gpa",
        "hpa",
        "refs",
        "writes",
        "tlb",
        "page_size",
        "fault_stage",
        "fault_reason",
        "fault_depth",
        "fault_during",
        "syndrome",
        "stale",
        "error",
    ),
    "handle-fault": ("handled", "error"),
    "query": ("paddr", "flags", "page_size", "error"),
    "trace": ("hit_rate", "walks", "hits", "error"),
}
EXPECT_KEYS["translate"] = EXPECT_KEYS["access"]


@dataclass(frozen=True, slots=True)
class Command:
    """One validated operation, with where it came from (scenario line, or None)."""

    op: str
    args: dict[str, Any] = field(default_factory=dict)
    line: int | None = None

    def to_toml(self) -> str:
        """A `[[step]]` table that parses back to this command."""
        lines = ["[[step]]", f"op = {_toml_value(self.op)}"]
        lines += [f"{k} = {_toml_value(_outer(k, v))}" for k, v in self.args.items()]
        return "\n".join(lines)

    def to_line(self) -> str:
        """The same command as the TUI's command line spells it."""
        if self.op == "note":
            return f"note {self.args['text']}"
        parts = [self.op]
        for k, v in self.args.items():
            v = _outer(k, v)
            plain = _plain(v)
            simple = isinstance(v, bool | int) or re.fullmatch(r"[\w.:+-]+", plain)
            parts.append(f"{k}={plain}" if simple else f"{k}={_toml_value(v)}")
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


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_value(k)


def _convert(key: Key, value: Any) -> Any:
    kind = key.kind
    if kind in ("addr", "int"):
        return parse_number(value, key.name)
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
        try:
            return MappingFlags.parse(value)
        except PagingError as err:
            raise CommandError(f"flags: {err.message}", key.name) from None
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


def build(op: Any, raw: Mapping[str, Any], line: int | None = None) -> Command:
    """Validate `op` and its keys; convert values. Raises `CommandError`."""
    if op is None:
        raise CommandError(f"missing op (allowed: {', '.join(OPS)})", "op")
    if op not in OPS:
        raise CommandError(f"unknown op {op!r} (allowed: {', '.join(OPS)})", "op")
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
    if op == "poke" and not ({"value", "set", "clear", "fields"} & args.keys()):
        raise CommandError("poke needs value, set/clear or fields", "value")
    if op == "expect":
        entry_keys = {"raw", "fields", "flags"} & args.keys()
        if entry_keys and "entry" not in args:
            raise CommandError(
                f"{', '.join(sorted(entry_keys))} need entry = {{ stage, gva/gpa, depth }}", "entry"
            )
        if "entry" in args:
            entry = args["entry"]
            build("query", {k: v for k, v in entry.items() if k != "depth"}, None)
            if "depth" not in entry:
                raise CommandError("entry needs depth (0 = root table)", "entry")
            parse_number(entry["depth"], "entry.depth")
    expect = args.get("expect")
    if expect is not None:
        allowed = EXPECT_KEYS.get(op, ("error",))
        for k in expect:
            if k not in allowed:
                raise CommandError(
                    f"expect key {k!r} is not checked for {op} (allowed: {', '.join(allowed)})",
                    "expect",
                )
        if "error" in expect and expect["error"] not in ERROR_KINDS:
            raise CommandError(
                f"expect error = {expect['error']!r} (allowed: {', '.join(ERROR_KINDS)})", "expect"
            )


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
        raise CommandError("unbalanced quote or brace in the command")
    if cur:
        out.append("".join(cur))
    return out


def _value(text: str, key: str) -> Any:
    if text[:1] in ("{", "[", '"', "'"):
        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError as err:
            raise CommandError(f"{key}: bad table {text!r}: {err}", key) from None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return text

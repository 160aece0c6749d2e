"""Completion and hints for the command line, from the scenario vocabulary's own `OPS` table
(so a typed command and a `[[step]]` accept exactly the same words)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..engine import ARCHES, Encoding
from ..scenario import OPS, Key
from .classroom import CLASSROOM_COMMANDS, CLASSROOM_KEYS

#: commands the TUI adds on top of the scenario verbs; never recorded, never saved
UI_COMMANDS: dict[str, str] = {
    "save": "save FILE [--expect]: write everything run so far as a scenario file that replays "
    "to here; --expect: each step expects what it did (replay --check fails if that changes)",
    "load": "load FILE: open a scenario file in scenario mode",
    "arch": "arch NAME [guest=…] [npt=…] [features=a,b] [encoding=seed|fixed]: a new machine "
    "running NAME's demo",
    "export-walk": "export-walk [FILE]: write the walk on screen as JSON",
    "screenshot": "screenshot [FILE]: save an SVG of the screen",
    "cost": "cost: plot the traces run so far (memory references per access over time, by "
    "page size; references per TLB miss, all and to memory)",
    "help": "help [OP]: the command reference (scrolls; also ? in the command line); "
    "help OP: that command's keys",
    **CLASSROOM_COMMANDS,
}

_ARCH_KEYS = ("guest", "npt", "features", "encoding")
#: what `load` completes to, asked for only when completing `load`
Files = Callable[[], Sequence[str]]


def _value_choices(op: str, key: str, arch: str) -> list[str]:
    if op == "arch":
        spec = ARCHES.get(arch)
        if key == "guest" and spec:
            return list(spec.guests)
        if key == "npt" and spec:
            return list(spec.npts)
        if key == "features" and spec:
            return list(spec.features)
        if key == "encoding":
            return [str(e) for e in Encoding]
        return []
    spec = {k.name: k for k in OPS.get(op, ())}
    k: Key | None = spec.get(key)
    if k is None:
        return []
    if op == "flush" and key == "kind":
        return list(ARCHES[arch].flushes) if arch in ARCHES else list(k.choices)
    if k.kind == "stage":
        return ["1", "2"]
    if k.kind == "bool":
        return ["true", "false"]
    if k.kind == "choice":
        return list(k.choices)
    return []


def candidates(text: str, arch: str, files: Files = tuple) -> tuple[str, list[str]]:
    """(the word being typed, every word that could complete it). `files` lists what `load`
    completes to; it is called only after `load` (it reads directories: on every keystroke
    it cost 3-14 ms, twice, and a pasted command queued those behind its Enter)."""
    words = text.split(" ")
    word = words[-1]
    if len(words) == 1:
        return word, [op for op in (*OPS, *UI_COMMANDS) if op.startswith(word)]
    op = words[0]
    if op == "save" and word.startswith("-"):
        return word, [o for o in ("--expect",) if o.startswith(word)]
    if op in ("save", "load", "export-walk", "screenshot"):
        return word, [f for f in files() if f.startswith(word)] if op == "load" else []
    if op == "arch" and len(words) == 2:
        return word, [a for a in ARCHES if a.startswith(word)]
    if op == "arch" and words[1] in ARCHES:
        arch = words[1]
    if op in CLASSROOM_KEYS:
        return _classroom_candidates(CLASSROOM_KEYS[op], words)
    if "=" in word:
        key, _, value = word.partition("=")
        values = _value_choices(op, key, arch)
        return value, [v for v in values if v.startswith(value)]
    used = {w.partition("=")[0] for w in words[1:-1]}
    keys = sorted(OPS.get(op, ()), key=lambda k: not k.required)  # required keys first
    names = _ARCH_KEYS if op == "arch" else tuple(k.name for k in keys)
    return word, [f"{n}=" for n in names if n not in used and n.startswith(word)]


def _classroom_candidates(
    keys: dict[str, tuple[str, ...]], words: list[str]
) -> tuple[str, list[str]]:
    word = words[-1]
    if "=" in word:
        key, _, value = word.partition("=")
        return value, [v for v in keys.get(key, ()) if v.startswith(value)]
    used = {w.partition("=")[0] for w in words[1:-1]}
    return word, [f"{n}=" for n in keys if n not in used and n.startswith(word)]


def complete(text: str, arch: str, files: Files = tuple) -> str | None:
    """The whole line completed with the first candidate (the Input's ghost suggestion)."""
    if not text or text.endswith(" ") and text.strip() == "":
        return None
    word, found = candidates(text, arch, files)
    if not found or found[0] == word:
        return None
    completion = text[: len(text) - len(word)] + found[0]
    if not completion.endswith("=") and " " not in text:
        completion += " "
    return completion


def hint(text: str, arch: str, files: Files = tuple) -> str:
    """One line under the command line: what can come next."""
    words = text.split()
    all_ops = " ".join((*OPS, *UI_COMMANDS))
    if not words:
        return f"ops: {all_ops}   (tab or → completes, enter runs, escape leaves)"
    op = words[0]
    if len(words) == 1 and not text.endswith(" "):
        _, found = candidates(text, arch, files)
        return "ops: " + " ".join(found) if found else f"unknown op {op!r} (ops: {all_ops})"
    if op in UI_COMMANDS:
        return UI_COMMANDS[op]
    if op not in OPS:
        return f"unknown op {op!r} (ops: {all_ops})"
    if "=" in text.split(" ")[-1]:
        _, found = candidates(text, arch, files)
        if found:
            return "values: " + " ".join(found)
    return usage(op)


def usage(op: str) -> str:
    """One command's usage line: a UI command's text, or a verb's keys (* required)."""
    if op in UI_COMMANDS:
        return UI_COMMANDS[op]
    if op not in OPS:
        raise KeyError(op)
    keys = " ".join(f"{k.name}{'*' if k.required else ''}" for k in OPS[op])
    return f"{op}: {keys}   (* required)"


def reference() -> str:
    """Every command's usage line, as the Markdown list the help panel shows."""
    return "\n".join(f"- `{usage(op)}`" for op in (*OPS, *UI_COMMANDS))

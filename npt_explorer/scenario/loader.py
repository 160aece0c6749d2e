"""Scenario files: TOML → a validated `Scenario`, every error naming file, line and key."""

from __future__ import annotations

import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import ARCHES, BadValue, MachineConfig, PagingError, WalkCaches
from .command import Command, build, toml_key, toml_value
from .library import find_scenario
from .values import MAX_ALLOC_SIZE, MAX_TLB_ENTRIES, CommandError
from .vocabulary import op_name

_TOP_KEYS = ("scenario", "machine", "step")
#: the first line of an image's patch file (scenario/patch.py), which the TUI opens
PATCH_HEAD = "# npt-explorer image patch: commands on an image's overlay; the image is not changed"
_SCENARIO_KEYS = ("title", "summary", "arch", "tags")


class ScenarioError(Exception):
    """An invalid scenario file. `str()` is one line: ``file:line: key: message``."""

    def __init__(self, file: str, line: int | None, key: str | None, message: str) -> None:
        self.file, self.line, self.key, self.message = file, line, key, message
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


@dataclass(slots=True)
class Scenario:
    path: str
    title: str
    summary: str
    arch: str
    tags: list[str]
    config: MachineConfig
    steps: list[Command] = field(default_factory=list)


class SourceLines:
    """Finds the line of a table header or key in the source (tomllib keeps no positions)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.steps = [
            i + 1 for i, ln in enumerate(self.lines) if re.match(r"\s*\[\[\s*step\s*\]\]", ln)
        ]

    def table(self, name: str) -> int | None:
        """The line of `[name]` (or the first `[name.sub]`), or of `name = {...}` written inline
        at the top level."""
        for pattern in (rf"\s*\[\s*{re.escape(name)}\s*[].]", rf"\s*{re.escape(name)}\s*="):
            for i, ln in enumerate(self.lines):
                if re.match(pattern, ln):
                    return i + 1
        return None

    def key(self, start: int | None, key: str | None, end: int | None = None) -> int | None:
        if start is None or key is None:
            return start
        stop = end if end is not None else len(self.lines) + 1
        for number in range(start, stop):
            if number - 1 >= len(self.lines):
                break
            ln = self.lines[number - 1]
            if number > start and re.match(r"\s*\[", ln):
                break
            if re.search(rf"(^|[\s{{,]){re.escape(key)}\s*=", ln):
                return number
        return start

    def step_key(self, index: int, key: str | None) -> int | None:
        if index >= len(self.steps):  # steps written as `step = [{...}]`: point at that
            return self.table("step")
        end = self.steps[index + 1] if index + 1 < len(self.steps) else None
        return self.key(self.steps[index], key, end)


#: the largest scenario file read (the bundled ones are under 8 KiB; a saved session of
#: thousands of typed commands stays far below this)
MAX_FILE_BYTES = 4 << 20


def read_scenario_text(path: Path) -> str:
    """The text of a scenario file. Only a regular file is opened (a device such as
    /dev/zero would be read forever, a named pipe would block), and at most `MAX_FILE_BYTES`
    are read. Raises `ScenarioError`."""

    def refuse(why: str) -> ScenarioError:
        return ScenarioError(str(path), None, None, why)

    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise refuse(f"not a regular file (a {_file_kind(mode)}): give a .toml file")
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise refuse(f"cannot read: {err.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise refuse(f"larger than {MAX_FILE_BYTES >> 20} MiB: not a scenario file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("not UTF-8 text") from None


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISFIFO, "named pipe"),
        (stat.S_ISSOCK, "socket"),
    )
    return next((name for test, name in kinds if test(mode)), "special file")


def load(path: str | Path) -> Scenario:
    """The scenario in file `path`, or in the bundled lesson a bare name names (`x86_02`)."""
    path = find_scenario(path)
    return loads(read_scenario_text(path), str(path))


#: a patch file's own table; no scenario has one (SCENARIO_FORMAT.md's tables)
_IMAGE_TABLE = re.compile(r"^[ \t]*\[[ \t]*image[ \t]*\][ \t]*(?:#.*)?$", re.MULTILINE)


def patch_line(text: str) -> int | None:
    """The line that makes `text` an image patch file: the header `save` on an image writes
    (1), else its `[image]` table (a patch whose header was edited away); None: no patch."""
    if text.startswith(PATCH_HEAD[:30]):
        return 1
    table = _IMAGE_TABLE.search(text)
    return None if table is None else text.count("\n", 0, table.start()) + 1


def loads(text: str, file: str = "<scenario>") -> Scenario:
    at = patch_line(text)
    if at is not None:  # `replay fix.toml`: a patch is no scenario, whatever else it holds
        raise ScenarioError(file, at, None, "an image patch file, not a scenario: open it "
                            f"with `npt-explorer {file}` (the TUI)")  # fmt: skip
    doc = parse_toml(text, file)
    lines = SourceLines(text)
    fail = failure(file)
    unknown_keys(doc, _TOP_KEYS, "", 1, lines, fail, "unknown table")
    meta = _table(doc, "scenario", lines, fail)
    head = lines.table("scenario")
    unknown_keys(meta, _SCENARIO_KEYS, "scenario.", head, lines, fail)
    arch = meta.get("arch")
    if not isinstance(arch, str) or arch not in ARCHES:
        raise fail(
            lines.key(head, "arch"),
            "scenario.arch",
            f"{'missing' if arch is None else repr(arch)} (allowed: {', '.join(ARCHES)})",
        )
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise fail(lines.key(head, "title"), "scenario.title", "missing or empty title")
    tags = meta.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise fail(lines.key(head, "tags"), "scenario.tags", "must be a list of strings")
    config = _machine(arch, _table(doc, "machine", lines, fail), lines, fail)
    steps = build_steps(doc, lines, fail)
    _trace_files(steps, file, fail, lines)
    _preflight(steps, config, fail, lines)
    return Scenario(
        file, title.strip(), str(meta.get("summary", "")).strip(), arch, tags, config, steps
    )


#: `fail(line, key, message)`: the error of a file, at a line (None: the file's first)
Fail = Callable[[int | None, str | None, str], ScenarioError]


def failure(file: str) -> Fail:
    """The error maker of `file` (a table or key missing altogether points at line 1)."""

    def fail(line: int | None, key: str | None, message: str) -> ScenarioError:
        return ScenarioError(file, 1 if line is None else line, key, message)

    return fail


def parse_toml(text: str, file: str) -> dict[str, Any]:
    """`text` as TOML; a syntax error (or nesting too deep for tomllib) at its line."""
    try:
        return tomllib.loads(text)
    except RecursionError:  # tomllib recurses once per nested array or inline table
        rows = text.splitlines() or [""]
        line = max(range(len(rows)), key=lambda i: rows[i].count("[") + rows[i].count("{"))
        raise ScenarioError(file, line + 1, None, "arrays or tables nested too deeply") from None
    except tomllib.TOMLDecodeError as err:
        m = re.search(r"line (\d+)", str(err))
        line = int(m.group(1)) if m else max(1, len(text.splitlines()))  # "at end of document"
        raise ScenarioError(file, line, None, f"TOML syntax error: {err}") from None


def unknown_keys(
    table: Mapping[str, Any],
    allowed: tuple[str, ...],
    prefix: str,
    head: int | None,
    lines: SourceLines,
    fail: Fail,
    what: str = "unknown key",
) -> None:
    """The first key of `table` (whose header is at line `head`; 1: the file's top level) not
    in `allowed`, refused at its line with the allowed keys."""
    for key in table:
        if key not in allowed:
            line = lines.table(key) if head == 1 else lines.key(head, key)  # `[key]` or `key =`
            raise fail(line, prefix + key, f"{what} (allowed: {', '.join(allowed)})")


def build_steps(doc: Mapping[str, Any], lines: SourceLines, fail: Fail) -> list[Command]:
    """The file's `[[step]]` tables as commands, each knowing its line; a bad one refused at
    the line of its key (`step N (op): key`, with what the key allows)."""
    raw_steps = doc.get("step", [])
    if not isinstance(raw_steps, list):
        raise fail(lines.key(1, "step"), "step", "steps are [[step]] tables")
    steps = []
    for i, raw in enumerate(raw_steps):
        at = lines.step_key(i, None)
        if not isinstance(raw, Mapping):
            raise fail(at, "step", "each step is a table")
        try:
            steps.append(build(raw.get("op"), raw, at))
        except CommandError as err:
            raise fail(
                lines.step_key(i, err.key),
                f"step {i + 1} ({op_name(raw.get('op'))}): {err.key or 'op'}",
                err.message,
            ) from None
    return steps


def header_toml(title: str, summary: str, tags: list[str], config: MachineConfig) -> str:
    """The `[scenario]` and `[machine]` tables that `loads` reads back to this title and
    machine (`MachineConfig.to_table`): the head of a saved session."""
    table = config.to_table()
    registers = table.pop("registers", {})
    lines = [
        "[scenario]",
        f"title = {toml_value(title)}",
        f"summary = {toml_value(summary)}",
        f"arch = {toml_value(table.pop('arch'))}",
        f"tags = {toml_value(tags)}",
        "",
        "[machine]",
        *(f"{key} = {toml_value(value)}" for key, value in table.items()),
    ]
    if registers:  # a sub-table: after every [machine] key
        lines += ["", "[machine.registers]"]
        lines += [f"{toml_key(name)} = {toml_value(value)}" for name, value in registers.items()]
    return "\n".join(lines)


def _trace_files(steps: list[Command], file: str, fail: Fail, lines: SourceLines) -> None:
    """A trace step's `file` is relative to the scenario's folder, and must be readable; the
    step keeps it absolute (`Command.relative_to` writes it relative again)."""
    folder = Path(file).parent
    for n, cmd in enumerate(steps):
        if cmd.op != "trace" or "file" not in cmd.args:
            continue
        path = Path(cmd.args["file"]).expanduser()
        if not path.is_absolute() and (folder / path).exists():
            path = folder / path
        if not path.is_file():
            raise fail(
                lines.step_key(n, "file"), f"step {n + 1} (trace): file", f"no such file: {path}"
            )
        cmd.args["file"] = str(path.resolve())


def _table(doc: dict[str, Any], name: str, lines: SourceLines, fail: Fail) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise fail(lines.key(1, name), name, f"[{name}] must be a table")
    return value


def _machine(arch: str, table: dict[str, Any], lines: SourceLines, fail: Fail) -> MachineConfig:
    """`MachineConfig.from_table`, its error placed at the key's line (a register's own line
    in `[machine.registers]`)."""
    head = lines.table("machine")
    try:
        config = MachineConfig.from_table(table, arch)
    except BadValue as err:
        top = err.key.split(".")[0]
        where = _register_line(lines, err.key.split(".", 1)[-1]) if top == "registers" else None
        raise fail(where or lines.key(head, top), f"machine.{top}", err.problem) from None
    except PagingError as err:  # a rule between keys: the registers, or the whole table
        register = _named_register(err.message, table.get("registers", {}))
        where = _register_line(lines, register) if register is not None else None
        key = "machine" if where is None else f"machine.registers.{register}"
        raise fail(where or head, key, err.message) from None
    _machine_limits(config, head, lines, fail)
    return config


def _register_line(lines: SourceLines, register: str | None) -> int | None:
    return lines.key(lines.table("machine.registers"), register) if register else None


def _named_register(message: str, registers: Any) -> str | None:
    """The register a control-state error names (its line is where to point)."""
    for register in registers if isinstance(registers, dict) else ():
        if re.search(rf"\b{re.escape(register)}\b", message):
            return register
    return None


def _machine_limits(
    config: MachineConfig, head: int | None, lines: SourceLines, fail: Fail
) -> None:
    """What `Machine(config)` could not build: a pool outside stage 2's input range, or a
    pool or TLB too large to build in reasonable time and memory."""
    pool_line = lines.key(head, "guest_pt_pool")
    if config.pool_size > MAX_ALLOC_SIZE:
        raise fail(
            pool_line,
            "machine.guest_pt_pool",
            f"size {config.pool_size:#x} is larger than {MAX_ALLOC_SIZE >> 30} GiB",
        )
    s2 = config.format_for("npt")
    try:
        WalkCaches.build(
            config.walk_cache_preset, config.walk_cache_specs, config.format_for("guest"), s2
        )
    except PagingError as err:
        raise fail(lines.key(head, "walk_caches"), "machine.walk_caches", err.message) from None
    end = config.pool_gpa + config.pool_size
    if end > 1 << s2.input_bits:
        raise fail(
            pool_line,
            "machine.guest_pt_pool",
            f"[{config.pool_gpa:#x}, {end:#x}) is beyond the {s2.input_bits}-bit "
            f"guest-physical space of npt {config.npt!r}",
        )
    if config.tlb_enabled and config.tlb_entries > MAX_TLB_ENTRIES:
        raise fail(
            lines.key(head, "tlb"),
            "machine.tlb",
            f"entries = {config.tlb_entries} (at most {MAX_TLB_ENTRIES})",
        )


def _preflight(steps: list[Command], config: MachineConfig, fail: Fail, lines: SourceLines) -> None:
    """Static checks that make a file invalid (exit 2) rather than a failing step: a flush
    another architecture defines, misaligned regions, and regions that overlap one mapped
    earlier and not unmapped since."""
    pool = [(config.pool_gpa, config.pool_gpa + config.pool_size, None)] if config.map_pool else []
    live: dict[int, list[tuple[int, int, int | None]]] = {1: [], 2: list(pool)}
    ept_live = {0: live[2]}  # x86 `context eptp = N`: each EPT has its own stage-2 regions
    for n, cmd in enumerate(steps, 1):
        if cmd.op == "context" and isinstance(cmd.args.get("eptp"), int):
            live[2] = ept_live.setdefault(cmd.args["eptp"], list(pool))
        kind = cmd.args.get("kind")
        wrong_arch = cmd.op == "flush" and kind not in config.spec.flushes
        if wrong_arch and "error" not in cmd.args.get("expect", {}):
            raise fail(
                lines.step_key(n - 1, "kind"),
                f"step {n} (flush): kind",
                f"{kind!r} is not an invalidation of {config.arch} "
                f"(allowed: {', '.join(config.spec.flushes)})",
            )
        if cmd.op not in ("map", "unmap", "protect"):
            continue
        a = cmd.args
        expected = a.get("expect", {}).get("error")
        stage = a["stage"]
        start = a["gva"] if stage == 1 else a["gpa"]
        end = start + a["size"]
        if expected != "NotAligned":
            for key, value in (
                ("gva" if stage == 1 else "gpa", start),
                ("size", a["size"]),
                ("gpa" if stage == 1 else "hpa", a.get("gpa" if stage == 1 else "hpa", 0)),
            ):
                if value % 0x1000:
                    raise fail(
                        cmd.line,
                        f"step {n} ({cmd.op}): {key}",
                        f"misaligned region: {value:#x} is not a multiple of 4 KiB "
                        '(say expect = { error = "NotAligned" } to test that)',
                    )
        if cmd.op == "map" and expected is None:
            for lo, hi, line in live[stage]:
                if lo < end and start < hi:
                    owner = f"line {line}" if line else "the guest page-table pool"
                    raise fail(
                        cmd.line,
                        f"step {n} (map): {'gva' if stage == 1 else 'gpa'}",
                        f"overlapping region: [{start:#x}, {end:#x}) overlaps "
                        f"[{lo:#x}, {hi:#x}) mapped by {owner} "
                        '(unmap it first, or say expect = { error = "AlreadyMapped" })',
                    )
            live[stage].append((start, end, cmd.line))
        elif cmd.op == "unmap" and expected is None:
            kept = []
            for lo, hi, line in live[stage]:
                if lo < start:
                    kept.append((lo, min(hi, start), line))
                if hi > end:
                    kept.append((max(lo, end), hi, line))
            live[stage] = kept

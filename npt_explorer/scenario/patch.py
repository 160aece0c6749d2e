"""An image's patch file (docs/images.md, the TUI on an image: `save fix.toml`): the image
arguments and the commands typed on the image, as TOML that `npt-explorer fix.toml` reopens.

Read with the scenario loader's means (`parse_toml`, `SourceLines`, `build_steps`), so every
error names the file, the line, the key and what is allowed, as a scenario's do:

    # npt-explorer image patch: ...
    [image]
    title = "image linux.elf"            # a string; reopened, the session names its images
    files = ["/tmp/linux.elf"]           # images as `image walk` takes them (PATH, PATH@BASE)
    options = ["--cr3", "0x1000"]        # their root and control flags

    [[step]]
    op = "poke"
    ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .command import Command
from .loader import (
    ScenarioError,
    SourceLines,
    build_steps,
    failure,
    parse_toml,
    patch_line,
    read_scenario_text,
    unknown_keys,
)

_TOP_KEYS = ("image", "step")
_IMAGE_KEYS = ("title", "files", "options")


@dataclass(slots=True)
class Patch:
    """A patch file read: its images, their options, and its steps (each knowing its line)."""

    file: str
    files: list[str]
    options: list[str]
    commands: list[Command]
    key_lines: dict[str, int] = field(default_factory=dict)  # "files"/"options" → line

    @property
    def args(self) -> list[str]:
        """The image command line the patch stands for (`ImageSession.open` takes it)."""
        return [*self.files, *self.options]

    def error(self, where: str, problem: str) -> ScenarioError:
        """What the image layer refused (`ImageError`: `where` a file, `FILE@BASE`, an option
        or a register), at the line of the `files` or `options` key that gave it."""
        names = (f for f in self.files if where in (f, f.rpartition("@")[0]) or
                 where.startswith(f + "@"))  # fmt: skip
        key = "files" if any(names) else "options"
        return ScenarioError(self.file, self.key_lines[key], f"image.{key}", f"{where}: {problem}")


#: how much of a file `is_patch_file` reads (a patch is a few KiB; an image may be GiBs)
_SNIFF = 1 << 16


def is_patch_file(path: str) -> bool:
    """A regular file of text that is a patch (`patch_line`: the header, or an `[image]`
    table in its first 64 KiB). A device or FIFO is never read: `/dev/zero` has no end of
    line, a pipe blocks; an image's binary bytes are no UTF-8."""
    try:
        if not Path(path).is_file():
            return False
        with open(path, encoding="utf-8") as f:
            return patch_line(f.read(_SNIFF)) is not None
    except (OSError, UnicodeDecodeError):
        return False


def load_patch(path: str) -> Patch:
    """The patch file at `path` (a regular file of UTF-8 text). Raises `ScenarioError`."""
    return loads_patch(read_scenario_text(Path(path)), path)


def loads_patch(text: str, file: str = "<patch>") -> Patch:
    """The patch in `text`. Raises `ScenarioError` naming `file`, line and key."""
    doc = parse_toml(text, file)
    lines = SourceLines(text)
    fail = failure(file)
    unknown_keys(doc, _TOP_KEYS, "", 1, lines, fail, "unknown table")
    image = doc.get("image")
    if not isinstance(image, dict):
        missing = "image" not in doc
        raise fail(lines.key(1, "image"), "image", "a patch file needs an [image] table"
                   + ("" if missing else f", not {type(image).__name__} {image!r}"))  # fmt: skip
    head = lines.table("image")
    unknown_keys(image, _IMAGE_KEYS, "image.", head, lines, fail)
    at = {key: lines.key(head, key) or 1 for key in _IMAGE_KEYS}
    title, files, options = image.get("title", ""), image.get("files"), image.get("options", [])
    if not isinstance(title, str):
        raise fail(at["title"], "image.title", f"{title!r} is not a string")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        got = "missing" if files is None else repr(files)
        raise fail(at["files"], "image.files", f"{got}: a non-empty list of image paths "
                   '(PATH or PATH@BASE, as `image walk` takes them)')  # fmt: skip
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise fail(at["options"], "image.options", f"{options!r}: a list of strings, the "
                   'command-line options (e.g. ["--cr3", "0x1000"])')  # fmt: skip
    commands = build_steps(doc, lines, fail)
    return Patch(file, files, options, commands, at)

"""The TUI on a memory image (IMAGES.md "Verbs": `npt-explorer IMAGE... ROOTS`): a session whose
machine is the image's (`image.workbench`), opened from the command line, `load` or the open
dialog; `save` writes a patch file of the typed commands or a new ELF with the overlay, never
over an input. No Textual here."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import PagingError
from ..image import ImageError
from ..image.export import roots_note, write_elf
from ..image.files import is_image_command, is_image_file
from ..image.memory import ImageMemory
from ..image.workbench import REFUSED, ImageWorkbench
from ..image_cli import image_setup
from ..scenario import Command, CommandError
from ..scenario.loader import PATCH_HEAD, Scenario, ScenarioError, load
from ..scenario.observed import with_observed
from ..scenario.patch import Patch, is_patch_file, load_patch, loads_patch
from ..scenario.results import StepResult
from ..scenario.session import LogEntry, Session

#: typed UI commands that have no meaning on an image (yet), and why
_NO_HISTORY = "an image's overlay keeps no history to go back to (save FILE.toml keeps the pokes)"
UI_REFUSED = {
    "goto": _NO_HISTORY,
    "undo": _NO_HISTORY,  # it rebuilt a plain machine from the image's scenario: a crash
    "redo": _NO_HISTORY,
    "diff": "diff of two points needs the history an image's overlay does not keep; "
    "`npt-explorer diff` compares two image files",
}


def _input_path(spec: str) -> Path:
    """The file of an image argument (`PATH@BASE` → PATH)."""
    path = spec if os.path.exists(spec) or "@" not in spec else spec.rpartition("@")[0]
    return Path(path).expanduser().resolve()


@dataclass(slots=True)
class ImageSession(Session):
    """A session on an image: every typed command runs on its `ImageWorkbench`."""

    args: list[str] = field(default_factory=list)  # the image arguments as given
    workbench: ImageWorkbench | None = None

    def __post_init__(self) -> None:
        assert self.workbench is not None
        self.machine = self.workbench  # type: ignore[assignment]

    @classmethod
    def open(cls, args: Sequence[str], commands: Sequence[Command] = ()) -> ImageSession:
        """The image session of `args` (images and root flags as `image ranges` takes them),
        with `commands` (a patch file's) run on it. Raises `ImageError`."""
        image, specs = image_setup(list(args))
        bench = ImageWorkbench(image, image.config)
        names = ", ".join(Path(s).name for s in specs)
        regime = image.regime
        stages = " + ".join(
            f"stage {n} root {root:#x}"
            for n, root in ((1, regime.guest_root), (2, regime.npt_root))
            if root is not None
        )
        scenario = Scenario(
            path=specs[0],
            title=f"image {names}",
            summary=f"{image.memory.total:#x} bytes of memory · {stages} · pokes and A/D "
            "write-backs go to an overlay; the image file is never written",
            arch=image.arch,
            tags=["image"],
            config=image.config,
        )
        session = cls(scenario, "image", args=list(args), workbench=bench)
        for command in commands:
            session.run(command, by_hand=True)
        return session

    @property
    def inputs(self) -> list[Path]:
        return [_input_path(a) for a in self.args if not a.startswith("-") and is_image_file(a)]

    # ------------------------------------------------------------------ running

    def run(self, command: Command, *, by_hand: bool = True) -> StepResult:
        """As `Session.run`; what makes no sense on a dump is refused with the reason."""
        why = REFUSED.get(command.op)
        if why is None:
            return Session.run(self, command, by_hand=by_hand)
        result = StepResult(len(self.log) + 1, command)
        result.error = PagingError("InvalidRequest", f"{command.op}: {why}")
        self.log.append(LogEntry(result, [], by_hand))
        return result

    def rewound(self, position: int) -> Session:
        return self  # an image has no scenario steps to rewind

    def ui_refusal(self, op: str) -> str | None:
        why = UI_REFUSED.get(op)
        return None if why is None else f"{op}: {why}"

    # ------------------------------------------------------------------ saving

    @staticmethod
    def save_path(path: str | Path) -> Path:
        """`.elf` writes a new image; anything else a patch file (`.toml` added)."""
        path = Path(path).expanduser()
        return path if path.suffix in (".toml", ".elf") else path.with_suffix(".toml")

    def to_toml(
        self, title: str | None = None, *, expect: bool = False, folder: Path | None = None
    ) -> str:
        """A patch file: the image arguments, then every kept command as a scenario step
        (with `expect`, expecting what it was observed to do)."""
        specs = [a for a in self.args if not a.startswith("-") and is_image_file(a)]
        files = [
            str(_input_path(s)) + (s[len(s.rpartition("@")[0]) :] if "@" in s and not
                                   os.path.exists(s) else "")
            for s in specs
        ]  # fmt: skip
        flags = [a for a in self.args if a not in specs]
        lines = [
            PATCH_HEAD,
            "[image]",
            f"title = {_toml_str(title or self.scenario.title)}",
            f"files = [{', '.join(_toml_str(f) for f in files)}]",
            f"options = [{', '.join(_toml_str(a) for a in flags)}]",
        ]
        commands = [with_observed(r) for r in self.kept] if expect else self.commands
        body = "\n\n".join(c.to_toml() for c in commands)
        return "\n".join(lines) + "\n\n" + body + ("\n" if body else "")

    def save(self, path: str | Path, *, overwrite: bool = False, expect: bool = False) -> Path:
        path = self.save_path(path)
        if path.resolve() in self.inputs:
            raise CommandError(
                f"{path} is an input of this session: never written (save elsewhere)"
            )
        if path.exists() and path != self.saved_to and not overwrite:
            raise FileExistsError(f"{path} exists: save to it again to overwrite it")
        if path.suffix == ".elf":
            self._export(path)
        else:
            text = self.to_toml(expect=expect)
            loads_patch(text, str(path))  # never write what cannot load
            path.write_text(text, encoding="utf-8")
        self.saved_hand, self.saved_to = self.hand_commands, path
        return path

    def saved_line(self, path: Path, expect: bool = False) -> str:
        if path.suffix == ".elf":
            return f"wrote {path}: the image with its overlay ({self._overlay_frames()} frames)"
        return Session.saved_line(self, path, expect) + " (a patch on the image)"

    def _overlay_frames(self) -> int:
        assert self.workbench is not None
        return len(self.workbench.image.memory.overlay)

    def _export(self, path: Path) -> None:
        """Every range of the image with the overlay applied, and a roots note."""
        assert self.workbench is not None
        image = self.workbench.image
        cfg = image.config
        note = roots_note(cfg.arch, cfg.guest, cfg.npt, cfg.features, str(cfg.encoding),
                          image.regime.registers)  # fmt: skip
        tmp = path.with_name(path.name + ".part")
        try:
            with open(tmp, "wb") as f:
                write_elf(f, cfg.arch, _Frames(image.memory), note, _zero_ranges(image.memory))
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)


class _Frames(Mapping[int, bytes]):
    """The image's backed frames (overlay first) as `write_elf` takes them, read lazily."""

    def __init__(self, memory: ImageMemory) -> None:
        self.memory = memory
        self._pfns = sorted(
            {
                pfn
                for s in memory.segments
                if s.data is not None
                for pfn in range(s.start >> 12, (s.end + 0xFFF) >> 12)
            }
        )

    def __getitem__(self, pfn: int) -> bytes:
        words = self.memory.peek_frame(pfn)
        if words is None:
            raise KeyError(pfn)
        return words.tobytes()

    def __iter__(self) -> Iterator[int]:
        return iter(self._pfns)

    def __len__(self) -> int:
        return len(self._pfns)


def _zero_ranges(memory: ImageMemory) -> list[tuple[int, int]]:
    """Ranges with no file bytes (`p_memsz` beyond `p_filesz`), untouched by the overlay."""
    return [
        (s.start, s.end)
        for s in memory.segments
        if s.data is None and not any(s.start >> 12 <= p < (s.end + 0xFFF) >> 12
                                      for p in memory.overlay)
    ]  # fmt: skip


# ---------------------------------------------------------------------------- opening


def _toml_str(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def open_session(args: Sequence[str]) -> Session:
    """The session a command line names: an image (with its root flags), a patch file, or a
    scenario. Raises `ScenarioError` with one line naming the file and the problem."""
    args = list(args)
    target = args[0] if args else ""
    try:
        if is_image_command(args):
            return ImageSession.open(args)
    except ImageError as err:
        raise ScenarioError(err.where, None, None, err.problem) from None
    except SystemExit:  # argparse's --help or usage error: already printed to stderr
        raise ScenarioError(target, None, None, "bad image options: " + shlex.join(args)) from None
    if len(args) == 1 and is_patch_file(target):
        return _open_patch(load_patch(target))
    if len(args) > 1:
        raise ScenarioError(target, None, None, f"a scenario takes no options ({args[1]!r})")
    return Session(load(target), "scenario")


def _open_patch(patch: Patch) -> ImageSession:
    """The image session a patch file stands for; what the image layer refuses in it is
    placed at the line of its `files` or `options`."""
    try:
        return ImageSession.open(patch.args, patch.commands)
    except ImageError as err:
        raise patch.error(err.where, err.problem) from None
    except SystemExit:  # argparse's --help: already printed
        raise patch.error(shlex.join(patch.options), "not image options") from None


__all__ = ["ImageSession", "is_image_command", "open_session"]

"""Command palette entries (ctrl+p), namespaced as posting does: "arch: …", "scenario: …",
"flush: …", "export: …". Built from the app's state each time the palette opens."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Protocol, cast

from textual.command import CommandList, CommandPalette, DiscoveryHit, Hit, Hits, Provider

from ..engine import ARCHES, FLUSHES
from ..scenario.session import Session
from .command_runner import CommandRunner
from .panels.tlb import flush_kinds
from .widgets.dialogs import find_scenarios


class PaletteHost(Protocol):
    """What the palette's entries call on the app (the app is not imported: no cycle)."""

    session: Session
    theme: str
    commands: CommandRunner

    def switch_arch(self, arch: str) -> bool: ...
    def load_scenario(self, path: str | Path) -> bool: ...
    def action_pick_machine(self) -> None: ...
    def action_pick_scenario(self) -> None: ...


class NptCommands(Provider):
    _cached: list[tuple[str, str, Callable[[], object]]] | None = None

    async def startup(self) -> None:
        """Once per opening of the palette (reading the scenario files is not free)."""
        self._cached = self._commands()

    def _all(self) -> list[tuple[str, str, Callable[[], object]]]:
        if self._cached is None:
            self._cached = self._commands()
        return self._cached

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = cast(PaletteHost, self.app)
        out: list[tuple[str, str, Callable[[], object]]] = []
        for arch, spec in ARCHES.items():
            out.append(
                (
                    f"arch: switch to {arch}",
                    f"{spec.title}: a new machine on its demo",
                    partial(app.switch_arch, arch),
                )
            )
        out.append(
            (
                "arch: machine options…",
                "architecture, guest and stage-2 modes, features, encoding",
                app.action_pick_machine,
            )
        )
        out.append(
            (
                "scenario: pick…",
                "the scenario files, with titles and summaries",
                app.action_pick_scenario,
            )
        )
        for info in find_scenarios():
            if not info.error:
                out.append(
                    (
                        f"scenario: load {info.title}",
                        str(info.path),
                        partial(app.load_scenario, info.path),
                    )
                )
        for kind in flush_kinds(app.session.machine):
            out.append((f"flush: {kind}", FLUSHES[kind].doc, partial(app.commands.flush, kind)))
        out.append(
            ("export: SVG screenshot", "save the screen as an SVG file", app.commands.screenshot)
        )
        out.append(
            (
                "export: current walk as JSON",
                "the walk on screen, as replay --json prints it",
                app.commands.export_walk,
            )
        )
        out.append(
            (
                "save: commands as a scenario file…",
                "type the file name on the command line",
                partial(app.commands.prefill, "save "),
            )
        )
        out.append(
            (
                "theme: high contrast",
                "black and white with saturated accents",
                partial(setattr, app, "theme", "npt-high-contrast"),
            )
        )
        return out

    async def discover(self) -> Hits:
        for title, help_text, callback in self._all():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._all():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class GuardedPalette(CommandPalette):
    """Textual's palette, with its page keys waiting for the list to be laid out: Ctrl+P then
    PageUp/PageDown at once paged through an empty line table (`KeyError: 0`, an upstream
    bug in Textual 8.2.8's OptionList)."""

    def _action_command_list(self, action: str) -> None:
        if action in ("page_up", "page_down"):
            found = self.query(CommandList)
            listed = found.first() if found else None
            if listed is None or not listed.scrollable_content_region:
                return
            if listed.highlighted is not None and listed.highlighted not in listed._index_to_line:
                return
        super()._action_command_list(action)

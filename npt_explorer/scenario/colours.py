"""One palette for every view (the CLI's Rich output and the TUI in either theme): each role
on screen has its own colour, given as truecolour so no terminal or theme remaps two roles
onto one (ANSI magenta shows as red in some palettes: stage 2 looked like an error).

The names are what the `?` help and the legends print, so the key always matches the screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from ..engine import Role


@dataclass(frozen=True, slots=True)
class Colour:
    name: str  # what the colour key calls it
    style: str  # a Rich style


STAGE = {1: Colour("sky blue", "#5fd7ff"), 2: Colour("violet", "#d787ff")}
FAULT = Colour("red", "bold #ff5f5f")
RESERVED_SET = Colour("white on red", "bold #ffffff on #af0000")
OK = Colour("green", "bold #5fd75f")
STALE = Colour("amber", "bold #ffaf00")
ROLE = {
    Role.VALID: Colour("green", "bold #5fd75f"),
    Role.PERMISSION: Colour("gold", "bold #ffd75f"),
    Role.ADDRESS: Colour("tan", "#d7af87"),
    Role.ATTRIBUTE: Colour("orange", "#ff8700"),
    Role.STATUS: Colour("teal", "#5fd7af"),
    Role.TYPE: Colour("white", "bold #eeeeee"),
    Role.SOFTWARE: Colour("grey", "dim"),
    Role.IGNORED: Colour("grey", "dim"),
    Role.RESERVED: Colour("grey", "dim"),
}

STAGE_STYLE = {stage: c.style for stage, c in STAGE.items()}
ROLE_STYLE = {role: c.style for role, c in ROLE.items()}
FAULT_STYLE = FAULT.style
RESERVED_SET_STYLE = RESERVED_SET.style

#: roles a legend names (the dim ones are "not set / not used")
SHOWN_ROLES = (Role.VALID, Role.PERMISSION, Role.ADDRESS, Role.ATTRIBUTE, Role.STATUS, Role.TYPE)


def colour_key() -> str:
    """The colour key in words, for Markdown help."""
    stages = ", ".join(f"stage {s} {c.name}" for s, c in STAGE.items())
    roles = ", ".join(f"{role} {ROLE[role].name}" for role in SHOWN_ROLES)
    return (
        f"{stages}; a fault {FAULT.name}; entry bits by role: {roles}; "
        f"a reserved bit that is set {RESERVED_SET.name}; unused bits grey"
    )


def colour_legend() -> Text:
    """The same key, each word in its own colour (the page-table legend)."""
    text = Text("colours: ")
    for stage, c in STAGE.items():
        text.append(f"S{stage}", c.style)
        text.append(" ")
    text.append("fault", FAULT.style)
    text.append(" ")
    for role in SHOWN_ROLES:
        text.append(str(role), ROLE[role].style)
        text.append(" ")
    text.append("reserved-set", RESERVED_SET.style)
    return text

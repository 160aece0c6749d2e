"""A high-contrast theme for projectors (pure black and white, saturated accents)."""

from __future__ import annotations

from textual.theme import Theme

HIGH_CONTRAST = Theme(
    name="npt-high-contrast",
    primary="#FFFF00",
    secondary="#00FFFF",
    accent="#FF00FF",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#202020",
    success="#00FF00",
    warning="#FFB000",
    error="#FF3030",
    boost="#303030",
    dark=True,
    variables={
        "border": "#FFFFFF",
        "border-blurred": "#A0A0A0",
        "footer-key-foreground": "#FFFF00",
        "block-cursor-background": "#FFFF00",
        "block-cursor-foreground": "#000000",
        "block-cursor-text-style": "bold",
        "input-selection-background": "#FFFF00 40%",
    },
)

#: what snapshot tests pin (and the default): Textual's own dark theme
DEFAULT_THEME = "textual-dark"

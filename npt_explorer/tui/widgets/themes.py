"""A high-contrast theme for projectors (pure black and white, saturated accents)."""

from __future__ import annotations

from textual.theme import Theme

HIGH_CONTRAST = Theme(
    name="npt-high-contrast",
    primary="#FFFF00",
    secondary="#00FFFF",
    accent="#FF55FF",  # #FF00FF is 6.7:1 on black, under AAA's 7:1
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#202020",
    success="#00FF00",
    warning="#FFB000",
    error="#FF6464",  # #FF3030 is 5.7:1 on black
    boost="#303030",
    dark=True,
    variables={
        "border": "#FFFFFF",
        "border-blurred": "#A0A0A0",
        "footer-key-foreground": "#FFFF00",
        # the cursor reverses what it covers: a coloured cell (stage 2 violet, a fault red)
        # becomes black on that colour, >= 7:1 for every colour of the palette, where the
        # colour on a yellow cursor was ~2:1; an uncoloured cell is black on yellow (focused)
        # or on grey (blurred)
        "block-cursor-background": "#000000",
        "block-cursor-foreground": "#FFFF00",
        "block-cursor-text-style": "reverse bold",
        "block-cursor-blurred-background": "#000000",
        "block-cursor-blurred-foreground": "#A0A0A0",
        "block-cursor-blurred-text-style": "reverse",
        "input-selection-background": "#FFFF00 40%",
    },
)

#: what snapshot tests pin (and the default): Textual's own dark theme
DEFAULT_THEME = "textual-dark"

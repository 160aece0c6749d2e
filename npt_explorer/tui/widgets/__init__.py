"""Widgets the panels are built from: the text grid, bars, dialogs, the command line, themes
and the cheap repaints."""

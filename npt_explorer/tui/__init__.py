"""The Textual TUI: linked panels over one machine (`npt-explorer` with no verb).

`make_app(file=None, arch=None)` builds the app (the CLI and the tests use it); `run_app`
runs it. Textual is imported only here, never by `engine/` or `scenario/`."""

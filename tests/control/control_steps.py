"""Scenario text builders for the control-state tests."""

from __future__ import annotations


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return f'"{value}"'


def step(op: str, **keys: object) -> str:
    """One `[[step]]` table: step("access", gva="0x1000", expect={"tlb": "hit"})."""
    lines = ["[[step]]", f'op = "{op}"']
    lines += [f"{k} = {toml_value(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def machine_text(arch: str, registers: dict[str, object] | None = None, **machine: object) -> str:
    """The `[scenario]` and `[machine]` head of a test scenario."""
    out = f'[scenario]\ntitle = "control test"\narch = "{arch}"\n[machine]\n'
    out += "".join(f"{k} = {toml_value(v)}\n" for k, v in machine.items())
    if registers:
        out += "[machine.registers]\n"
        out += "".join(f"{k} = {toml_value(v)}\n" for k, v in registers.items())
    return out

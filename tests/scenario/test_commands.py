"""One command vocabulary for scenario steps and typed commands; every error names its key."""

from __future__ import annotations

import pytest

from npt_explorer.engine import MappingFlags
from npt_explorer.engine.machine import Machine
from npt_explorer.scenario import CommandError, build, loads, parse_line
from npt_explorer.scenario.runner import execute


def test_a_typed_command_and_a_step_table_build_the_same_command():
    typed = parse_line("map stage=2 gpa=0 size=16M flags=rwx hpa=0x8000_0000 huge=true")
    table = build(
        "map",
        {
            "stage": 2,
            "gpa": "0x0",
            "size": "16M",
            "flags": "rwx",
            "backend": "linear",
            "hpa": "0x8000_0000",
            "huge": True,
        },
    )
    assert typed.args == table.args
    assert typed.args["size"] == 16 << 20 and typed.args["flags"] == MappingFlags(7)
    assert typed.args["backend"] == "linear"


def test_inline_tables_and_dotted_keys():
    a = parse_line('access gva=0x4000_1008 access=write expect={result="ok", refs=24}')
    b = parse_line("access gva=0x4000_1008 access=write expect.result=ok expect.refs=24")
    assert (
        a.args
        == b.args
        == {"gva": 0x4000_1008, "access": "write", "expect": {"result": "ok", "refs": 24}}
    )


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("mapp stage=1", "op"),
        ("map stage=3 gpa=0 size=4K flags=r", "stage"),
        ("map stage=2 gpa=0 size=4K flags=rq hpa=0", "flags"),
        ("map stage=2 gpa=zz size=4K flags=r hpa=0", "gpa"),
        ("map stage=2 gpa=0 flags=r hpa=0", "size"),
        ("map stage=1 gva=0 size=4K flags=r", "gpa"),
        ("map stage=2 gpa=0 size=4K flags=r backend=linear", "hpa"),
        ("access gva=0x1000 access=jump", "access"),
        ("access gva=0x1000 colour=red", "colour"),
        ("flush kind=invlpgb", "kind"),
        ("poke stage=1 gva=0 depth=0", "value"),
        ("access gva=0 expect.refz=3", "expect"),
        ("access gva=0 expect.error=Oops", "expect"),
        ("", "op"),
    ],
)
def test_bad_commands_name_the_offending_key(line, key):
    with pytest.raises(CommandError) as err:
        parse_line(line)
    assert err.value.key == key
    assert err.value.message


def test_to_line_and_to_toml_parse_back_to_the_same_command():
    for text in (
        "map stage=2 gpa=0x200000 size=8M flags=rwx hpa=0x80200000",
        "map stage=1 gva=0x40000000 gpa=0x200000 size=8K flags=rw huge=true",
        'access gva=0x40001008 access=write expect={result="ok", refs=24}',
        "poke stage=1 gva=0x40001000 depth=3 fields.A=0",
        "flush kind=invept-single",
        "note the guest maps its code",
    ):
        cmd = parse_line(text)
        assert parse_line(cmd.to_line()).args == cmd.args
        doc = '[scenario]\ntitle="t"\narch="x86_64"\n' + cmd.to_toml()
        assert loads(doc).steps[0].args == cmd.args


def test_a_note_of_several_lines_is_written_as_a_toml_string_that_reads_back():
    # a scenario's note may span lines ("""…"""); a saved session writes it on one line
    cmd = build("note", {"text": 'The guest maps\n"its" code\\here'})
    doc = '[scenario]\ntitle="t"\narch="x86_64"\n' + cmd.to_toml()
    assert loads(doc).steps[0].args == cmd.args


def test_execute_turns_engine_errors_into_results_and_checks_expected_errors():
    m = Machine(arch="x86_64")
    bad = execute(m, parse_line("map stage=1 gva=0x1001 gpa=0 size=4K flags=r"))
    assert bad.error is not None and bad.error.kind == "NotAligned" and not bad.passed
    wanted = execute(
        m, parse_line("map stage=1 gva=0x1001 gpa=0 size=4K flags=r expect.error=NotAligned")
    )
    assert wanted.passed and wanted.to_json()["error"]["kind"] == "NotAligned"


def test_a_walk_result_has_the_contract_json_shape():
    m = Machine(arch="riscv64")
    execute(m, parse_line("map stage=2 gpa=0x200000 size=2M flags=rwxu hpa=0x80200000"))
    execute(m, parse_line("map stage=1 gva=0x40000000 gpa=0x200000 size=4K flags=rw"))
    r = execute(m, parse_line("access gva=0x40000008 expect.refs=15"), index=3)
    doc = r.to_json()
    for key in (
        "index",
        "op",
        "line",
        "result",
        "gva",
        "gpa",
        "hpa",
        "page_size",
        "refs",
        "writes",
        "tlb",
        "fault",
        "walk",
        "expect",
    ):
        assert key in doc
    assert doc["expect"] == {"passed": True, "mismatches": []}
    assert doc["hpa"] == "0x80200008" and doc["page_size"] == 4096
    step = doc["walk"][0]
    for key in (
        "stage",
        "depth",
        "level_name",
        "purpose",
        "table",
        "index",
        "entry_addr",
        "raw",
        "fields",
        "outcome",
    ):
        assert key in step

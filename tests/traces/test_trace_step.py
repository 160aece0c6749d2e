"""The scenario `trace` step with `file = …`: a program's trace on a fresh machine of the
scenario's `[machine]`, paths relative to the scenario, bad steps refused at load."""

from __future__ import annotations

import pytest

from npt_explorer.scenario import ScenarioError, load, run

HEAD = '[scenario]\ntitle = "t"\narch = "x86_64"\n[machine]\nwalk_caches = "intel-psc"\n'


def scenario(tmp_path, step: str):
    (tmp_path / "t.txt").write_text("0x40000000\n0x40001000\n")
    path = tmp_path / "s.toml"
    path.write_text(HEAD + '[[step]]\nop = "trace"\n' + step)
    return path


def test_a_file_trace_step_checks_references_to_memory(tmp_path):
    # two neighbouring pages: 24 + 24 references, 14 + 3 to memory (worked out in
    # tests/traces/test_trace_verb.py)
    path = scenario(tmp_path, 'file = "t.txt"\nexpect = { walks = 2, refs = 48, mem_refs = 17 }\n')
    replay = run(load(path))
    assert replay.passed
    assert replay.results[0].data["trace"]["served"]["PDE cache"] == 15


def test_a_file_trace_step_can_fail_its_expectation(tmp_path):
    replay = run(load(scenario(tmp_path, 'file = "t.txt"\nexpect = { mem_refs = 48 }\n')))
    assert not replay.passed


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ('file = "missing.txt"\n', "no such file"),
        ('file = "t.txt"\ngva = "0x1000"\n', "takes its addresses from it: no gva"),
        ('gva = "0x1000"\nsize = "4K"\n', "trace needs count"),
        ('gva = "0"\nsize = "4K"\ncount = 4\ns1_page = "2M"\n', "s1_page goes with file"),
        ('file = "t.txt"\ns2_page = "3M"\n', "allowed: 4K, 2M, 1G"),
    ],
)
def test_bad_trace_steps_are_invalid_files_naming_the_line(tmp_path, step, words):
    with pytest.raises(ScenarioError) as err:
        load(scenario(tmp_path, step))
    assert words in err.value.message and err.value.line is not None and err.value.line >= 6


def test_a_saved_session_writes_the_trace_file_relative_to_where_it_is_saved(tmp_path):
    from npt_explorer.scenario.session import Session

    session = Session.from_file(scenario(tmp_path, 'file = "t.txt"\n'))
    session.run_scenario_steps(1)
    (tmp_path / "sub").mkdir()
    for where, written in (("s2", 'file = "t.txt"'), ("sub/s3", 'file = "../t.txt"')):
        saved = session.save(tmp_path / where)
        text = saved.read_text()
        assert written in text and str(tmp_path) not in text
        assert 'walk_caches = "intel-psc"' in text  # the machine's caches are saved too
        assert run(load(saved)).results[0].data["trace"]["mem_refs"] == 17


def test_custom_walk_caches_survive_a_save(tmp_path):
    from npt_explorer.scenario.session import Session

    caches = (
        'walk_caches = { preset = "amd-pwc-ntlb", caches = [ { name = "mine", kind = "psc",'
        " stage = 1, levels = [2], entries = 2, ways = 2 } ] }\n"
    )
    path = tmp_path / "c.toml"
    path.write_text(HEAD.replace('walk_caches = "intel-psc"\n', caches))
    session = Session.from_file(path)
    saved = load(session.save(tmp_path / "again"))
    original = load(path).config
    assert saved.config.walk_cache_preset == original.walk_cache_preset == "amd-pwc-ntlb"
    assert saved.config.walk_cache_specs == original.walk_cache_specs

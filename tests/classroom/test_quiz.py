"""Quiz problems come from the engine: the same seed gives the same problems, and every answer
is what `replay` computes for the problem exported as a scenario file."""

from __future__ import annotations

import json
import os

import pytest

from npt_explorer.classroom.quiz import (
    ANY_MODE,
    MIX_ARCHES,
    QUIZ_ARCHES,
    TOPICS,
    Problem,
    generate,
    modes,
    value_at,
)
from npt_explorer.classroom.quiz_text import quiz_markdown
from npt_explorer.cli import main
from npt_explorer.scenario import loads, run

#: 3 arches × 5 topics × 67 = 1,005 problems
PER_CELL = 67
#: problems per (guest mode, stage-2 mode, topic) beyond the defaults; NPT_QUIZ_MODES=20 for a
#: deep run (every mode pair × 5 topics × 20: 3,700 problems with 37 pairs)
PER_MODE = int(os.environ.get("NPT_QUIZ_MODES", "1"))


def _replayed_value(problem: Problem, step: int, key: str) -> object:
    doc = run(loads(problem.scenario_toml())).results[step - 1].to_json()
    value = value_at(doc, key)
    return int(value, 16) if isinstance(value, str) and value.startswith("0x") else value


def _check_against_replay(problem: Problem) -> None:
    replay = run(loads(problem.scenario_toml(), f"problem {problem.number}"))
    assert replay.passed, [r.mismatches for r in replay.failures]
    for part in problem.parts:
        if part.choices:
            for choice in part.choices:
                chosen = run(loads(problem.scenario_toml(choice)))
                removed = chosen.results[-1].data["tlb"]["stale"] == 0
                assert removed == (choice.to_line() == part.answer), choice.to_line()
            continue
        value = value_at(replay.results[part.step - 1].to_json(), part.key)
        if isinstance(value, str) and value.startswith("0x"):
            value = int(value, 16)
        if value is None:
            value = "none"
        assert value == part.answer, (problem.number, part.key)


def test_the_same_seed_gives_the_same_problems_and_another_seed_others():
    first = [p.to_json(True) for p in generate(seed=7, count=25)]
    again = [p.to_json(True) for p in generate(seed=7, count=25)]
    other = [p.to_json(True) for p in generate(seed=8, count=25)]
    assert first == again
    assert first != other


@pytest.mark.parametrize("arch", MIX_ARCHES)
@pytest.mark.parametrize("topic", TOPICS)
def test_every_answer_is_what_replay_computes_for_the_same_machine(arch, topic):
    problems = generate(seed=2026, count=PER_CELL, arch=arch, topic=topic)
    assert {p.arch for p in problems} == {arch} and {p.topic for p in problems} == {topic}
    for problem in problems:
        _check_against_replay(problem)


@pytest.mark.parametrize("arch", QUIZ_ARCHES)
def test_every_paging_mode_of_every_arch_gets_problems_that_replay_confirms(arch):
    """PAE and 5-level guests, AMD NPT, Arm va39/ipa39..48, Sv48/Sv48x4, LoongArch LVZ: each
    (guest, stage-2) pair of the arch, every topic (huge pages included)."""
    for guest in modes(arch, "guest"):
        for npt in modes(arch, "npt"):
            for topic in TOPICS:
                problems = generate(2027, PER_MODE, arch, topic, guest, npt)
                for problem in problems:
                    assert (problem.config.guest, problem.config.npt) == (guest, npt)
                    assert f"guest {guest}, npt {npt}" in problem.context
                    _check_against_replay(problem)


def test_a_32_bit_guest_huge_problem_maps_one_4_mib_page():
    # Intel SDM Vol. 3A 4.3: with CR4.PSE a 32-bit PDE with PS=1 maps 4 MiB, so the walk
    # reads one guest entry (the PDE) and the final gPA, each behind an EPT walk of 4
    # entries (3 when stage 2 maps 2 MiB too): 1 + 4 + 4 = 9, or 1 + 3 + 3 = 7
    for problem in generate(seed=1, count=6, arch="x86_64", topic="huge", guest="32-bit"):
        s1 = problem.steps[1]
        if s1.args.get("huge"):
            assert s1.args["size"] == 0x40_0000 and s1.args["gva"] % 0x40_0000 == 0
            refs = next(p for p in problem.parts if p.key == "refs")
            s2_walk = 3 if problem.steps[0].args.get("huge") else 4
            assert refs.answer == 1 + 2 * s2_walk
            return
    raise AssertionError("no stage-1 huge problem in six draws")


def test_any_mode_draws_each_problems_modes_from_the_arch_and_is_seeded():
    problems = generate(seed=6, count=30, arch="x86_64", guest=ANY_MODE, npt=ANY_MODE)
    assert {p.config.guest for p in problems} == set(modes("x86_64", "guest"))
    assert {p.config.npt for p in problems} == set(modes("x86_64", "npt"))
    again = generate(seed=6, count=30, arch="x86_64", guest=ANY_MODE, npt=ANY_MODE)
    assert [p.to_json(True) for p in problems] == [p.to_json(True) for p in again]


def test_a_mixed_quiz_covers_every_topic_and_the_three_lesson_architectures():
    problems = generate(seed=1, count=60)
    assert {p.topic for p in problems} == set(TOPICS)
    assert {p.arch for p in problems} == set(MIX_ARCHES)
    assert {(p.config.guest, p.config.npt) for p in problems} == {
        ("4-level", "ept4"),
        ("va48", "ipa40"),
        ("sv39", "sv39x4"),
    }  # the default modes unless asked


def test_answers_are_accepted_in_any_spelling_of_their_value():
    problem = next(p for p in generate(seed=4, count=40, topic="walk") if p.parts[0].key == "gpa")
    gpa = problem.parts[0]
    assert gpa.accepts(f"{gpa.answer:#x}") and gpa.accepts(str(gpa.answer))
    assert gpa.accepts(f"{gpa.answer:#_x}".upper().replace("X", "x"))
    assert not gpa.accepts(f"{gpa.answer + 8:#x}") and not gpa.accepts("banana")


def test_a_choice_is_accepted_by_its_letter_or_its_command():
    problem = generate(seed=5, count=1, arch="x86_64", topic="tlb")
    parts = [p for q in generate(seed=5, count=30, topic="tlb") for p in q.parts if p.choices]
    assert parts, problem
    part = parts[0]
    letter = "abcd"[part.choice_index]
    wrong = next(x for x in "abcd"[: len(part.choices)] if x != letter)
    assert part.accepts(letter) and part.accepts(letter.upper()) and part.accepts(part.answer)
    assert not part.accepts(wrong)


def test_words_are_accepted_case_blind():
    part = next(
        p
        for q in generate(seed=9, count=20, topic="faults")
        for p in q.parts
        if p.key == "fault.reason"
    )
    assert part.accepts(str(part.answer).upper()) and not part.accepts("misaligned-ish")


def test_quiz_json_holds_answers_only_with_answers(capsys):
    assert main(["quiz", "--seed", "3", "--count", "4", "--json"]) == 0
    bare = json.loads(capsys.readouterr().out)
    assert main(["quiz", "--seed", "3", "--count", "4", "--json", "--answers"]) == 0
    keyed = json.loads(capsys.readouterr().out)
    assert len(bare["problems"]) == 4
    assert all("answer" not in part for p in bare["problems"] for part in p["parts"])
    assert all("answer" in part for p in keyed["problems"] for part in p["parts"])
    assert [p["steps"] for p in bare["problems"]] == [p["steps"] for p in keyed["problems"]]


def test_quiz_markdown_names_the_modes_asked_for(capsys):
    argv = ["quiz", "--arch", "x86_64", "--guest", "pae", "--npt", "npt4", "--count", "2"]
    assert main([*argv, "--markdown"]) == 0
    text = capsys.readouterr().out
    assert "--guest pae --npt npt4" in text and text.count("guest pae, npt npt4") == 2


def test_quiz_markdown_is_a_problem_set_and_answers_its_key(capsys):
    assert main(["quiz", "--seed", "11", "--count", "3", "--topic", "faults", "--markdown"]) == 0
    problem_set = capsys.readouterr().out
    argv = ["quiz", "--seed", "11", "--count", "3", "--topic", "faults", "--markdown", "--answers"]
    assert main(argv) == 0
    key = capsys.readouterr().out
    assert problem_set.startswith("# Nested paging — problem set")
    assert "npt-explorer quiz --seed 11 --count 3 --topic faults" in problem_set
    assert "**Answer" not in problem_set and key.count("**Answer") >= 9
    assert quiz_markdown(generate(11, 3, topic="faults"), True).count("## Problem") == 3


def test_an_exported_problem_passes_replay_check(tmp_path, capsys):
    for n, problem in enumerate(generate(seed=12, count=5)):
        path = tmp_path / f"p{n}.toml"
        path.write_text(problem.scenario_toml())
        assert main(["replay", "--check", str(path)]) == 0, path.read_text()
    capsys.readouterr()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["quiz", "--count", "0"], "--count 0"),
        (["quiz", "--topic", "nonsense"], "invalid choice"),
        (["quiz", "--arch", "mips"], "invalid choice"),
        (["quiz", "--guest", "pae"], "guest 'pae' needs an arch"),
        (["quiz", "--arch", "aarch64", "--npt", "ept4"], "unknown aarch64 npt mode 'ept4'"),
        (["quiz", "--arch", "teach"], "no quiz for arch 'teach': the teaching geometry"),
    ],
)
def test_bad_quiz_arguments_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err

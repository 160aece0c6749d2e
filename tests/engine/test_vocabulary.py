"""Closed vocabularies are enums whose values are the JSON words, and a fault says whether it
was taken on a stage-1 table walk (`s1ptw`) as a field, not as a word to compare."""

from __future__ import annotations

import json

from test_walk import fault, machine

from npt_explorer.engine import Backend, During, StepOutcome, TlbKind


def test_the_enums_serialise_to_the_words_the_json_always_had():
    words = [During.GUEST_WALK, During.FINAL, StepOutcome.FAULT, TlbKind.STAGE2, Backend.ALLOC]
    assert json.dumps(words) == '["guest-walk", "final", "fault", "stage2", "alloc"]'
    assert f"{TlbKind.COMBINED}" == "combined" and During.FINAL == "final"


def test_a_stage2_fault_reading_a_guest_table_is_an_s1ptw_fault():
    m = machine("x86_64")
    m.unmap(2, 0x10_2000, 0x1000)  # the guest's page directory (test_walk's layout)
    f = fault(m)
    assert (f.stage, f.during, f.s1ptw) == (2, During.GUEST_WALK, True)


def test_a_stage2_fault_on_the_final_gpa_and_a_stage1_fault_are_not():
    final = fault(machine("aarch64", s2_flags="r"), access="write")
    assert (final.stage, final.during, final.s1ptw) == (2, "final", False)
    guest = machine("aarch64")
    guest.poke(1, 0x4000_1008, 3, fields={"AF": 0})
    f = fault(guest)
    assert (f.stage, f.during, f.s1ptw) == (1, None, False)


def test_every_step_of_a_walk_is_table_until_the_leaf():
    walk = machine("x86_64").access(0x4000_1008, "read")
    outcomes = [s.outcome for s in walk.steps if s.stage == 1]
    assert outcomes == [StepOutcome.TABLE] * 3 + [StepOutcome.LEAF]

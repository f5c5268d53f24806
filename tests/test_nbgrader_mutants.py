"""The autograder tells right from wrong: every buggy variant in the mutation bank (tests/mutations/) loses
the points of its own task and only those, and every correct solution written another way (a variant with
``loses = []``) earns full marks. All the mutants of one assignment are graded in ONE
``nbgrader autograde`` call, each as a student of its own, next to the unmodified solution (the
`graded_course` fixture of conftest.py, shared with the round-trip tests).
"""

from __future__ import annotations

import pytest
from nbgrader_helpers import (
    MUTATIONS,
    assignments,
    grade_cells,
    grouped,
    load_mutants,
)

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

BANKS = [a for a in assignments() if (MUTATIONS / f"{a}.toml").exists()]
# With pytest-xdist (--dist loadgroup), all the tests of one assignment run on one worker: its single
# autograde run is shared by them, and different assignments are graded in parallel.
BANK_PARAMS = [grouped(a) for a in BANKS]
CASES = [grouped(a, m, id=f"{a}-{m.name}") for a in BANKS for m in load_mutants(a)]


def test_every_assignment_has_a_bank_of_at_least_three_bugs_and_one_correct_variant():
    assert BANKS == assignments()
    for assignment in BANKS:
        mutants = load_mutants(assignment)
        assert sum(not m.is_correct for m in mutants) >= 3, f"{assignment}: fewer than three bugs"
        assert any(m.is_correct for m in mutants), (
            f"{assignment}: no correct-but-different variant (a mutant with loses = []) checks the tests' fairness")
        names = {m.name for m in mutants}
        assert len(names) == len(mutants), "mutant names are student ids: keep them unique"
        assert not names & {"solved", "untouched"}, "those student ids belong to the round-trip tests"
        cells = set(grade_cells(assignment))
        for mutant in mutants:
            assert mutant.loses <= cells, f"{mutant.name}: unknown test cells {mutant.loses - cells}"


@pytest.mark.parametrize("assignment", BANK_PARAMS)
def test_the_solution_graded_with_its_mutants_earns_full_marks(graded_course, assignment):
    _, run = graded_course(assignment)
    expected = {c: (p, p) for c, p in grade_cells(assignment).items()}
    assert run.scores["solved"] == expected, run.autograde.stderr[-3000:]


@pytest.mark.parametrize(("assignment", "mutant"), CASES)
def test_a_mutant_loses_the_points_of_its_own_task_and_only_those(graded_course, assignment, mutant):
    _, run = graded_course(assignment)
    got = run.scores
    assert mutant.name in got, f"nbgrader did not grade {mutant.name}:\n{run.autograde.stderr[-3000:]}"
    lost = {cell for cell, (score, points) in got[mutant.name].items() if score < points}
    if mutant.is_correct:
        assert not lost, f"{mutant.name} is correct code written another way, yet lost {sorted(lost)}"
    assert lost == set(mutant.loses), (
        f"{mutant.name} should lose {sorted(mutant.loses)} but lost {sorted(lost)}: "
        + ("the bug is not caught" if not lost else "check the tests' independence"))
    for cell in mutant.loses:
        assert got[mutant.name][cell][0] == 0, "a test cell scores all or nothing"

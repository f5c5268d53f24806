"""Hostile and broken submissions get a clear outcome and never stop the grading of anyone else.

One course, one assignment, one ``scripts/grade.py`` run (which makes one ``nbgrader autograde`` call)
over a good student and seven bad ones: a cell that raises at import, an infinite loop, megabytes of
output, an edited and a deleted locked test cell, a file that is not JSON, and an empty file.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import nbformat
import pytest
from nbgrader_helpers import ROOT, grade_cells, make_course, notebook_name, scores, student_notebook, submit

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("hostile")]

ASSIGNMENT = "01_next_word"
TIMEOUT = 20  # seconds per cell for this run (nbgrader_config.py allows 30)
FIRST_TASK, SECOND_TASK = "count_bigrams", "bigram_probs"
FIRST_TEST, SECOND_TEST, THIRD_TEST = "test_count_bigrams", "test_bigram_probs", "test_cross_entropy"


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.fixture(scope="session")  # session: xdist may interleave modules on a worker
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("hostile"), [ASSIGNMENT])
    good = student_notebook(course, ASSIGNMENT)
    submit(course, "good", ASSIGNMENT, good)

    nb = student_notebook(course, ASSIGNMENT)
    _cell(nb, FIRST_TASK).source = "import a_module_that_does_not_exist\n" + _cell(nb, FIRST_TASK).source
    submit(course, "raises_at_import", ASSIGNMENT, nb)

    nb = student_notebook(course, ASSIGNMENT)
    cell = _cell(nb, SECOND_TASK)
    cell.source = cell.source.replace('    """Row-normalised, add-k smoothed bigram probabilities, (V, V) float32."""\n',
                                      '    """Row-normalised, add-k smoothed bigram probabilities, (V, V) float32."""\n'
                                      "    while True:\n        pass\n", 1)
    assert "while True" in cell.source
    submit(course, "infinite_loop", ASSIGNMENT, nb)

    nb = student_notebook(course, ASSIGNMENT)
    _cell(nb, FIRST_TASK).source += "\n\nfor _line in range(100_000):\n    print('x' * 80)\n"  # 8 MB
    submit(course, "prints_megabytes", ASSIGNMENT, nb)

    nb = student_notebook(course, ASSIGNMENT)
    _cell(nb, FIRST_TEST).source = "pass  # the tests are fine, trust me"
    submit(course, "edits_a_test_cell", ASSIGNMENT, nb)

    nb = student_notebook(course, ASSIGNMENT)
    nb.cells.remove(_cell(nb, SECOND_TEST))
    submit(course, "deletes_a_test_cell", ASSIGNMENT, nb)

    submit(course, "not_json", ASSIGNMENT, '{"cells": [ this is not JSON')
    submit(course, "empty_file", ASSIGNMENT, b"")

    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "grade.py"), "--course", str(course), "--timeout", str(TIMEOUT)],
        capture_output=True, text=True, timeout=1800)
    with (course / "grading_report.csv").open(encoding="utf-8") as f:
        report = {row["student_id"]: row for row in csv.DictReader(f)}
    with (course / "grades.csv").open(encoding="utf-8") as f:
        grades = {row["student_id"]: row for row in csv.DictReader(f)}
    return course, result, report, grades


def _lost(course, student: str) -> set[str]:
    return {cell for cell, (s, m) in scores(course, ASSIGNMENT)[student].items() if s < m}


def test_grading_finishes_with_every_readable_submission_graded(graded):
    course, result, report, _ = graded
    assert result.returncode == 0, result.stdout + result.stderr
    for student in ("good", "raises_at_import", "infinite_loop", "prints_megabytes", "edits_a_test_cell",
                    "deletes_a_test_cell"):
        assert report[student]["status"] == "graded", (student, result.stdout)


def test_the_good_student_gets_full_marks_next_to_the_hostile_ones(graded):
    _, result, report, grades = graded
    total = sum(grade_cells(ASSIGNMENT).values())
    assert float(report["good"]["score"]) == total, result.stdout
    assert float(grades["good"]["score"]) == total


def test_a_cell_that_raises_at_import_costs_only_its_task(graded):
    course, _, report, _ = graded
    assert _lost(course, "raises_at_import") == {FIRST_TEST}


def test_an_infinite_loop_is_stopped_and_costs_only_its_task(graded):
    course, result, report, _ = graded
    assert _lost(course, "infinite_loop") == {SECOND_TEST}
    assert f"cell {SECOND_TEST} ran too long (> {TIMEOUT} s) and was stopped" in report["infinite_loop"]["notes"]
    page = (course / "feedback" / "infinite_loop" / ASSIGNMENT / f"{notebook_name(ASSIGNMENT)}.html").read_text()
    assert "CellTimeoutError" in page


def test_megabytes_of_output_are_truncated_and_do_not_cost_points(graded):
    course, _, report, _ = graded
    assert _lost(course, "prints_megabytes") == set()
    assert "printed too much: its output was truncated" in report["prints_megabytes"]["notes"]
    autograded = course / "autograded" / "prints_megabytes" / ASSIGNMENT / f"{notebook_name(ASSIGNMENT)}.ipynb"
    assert autograded.stat().st_size < 200_000
    feedback = course / "feedback" / "prints_megabytes" / ASSIGNMENT / f"{notebook_name(ASSIGNMENT)}.html"
    assert feedback.stat().st_size < 1_000_000


def test_an_edited_test_cell_is_restored_and_graded(graded):
    course, _, report, _ = graded
    assert _lost(course, "edits_a_test_cell") == set()
    assert f"locked cell {FIRST_TEST} was edited" in report["edits_a_test_cell"]["notes"]
    autograded = json.loads((course / "autograded" / "edits_a_test_cell" / ASSIGNMENT /
                             f"{notebook_name(ASSIGNMENT)}.ipynb").read_text())
    restored = next(c for c in autograded["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == FIRST_TEST)
    assert "trust me" not in "".join(restored["source"]) and "BEGIN HIDDEN TESTS" in "".join(restored["source"])


def test_a_deleted_test_cell_is_put_back_and_graded(graded):
    course, _, report, _ = graded
    assert _lost(course, "deletes_a_test_cell") == set()
    assert f"locked cell {SECOND_TEST} was deleted" in report["deletes_a_test_cell"]["notes"]


@pytest.mark.parametrize(("student", "reason"), [("not_json", "is not valid JSON"), ("empty_file", "is empty")])
def test_a_file_that_is_not_a_notebook_is_reported_and_scores_zero(graded, student, reason):
    _, result, report, _ = graded
    assert report[student]["status"] == "not graded"
    assert reason in report[student]["notes"]
    assert float(report[student]["score"]) == 0
    assert student in result.stdout and reason in result.stdout

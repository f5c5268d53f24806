"""The learner's self-check runs an exercise notebook and reports each visible test cell, with its message;
it exits 0 only when all pass, and never shows a hidden test."""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest
from nbgrader_helpers import ROOT, SOLUTIONS, solved_source

from gpt2ref.course.selfcheck import run_selfcheck

pytestmark = pytest.mark.slow

ASSIGNMENT, NOTEBOOK = "01_next_word", "next_word"
RELEASED = ROOT / "exercises" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)


def _solved(tmp_path, edit=None):
    """The released notebook with the instructor's solutions filled in (and ``edit(cells)`` applied)."""
    nb = nbformat.read(RELEASED, as_version=4)
    source = nbformat.read(SOLUTIONS / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    cells = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = solved_source(answers[grade_id])
        cells[grade_id] = cell
    if edit:
        edit(cells)
    path = tmp_path / f"{NOTEBOOK}.ipynb"
    nbformat.write(nb, path)
    return path


def _selfcheck(*args):
    return subprocess.run([sys.executable, "-m", "gpt2ref.course.selfcheck", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


def test_the_untouched_exercise_fails_every_test_and_exits_1():
    result = _selfcheck(RELEASED)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.strip().startswith("FAIL") for line in lines) == 4
    assert "NotImplementedError" in result.stdout or "NameError" in result.stdout
    assert "0/4 visible test cells passed (0/11 points)" in result.stdout


def test_a_solved_notebook_passes_every_test_and_exits_0(tmp_path):
    result = _selfcheck(_solved(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4/4 visible test cells passed (11/11 points)" in result.stdout


def test_a_bug_fails_its_test_with_the_teaching_message_and_no_hidden_code(tmp_path):
    def swap_rows_and_columns(cells):
        cells["count_bigrams"].source = cells["count_bigrams"].source.replace("counts[prev, nxt]", "counts[nxt, prev]")

    report = run_selfcheck(_solved(tmp_path, swap_rows_and_columns), timeout=120)
    status = {t.grade_id: t.passed for t in report.tests}
    assert status == {"test_count_bigrams": False, "test_bigram_probs": True, "test_cross_entropy": True,
                      "test_generate_loop": True}
    message = report.tests[0].message
    assert "values differ" in message and "at index" in message and "Hint: entry [a, b]" in message
    source = nbformat.read(SOLUTIONS / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    hidden_lines = {line.strip() for cell in source.cells for block in HIDDEN.findall(cell.source)
                    for line in block.splitlines() if len(line.strip()) >= 12}
    assert hidden_lines and not [line for line in hidden_lines if line in report.format()]
    assert not report.ok


def test_a_cell_that_runs_forever_is_stopped_and_reported(tmp_path):
    def loop_forever(cells):
        cells["generate_loop"].source = cells["generate_loop"].source.replace(
            "    ids = [int(i) for i in start_ids]\n", "    ids = [int(i) for i in start_ids]\n    while True:\n        pass\n")

    report = run_selfcheck(_solved(tmp_path, loop_forever), timeout=10)
    failed = {t.grade_id: t.message for t in report.tests if not t.passed}
    assert list(failed) == ["test_generate_loop"]
    assert "CellTimeoutError" in failed["test_generate_loop"]


def test_cells_after_a_dead_kernel_are_named_as_not_checked_and_stderr_is_no_failure(tmp_path):
    def debug_print_then_exit(cells):
        cells["count_bigrams"].source += "\n\nimport sys\nprint('debug', file=sys.stderr)\n"
        cells["bigram_probs"].source += "\n\nimport os\nos._exit(1)\n"

    report = run_selfcheck(_solved(tmp_path, debug_print_then_exit), timeout=60)
    status = {t.grade_id: (t.passed, t.checked) for t in report.tests}
    assert status == {"test_count_bigrams": (True, True), "test_bigram_probs": (False, False),
                      "test_cross_entropy": (False, False), "test_generate_loop": (False, False)}
    text = report.format()
    assert "NOT CHECKED  test_bigram_probs" in text
    assert "Could not check test_bigram_probs, test_cross_entropy, test_generate_loop" in text
    assert not report.ok


def test_the_exercises_hold_no_hidden_tests_for_the_selfcheck_to_run():
    for path in sorted((ROOT / "exercises").glob("*/*.ipynb")):
        assert "HIDDEN TESTS" not in path.read_text(encoding="utf-8"), path


@pytest.mark.parametrize("content", [None, "not a notebook", '{"cells": []}'])
def test_something_that_is_not_an_exercise_notebook_gets_a_clear_error_and_exit_2(tmp_path, content):
    path = tmp_path / "nb.ipynb"
    if content is not None:
        path.write_text(content)
    result = _selfcheck(path)
    assert result.returncode == 2
    assert result.stderr.startswith("selfcheck: ") and "Traceback" not in result.stderr

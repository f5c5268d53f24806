"""Every assignment survives the nbgrader round trip: the solution earns full marks, the untouched release
earns zero without crashing, and exercises/ is exactly what ``nbgrader generate_assignment`` makes from
solutions/, with no solution code and no hidden test in it. All through nbgrader, in a temporary course.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys

import nbformat
import pytest
from nbgrader_helpers import (
    ROOT,
    assignments,
    grade_cells,
    grouped,
    notebook_name,
)

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

ASSIGNMENTS = assignments()
# With pytest-xdist (--dist loadgroup), the tests of one assignment share a worker and its autograde run
# (the `graded_course` fixture of conftest.py, shared with the mutation tests).
GROUPED = [grouped(a) for a in ASSIGNMENTS]
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.DOTALL)
VOLATILE_CELL_KEYS = {"execution_count", "outputs"}


def _cells(nb: dict) -> list[dict]:
    return [{k: v for k, v in cell.items() if k not in VOLATILE_CELL_KEYS} for cell in nb["cells"]]


def _secret_lines(assignment: str, pattern: re.Pattern) -> set[str]:
    """Distinctive lines of the solution regions (or hidden tests) of an instructor notebook: lines found
    nowhere else in the notebook (the instructions may quote a formula), so one in a release is a leak."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{notebook_name(assignment)}.ipynb", as_version=4)
    secret = {line.strip() for cell in nb.cells for region in pattern.findall(cell.source)
              for line in region.splitlines()}
    public = "\n".join(pattern.sub("", cell.source) for cell in nb.cells)
    return {line for line in secret if len(line) >= 12 and not line.startswith("#") and line not in public}


def test_the_solution_notebooks_are_built_from_their_cell_files():
    result = subprocess.run([sys.executable, "-m", "gpt2ref.course.assignments", "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("assignment", GROUPED)
def test_the_solution_earns_full_marks(graded_course, assignment):
    _, run = graded_course(assignment)
    expected = {cell: (points, points) for cell, points in grade_cells(assignment).items()}
    assert run.scores["solved"] == expected, run.autograde.stderr[-3000:]


@pytest.mark.parametrize("assignment", GROUPED)
def test_the_untouched_release_earns_zero_without_crashing(graded_course, assignment):
    folder, run = graded_course(assignment)
    autograde = run.autograde
    assert run.scores["untouched"] == {cell: (0.0, points) for cell, points in grade_cells(assignment).items()}
    autograded = folder / "autograded" / "untouched" / assignment / f"{notebook_name(assignment)}.ipynb"
    assert autograded.exists(), "nbgrader failed on the untouched notebook: " + autograde.stderr[-3000:]
    errors = {o["ename"] for c in json.loads(autograded.read_text())["cells"] for o in c.get("outputs", [])
              if o.get("output_type") == "error"}
    assert "NotImplementedError" in errors and "CellTimeoutError" not in errors


@pytest.mark.parametrize("assignment", GROUPED)
def test_exercises_are_exactly_what_generate_assignment_makes(graded_course, assignment):
    folder, _ = graded_course(assignment)
    name = f"{notebook_name(assignment)}.ipynb"
    committed = json.loads((ROOT / "exercises" / assignment / name).read_text(encoding="utf-8"))
    fresh = json.loads((folder / "exercises" / assignment / name).read_text(encoding="utf-8"))
    assert _cells(committed) == _cells(fresh), "exercises/ is stale: run `make release`"
    assert committed["metadata"] == fresh["metadata"]
    assert sorted(p.name for p in (ROOT / "exercises" / assignment).iterdir()) == \
        sorted(p.name for p in (folder / "exercises" / assignment).iterdir())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_release_holds_no_solution_and_no_hidden_test(assignment):
    text = (ROOT / "exercises" / assignment / f"{notebook_name(assignment)}.ipynb").read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    source = "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
    solution_lines = _secret_lines(assignment, SOLUTION)
    hidden_lines = _secret_lines(assignment, HIDDEN)
    assert solution_lines and hidden_lines, "the instructor notebook should have solutions and hidden tests"
    assert [line for line in solution_lines if line in source] == []
    assert [line for line in hidden_lines if line in source] == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_has_hidden_tests_and_every_task_a_note_on_the_selfcheck(assignment):
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{notebook_name(assignment)}.ipynb", as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert 3 <= len(tests) <= 6, "an assignment has 3 to 6 graded tasks"
    assert all(HIDDEN.search(c.source) for c in tests)
    assert all("check_not_reference(" in HIDDEN.search(c.source).group(1) for c in tests)
    assert f"python -m gpt2ref.course.selfcheck exercises/{assignment}/{notebook_name(assignment)}.ipynb" in nb.cells[0].source


@pytest.mark.parametrize("assignment", GROUPED)
def test_feedback_shows_the_scores_but_no_hidden_test(graded_course, assignment):
    folder, run = graded_course(assignment)
    feedback = run.feedback
    for student in ("solved", "untouched"):
        page = folder / "feedback" / student / assignment / f"{notebook_name(assignment)}.html"
        assert page.exists(), feedback.stderr[-3000:]
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        assert "BEGIN HIDDEN TESTS" not in text
        assert [line for line in _secret_lines(assignment, HIDDEN) if line in text] == []
        total = sum(grade_cells(assignment).values())
        assert re.search(rf"Score:\s*{total if student == 'solved' else 0:g}(\.0)?\s*/\s*{total:g}", text), text[:500]

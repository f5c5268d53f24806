"""An assignment's .nbsrc cell file becomes an nbgrader instructor notebook, and a malformed one is refused
with the file, the line and what to write instead."""

from __future__ import annotations

import pytest

from gpt2ref.course.assignments import NbsrcError, build_notebook, nbsrc_files, render

GOOD = """#%% markdown
# Title

#%% readonly id=setup
import math

#%% solution id=square
def square(x):
    ### BEGIN SOLUTION
    return x * x
    ### END SOLUTION

#%% tests id=test_square points=2
assert square(3) == 9
### BEGIN HIDDEN TESTS
assert square(-2) == 4
### END HIDDEN TESTS

#%% code
print(square(4))
"""


def test_each_kind_of_cell_gets_its_nbgrader_metadata():
    nb = build_notebook(GOOD)
    kinds = [(c.cell_type, c.metadata.get("nbgrader", {})) for c in nb.cells]
    assert [k[0] for k in kinds] == ["markdown", "code", "code", "code", "code"]
    setup, solution, tests, demo = (k[1] for k in kinds[1:])
    assert setup == {"grade": False, "grade_id": "setup", "locked": True, "schema_version": 3, "solution": False,
                     "task": False}
    assert solution["solution"] and not solution["locked"] and not solution["grade"]
    assert tests["grade"] and tests["locked"] and tests["points"] == 2
    assert demo == {}
    assert nb.cells[3].source.startswith("assert square(3) == 9") and nb.cells[3].source.endswith("### END HIDDEN TESTS")
    assert nb.cells[3].metadata["editable"] is False and nb.cells[3].metadata["deletable"] is False


def test_building_is_deterministic():
    assert render(build_notebook(GOOD)) == render(build_notebook(GOOD))


@pytest.mark.parametrize(("text", "message"), [
    ("#%% solution\nx = 1\n", "needs id=NAME"),
    ("#%% tests id=test_a\npass\n", "needs points=N"),
    ("#%% tests id=test_a points=0\npass\n", "needs points=N"),
    ("#%% solution id=Bad-Name\n### BEGIN SOLUTION\n### END SOLUTION\n", "lower_snake_case"),
    ("#%% solution id=a\nx = 1\n", "BEGIN SOLUTION"),
    ("#%% code\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n", "hidden tests belong in a tests cell"),
    ("#%% quiz id=q\n", "unknown cell kind 'quiz'"),
    ("text first\n#%% markdown\n", "text before the first"),
    ("#%% readonly id=a\n\n#%% readonly id=a\n", "duplicate id 'a'"),
    ("#%% markdown\nno tests\n", "at least one tests cell"),
])
def test_a_malformed_cell_file_is_refused_with_a_clear_message(text, message):
    with pytest.raises(NbsrcError, match=message):
        build_notebook(text, "x.nbsrc")


def test_every_committed_assignment_builds():
    files = nbsrc_files()
    assert files
    for path in files:
        build_notebook(path.read_text(encoding="utf-8"), path.name)

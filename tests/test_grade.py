"""gpt2ref.course.grade says, for each submission, what an instructor can tell the student: an unreadable file,
a test cell edited or deleted, a cell stopped or cut short (the full runs are in test_nbgrader_hostile.py)."""

from __future__ import annotations

import nbformat

from gpt2ref.course.grade import Outcome, autograded_notes, read_notebook, submission_notes, summary


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for grade_id, source, locked in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "locked": locked, "grade": locked, "solution": not locked}
        nb.cells.append(cell)
    return nb


def test_unreadable_files_are_named_with_the_reason(tmp_path):
    cases = {"empty.ipynb": b"", "blank.ipynb": b"  \n", "broken.ipynb": b'{"cells": [',
             "binary.ipynb": b"\xff\xfe\x00", "wrong.ipynb": b'{"cells": 3}'}
    reasons = {}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        nb, reasons[name] = read_notebook(tmp_path / name)
        assert nb is None
    assert reasons["empty.ipynb"] == "empty.ipynb is empty" and reasons["blank.ipynb"] == "blank.ipynb is empty"
    assert reasons["broken.ipynb"].startswith("broken.ipynb is not valid JSON")
    assert reasons["binary.ipynb"].startswith("binary.ipynb is not valid JSON")
    assert reasons["wrong.ipynb"].startswith("wrong.ipynb is not a valid notebook")


def test_a_valid_notebook_is_read(tmp_path):
    path = tmp_path / "nb.ipynb"
    nbformat.write(_nb(("a", "x = 1", False)), path)
    nb, reason = read_notebook(path)
    assert reason is None and "".join(nb["cells"][0]["source"]) == "x = 1"


def test_edited_and_deleted_locked_cells_are_reported_but_answers_are_not():
    released = _nb(("answer", "raise NotImplementedError()", False), ("test_a", "check(a)", True),
                   ("test_b", "check(b)", True))
    submitted = _nb(("answer", "a = 1", False), ("test_a", "pass", True))
    assert submission_notes(submitted, released) == [
        "locked cell test_a was edited; nbgrader restored the original and graded it",
        "locked cell test_b was deleted; nbgrader put it back and graded it",
    ]
    assert submission_notes(released, released) == []


def test_timeouts_and_truncated_output_are_reported():
    nb = _nb(("test_a", "loop()", True), ("task", "spam()", False))
    nb.cells[0].outputs = [nbformat.v4.new_output("error", ename="CellTimeoutError", evalue="", traceback=[])]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x\n... Output truncated ...")]
    assert autograded_notes(nb, 30) == ["cell test_a ran too long (> 30 s) and was stopped: scored 0",
                                        "cell task printed too much: its output was truncated"]


def test_the_summary_lists_lost_tasks_and_notes_under_each_student():
    outcomes = [
        Outcome("ada", "01_next_word", graded=True, score=8, max_score=11,
                tasks={"test_a": (3.0, 3.0), "test_b": (0.0, 3.0)}, notes=["cell test_b ran too long"]),
        Outcome("bob", "01_next_word", graded=False, readable=False, max_score=11, notes=["not graded: x is empty"]),
    ]
    text = summary(outcomes)
    lines = text.splitlines()
    assert lines[1].split() == ["ada", "01_next_word", "8/11", "graded"]
    assert lines[2].strip() == "lost points: test_b 0/3"
    assert lines[3].strip() == "- cell test_b ran too long"
    assert lines[4].split()[-2:] == ["NOT", "GRADED"] and lines[5].strip() == "- not graded: x is empty"

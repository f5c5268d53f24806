"""gpt2ref.course.grade says, for each submission, what an instructor can tell the student: an unreadable file,
a test cell edited or deleted, a cell stopped or cut short (the full runs are in test_nbgrader_hostile.py); and
grading a class in parallel survives a worker that crashes or a merge into the gradebook that fails."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from gpt2ref.course.grade import Outcome, autograded_notes, read_notebook, submission_notes, summary
from gpt2ref.course.sandbox import bwrap_available

ASSIGNMENT = "01_next_word"


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


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.nbgrader
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc/self/fd")
def test_a_crashed_worker_or_a_failed_merge_costs_one_student_and_the_class_is_still_graded(tmp_path, monkeypatch):
    """JOBS=2 over four students: one whose worker crashes, one whose merge into the class gradebook fails
    once (the 40-student benchmark died of that: sqlite3 'unable to open database file'), one whose merge
    fails half-way every time, and a good one. Grading finishes, every student the grader could record is
    graded, the others are named in the summary, the gradebook holds no half-merged submission and no file
    stays open."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from gpt2ref.course import grade
    from gpt2ref.course.classroom import make_course, student_notebook, submit
    from gpt2ref.course.nbgrader_runner import gradebook_scores

    course = make_course(tmp_path / "course", [ASSIGNMENT])
    for student in ("good", "flaky", "unrecordable", "crashes"):
        submit(course, student, ASSIGNMENT, student_notebook(course, ASSIGNMENT))

    autograde_one = grade.autograde_one

    def worker(job, slot):
        if job.student == "crashes":
            raise OSError(28, "No space left on device")
        return autograde_one(job, slot)

    merge, failed = grade.merge_submission, []

    def merge_once_failing(course_db, worker_db, assignment, student):
        if student == "flaky" and not failed:
            failed.append(student)
            raise OperationalError("connect", None, sqlite3.OperationalError("unable to open database file"))
        return merge(course_db, worker_db, assignment, student)

    from nbgrader.api import Gradebook

    find_grade = Gradebook.find_grade

    def find_grade_failing(self, grade_id, notebook_id, assignment_id, student_id):
        if student_id == "unrecordable":
            raise OperationalError("update", None, sqlite3.OperationalError("disk I/O error"))
        return find_grade(self, grade_id, notebook_id, assignment_id, student_id)

    monkeypatch.setattr(grade, "autograde_one", worker)
    monkeypatch.setattr(grade, "merge_submission", merge_once_failing)
    monkeypatch.setattr(Gradebook, "find_grade", find_grade_failing)
    before = _open_descriptors()
    log: list[str] = []
    outcomes = {o.student: o for o in grade.grade_class(course, [ASSIGNMENT], None, 2, bwrap_available(), log,
                                                        progress=False)}
    assert _open_descriptors() == before, "grading left files open"

    assert failed == ["flaky"]
    assert outcomes["good"].graded and outcomes["flaky"].graded
    assert outcomes["good"].score == outcomes["flaky"].score == outcomes["good"].max_score > 0
    assert not outcomes["crashes"].graded and not outcomes["unrecordable"].graded
    assert outcomes["crashes"].notes == ["not graded: the grader crashed on this submission (see grading.log)"]
    assert outcomes["unrecordable"].notes[0].startswith("not graded: recording the grades failed (OperationalError")
    assert any("No space left on device" in entry for entry in log)
    text = summary(list(outcomes.values()))
    assert [line.split()[0] for line in text.splitlines() if line.endswith("NOT GRADED")] == [
        "crashes", "unrecordable"]

    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("pragma integrity_check").fetchone() == ("ok",)
    assert set(gradebook_scores(course / "gradebook.db", ASSIGNMENT)) == {"good", "flaky"}
    assert sorted(p.name for p in (course / "autograded").iterdir()) == ["flaky", "good"]

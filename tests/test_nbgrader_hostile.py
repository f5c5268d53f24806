"""Hostile and broken submissions get a clear outcome, earn nothing by cheating and never cost anyone else.

One course, one assignment, one ``make grade``-like run (``python -m gpt2ref.course.grade --jobs 2``, every
kernel in the bubblewrap sandbox) over a good student and hostile ones: a cell that raises at import, an
infinite loop, megabytes of output, an edited and a deleted locked test cell, a file that is not JSON, an
empty file; a notebook that tries to wipe the class (other students' folders, the gradebook, solutions/),
one that replaces the grading checks with no-ops, one that installs an input transformer, one that looks
for the instructor's notebook and prints the hidden tests, one that writes to stderr and draws a tqdm bar
in a graded function, one that calls os._exit, one that leaves a double-forked process behind, a memory
bomb, and a notebook in nbformat 3. The course starts with a broken (half-made) gradebook.
"""

from __future__ import annotations

import csv
import html
import json
import re
import subprocess
import sys
import time

import nbformat
import pytest
from nbgrader_helpers import ROOT, grade_cells, make_course, notebook_name, scores, student_notebook, submit

from gpt2ref.course.sandbox import bwrap_available

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow, pytest.mark.xdist_group("hostile"),
              pytest.mark.skipif(not bwrap_available(), reason="bubblewrap (bwrap) is not installed")]
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)
FOURTH_TEST = "test_generate_loop"
MARKER = "gpt2ref-hostile-sleeper"

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

    nb = student_notebook(course, ASSIGNMENT)
    _cell(nb, FIRST_TASK).source += f"""

import os, shutil, pathlib
for _root in (pathlib.Path({str(course)!r}), pathlib.Path.cwd().parents[2]):
    for _name in ("submitted", "autograded", "feedback", "solutions", "exercises"):
        shutil.rmtree(_root / _name, ignore_errors=True)
    for _file in ("gradebook.db", "nbgrader_config.py"):
        try:
            (_root / _file).unlink()
        except OSError:
            pass
"""
    submit(course, "wipes_the_class", ASSIGNMENT, nb)

    nb = student_notebook(course, ASSIGNMENT)
    _cell(nb, FIRST_TASK).source = _cell(nb, FIRST_TASK).source.replace("counts[prev, nxt] += 1", "counts[nxt, prev] += 1")
    _cell(nb, FIRST_TASK).source += """

import gpt2ref.course.grading as _grading
def _pass(*args, **kwargs):
    return None
for _name in _grading.__all__:
    if _name.startswith("check_"):
        setattr(_grading, _name, _pass)
        globals()[_name] = _pass
"""
    submit(course, "noop_checks", ASSIGNMENT, nb)

    nb = student_notebook(course, ASSIGNMENT)
    _cell(nb, "generate_loop").source = _cell(nb, "generate_loop").source.replace("ids.append(next_id)", "ids.append(0)")
    _cell(nb, "generate_loop").source += """

def _everything_passes(lines):
    return ["pass\\n"]
get_ipython().input_transformers_cleanup.append(_everything_passes)
"""
    submit(course, "input_transformer", ASSIGNMENT, nb)

    nb = student_notebook(course, ASSIGNMENT)
    spy = nbformat.v4.new_code_cell(f"""import pathlib, gpt2ref
for _root in (pathlib.Path({str(course)!r}), pathlib.Path(gpt2ref.__file__).parents[1], pathlib.Path.cwd().parents[2]):
    _path = _root / "solutions" / {ASSIGNMENT!r} / "{notebook_name(ASSIGNMENT)}.ipynb"
    try:
        print(_path.read_text())
    except OSError as error:
        print("not found:", error)
print("\\n".join(In))
""")
    nb.cells.insert(nb.cells.index(_cell(nb, FIRST_TEST)) + 1, spy)
    submit(course, "prints_hidden_tests", ASSIGNMENT, nb)

    nb = student_notebook(course, ASSIGNMENT)
    cell = _cell(nb, FIRST_TASK)
    cell.source = cell.source.replace(
        "    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.long)\n",
        "    import sys, warnings\n    from tqdm import tqdm\n    print('debug: counting', file=sys.stderr)\n"
        "    warnings.warn('a warning from the learner')\n    for _ in tqdm(range(3)):\n        pass\n"
        "    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.long)\n", 1)
    assert "tqdm(range(3))" in cell.source
    submit(course, "writes_to_stderr", ASSIGNMENT, nb)

    nb = student_notebook(course, ASSIGNMENT)
    _cell(nb, SECOND_TASK).source += "\n\nimport os\nos._exit(3)\n"
    submit(course, "calls_os_exit", ASSIGNMENT, nb)

    nb = student_notebook(course, ASSIGNMENT)
    _cell(nb, FIRST_TASK).source += f"""

import os, subprocess
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        subprocess.run(["sh", "-c", "sleep 3000; echo {MARKER}"])
        os._exit(0)
    os._exit(0)
"""
    submit(course, "leaves_a_process", ASSIGNMENT, nb)

    nb = student_notebook(course, ASSIGNMENT)
    _cell(nb, SECOND_TASK).source = "_hog = bytearray(64 * 1024**3)\n\n" + _cell(nb, SECOND_TASK).source
    submit(course, "memory_bomb", ASSIGNMENT, nb)

    submit(course, "nbformat_3", ASSIGNMENT, nbformat.writes(nbformat.convert(student_notebook(course, ASSIGNMENT), 3)))

    (course / "gradebook.db").write_bytes(b"half-made by a run that could not find alembic")
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "gpt2ref.course.grade", "--course", str(course), "--timeout", str(TIMEOUT),
         "--jobs", "2", "--no-progress"], capture_output=True, text=True, timeout=1800)
    result.seconds = time.monotonic() - start
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
                    "deletes_a_test_cell", "wipes_the_class", "noop_checks", "input_transformer",
                    "prints_hidden_tests", "writes_to_stderr", "calls_os_exit", "leaves_a_process", "memory_bomb",
                    "nbformat_3"):
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


def test_a_half_made_gradebook_is_moved_aside_and_a_new_one_made(graded):
    course, result, _, _ = graded
    assert "gradebook.db was not a usable gradebook" in result.stdout
    assert (course / "gradebook.db.broken").exists()


def test_a_submission_that_wipes_the_class_loses_nothing_for_anyone(graded):
    course, _, report, grades = graded
    total = sum(grade_cells(ASSIGNMENT).values())
    assert _lost(course, "wipes_the_class") == set()
    for folder in ("submitted/good", "autograded/good", "feedback/good", "solutions", "exercises"):
        assert (course / folder).is_dir(), folder
    assert (course / "nbgrader_config.py").exists() and float(grades["good"]["score"]) == total
    assert (ROOT / "solutions" / ASSIGNMENT).is_dir()


@pytest.mark.parametrize(("student", "lost"), [
    ("noop_checks", {FIRST_TEST}), ("input_transformer", {FOURTH_TEST})])
def test_cheats_that_replace_the_checks_or_rewrite_cells_earn_nothing(graded, student, lost):
    course, _, _, _ = graded
    assert _lost(course, student) == lost


def test_the_instructor_notebook_is_out_of_reach_and_hidden_tests_never_reach_the_feedback(graded):
    course, _, _, _ = graded
    name = notebook_name(ASSIGNMENT)
    autograded = json.loads((course / "autograded" / "prints_hidden_tests" / ASSIGNMENT / f"{name}.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in autograded["cells"] for o in c.get("outputs", []))
    assert "not found" in printed and "BEGIN SOLUTION" not in printed
    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{name}.ipynb", as_version=4)
    hidden = {line.strip() for c in source.cells for block in HIDDEN.findall(c.source) for line in block.splitlines()
              if len(line.strip()) >= 20}
    assert any(line in printed for line in hidden), "the spy cell should have printed the test cells it ran"
    for student in ("prints_hidden_tests", "good", "noop_checks"):
        page = (course / "feedback" / student / ASSIGNMENT / f"{name}.html").read_text()
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked[:3]}"


def test_stderr_warnings_and_progress_bars_do_not_cost_points(graded):
    course, _, _, _ = graded
    assert _lost(course, "writes_to_stderr") == set()


def test_os_exit_costs_the_cells_from_there_on_and_the_summary_says_so(graded):
    course, result, report, _ = graded
    assert _lost(course, "calls_os_exit") == {SECOND_TEST, THIRD_TEST, FOURTH_TEST}
    assert f"the kernel died in cell {SECOND_TASK}" in report["calls_os_exit"]["notes"]


def test_a_process_left_behind_neither_stalls_grading_nor_survives_it(graded):
    course, result, _, _ = graded
    assert _lost(course, "leaves_a_process") == set()
    left = subprocess.run(["pgrep", "-f", MARKER], capture_output=True, text=True).stdout.split()
    assert not left, f"processes left behind: {left}"
    # A stalled student would wait for nbgrader's per-student limit (sandbox wall time 1200 s + 120 s).
    assert result.seconds < 1200, "the sleeping child stalled grading"


def test_a_memory_bomb_costs_only_its_task(graded):
    course, _, _, _ = graded
    assert _lost(course, "memory_bomb") == {SECOND_TEST}


def test_an_nbformat_3_notebook_is_upgraded_graded_and_noted(graded):
    course, _, report, _ = graded
    assert _lost(course, "nbformat_3") == set()
    assert "was in nbformat 3: upgraded to nbformat 4" in report["nbformat_3"]["notes"]

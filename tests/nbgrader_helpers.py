"""Shared helpers of the nbgrader tests and the autograde benchmark: a temporary course folder, student
submissions made from the instructor solutions (optionally mutated), and scores read from the gradebook.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
MUTATIONS = Path(__file__).resolve().parent / "mutations"
SOLUTION_REGION = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)


def assignments() -> list[str]:
    """Every assignment folder under solutions/ that holds a notebook."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and list(p.glob("*.ipynb")))


def notebook_name(assignment: str) -> str:
    """The (single) notebook of an assignment, without the .ipynb suffix."""
    (path,) = sorted((SOLUTIONS / assignment).glob("*.ipynb"))
    return path.stem


def nbgrader(course: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder and return the finished process (output captured)."""
    # nbgrader runs the ``alembic`` executable: the interpreter's bin folder must be on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, PATH=path, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, text=True,
                          capture_output=True, timeout=timeout)


def make_course(folder: Path, names: Iterable[str] | None = None) -> Path:
    """A fresh course folder: the repository's nbgrader_config.py and solutions/, with each assignment
    released into exercises/ by ``nbgrader generate_assignment``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder / "nbgrader_config.py")
    names = list(names) if names is not None else assignments()
    for name in names:
        shutil.copytree(SOLUTIONS / name, folder / "solutions" / name)
        result = nbgrader(folder, "generate_assignment", name, "--force")
        if result.returncode != 0:
            raise RuntimeError(f"generate_assignment {name} failed:\n{result.stdout}\n{result.stderr}")
    return folder


def solved_source(source: str) -> str:
    """An instructor solution cell as a learner would write it: the BEGIN/END SOLUTION lines removed."""
    return SOLUTION_REGION.sub("", source)


@dataclass(frozen=True)
class Mutant:
    """A buggy variant of an assignment's solution: in solution cell ``cell``, ``old`` becomes ``new``;
    grading it must cost the points of exactly the test cells in ``loses``."""

    name: str
    cell: str
    old: str
    new: str
    loses: frozenset[str]


def load_mutants(assignment: str) -> list[Mutant]:
    """The mutation bank of an assignment, declared as data in tests/mutations/<assignment>.py."""
    path = MUTATIONS / f"{assignment}.py"
    spec = importlib.util.spec_from_file_location(f"mutations_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [Mutant(name, cell, old, new, frozenset(loses)) for name, cell, old, new, loses in module.MUTANTS]


def student_notebook(course: Path, assignment: str, mutant: Mutant | None = None,
                     blank: bool = False) -> nbformat.NotebookNode:
    """The released notebook with every solution cell filled in from the instructor's solution (or left
    untouched with ``blank``), with ``mutant`` applied."""
    name = notebook_name(assignment)
    released = nbformat.read(course / "exercises" / assignment / f"{name}.ipynb", as_version=4)
    if blank:
        return released
    source = nbformat.read(course / "solutions" / assignment / f"{name}.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    applied = False
    for cell in released.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell.source = solved_source(solutions[grade_id])
            if mutant is not None and mutant.cell == grade_id:
                count = cell.source.count(mutant.old)
                if count != 1:
                    raise ValueError(f"mutant {mutant.name}: the snippet {mutant.old!r} occurs {count} times in"
                                     f" cell {grade_id} of {assignment} (it must occur exactly once)")
                cell.source = cell.source.replace(mutant.old, mutant.new)
                applied = True
    if mutant is not None and not applied:
        raise ValueError(f"mutant {mutant.name}: no solution cell {mutant.cell!r} in {assignment}")
    return released


def submit(course: Path, student: str, assignment: str, notebook: nbformat.NotebookNode | str | bytes) -> Path:
    """Put a submission under submitted/<student>/<assignment>/ (a notebook, or raw file content)."""
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{notebook_name(assignment)}.ipynb"
    if isinstance(notebook, bytes):
        path.write_bytes(notebook)
    elif isinstance(notebook, str):
        path.write_text(notebook, encoding="utf-8")
    else:
        nbformat.write(notebook, path)
    return path


def scores(course: Path, assignment: str) -> dict[str, dict[str, tuple[float, float]]]:
    """Per student, per test cell: (score, max score), read from the course's gradebook."""
    from nbgrader.api import Gradebook

    result: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for submission in gb.assignment_submissions(assignment):
            cells: dict[str, tuple[float, float]] = {}
            for nb in submission.notebooks:
                for grade in nb.grades:
                    cells[grade.name] = (grade.score, grade.max_score)
            result[submission.student_id] = cells
    return result


def grade_cells(assignment: str) -> dict[str, float]:
    """The test cells of an assignment and their points, read from the instructor notebook."""
    nb = json.loads((SOLUTIONS / assignment / f"{notebook_name(assignment)}.ipynb").read_text(encoding="utf-8"))
    return {c["metadata"]["nbgrader"]["grade_id"]: float(c["metadata"]["nbgrader"]["points"])
            for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")}


@dataclass
class AssignmentRun:
    """One autograde run of an assignment: the nbgrader processes and the scores they recorded."""

    autograde: subprocess.CompletedProcess
    feedback: subprocess.CompletedProcess
    scores: dict[str, dict[str, tuple[float, float]]]


class GradedCourse:
    """A temporary course shared by the round-trip and mutation tests of a pytest worker.

    The first time a test asks for an assignment, it is released; then its solution (student ``solved``),
    its untouched release (``untouched``) and every mutant of its bank (students named after the mutants)
    are autograded in ONE ``nbgrader autograde`` call, and feedback is generated for all of them.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.runs: dict[str, AssignmentRun] = {}

    def __call__(self, assignment: str) -> tuple[Path, AssignmentRun]:
        if assignment not in self.runs:
            make_course(self.folder, [assignment])
            submit(self.folder, "solved", assignment, student_notebook(self.folder, assignment))
            submit(self.folder, "untouched", assignment, student_notebook(self.folder, assignment, blank=True))
            if (MUTATIONS / f"{assignment}.py").exists():
                for mutant in load_mutants(assignment):
                    submit(self.folder, mutant.name, assignment, student_notebook(self.folder, assignment, mutant))
            autograde = nbgrader(self.folder, "autograde", assignment)
            feedback = nbgrader(self.folder, "generate_feedback", assignment)
            self.runs[assignment] = AssignmentRun(autograde, feedback, scores(self.folder, assignment))
        return self.folder, self.runs[assignment]


def grouped(assignment: str, *values, id: str | None = None):
    """A pytest parameter whose tests run on the same xdist worker as every other test of ``assignment``,
    so that they share that worker's autograde run of it."""
    import pytest

    return pytest.param(assignment, *values, id=id, marks=pytest.mark.xdist_group(f"nbgrader-{assignment}"))

"""Shared helpers of the nbgrader tests: a course graded once per assignment and shared by the round-trip
and mutation tests, and the pytest grouping that keeps those tests on one xdist worker."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from gpt2ref.course.assignments import ROOT
from gpt2ref.course.classroom import (
    MUTATIONS,
    SOLUTIONS,
    assignments,
    grade_cells,
    load_mutants,
    make_course,
    notebook_name,
    solved_source,
    student_notebook,
    submit,
)
from gpt2ref.course.nbgrader_runner import gradebook_scores, run_nbgrader

__all__ = ["MUTATIONS", "ROOT", "SOLUTIONS", "assignments", "grade_cells", "load_mutants", "make_course",
           "notebook_name", "solved_source", "student_notebook", "submit", "scores", "GradedCourse", "grouped"]


def scores(course: Path, assignment: str) -> dict[str, dict[str, tuple[float, float]]]:
    """Per student, per test cell: (score, max score), read from the course's gradebook."""
    return gradebook_scores(course / "gradebook.db", assignment)


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
            if (MUTATIONS / f"{assignment}.toml").exists():
                for mutant in load_mutants(assignment):
                    submit(self.folder, mutant.name, assignment, student_notebook(self.folder, assignment, mutant))
            autograde = run_nbgrader(self.folder, "autograde", assignment, env={"OMP_NUM_THREADS": "1"})
            feedback = run_nbgrader(self.folder, "generate_feedback", assignment)
            self.runs[assignment] = AssignmentRun(autograde, feedback, scores(self.folder, assignment))
        return self.folder, self.runs[assignment]


def grouped(assignment: str, *values, id: str | None = None):
    """A pytest parameter whose tests run on the same xdist worker as every other test of ``assignment``,
    so that they share that worker's autograde run of it."""
    import pytest

    return pytest.param(assignment, *values, id=id, marks=pytest.mark.xdist_group(f"nbgrader-{assignment}"))

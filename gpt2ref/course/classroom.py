"""Simulated classes: a course folder made from the repository's solutions, and student submissions made
from the instructor solutions, optionally with a bug of the mutation bank (``tests/mutations/``). Used by
the grading tests and the autograde benchmark.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import tomllib

from gpt2ref.course.assignments import ROOT
from gpt2ref.course.release import release

SOLUTIONS = ROOT / "solutions"
MUTATIONS = ROOT / "tests" / "mutations"
SOLUTION_REGION = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)


def assignments() -> list[str]:
    """Every assignment folder under solutions/ that holds a notebook."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and list(p.glob("*.ipynb")))


def notebook_name(assignment: str) -> str:
    """The (single) notebook of an assignment, without the .ipynb suffix."""
    (path,) = sorted((SOLUTIONS / assignment).glob("*.ipynb"))
    return path.stem


def make_course(folder: Path, names: Iterable[str] | None = None) -> Path:
    """A fresh course folder: the repository's nbgrader_config.py and solutions/, with each assignment
    released into exercises/ by ``nbgrader generate_assignment``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder / "nbgrader_config.py")
    names = list(names) if names is not None else assignments()
    for name in names:
        shutil.copytree(SOLUTIONS / name, folder / "solutions" / name)
        error = release(folder, name)
        if error:
            raise RuntimeError(f"generate_assignment {name} failed:\n{error}")
    return folder


def solved_source(source: str) -> str:
    """An instructor solution cell as a learner would write it: the BEGIN/END SOLUTION lines removed."""
    return SOLUTION_REGION.sub("", source)


@dataclass(frozen=True)
class Mutant:
    """A variant of an assignment's solution: in solution cell ``cell``, ``old`` becomes ``new``; grading it
    must cost the points of exactly the test cells in ``loses``. A bug loses at least one cell; a correct
    solution written another way (``loses = []``, see ``is_correct``) must earn full marks."""

    name: str
    cell: str
    old: str
    new: str
    loses: frozenset[str]

    @property
    def is_correct(self) -> bool:
        """A correct-but-different variant: it must lose nothing."""
        return not self.loses


def load_mutants(assignment: str, folder: Path = MUTATIONS) -> list[Mutant]:
    """The mutation bank of an assignment, declared as data in ``tests/mutations/<assignment>.toml``."""
    with (folder / f"{assignment}.toml").open("rb") as f:
        table = tomllib.load(f)
    return [Mutant(m["name"], m["cell"], m["old"], m["new"], frozenset(m["loses"])) for m in table["mutant"]]


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


def grade_cells(assignment: str) -> dict[str, float]:
    """The test cells of an assignment and their points, read from the instructor notebook."""
    nb = json.loads((SOLUTIONS / assignment / f"{notebook_name(assignment)}.ipynb").read_text(encoding="utf-8"))
    return {c["metadata"]["nbgrader"]["grade_id"]: float(c["metadata"]["nbgrader"]["points"])
            for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")}

"""Instructor grading: autograde every submission, write feedback and grades.csv, print a summary.

Usage (from the course root, the folder holding nbgrader_config.py)::

    python scripts/grade.py                       # every assignment that has submissions
    python scripts/grade.py 02_tokenization       # only these assignments
    python scripts/grade.py --course DIR --timeout 30 --csv grades.csv

Submissions are read from ``submitted/<student>/<assignment>/<notebook>.ipynb`` (nbgrader's layout).
For each assignment, one ``nbgrader autograde`` call grades every student (nbgrader carries on past a
student it cannot grade); a readable submission that still failed is retried on its own once. Then
``nbgrader generate_feedback`` writes ``feedback/<student>/<assignment>/*.html`` (hidden tests removed, see
nbgrader_config.py) and ``nbgrader export`` writes the CSV. The summary names, for every student, what
went wrong in a way the student can be told: an unreadable file, a cell that timed out, output that was
truncated, a locked test cell that was edited or deleted (nbgrader restores it and grades it anyway).

Exit status: 0 when every readable submission was graded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

TRUNCATED = "... Output truncated ..."


@dataclass
class Outcome:
    """What happened to one student's submission of one assignment."""

    student: str
    assignment: str
    graded: bool = False
    readable: bool = True
    score: float = 0.0
    max_score: float = 0.0
    tasks: dict[str, tuple[float, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def run_nbgrader(course: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course``, with this interpreter's bin folder on PATH (nbgrader calls
    ``alembic``), output captured."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, PATH=path, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, text=True,
                          capture_output=True, timeout=timeout)


def read_notebook(path: Path) -> tuple[dict | None, str | None]:
    """The notebook as JSON, or None and the reason it cannot be graded."""
    import nbformat

    try:
        raw = path.read_bytes()
    except OSError as error:
        return None, f"cannot read {path.name}: {error}"
    if not raw.strip():
        return None, f"{path.name} is empty"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"{path.name} is not valid JSON ({error}); was it saved from Jupyter?"
    try:
        nbformat.validate(nbformat.reads(raw.decode("utf-8"), as_version=4))
    except Exception as error:  # noqa: BLE001 - nbformat raises several kinds for a broken notebook
        return None, f"{path.name} is not a valid notebook ({type(error).__name__}: {str(error)[:200]})"
    return data, None


def _nbgrader_cells(nb: dict) -> dict[str, dict]:
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb.get("cells", [])
            if isinstance(c, dict) and c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def submission_notes(submitted: dict, released: dict) -> list[str]:
    """Locked cells of the release that the submission edited or deleted (nbgrader restores them)."""
    notes = []
    mine = _nbgrader_cells(submitted)
    for grade_id, cell in _nbgrader_cells(released).items():
        if not cell["metadata"]["nbgrader"].get("locked"):
            continue
        if grade_id not in mine:
            notes.append(f"locked cell {grade_id} was deleted; nbgrader put it back and graded it")
        elif _source(mine[grade_id]).strip() != _source(cell).strip():
            notes.append(f"locked cell {grade_id} was edited; nbgrader restored the original and graded it")
    return notes


def autograded_notes(nb: dict, timeout: int | None) -> list[str]:
    """Cells of an autograded notebook that timed out or whose output was cut."""
    notes = []
    for index, cell in enumerate(nb.get("cells", [])):
        name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"#{index}"
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") == "CellTimeoutError":
                limit = f" (> {timeout} s)" if timeout else ""
                notes.append(f"cell {name} ran too long{limit} and was stopped: scored 0")
            if output.get("output_type") == "stream" and TRUNCATED in "".join(output.get("text", "")):
                notes.append(f"cell {name} printed too much: its output was truncated")
    return notes


def gradebook_scores(course: Path, assignment: str) -> dict[str, dict[str, tuple[float, float]]]:
    """Per student, per test cell: (score, max score) from the course gradebook."""
    from nbgrader.api import Gradebook

    db = course / "gradebook.db"
    result: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for submission in gb.assignment_submissions(assignment):
            result[submission.student_id] = {
                g.name: (g.score, g.max_score) for nb in submission.notebooks for g in nb.grades}
    return result


def ensure_in_gradebook(course: Path, assignment: str, log: list[str], force: bool = False) -> bool:
    """Record the assignment's notebooks and test cells in the course gradebook if they are not there.

    ``nbgrader autograde`` needs them; ``scripts/release.py`` uses a throw-away gradebook, so a course
    folder gets them here, from ``solutions/``, without touching ``exercises/``.
    """
    import tempfile

    from nbgrader.api import Gradebook, MissingEntry

    if not force:
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            try:
                if gb.find_assignment(assignment).notebooks:
                    return True
            except MissingEntry:
                pass
    with tempfile.TemporaryDirectory() as tmp:
        result = run_nbgrader(course, "generate_assignment", assignment, "--force",
                              f"--CourseDirectory.release_directory={tmp}")
    log.append(result.stdout + result.stderr)
    return result.returncode == 0


def grade_assignment(course: Path, assignment: str, timeout: int | None, log: list[str]) -> list[Outcome]:
    """Autograde every submission of ``assignment`` and generate its feedback."""
    release_dir = course / "exercises" / assignment
    students = sorted(p.parent.name for p in (course / "submitted").glob(f"*/{assignment}") if p.is_dir())
    outcomes = {s: Outcome(s, assignment) for s in students}
    readable = []
    for student in students:
        folder = course / "submitted" / student / assignment
        problems = []
        for released in sorted(release_dir.glob("*.ipynb")):
            path = folder / released.name
            if not path.exists():
                problems.append(f"{released.name} is missing from the submission")
                continue
            nb, reason = read_notebook(path)
            if nb is None:
                problems.append(reason)
                continue
            outcomes[student].notes.extend(submission_notes(nb, json.loads(released.read_text(encoding="utf-8"))))
        if problems:
            outcomes[student].readable = False
            outcomes[student].notes.extend(f"not graded: {p}" for p in problems)
        else:
            readable.append(student)

    extra = [f"--Execute.timeout={timeout}"] if timeout else []
    result = run_nbgrader(course, "autograde", assignment, "--force", *extra)
    log.append(result.stdout + result.stderr)
    autograded = course / "autograded"
    for student in readable:
        if not list((autograded / student / assignment).glob("*.ipynb")):
            # Fallback: grade this student alone, so that nothing another submission did can be the cause.
            retry = run_nbgrader(course, "autograde", assignment, "--force", "--student", student, *extra)
            log.append(retry.stdout + retry.stderr)
    for student in readable:
        notebooks = sorted((autograded / student / assignment).glob("*.ipynb"))
        if not notebooks:
            outcomes[student].notes.append("not graded: nbgrader failed on this submission (see grading.log)")
            continue
        outcomes[student].graded = True
        for path in notebooks:
            outcomes[student].notes.extend(autograded_notes(json.loads(path.read_text(encoding="utf-8")), timeout))

    result = run_nbgrader(course, "generate_feedback", assignment, "--force")
    log.append(result.stdout + result.stderr)
    scores = gradebook_scores(course, assignment)
    for student, outcome in outcomes.items():
        tasks = scores.get(student, {})
        outcome.tasks = tasks if outcome.graded else {k: (0.0, m) for k, (_, m) in tasks.items()}
        outcome.score = sum(s for s, _ in outcome.tasks.values())
        outcome.max_score = sum(m for _, m in outcome.tasks.values())
    return list(outcomes.values())


def write_csv(path: Path, outcomes: list[Outcome]) -> None:
    """One row per student and assignment: score, max score, status and notes."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["assignment", "student_id", "score", "max_score", "status", "notes"])
        for o in outcomes:
            writer.writerow([o.assignment, o.student, f"{o.score:g}", f"{o.max_score:g}",
                             "graded" if o.graded else "not graded", "; ".join(o.notes)])


def summary(outcomes: list[Outcome]) -> str:
    """A plain-text table: one line per submission, the notes indented below it."""
    lines = []
    width = max([len(o.student) for o in outcomes] + [7])
    lines.append(f"{'student':<{width}}  {'assignment':<18}  {'score':>11}  status")
    for o in outcomes:
        status = "graded" if o.graded else "NOT GRADED"
        lines.append(f"{o.student:<{width}}  {o.assignment:<18}  {o.score:>5g}/{o.max_score:<5g}  {status}")
        lost = [f"{k} {s:g}/{m:g}" for k, (s, m) in sorted(o.tasks.items()) if s < m]
        if o.graded and lost:
            lines.append(" " * (width + 2) + "lost points: " + ", ".join(lost))
        for note in o.notes:
            lines.append(" " * (width + 2) + "- " + note)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Autograde all submissions, write feedback and grades.")
    parser.add_argument("assignments", nargs="*", help="assignment names (default: all with submissions)")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course root (holds nbgrader_config.py)")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: nbgrader_config.py)")
    parser.add_argument("--csv", type=Path, default=None,
                        help="nbgrader's grade export (default COURSE/grades.csv)")
    parser.add_argument("--report", type=Path, default=None,
                        help="per-submission status and notes as CSV (default COURSE/grading_report.csv)")
    parser.add_argument("--resync", action="store_true",
                        help="re-record the assignments' test cells in the gradebook from solutions/ first")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    if not (course / "nbgrader_config.py").exists():
        print(f"grade.py: {course} has no nbgrader_config.py; run from the course root or pass --course",
              file=sys.stderr)
        return 2
    submitted = course / "submitted"
    names = args.assignments or sorted({p.name for p in submitted.glob("*/*") if p.is_dir()})
    if not names:
        print(f"grade.py: nothing to grade: no submissions under {submitted}/<student>/<assignment>/")
        return 0
    outcomes: list[Outcome] = []
    log: list[str] = []
    for name in names:
        if not (course / "exercises" / name).is_dir():
            print(f"grade.py: assignment {name} has not been released (no exercises/{name}/)", file=sys.stderr)
            return 2
        if not ensure_in_gradebook(course, name, log, force=args.resync):
            print(f"grade.py: could not record {name} in the gradebook (see grading.log)", file=sys.stderr)
            (course / "grading.log").write_text("\n".join(log), encoding="utf-8")
            return 2
        print(f"grading {name} ...", flush=True)
        outcomes.extend(grade_assignment(course, name, args.timeout, log))
    csv_path = (args.csv or course / "grades.csv").resolve()
    result = run_nbgrader(course, "export", "--to", str(csv_path))
    log.append(result.stdout + result.stderr)
    if result.returncode != 0:
        print(f"grade.py: nbgrader export failed (see {course / 'grading.log'})", file=sys.stderr)
    report_path = args.report or course / "grading_report.csv"
    write_csv(report_path, outcomes)
    (course / "grading.log").write_text("\n".join(log), encoding="utf-8")
    print(summary(outcomes))
    print(f"\ngrades: {csv_path}\nreport: {report_path}\nfeedback: {course / 'feedback'}/<student>/<assignment>/"
          f"\nnbgrader log: {course / 'grading.log'}")
    return 1 if any(o.readable and not o.graded for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Instructor grading: autograde every submission in a sandbox, in parallel, write feedback and grades.

Usage (from the course root, the folder holding nbgrader_config.py; ``make grade JOBS=N`` runs this)::

    python -m gpt2ref.course.grade                       # every assignment that has submissions
    python -m gpt2ref.course.grade 02_tokenization       # only these assignments
    python -m gpt2ref.course.grade --jobs 4 --timeout 30 --course DIR

Submissions are read from ``submitted/<student>/<assignment>/<notebook>.ipynb`` (nbgrader's layout).
Each student is graded on their own: a scratch copy of the course holding only their submission, the
assignment's source and a copy of a gradebook in which only the assignment is recorded, one ``nbgrader
autograde --student`` there, its kernel in the bubblewrap sandbox of ``gpt2ref.course.sandbox``. Up to
``--jobs`` students are graded at once; their results are merged into the course's ``gradebook.db`` by
this process alone, one at a time, so SQLite never sees two writers; a worker that crashes, or a merge that
fails (tried once more when every kernel is done), costs that student alone. Then ``nbgrader generate_feedback``
writes ``feedback/<student>/<assignment>/*.html`` (no hidden test in it) and ``nbgrader export`` the CSV.

The summary names, for every student, what went wrong in words the student can be told: an unreadable
file, an nbformat 3 notebook (upgraded), a cell that timed out, a kernel that died, output that was cut, a
locked test cell that was edited or deleted (nbgrader restores it and grades it anyway).

Exit status: 0 when every readable submission was graded, 1 otherwise, 2 when grading could not start.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import queue
import shutil
import sys
import tempfile
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from gpt2ref.course import sandbox
from gpt2ref.course.nbgrader_runner import gradebook_scores, gradebook_url, run_nbgrader, usable_gradebook

TRUNCATED = "... Output truncated ..."
TEMPLATE_DB = "template.db"


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


def read_notebook(path: Path) -> tuple[dict | None, str | None]:
    """The notebook as nbformat 4 JSON, or None and the reason it cannot be graded.

    A notebook in nbformat 3 is upgraded (the caller grades the upgraded copy and says so).
    """
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
    if isinstance(data, dict) and data.get("nbformat", 4) not in (3, 4):
        return None, (f"{path.name} is in nbformat {data['nbformat']!r}, which cannot be graded:"
                      " open it in a current Jupyter and save it again")
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # noqa: BLE001 - nbformat raises several kinds for a broken notebook
        return None, f"{path.name} is not a valid notebook ({type(error).__name__}: {str(error)[:200]})"
    return json.loads(nbformat.writes(nb)), None


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
            ename = output.get("ename") if output.get("output_type") == "error" else None
            if ename == "CellTimeoutError":
                limit = f" (> {timeout} s)" if timeout else ""
                notes.append(f"cell {name} ran too long{limit} and was stopped: scored 0")
            elif ename == "KernelDied" and "earlier" not in output.get("evalue", ""):
                notes.append(f"the kernel died in cell {name} (os._exit, a crash or a sandbox limit):"
                             " the cells after it scored 0")
            elif ename == "GradingGuardError":
                notes.append(f"cell {name}: the notebook changed how the kernel runs code; the test scored 0")
            if output.get("output_type") == "stream" and TRUNCATED in "".join(output.get("text", "")):
                notes.append(f"cell {name} printed too much: its output was truncated")
    return notes



def record_assignment(course: Path, assignment: str, db: Path) -> str | None:
    """Record the assignment's notebooks and test cells (from ``solutions/``) in the gradebook ``db``;
    None, or nbgrader's output when it failed. ``exercises/`` is not touched."""
    with tempfile.TemporaryDirectory() as tmp:
        result = run_nbgrader(course, "generate_assignment", assignment, "--force",
                              f"--CourseDirectory.release_directory={tmp}",
                              f"--CourseDirectory.db_url={gradebook_url(db)}")
    return None if result.returncode == 0 else result.stdout + result.stderr


@dataclass
class Job:
    """One student's submission of one assignment, to be graded in a scratch course of its own."""

    course: Path
    assignment: str
    student: str
    scratch: Path          # parent of every scratch course (hidden from every kernel)
    timeout: int | None
    sandboxed: bool


def _sandbox_env(job: Job, runtime: Path, slot: int) -> tuple[dict[str, str], list[str]]:
    """The environment variables and nbgrader options that run the kernel in the sandbox."""
    config = sandbox.SandboxConfig(
        hide=sorted({str(job.course), str(job.scratch), str(Path.home()), *sandbox.package_repository()}),
        keep=sandbox.python_folders(), runtime=str(runtime),
        uid=61000 + slot if os.geteuid() == 0 else None)
    env = {sandbox.ENV_VAR: config.to_env(), "JUPYTER_PATH": str(job.scratch / "kernelspec"),
           "JUPYTER_RUNTIME_DIR": str(runtime)}
    options = [f"--Execute.kernel_name={sandbox.KERNEL_NAME}", "--KernelManager.transport=ipc",
               f"--KernelManager.ip={runtime / 'kernel-ipc'}"]
    return env, options


def autograde_one(job: Job, slot: int) -> tuple[Path, str]:
    """Autograde one student in a scratch course; returns that course and nbgrader's output."""
    home = job.scratch / f"{job.assignment}-{job.student}"
    shutil.rmtree(home, ignore_errors=True)
    (home / "submitted" / job.student).mkdir(parents=True)
    shutil.copy(job.course / "nbgrader_config.py", home)
    shutil.copytree(job.course / "solutions" / job.assignment, home / "solutions" / job.assignment)
    shutil.copytree(job.scratch / "submitted" / job.student / job.assignment,
                    home / "submitted" / job.student / job.assignment)
    shutil.copy(job.scratch / f"{job.assignment}-{TEMPLATE_DB}", home / "gradebook.db")
    env: dict[str, str] = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    options = [f"--Execute.timeout={job.timeout}"] if job.timeout else []
    if job.sandboxed:
        runtime = job.scratch / f"runtime-{job.assignment}-{job.student}"
        shutil.rmtree(runtime, ignore_errors=True)
        runtime.mkdir()
        extra_env, extra_options = _sandbox_env(job, runtime, slot)
        env.update(extra_env)
        options += extra_options
    limit = sandbox.Limits().wall_seconds + 120
    try:
        result = run_nbgrader(home, "autograde", job.assignment, "--student", job.student, "--force", *options,
                              env=env, timeout=limit)
        output = result.stdout + result.stderr
    except Exception as error:  # noqa: BLE001 - a hung or failed nbgrader costs this student only
        output = f"nbgrader autograde failed: {type(error).__name__}: {error}"
    return home, output


def _recorded(db: Path, assignment: str) -> bool:
    """True when the gradebook ``db`` exists and holds the assignment's notebooks."""
    from nbgrader.api import Gradebook, MissingEntry

    if not db.exists():
        return False
    with Gradebook(gradebook_url(db)) as gb:
        try:
            return bool(gb.find_assignment(assignment).notebooks)
        except MissingEntry:
            return False


def merge_submission(course_db: Path, worker_db: Path, assignment: str, student: str) -> bool:
    """Copy one student's autograded submission from a scratch gradebook into the course's; False if the
    scratch gradebook holds none. Only this process writes the course's gradebook. If the copy fails
    half-way, the half-copied submission is removed again, so the course's gradebook never holds one."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(gradebook_url(worker_db)) as wb:
        try:
            submission = wb.find_submission(assignment, student)
        except MissingEntry:
            return False
        timestamp = submission.timestamp
        grades = [(nb.name, g.name, g.auto_score, g.needs_manual_grade) for nb in submission.notebooks
                  for g in nb.grades]
        comments = [(nb.name, c.name, c.auto_comment) for nb in submission.notebooks for c in nb.comments]
    with Gradebook(gradebook_url(course_db)) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's SAWarnings on nbgrader's models: known noise
        gb.update_or_create_student(student)
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:
            pass
        try:
            gb.add_submission(assignment, student, timestamp=timestamp)
            for notebook, name, score, manual in grades:
                grade = gb.find_grade(name, notebook, assignment, student)
                grade.auto_score, grade.needs_manual_grade = score, manual
            for notebook, name, text in comments:
                gb.find_comment(name, notebook, assignment, student).auto_comment = text
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            try:
                gb.remove_submission(assignment, student)
            except MissingEntry:
                pass
            raise
    return True


def _prepare(course: Path, assignment: str, student: str, scratch: Path, outcome: Outcome) -> bool:
    """Check the submission's notebooks and copy them (upgraded to nbformat 4) into the scratch area."""
    released_dir = course / "exercises" / assignment
    source = course / "submitted" / student / assignment
    target = scratch / "submitted" / student / assignment
    shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
    problems = []
    for released in sorted(released_dir.glob("*.ipynb")):
        path = source / released.name
        if not path.exists():
            problems.append(f"{released.name} is missing from the submission")
            continue
        nb, reason = read_notebook(path)
        if nb is None:
            problems.append(reason)
            continue
        if json.loads(path.read_bytes()).get("nbformat") == 3:
            outcome.notes.append(f"{released.name} was in nbformat 3: upgraded to nbformat 4 and graded")
        (target / released.name).write_text(json.dumps(nb), encoding="utf-8")
        outcome.notes.extend(submission_notes(nb, json.loads(released.read_text(encoding="utf-8"))))
    if problems:
        outcome.readable = False
        outcome.notes.extend(f"not graded: {p}" for p in problems)
    return not problems


def grade_class(course: Path, names: list[str], timeout: int | None, jobs: int, sandboxed: bool,
                log: list[str], progress: bool = True) -> list[Outcome]:
    """Grade every submission of the named assignments, ``jobs`` students at once."""
    from tqdm import tqdm

    outcomes: dict[tuple[str, str], Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="gpt2ref-grade-") as tmp:
        scratch = Path(tmp)
        scratch.chmod(0o755)  # the kernels' user must reach its runtime folder (the folder is hidden from it)
        sandbox.write_kernel_spec(scratch / "kernelspec")
        todo: list[Job] = []
        for name in names:
            error = record_assignment(course, name, scratch / f"{name}-{TEMPLATE_DB}")
            if error is None and not _recorded(course / "gradebook.db", name):
                error = record_assignment(course, name, course / "gradebook.db")
            if error:
                log.append(error)
                raise RuntimeError(f"could not record {name} in a gradebook (see grading.log)")
            for folder in sorted(p for p in (course / "submitted").glob(f"*/{name}") if p.is_dir()):
                outcome = outcomes[(name, folder.parent.name)] = Outcome(folder.parent.name, name)
                if _prepare(course, name, outcome.student, scratch, outcome):
                    todo.append(Job(course, name, outcome.student, scratch, timeout, sandboxed))
        slots: queue.Queue[int] = queue.Queue()
        for slot in range(jobs):
            slots.put(slot)

        def run(job: Job) -> tuple[Path | None, str]:
            slot = slots.get()
            try:
                return autograde_one(job, slot)
            except Exception:  # noqa: BLE001 - a worker that crashes costs this student only
                return None, f"the grader crashed while grading this submission:\n{traceback.format_exc()}"
            finally:
                slots.put(slot)

        bar = tqdm(total=len(todo), unit="student", desc="grading", disable=not progress, file=sys.stderr)
        again: list[tuple[Job, Path]] = []
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(run, job): job for job in todo}
            for future in as_completed(futures):
                job = futures[future]
                home, output = future.result()
                log.append(f"== {job.assignment} / {job.student}\n{output}")
                if home is None:
                    outcomes[(job.assignment, job.student)].notes.append(
                        "not graded: the grader crashed on this submission (see grading.log)")
                elif not _settle(course, job, home, outcomes[(job.assignment, job.student)], log, last_try=False):
                    again.append((job, home))
                bar.set_postfix_str(job.student, refresh=False)
                bar.update(1)
        bar.close()
        for job, home in again:  # once no kernel runs any more: a second and last try
            _settle(course, job, home, outcomes[(job.assignment, job.student)], log, last_try=True)
    for name in names:
        result = run_nbgrader(course, "generate_feedback", name, "--force")
        log.append(result.stdout + result.stderr)
        scores = gradebook_scores(course / "gradebook.db", name)
        for (assignment, student), outcome in outcomes.items():
            if assignment == name:
                tasks = scores.get(student, {})
                outcome.tasks = tasks if outcome.graded else {k: (0.0, m) for k, (_, m) in tasks.items()}
                outcome.score = sum(s for s, _ in outcome.tasks.values())
                outcome.max_score = sum(m for _, m in outcome.tasks.values())
    return list(outcomes.values())


def _settle(course: Path, job: Job, home: Path, outcome: Outcome, log: list[str], last_try: bool) -> bool:
    """Collect one student's results and remove their scratch folders; False (folders kept) when collecting
    failed and this was not the last try. On the last try, the failure becomes a note: this student is not
    graded, every other student still is."""
    try:
        _collect(course, job, home, outcome)
    except Exception as error:  # noqa: BLE001 - a failure here costs this student only
        log.append(f"== {job.assignment} / {job.student}: recording the results failed\n{traceback.format_exc()}")
        if not last_try:
            return False
        outcome.notes.append(f"not graded: recording the grades failed ({type(error).__name__}: "
                             f"{str(error).splitlines()[0][:160]}; see grading.log)")
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(job.scratch / f"runtime-{job.assignment}-{job.student}", ignore_errors=True)
    return True


def _collect(course: Path, job: Job, home: Path, outcome: Outcome) -> None:
    """Bring one student's results from their scratch course into the course (called one at a time): the
    autograded notebooks, then the grades; if recording the grades fails, the notebooks are taken back."""
    folder = home / "autograded" / job.student / job.assignment
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        outcome.notes.append("not graded: nbgrader failed on this submission (see grading.log)")
        return
    target = course / "autograded" / job.student / job.assignment
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(folder, target, symlinks=True)
    try:
        merged = merge_submission(course / "gradebook.db", home / "gradebook.db", job.assignment, job.student)
    except BaseException:
        _discard(target)
        raise
    if not merged:
        _discard(target)
        outcome.notes.append("not graded: nbgrader failed on this submission (see grading.log)")
        return
    outcome.graded = True
    for path in notebooks:
        outcome.notes.extend(autograded_notes(json.loads(path.read_text(encoding="utf-8")), job.timeout))


def _discard(target: Path) -> None:
    """Remove an autograded assignment folder, and its student's folder if that is left empty."""
    shutil.rmtree(target, ignore_errors=True)
    try:
        target.parent.rmdir()
    except OSError:
        pass


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
    parser.add_argument("--jobs", type=int, default=1, help="students graded at once (default 1)")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="grade without the bubblewrap sandbox (only where bwrap is missing; at your own risk)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--csv", type=Path, default=None, help="nbgrader's grade export (default COURSE/grades.csv)")
    parser.add_argument("--report", type=Path, default=None,
                        help="per-submission status and notes as CSV (default COURSE/grading_report.csv)")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    if not (course / "nbgrader_config.py").exists():
        print(f"grade: {course} has no nbgrader_config.py; run from the course root or pass --course",
              file=sys.stderr)
        return 2
    if not args.unsandboxed and not sandbox.bwrap_available():
        print(f"grade: {sandbox.MISSING}", file=sys.stderr)
        return 2
    submitted = course / "submitted"
    names = args.assignments or sorted({p.name for p in submitted.glob("*/*") if p.is_dir()})
    if not names:
        print(f"grade: nothing to grade: no submissions under {submitted}/<student>/<assignment>/")
        return 0
    for name in names:
        if not (course / "exercises" / name).is_dir() or not (course / "solutions" / name).is_dir():
            print(f"grade: assignment {name} needs solutions/{name}/ and its release exercises/{name}/",
                  file=sys.stderr)
            return 2
    log: list[str] = []
    moved = usable_gradebook(course / "gradebook.db")
    if moved:
        print(f"grade: {moved}")
    try:
        outcomes = grade_class(course, names, args.timeout, max(1, args.jobs), not args.unsandboxed, log,
                               progress=not args.no_progress)
    except RuntimeError as error:
        (course / "grading.log").write_text("\n".join(log), encoding="utf-8")
        print(f"grade: {error}", file=sys.stderr)
        return 2
    csv_path = (args.csv or course / "grades.csv").resolve()
    result = run_nbgrader(course, "export", "--to", str(csv_path))
    log.append(result.stdout + result.stderr)
    if result.returncode != 0:
        print(f"grade: nbgrader export failed (see {course / 'grading.log'})", file=sys.stderr)
    report_path = args.report or course / "grading_report.csv"
    write_csv(report_path, outcomes)
    (course / "grading.log").write_text("\n".join(log), encoding="utf-8")
    print(summary(outcomes))
    print(f"\ngrades: {csv_path}\nreport: {report_path}\nfeedback: {course / 'feedback'}/<student>/<assignment>/"
          f"\nnbgrader log: {course / 'grading.log'}")
    return 1 if any(o.readable and not o.graded for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())

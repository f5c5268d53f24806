"""The one way the course runs nbgrader: its environment, its command line, its gradebook.

nbgrader runs the ``alembic`` executable to create a gradebook, so the interpreter's ``bin`` folder must
be on PATH; a gradebook half-made by a failed first run is moved aside so that the next run starts clean.
``make release``, ``make grade``, ``make lab``, the tests and the benchmarks all come through here.

Usage: ``python -m gpt2ref.course.nbgrader_runner lab [COURSE]`` starts JupyterLab on the course.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

Scores = dict[str, dict[str, tuple[float, float]]]


def nbgrader_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the interpreter's bin folder first on PATH (for ``alembic``)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, PATH=path, PYTHONWARNINGS="ignore")
    env.update(extra or {})
    return env


def run_nbgrader(course: Path, *args: str, timeout: float | None = None,
                 env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course`` with output captured; ``env`` adds variables to nbgrader_env()."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=nbgrader_env(env),
                          text=True, capture_output=True, timeout=timeout)


def gradebook_url(db: Path) -> str:
    """SQLAlchemy URL of a gradebook file."""
    return f"sqlite:///{db}"


def usable_gradebook(db: Path) -> str | None:
    """None if ``db`` is absent or a working gradebook; else moves it aside and says so in one line.

    A first nbgrader run that could not find ``alembic`` leaves a gradebook without its tables, on which
    every later run fails: such a file is renamed ``gradebook.db.broken`` and a new one is made.
    """
    if not db.exists():
        return None
    import sqlite3

    try:
        with sqlite3.connect(db) as connection:
            tables = {row[0] for row in connection.execute("select name from sqlite_master where type='table'")}
    except sqlite3.DatabaseError as error:
        tables, reason = set(), str(error)
    else:
        reason = "it has no tables"
    if {"assignment", "student", "grade"} <= tables:
        return None
    broken = db.with_name(db.name + ".broken")
    db.replace(broken)
    return f"{db.name} was not a usable gradebook ({reason}): moved to {broken.name}, a new one is made"


def gradebook_scores(db: Path, assignment: str) -> Scores:
    """Per student, per test cell of ``assignment``: (score, max score), read from the gradebook ``db``."""
    from nbgrader.api import Gradebook

    result: Scores = {}
    with Gradebook(gradebook_url(db)) as gb:
        for submission in gb.assignment_submissions(assignment):
            result[submission.student_id] = {
                g.name: (g.score, g.max_score) for nb in submission.notebooks for g in nb.grades}
    return result


FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def run_forwarding_signals(command: list[str], grace: float = 10.0, **popen: object) -> int:
    """Run ``command`` until it exits; SIGTERM, SIGINT or SIGHUP sent to this process are passed on to it.

    Without this, terminating the runner would leave its child (JupyterLab) running. A child still alive
    ``grace`` seconds after a forwarded signal is killed. Returns the child's exit status.
    """
    child = subprocess.Popen(command, **popen)
    previous = {sig: signal.getsignal(sig) for sig in FORWARDED}

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # only if SIGINT came before our handler was in place
                child.send_signal(signal.SIGINT)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            try:
                child.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def lab(course: Path, extra_args: list[str] | None = None) -> int:
    """JupyterLab on ``course`` with nbgrader's extension, in the nbgrader environment."""
    command = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={course}", *(extra_args or [])]
    return run_forwarding_signals(command, cwd=course, env=nbgrader_env())


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "lab":
        sys.exit("usage: python -m gpt2ref.course.nbgrader_runner lab [COURSE] [JUPYTER LAB OPTIONS...]")
    folder = Path(sys.argv[2]) if len(sys.argv) > 2 and not sys.argv[2].startswith("-") else Path.cwd()
    sys.exit(lab(folder.resolve(), [a for a in sys.argv[2:] if a.startswith("-")]))

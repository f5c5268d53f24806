"""How long nbgrader takes to autograde one student's full set of assignments (target: under 2 minutes).

Run: ``python benchmarks/autograde.py [ASSIGNMENT ...]``

In a temporary course folder, each assignment is released, then autograded twice for one student, each
time in its own ``nbgrader autograde --student`` call:

- baseline: the untouched release (every task raises NotImplementedError at once), i.e. nbgrader's fixed
  cost: start the process and a kernel, import torch, sanitize, write the results;
- solved: the instructor's solution, so that every visible and hidden test runs.

The ratio solved / baseline shows what the tests themselves add to nbgrader's fixed cost; the total of
the solved runs is compared with the 120-second budget.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from nbgrader_helpers import assignments, make_course, nbgrader, scores, student_notebook, submit  # noqa: E402

BUDGET_SECONDS = 120.0


def timed_autograde(course: Path, assignment: str, student: str) -> float:
    """Seconds taken by ``nbgrader autograde ASSIGNMENT --student STUDENT``; raises if it fails."""
    start = time.perf_counter()
    result = nbgrader(course, "autograde", assignment, "--student", student, "--force")
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"autograde {assignment} for {student} failed:\n{result.stderr[-3000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Print one line per assignment and the total against the budget."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignment names (default: all under solutions/)")
    names = parser.parse_args(argv).assignments or assignments()
    with tempfile.TemporaryDirectory() as tmp:
        course = make_course(Path(tmp) / "course", names)
        for name in names:
            submit(course, "solved", name, student_notebook(course, name))
            submit(course, "untouched", name, student_notebook(course, name, blank=True))
        print(f"{'assignment':<18} {'baseline s':>10} {'solved s':>9} {'ratio':>6}  score")
        total_base = total_solved = 0.0
        for name in names:
            base = timed_autograde(course, name, "untouched")
            solved = timed_autograde(course, name, "solved")
            got = scores(course, name)["solved"]
            earned, possible = sum(s for s, _ in got.values()), sum(m for _, m in got.values())
            total_base += base
            total_solved += solved
            print(f"{name:<18} {base:>10.1f} {solved:>9.1f} {solved / base:>6.2f}  {earned:g}/{possible:g}")
        print(f"{'total':<18} {total_base:>10.1f} {total_solved:>9.1f} {total_solved / total_base:>6.2f}")
        print(f"one student's full set: {total_solved:.1f} s = {total_solved / BUDGET_SECONDS:.2f} x the "
              f"{BUDGET_SECONDS:.0f} s budget ({'within' if total_solved <= BUDGET_SECONDS else 'OVER'} budget)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Grading a class in parallel: a class of 40 generated students graded with JOBS=1 and with JOBS=2.

Run: ``python benchmarks/autograde.py [--students 40] [--assignment 01_next_word] [--jobs 2]``

The class is made from the assignment's instructor solution and the mutants of its bank (one student per
solution or mutant, in turn). Both runs grade the same submissions the way ``make grade`` does (every
kernel in the bubblewrap sandbox when bwrap is installed), each in a course folder of its own. Printed:
the time per student of each run, the speed-up of JOBS=N over JOBS=1, and whether any grade differs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from gpt2ref.course import sandbox
from gpt2ref.course.classroom import load_mutants, make_course, student_notebook, submit
from gpt2ref.course.grade import grade_class


def make_class(course: Path, assignment: str, size: int) -> None:
    """``size`` students: the solution, then each mutant, in turn."""
    variants = [None, *load_mutants(assignment)]
    for index in range(size):
        mutant = variants[index % len(variants)]
        submit(course, f"s{index:02d}", assignment, student_notebook(course, assignment, mutant))


def timed(course: Path, assignment: str, jobs: int, sandboxed: bool) -> tuple[float, dict]:
    """Seconds to grade the class with ``jobs`` workers, and each student's (score, max score)."""
    start = time.perf_counter()
    outcomes = grade_class(course, [assignment], None, jobs, sandboxed, [], progress=False)
    elapsed = time.perf_counter() - start
    return elapsed, {o.student: (o.score, o.max_score, o.graded) for o in outcomes}


def main(argv: list[str] | None = None) -> int:
    """Print time per student for JOBS=1 and JOBS=N, the speed-up and whether the grades agree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--assignment", default="01_next_word")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    sandboxed = sandbox.bwrap_available()
    with tempfile.TemporaryDirectory() as tmp:
        first = make_course(Path(tmp) / "jobs1", [args.assignment])
        make_class(first, args.assignment, args.students)
        second = Path(tmp) / f"jobs{args.jobs}"
        shutil.copytree(first, second)
        serial, grades_serial = timed(first, args.assignment, 1, sandboxed)
        parallel, grades_parallel = timed(second, args.assignment, args.jobs, sandboxed)
    n = args.students
    print(f"class of {n} students ({args.assignment}: solution and mutants), "
          f"{'sandboxed' if sandboxed else 'NOT sandboxed (no bwrap)'}")
    print(f"JOBS=1: {serial:.1f} s, {serial / n:.2f} s per student")
    print(f"JOBS={args.jobs}: {parallel:.1f} s, {parallel / n:.2f} s per student")
    print(f"speed-up: {serial / parallel:.2f} x")
    differ = sorted(s for s in grades_serial if grades_serial[s] != grades_parallel.get(s))
    graded = sum(g[2] for g in grades_serial.values())
    print(f"graded: {graded}/{n}; grades that differ between the runs: {len(differ)} {differ if differ else ''}")
    return 1 if differ or graded != n else 0


if __name__ == "__main__":
    sys.exit(main())

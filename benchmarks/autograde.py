"""Grading a class in parallel: a class of 40 generated students graded with JOBS=1 and with JOBS=2.

Run: ``python benchmarks/autograde.py [--students 40] [--assignment 01_next_word] [--jobs 2]``

The class is made from the assignment's instructor solution and the mutants of its bank (one student per
solution or mutant, in turn). Both runs grade the same submissions the way ``make grade`` does (every
kernel in the bubblewrap sandbox when bwrap is installed), each in a course folder of its own. Printed:
the time per student of each run, the speed-up of JOBS=N over JOBS=1, and whether any grade differs.
Exit status 1 when a grade differs between the runs or a student was not graded, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from gpt2ref.course import sandbox
from gpt2ref.course.classroom import assignments, load_mutants, make_course, student_notebook, submit
from gpt2ref.course.grade import Outcome, grade_class

Grades = dict[str, tuple[bool, dict[str, tuple[float, float]]]]


def make_class(course: Path, assignment: str, size: int) -> None:
    """``size`` students: the solution, then each mutant, in turn."""
    variants = [None, *load_mutants(assignment)]
    for index in range(size):
        mutant = variants[index % len(variants)]
        submit(course, f"s{index:02d}", assignment, student_notebook(course, assignment, mutant))


def timed(course: Path, assignment: str, jobs: int, sandboxed: bool) -> tuple[float, list[Outcome]]:
    """Seconds to grade the class with ``jobs`` workers, and what happened to each student."""
    print(f"grading with JOBS={jobs} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    outcomes = grade_class(course, [assignment], None, jobs, sandboxed, [], progress=sys.stderr.isatty())
    return time.perf_counter() - start, outcomes


def grades(outcomes: list[Outcome]) -> Grades:
    """Per student: graded or not, and the score of each test cell."""
    return {o.student: (o.graded, dict(o.tasks)) for o in outcomes}


def differences(first: Grades, second: Grades) -> list[str]:
    """One line per student whose grade differs between the two runs."""
    lines = []
    for student in sorted(first.keys() | second.keys()):
        a, b = first.get(student), second.get(student)
        if a != b:
            lines.append(f"  {student}: {_describe(a)}  vs  {_describe(b)}")
    return lines


def _describe(grade: tuple[bool, dict[str, tuple[float, float]]] | None) -> str:
    if grade is None:
        return "absent"
    graded, tasks = grade
    cells = ", ".join(f"{k} {s:g}/{m:g}" for k, (s, m) in sorted(tasks.items()))
    return f"{'graded' if graded else 'NOT GRADED'} ({cells})"


def check_arguments(args: argparse.Namespace) -> str | None:
    """None, or what is wrong with the command line, in one line."""
    if args.students < 1:
        return f"--students must be at least 1 (got {args.students})"
    if args.jobs < 2:
        return f"--jobs must be at least 2, to compare with JOBS=1 (got {args.jobs})"
    known = assignments()
    if args.assignment not in known:
        return f"no assignment {args.assignment!r} in solutions/; choose one of: {', '.join(known)}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Print time per student for JOBS=1 and JOBS=N, the speed-up and whether the grades agree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40, help="size of the class (default 40)")
    parser.add_argument("--assignment", default="01_next_word", help="assignment graded (default 01_next_word)")
    parser.add_argument("--jobs", type=int, default=2, help="students graded at once in the second run (default 2)")
    args = parser.parse_args(argv)
    problem = check_arguments(args)
    if problem:
        print(f"autograde benchmark: {problem}", file=sys.stderr)
        return 2
    sandboxed = sandbox.bwrap_available()
    n = args.students
    with tempfile.TemporaryDirectory(prefix="gpt2ref-autograde-bench-") as tmp:
        try:
            first = make_course(Path(tmp) / "jobs1", [args.assignment])
            make_class(first, args.assignment, n)
        except (RuntimeError, ValueError, OSError, KeyError) as error:
            print(f"autograde benchmark: could not make the class of {args.assignment}: {error}", file=sys.stderr)
            return 2
        second = Path(tmp) / f"jobs{args.jobs}"
        shutil.copytree(first, second)
        try:
            serial, serial_outcomes = timed(first, args.assignment, 1, sandboxed)
            parallel, parallel_outcomes = timed(second, args.assignment, args.jobs, sandboxed)
        except RuntimeError as error:
            print(f"autograde benchmark: grading could not start: {error}", file=sys.stderr)
            return 2
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"class of {n} students ({args.assignment}: solution and {len(load_mutants(args.assignment))} mutants, "
          f"in turn), {'sandboxed' if sandboxed else 'NOT sandboxed (no bwrap)'}; {os.cpu_count()} CPUs, "
          f"load average {load}")
    print(f"JOBS=1: {serial:.1f} s, {serial / n:.2f} s per student")
    print(f"JOBS={args.jobs}: {parallel:.1f} s, {parallel / n:.2f} s per student")
    print(f"speed-up of JOBS={args.jobs} over JOBS=1: {serial / parallel:.2f} x")
    status = 0
    for jobs, outcomes in ((1, serial_outcomes), (args.jobs, parallel_outcomes)):
        missed = [o for o in outcomes if not o.graded]
        print(f"JOBS={jobs}: {n - len(missed)}/{n} students graded")
        for o in missed:
            print(f"  {o.student} NOT GRADED: {'; '.join(o.notes) or 'no reason recorded'}")
            status = 1
    differ = differences(grades(serial_outcomes), grades(parallel_outcomes))
    print(f"grades that differ between JOBS=1 and JOBS={args.jobs}: {len(differ)}")
    for line in differ:
        print(line)
    return 1 if differ else status


if __name__ == "__main__":
    sys.exit(main())

"""Learner self-check: run an exercise notebook and report each visible test cell as passed or failed.

Usage::

    python -m gpt2ref.course.selfcheck exercises/01_next_word/next_word.ipynb [--timeout 60]

The notebook runs top to bottom in a fresh kernel (its working directory is the notebook's folder); every
cell gets at most ``--timeout`` seconds. The exit status is 0 when every test cell passed, 1 when one
failed, 2 when the notebook could not be run at all. The notebook file itself is not modified.

Only the tests you can see are run: the hidden tests that also count for your grade are not in your copy.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class CellResult:
    """The outcome of one graded test cell."""

    grade_id: str
    points: float
    passed: bool
    message: str = ""
    checked: bool = True  # False when the cell never ran (the kernel died before it)


@dataclass
class SelfCheckReport:
    """All test cells of a notebook plus the errors of the cells before them (for context)."""

    path: Path
    tests: list[CellResult]
    task_errors: list[tuple[str, str]]

    @property
    def ok(self) -> bool:
        """True when every test cell passed."""
        return bool(self.tests) and all(t.passed for t in self.tests)

    def format(self) -> str:
        """A plain-text report, one line per test cell, failure messages indented below."""
        lines = [f"Self-check of {self.path}"]
        for name, error in self.task_errors:
            lines.append(f"  note: cell {name} raised {error}")
        width = max((len(t.grade_id) for t in self.tests), default=10)
        for t in self.tests:
            status = "PASS" if t.passed else "FAIL" if t.checked else "NOT CHECKED"
            lines.append(f"  {status}  {t.grade_id:<{width}}  ({t.points:g} points)")
            if not t.passed:
                lines.extend("        " + line for line in t.message.splitlines())
        unchecked = [t.grade_id for t in self.tests if not t.checked]
        if unchecked:
            lines.append(f"Could not check {', '.join(unchecked)}: the kernel died before them.")
        passed = sum(t.passed for t in self.tests)
        earned = sum(t.points for t in self.tests if t.passed)
        total = sum(t.points for t in self.tests)
        lines.append(f"{passed}/{len(self.tests)} visible test cells passed ({earned:g}/{total:g} points).")
        lines.append("Hidden tests also count for the grade: passing these is necessary, not sufficient.")
        return "\n".join(lines)


def _error_text(content: dict) -> str:
    ename, evalue = content.get("ename", "Error"), content.get("evalue", "")
    return ANSI.sub("", f"{ename}: {evalue}" if evalue else ename)


def run_selfcheck(path: str | Path, timeout: int = 60, kernel_name: str | None = None) -> SelfCheckReport:
    """Execute the notebook at ``path`` with a per-cell timeout and collect the test-cell outcomes.

    Raises ``ValueError`` when the file is not a notebook or holds no test cell.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist (give the path of an exercise notebook, e.g. "
                         "exercises/01_next_word/next_word.ipynb)")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # noqa: BLE001 - nbformat raises several kinds for a broken file
        raise ValueError(f"{path} is not a readable notebook: {error}") from error
    graded = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")
              and not c.metadata["nbgrader"].get("solution")]
    if not graded:
        raise ValueError(f"{path} has no test cells: is it an exercise notebook?")
    errors: dict[int, str] = {}
    executed: set[int] = set()

    def record(cell: dict, cell_index: int, execute_reply: dict, **_: object) -> None:
        # The reply also covers timeouts, which leave no error output in the cell.
        content = execute_reply.get("content", {})
        if content.get("status") == "error":
            errors[cell_index] = _error_text(content)
        executed.add(cell_index)

    client = NotebookClient(
        nb,
        timeout=timeout,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError",
                          "evalue": f"the cell ran longer than {timeout} s and was interrupted",
                          "traceback": []},
        allow_errors=True,
        startup_timeout=180,  # a kernel can take over a minute to start on a busy 2-core machine
        kernel_name=kernel_name or nb.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(path.parent.resolve())}},
        on_cell_executed=record,
    )
    # The kernel's own stderr (connection warnings) is noise for a learner; cell output comes over IOPub.
    try:
        client.execute(stderr=subprocess.DEVNULL)
    except DeadKernelError:
        pass  # the cells that did not run are reported as not checked
    tests: list[CellResult] = []
    task_errors: list[tuple[str, str]] = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        error = errors.get(index)
        if meta.get("grade") and not meta.get("solution"):
            ran = index in executed
            tests.append(CellResult(meta.get("grade_id", cell.get("id", "?")), float(meta.get("points", 0)),
                                    ran and error is None, error or ("" if ran else "not run"), checked=ran))
        elif error is not None and cell.cell_type == "code":
            task_errors.append((meta.get("grade_id") or cell.get("id", "?"), error.splitlines()[0]))
    return SelfCheckReport(path, tests, task_errors)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 all passed, 1 a test failed, 2 cannot run)."""
    parser = argparse.ArgumentParser(prog="python -m gpt2ref.course.selfcheck",
                                     description="Run an exercise notebook and report its visible tests.")
    parser.add_argument("notebook", help="path of the exercise notebook (.ipynb)")
    parser.add_argument("--timeout", type=int, default=60, help="seconds allowed per cell (default 60)")
    args = parser.parse_args(argv)
    try:
        report = run_selfcheck(args.notebook, timeout=args.timeout)
    except ValueError as error:
        print(f"selfcheck: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - kernel failures: report, do not dump a traceback
        print(f"selfcheck: could not run {args.notebook}: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    print(report.format())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

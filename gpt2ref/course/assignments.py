"""Build each assignment's instructor notebook from its ``.nbsrc`` cell file.

An assignment is written as a plain-text cell file, ``solutions/<assignment>/<notebook>.nbsrc``, so that it
reads and diffs like code; this module turns it into ``<notebook>.ipynb`` with the nbgrader metadata
(solution cells, locked test cells with points). The ``.ipynb`` is what nbgrader reads.

A cell starts with a header line ``#%% KIND [key=value ...]``; everything up to the next header is the
cell's source, verbatim. Kinds:

- ``markdown``                        instructions (``markdown id=NAME`` locks it, optional)
- ``code``                            an ordinary code cell the learner may edit and run
- ``readonly id=NAME``                a locked code cell (imports, data), restored at grading time
- ``solution id=NAME``                the learner's answer; ``### BEGIN SOLUTION`` / ``### END SOLUTION``
                                      mark the part replaced by the stub in the release
- ``tests id=NAME points=N``          an autograded, locked test cell; ``### BEGIN HIDDEN TESTS`` /
                                      ``### END HIDDEN TESTS`` mark the part stripped from the release

Usage::

    python -m gpt2ref.course.assignments            # (re)build every solutions/*/*.ipynb
    python -m gpt2ref.course.assignments --check    # exit 1 if a notebook is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]  # the course repository (gpt2ref/course/ is two levels down)
SOLUTIONS = ROOT / "solutions"
HEADER = re.compile(r"^#%%\s+(?P<kind>\w+)(?P<args>(?:\s+\w+=\S+)*)\s*$")
KINDS = {"markdown", "code", "readonly", "solution", "tests"}
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,60}$")


class NbsrcError(ValueError):
    """A ``.nbsrc`` file that cannot be turned into a notebook (the message says where and why)."""


def parse_nbsrc(text: str, name: str = "<nbsrc>") -> list[dict]:
    """Split a ``.nbsrc`` text into cells: dicts with ``kind``, ``args`` (key -> str) and ``source``."""
    cells: list[dict] = []
    current: dict | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        match = HEADER.match(line)
        if match:
            kind = match["kind"]
            if kind not in KINDS:
                raise NbsrcError(f"{name}:{lineno}: unknown cell kind {kind!r}; use one of {sorted(KINDS)}")
            args = dict(arg.split("=", 1) for arg in match["args"].split())
            current = {"kind": kind, "args": args, "lines": [], "lineno": lineno}
            cells.append(current)
        elif current is None:
            if line.strip():
                raise NbsrcError(f"{name}:{lineno}: text before the first '#%% KIND' header")
        else:
            current["lines"].append(line)
    for cell in cells:
        cell["source"] = "\n".join(cell.pop("lines")).strip("\n")
    return cells


def _check_cell(cell: dict, seen: set[str], name: str) -> None:
    where = f"{name}:{cell['lineno']}"
    kind, args = cell["kind"], cell["args"]
    grade_id = args.get("id")
    if kind in {"readonly", "solution", "tests"} and grade_id is None:
        raise NbsrcError(f"{where}: a {kind} cell needs id=NAME")
    if grade_id is not None:
        if not ID_PATTERN.match(grade_id):
            raise NbsrcError(f"{where}: id {grade_id!r} must be lower_snake_case")
        if grade_id in seen:
            raise NbsrcError(f"{where}: duplicate id {grade_id!r}")
        seen.add(grade_id)
    if kind == "tests":
        if "points" not in args or not args["points"].isdigit() or int(args["points"]) <= 0:
            raise NbsrcError(f"{where}: a tests cell needs points=N (a positive integer)")
        if "BEGIN SOLUTION" in cell["source"]:
            raise NbsrcError(f"{where}: a tests cell cannot hold a solution")
    if kind == "solution" and "### BEGIN SOLUTION" not in cell["source"]:
        raise NbsrcError(f"{where}: a solution cell needs '### BEGIN SOLUTION' / '### END SOLUTION'")
    if kind != "tests" and "HIDDEN TESTS" in cell["source"]:
        raise NbsrcError(f"{where}: hidden tests belong in a tests cell")


def build_notebook(text: str, name: str = "<nbsrc>") -> nbformat.NotebookNode:
    """Turn the text of a ``.nbsrc`` file into an nbgrader instructor notebook."""
    cells = parse_nbsrc(text, name)
    seen: set[str] = set()
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for index, cell in enumerate(cells):
        _check_cell(cell, seen, name)
        kind, args, source = cell["kind"], cell["args"], cell["source"]
        grade_id = args.get("id")
        if kind == "markdown":
            new = nbformat.v4.new_markdown_cell(source)
        else:
            new = nbformat.v4.new_code_cell(source)
        new.id = grade_id.replace("_", "-") if grade_id else f"cell-{index}"
        if kind in {"readonly", "solution", "tests"} or (kind == "markdown" and grade_id):
            new.metadata["nbgrader"] = {
                "grade": kind == "tests",
                "grade_id": grade_id,
                "locked": kind != "solution",
                "schema_version": 3,
                "solution": kind == "solution",
                "task": False,
            }
            if kind == "tests":
                new.metadata["nbgrader"]["points"] = int(args["points"])
            if kind != "solution":
                new.metadata["editable"] = False
                new.metadata["deletable"] = False
        nb.cells.append(new)
    if not any(cell["kind"] == "tests" for cell in cells):
        raise NbsrcError(f"{name}: an assignment needs at least one tests cell")
    nbformat.validate(nb)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The exact text written to disk (stable, so that ``--check`` can compare)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def nbsrc_files(root: Path = SOLUTIONS) -> list[Path]:
    """Every assignment cell file under ``solutions/``."""
    return sorted(root.glob("*/*.nbsrc"))


def main(argv: list[str] | None = None) -> int:
    """Build (or with --check, only compare) every assignment notebook; exit status 1 if one is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the notebooks are up to date")
    args = parser.parse_args(argv)
    stale = []
    for src in nbsrc_files():
        target = src.with_suffix(".ipynb")
        text = render(build_notebook(src.read_text(encoding="utf-8"), str(src.relative_to(ROOT))))
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        if args.check:
            stale.append(target)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"built {target.relative_to(ROOT)}")
    if stale:
        for target in stale:
            print(f"out of date: {target.relative_to(ROOT)} (run python -m gpt2ref.course.assignments)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

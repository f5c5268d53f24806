"""Release the assignments: build each instructor notebook from its ``.nbsrc`` file, then let nbgrader
write the student version to ``exercises/``.

Usage (from the repository root)::

    python -m gpt2ref.course.release                  # every assignment under solutions/
    python -m gpt2ref.course.release 01_next_word     # only these

nbgrader records an assignment in a gradebook when it releases it; here that gradebook is a throw-away
one, so that releasing leaves no ``gradebook.db`` or log behind in the repository: grading
(``python -m gpt2ref.course.grade``) happens in a course folder of its own.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from gpt2ref.course import assignments
from gpt2ref.course.nbgrader_runner import gradebook_url, run_nbgrader


def release(course: Path, name: str, db: Path | None = None) -> str | None:
    """``nbgrader generate_assignment NAME --force`` in ``course``; None, or nbgrader's output if it failed.

    With ``db`` the assignment is recorded in that gradebook instead of the course's own.
    """
    extra = [f"--CourseDirectory.db_url={gradebook_url(db)}"] if db is not None else []
    result = run_nbgrader(course, "generate_assignment", name, "--force", *extra)
    return None if result.returncode == 0 else result.stdout + result.stderr


def main(argv: list[str] | None = None) -> int:
    """Build and release the named assignments (all by default); exit status 1 if one fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignment names (default: all under solutions/)")
    args = parser.parse_args(argv)
    if assignments.main([]) != 0:
        return 1
    root = assignments.ROOT
    names = args.assignments or sorted(p.parent.name for p in assignments.nbsrc_files())
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if not (root / "solutions" / name).is_dir():
                print(f"release: no solutions/{name}/", file=sys.stderr)
                failed.append(name)
                continue
            error = release(root, name, Path(tmp) / "gradebook.db")
            if error:
                print(error, file=sys.stderr)
                failed.append(name)
            else:
                print(f"released exercises/{name}/")
    leftover = root / ".nbgrader.log"
    if leftover.exists() and leftover.stat().st_size == 0:
        leftover.unlink()
    if failed:
        print(f"release failed for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Release the exercises: rebuild the instructor notebooks, then ``nbgrader generate_assignment`` each one.

Usage (from anywhere)::

    python scripts/release.py                  # every assignment under solutions/
    python scripts/release.py 01_next_word     # only these

``exercises/<assignment>/`` is rewritten from ``solutions/<assignment>/`` (solutions replaced by stubs,
hidden tests removed, test cells locked). The gradebook that ``generate_assignment`` needs is a temporary
one, so that releasing leaves no ``gradebook.db`` or log behind in the repository: grading
(``scripts/grade.py``) happens in a course folder of its own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_assignments  # noqa: E402


def generate(name: str, db_url: str) -> subprocess.CompletedProcess:
    """Run ``nbgrader generate_assignment NAME --force`` at the repository root with the given gradebook."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, PATH=path, PYTHONWARNINGS="ignore")
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force",
         f"--CourseDirectory.db_url={db_url}"],
        cwd=ROOT, env=env, text=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    """Build and release the named assignments (all by default); exit status 1 if one fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignment names (default: all under solutions/)")
    args = parser.parse_args(argv)
    if build_assignments.main([]) != 0:
        return 1
    names = args.assignments or sorted(p.parent.name for p in build_assignments.nbsrc_files())
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'gradebook.db'}"
        for name in names:
            if not (ROOT / "solutions" / name).is_dir():
                print(f"release: no solutions/{name}/", file=sys.stderr)
                failed.append(name)
                continue
            result = generate(name, db_url)
            if result.returncode != 0:
                print(result.stdout + result.stderr, file=sys.stderr)
                failed.append(name)
            else:
                print(f"released exercises/{name}/")
    for leftover in (ROOT / ".nbgrader.log",):
        if leftover.exists() and leftover.stat().st_size == 0:
            leftover.unlink()
    if failed:
        print(f"release failed for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make lab`: JupyterLab starts on the course with nbgrader's extension and a working formgrader."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("lab")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1, started as `make lab` starts it, on a copy of the course.

    The copy keeps the formgrader's gradebook out of the working tree.
    """
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder, course / folder)
    port, token = _free_port(), "course-test-token"
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    # As `make lab` does: through the course's nbgrader runner (the venv's bin folder on PATH for `alembic`).
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime))
    process = subprocess.Popen(
        [sys.executable, "-m", "gpt2ref.course.nbgrader_runner", "lab", str(course), "--no-browser",
         f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={token}", "--allow-root"],
        cwd=course, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: the teardown can tell whether anything outlived it
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            _get(f"{base}/api/status?token={token}")
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited: {process.stderr.read()[-2000:]}")
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("jupyter lab did not answer within 90 s")
    try:
        yield base, token
    finally:
        process.terminate()  # the runner only: it must pass the signal on to JupyterLab
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        left = _group_alive(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not left, "JupyterLab (or another child of the runner) outlived the terminated runner"


def _group_alive(pgid: int, seconds: float = 15) -> bool:
    """Whether a process of group ``pgid`` is still running after ``seconds`` (zombies do not count)."""
    deadline = time.monotonic() + seconds
    while True:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    alive.append(stat.parent.name)
        if not alive or time.monotonic() > deadline:
            return bool(alive)
        time.sleep(0.2)


def test_lab_loads_nbgrader_extension(lab):
    base, token = lab
    status, page = _get(f"{base}/lab?token={token}")
    assert status == 200
    assert "@jupyter/nbgrader" in page, "the nbgrader JupyterLab extension is not loaded"


def test_formgrader_serves_the_course_assignments(lab):
    base, token = lab
    status, page = _get(f"{base}/formgrader/manage_assignments?token={token}")
    assert status == 200 and "Manage Assignments" in page
    status, body = _get(f"{base}/formgrader/api/assignments?token={token}")
    assert status == 200
    names = {a["name"] for a in json.loads(body)}
    released = {p.name for p in (ROOT / "exercises").iterdir() if p.is_dir()}
    assert len(released) == 8, f"exercises/ holds {sorted(released)}: one assignment per chapter expected"
    assert released and released <= names, f"formgrader lists {sorted(names)}, released {sorted(released)}"

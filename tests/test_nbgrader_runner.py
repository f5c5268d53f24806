"""The nbgrader runner passes a termination on to its child: stopping `make lab` stops JupyterLab too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_the_runner_reaches_its_child_and_nothing_is_left_running(tmp_path, sig):
    pid_file = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    runner = textwrap.dedent(f"""
        import sys
        from gpt2ref.course.nbgrader_runner import run_forwarding_signals
        sys.exit(run_forwarding_signals([sys.executable, "-c", {child!r}], grace=5))
    """)
    process = subprocess.Popen([sys.executable, "-c", runner], cwd=ROOT, start_new_session=True)
    try:
        assert _wait_for(lambda: pid_file.exists() and pid_file.read_text(), 30), "the child never started"
        grandchild = int(pid_file.read_text())
        process.send_signal(sig)  # to the runner only, not to its process group
        assert process.wait(timeout=15) != 0, "the runner should report that its child was stopped"
        assert _wait_for(lambda: not _alive(grandchild), 5), f"the child {grandchild} outlived the runner"
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def test_the_runner_returns_its_childs_exit_status():
    from gpt2ref.course.nbgrader_runner import run_forwarding_signals

    assert run_forwarding_signals([sys.executable, "-c", "raise SystemExit(3)"]) == 3
    assert run_forwarding_signals([sys.executable, "-c", "pass"]) == 0

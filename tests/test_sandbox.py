"""The grading sandbox and its safeguards, without running nbgrader: grading refuses to run unsandboxed
where bwrap is missing, a half-made gradebook is moved aside, nbformat 3 is upgraded, stderr never costs
a test cell its points, and feedback never quotes a hidden test (the full runs: test_nbgrader_hostile.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest

from gpt2ref.course.grade import read_notebook
from gpt2ref.course.nbgrader_runner import usable_gradebook
from gpt2ref.course.preprocessors import HideHiddenTests, StderrIsNotAnError
from gpt2ref.course.sandbox import MISSING, Limits, SandboxConfig, bwrap_argv


def _test_cell(source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test_a", "points": 1}
    return cell


def test_grading_refuses_to_run_unsandboxed_in_one_line_when_bwrap_is_missing(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("")
    env = dict(os.environ, PATH=str(tmp_path))  # no bwrap on this PATH
    result = subprocess.run([sys.executable, "-m", "gpt2ref.course.grade", "--course", str(tmp_path)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == f"grade: {MISSING}"
    assert "--unsandboxed" in MISSING and "bubblewrap" in MISSING


def test_the_jail_hides_the_course_shows_python_and_has_no_network(tmp_path):
    config = SandboxConfig(hide=["/course", str(tmp_path)], keep=["/venv"], runtime="/run/k", uid=61000)
    argv = bwrap_argv(config, tmp_path / "work", tmp_path / "copy")
    joined = " ".join(argv)
    assert f"--tmpfs {tmp_path}" in joined and "--ro-bind /venv /venv" in joined
    assert f"--bind {tmp_path / 'copy'} {tmp_path / 'work'}" in joined
    assert {"--unshare-net", "--unshare-pid", "--die-with-parent"} <= set(argv)
    assert argv[argv.index("setpriv") + 1] == "--reuid=61000"  # an unprivileged user inside
    assert SandboxConfig.from_env(config.to_env()) == config
    assert Limits().memory_mb > 0 and Limits().processes > 0


@pytest.mark.parametrize("content", [b"", b"not sqlite at all"])
def test_a_half_made_gradebook_is_moved_aside(tmp_path, content):
    db = tmp_path / "gradebook.db"
    db.write_bytes(content)
    note = usable_gradebook(db)
    assert note is not None and "moved to gradebook.db.broken" in note
    assert not db.exists() and (tmp_path / "gradebook.db.broken").exists()
    assert usable_gradebook(db) is None  # absent: nbgrader makes a new one


def test_an_nbformat_3_notebook_is_upgraded(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.writes(nbformat.convert(nb, 3)))
    assert json.loads(path.read_text())["nbformat"] == 3
    data, reason = read_notebook(path)
    assert reason is None and data["nbformat"] == 4
    assert "".join(data["cells"][0]["source"]) == "x = 1"


def test_stderr_in_a_test_cell_becomes_stdout_and_errors_stay():
    cell = _test_cell("check()")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="100%|####| 3/3\n"),
                    nbformat.v4.new_output("error", ename="AssertionError", evalue="x", traceback=[])]
    StderrIsNotAnError().preprocess_cell(cell, {}, 0)
    assert [o.get("name") for o in cell.outputs] == ["stdout", None]
    assert cell.outputs[1].output_type == "error"


def test_feedback_drops_hidden_test_lines_from_every_output():
    test = _test_cell("check(a)\n### BEGIN HIDDEN TESTS\nassert secret_function(41) == 42\n### END HIDDEN TESTS")
    test.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="",
                                           traceback=["----> 3 assert secret_function(41) == 42", "AssertionError"])]
    spy = nbformat.v4.new_code_cell("print(In)")
    spy.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a\nassert secret_function(41) == 42\nb\n"),
                   nbformat.v4.new_output("execute_result", data={"text/plain": "x assert secret_function(41) == 42"})]
    nb = nbformat.v4.new_notebook(cells=[test, spy])
    HideHiddenTests().preprocess(nb, {})
    assert "secret_function" not in json.dumps([cell.outputs for cell in nb.cells])  # (ClearHiddenTests: sources)
    assert "(lines of hidden tests are not shown)" in test.outputs[0].traceback
    assert spy.outputs[0].text.startswith("a\nb\n")

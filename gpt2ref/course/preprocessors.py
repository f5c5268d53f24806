"""nbgrader preprocessors of the course (named in nbgrader_config.py).

- :class:`GuardedExecute` executes a submission like nbgrader's ``Execute``, but first installs
  ``gpt2ref.course.guard`` in the fresh kernel and, before each test cell, has it restore what the
  student's cells may have replaced (checks, builtins, torch, IPython's transformers and handlers). A
  test cell whose restore did not answer correctly scores 0 with a note.
- :class:`StderrIsNotAnError` turns a test cell's ``stderr`` output into ``stdout``: nbgrader scores a
  test cell with any stderr output 0, but warnings and progress bars are not errors.
- :class:`HideHiddenTests` (feedback): drops every line of a hidden test from every output of the
  notebook (a traceback quotes them; a student may print them), with a note where it did.
"""

from __future__ import annotations

import re
import secrets

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor

from gpt2ref.course.guard import answer

GUARD = "__import__('gpt2ref.course.guard', fromlist=['guard'])"


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _is_test_cell(cell: NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class GuardedExecute(Execute):
    """nbgrader's Execute with the guard of ``gpt2ref.course.guard`` around every test cell."""

    _guarded_client = None
    _dead_client = None
    _key = ""

    async def _guard(self, expression: str) -> str | None:
        reply = await self.kc.execute_interactive("", silent=True, store_history=False,
                                                  user_expressions={"r": expression}, timeout=60,
                                                  output_hook=lambda msg: None)
        result = reply.get("content", {}).get("user_expressions", {}).get("r", {})
        if result.get("status") != "ok":
            return None
        return str(result.get("data", {}).get("text/plain", "")).strip("'\"")

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code":
            return cell
        if self._dead_client is self.kc:  # the kernel died in an earlier cell: the cells before it count
            cell.outputs = [_error("KernelDied", "not run: the kernel died in an earlier cell")]
            return cell
        try:
            if self._guarded_client is not self.kc:
                self._guarded_client, self._key = self.kc, secrets.token_hex(16)
                await self._guard(f"{GUARD}.install({self._key!r})")
            if _is_test_cell(cell):
                nonce = secrets.token_hex(8)
                if await self._guard(f"{GUARD}.restore({nonce!r})") != answer(self._key, nonce):
                    cell.outputs = [_error("GradingGuardError", "the notebook changed how the kernel runs code "
                                           "(IPython, the grading checks or the kernel), so this test could not run")]
                    return cell
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except (DeadKernelError, TimeoutError):
            self._dead_client = self.kc
            cell.outputs.append(_error("KernelDied", "the kernel died while running this cell (os._exit, a crash,"
                                       " or a limit of the grading sandbox: memory, processes, CPU time)"))
            return cell


    # NotebookClient binds its synchronous execute_cell to its own coroutine: bind it to this one.
    execute_cell = run_sync(async_execute_cell)


class StderrIsNotAnError(NbGraderPreprocessor):
    """Test cells: stderr output (warnings, progress bars) becomes stdout, so it does not cost the points."""

    def preprocess_cell(self, cell, resources, index):
        if _is_test_cell(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output.name = "stdout"
        return cell, resources


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback: remove every line of a hidden test from every output of the notebook."""

    hidden = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    note = "(lines of hidden tests are not shown)"

    def preprocess(self, nb, resources):
        self.lines = {line.strip() for cell in nb.cells if cell.cell_type == "code"
                      for block in self.hidden.findall(cell.source) for line in block.splitlines()
                      if len(line.strip()) >= 8}
        return super().preprocess(nb, resources)

    def _clean(self, text: str) -> tuple[str, bool]:
        lines = text.split("\n")
        kept = [line for line in lines if "HIDDEN TESTS" not in line and not any(
            hidden in self.ansi.sub("", line) for hidden in self.lines)]
        return "\n".join(kept), len(kept) < len(lines)

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                cleaned = [self._clean(entry) for entry in output.traceback]
                output.traceback = [text for text, _ in cleaned]
                dropped = any(d for _, d in cleaned)
                if dropped:
                    output.traceback.insert(max(len(output.traceback) - 1, 0), self.note)
            elif output.get("output_type") == "stream":
                output.text, dropped = self._clean(output.text)
                if dropped:
                    output.text += "\n" + self.note + "\n"
            else:
                for mime, value in output.get("data", {}).items():
                    if isinstance(value, str) and mime.startswith("text/"):
                        output.data[mime] = self._clean(value)[0]
        return cell, resources

"""nbgrader configuration of the gpt2-from-scratch course.

Instructor sources live in ``solutions/<assignment>/`` (one notebook per assignment, built from its
``.nbsrc`` cell file by ``scripts/build_assignments.py``); ``nbgrader generate_assignment`` writes the
student versions to ``exercises/``. See ``solutions/README.md`` for the layout and ``scripts/grade.py``
for the grading workflow.
"""

import re

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor


class HideHiddenTestTracebacks(NbGraderPreprocessor):
    """Feedback: remove the lines of hidden tests that a traceback quotes.

    ClearHiddenTests removes the hidden tests from a test cell's source, but IPython's traceback quotes
    the lines around the failing one, hidden ones included. Those lines are dropped (the message of the
    course's checks, ``AssertionError: <what was expected>``, stays), and a note says why.
    """

    hidden = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    numbered = re.compile(r"^\s*(?:-*>)?\s*\d+\s(.*)$")  # "      5 code" or "----> 5 code"

    def _is_hidden(self, line, hidden_lines):
        match = self.numbered.match(self.ansi.sub("", line))
        return bool(match) and (match.group(1).strip() in hidden_lines or "HIDDEN TESTS" in match.group(1))

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or "### BEGIN HIDDEN TESTS" not in cell.source:
            return cell, resources
        hidden_lines = {line.strip() for block in self.hidden.findall(cell.source)
                        for line in block.splitlines() if line.strip()}
        for output in cell.get("outputs", []):
            if output.output_type != "error":
                continue
            kept, dropped = [], False
            for entry in output.traceback:
                lines = entry.split("\n")
                visible = [line for line in lines if not self._is_hidden(line, hidden_lines)]
                dropped |= len(visible) < len(lines)
                kept.append("\n".join(visible))
            if dropped:
                kept.insert(-1, "(lines of hidden tests are not shown)")
            output.traceback = kept
        return cell, resources


c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "gpt2-from-scratch"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# The .nbsrc cell files and the README are instructor material: never copy them into a release.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "*.nbsrc",
    "README.md",
]

# What a learner sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Autograding: every cell gets at most this many seconds. A cell that runs longer is interrupted
# (KeyboardInterrupt in the kernel), recorded as a CellTimeoutError and scored 0; the cells after it
# still run, so the other tasks are graded.
c.Execute.timeout = 30
c.Execute.interrupt_on_timeout = True
# After the interrupt, nbclient waits ``iopub_timeout`` seconds for the cell's last output. nbgrader's
# default is to abort the whole notebook when that wait runs out (a loaded machine is enough): instead,
# keep going, so that the timed-out cell scores 0 and the cells after it are still graded.
c.Execute.raise_on_iopub_timeout = False
c.Execute.iopub_timeout = 10
# Keep a runaway print loop from producing a multi-megabyte feedback file.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60
# A learner who deletes a test cell does not skip it: nbgrader puts the instructor's cell back.
c.OverwriteCells.add_missing_cells = True

# Feedback must never show hidden tests (nbgrader's default feedback does), nor quote them in a traceback.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTestTracebacks, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

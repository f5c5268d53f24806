"""nbgrader configuration of the gpt2-from-scratch course.

Instructor sources live in ``solutions/<assignment>/`` (one notebook per assignment, built from its
``.nbsrc`` cell file by ``python -m gpt2ref.course.assignments``); ``nbgrader generate_assignment`` writes
the student versions to ``exercises/``. See ``solutions/README.md`` for the layout and
``gpt2ref/course/grade.py`` (``make grade``) for the grading workflow, which runs every kernel sandboxed.
"""

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from gpt2ref.course.preprocessors import GuardedExecute, HideHiddenTests, StderrIsNotAnError

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

# Autograding: nbgrader's steps, with the course's guard around test cells (checks, builtins, torch and
# IPython put back before each) and stderr output (warnings, progress bars) not counted as an error.
c.Autograde.autograde_preprocessors = [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       StderrIsNotAnError, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]

# Feedback must never show hidden tests (nbgrader's default feedback does), nor any output quoting them.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

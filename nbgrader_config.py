"""nbgrader configuration of the gpt2-from-scratch course.

Instructor sources live in ``solutions/<assignment>/`` (one notebook per assignment, built from its
``.nbsrc`` cell file by ``scripts/build_assignments.py``); ``nbgrader generate_assignment`` writes the
student versions to ``exercises/``. See ``solutions/README.md`` for the layout and ``scripts/grade.py``
for the grading workflow.
"""

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

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
# Keep a runaway print loop from producing a multi-megabyte feedback file.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60
# A learner who deletes a test cell does not skip it: nbgrader puts the instructor's cell back.
c.OverwriteCells.add_missing_cells = True

# Feedback must never show hidden tests (nbgrader's default feedback does).
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

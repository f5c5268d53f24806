"""Course tooling, apart from the lessons: how the exercises are built, checked, released and graded.

- ``grading``: the checks that the exercises' test cells call (messages written for the learner).
- ``selfcheck``: a learner runs an exercise's visible tests (``python -m gpt2ref.course.selfcheck NB``).
- ``assignments``: ``.nbsrc`` cell files -> nbgrader instructor notebooks.
- ``release``: instructor notebooks -> ``exercises/`` (``make release``).
- ``nbgrader_runner``: the one way nbgrader is run (environment, PATH, gradebook); ``make lab``.
- ``grade``: autograde a class, in parallel, every kernel sandboxed (``make grade``).
- ``sandbox``: the bubblewrap jail of a student's kernel; ``guard``: what the kernel restores before a
  test cell; ``preprocessors``: nbgrader's side of both, and feedback that never shows hidden tests.
- ``classroom``: simulated classes (solutions, mutants) for the tests and the autograde benchmark.
- ``widgets``: the data the book's interactive widgets show.
"""

"""Course tooling, kept apart from the lessons: grading, self-checks, release, and the book's widget data."""

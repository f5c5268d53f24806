"""Plumbing: ``python -m gpt2ref``, the same as the ``gpt2ref`` command (see :mod:`gpt2ref.cli`)."""

from gpt2ref.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

"""Shared fixtures: where the tests find tiny-shakespeare, and a network that is switched off."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def _find_shakespeare() -> Path | None:
    """The text the tests may read: the env var, the copy beside the project, or the user cache."""
    from gpt2ref.cache import cache_dir

    for candidate in (os.environ.get("GPT2REF_SHAKESPEARE"), SHARED_TEXT, cache_dir() / "tinyshakespeare.txt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


SHAKESPEARE = _find_shakespeare()
if SHAKESPEARE is not None:
    # Every test (and every notebook kernel the tests start) reads the same verified local copy.
    os.environ["GPT2REF_SHAKESPEARE"] = str(SHAKESPEARE)


@pytest.fixture(scope="session")
def shakespeare_file() -> Path:
    """Path to a local tiny-shakespeare; the test fails, saying what to do, when there is none."""
    if SHAKESPEARE is None:
        pytest.fail("tiny-shakespeare not found: set GPT2REF_SHAKESPEARE or put it in the gpt2ref cache")
    return SHAKESPEARE


@pytest.fixture(scope="session")
def shakespeare_text(shakespeare_file: Path) -> str:
    """The whole of tiny-shakespeare as a string."""
    return shakespeare_file.read_text(encoding="utf-8")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every attempt to reach another host fail at once, as on an offline machine."""

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (switched off by the no_network fixture)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory):
    """The nbgrader course shared by the round-trip and mutation tests (one autograde per assignment).

    Session scope: under pytest-xdist a worker interleaves test modules, and a module-scoped fixture
    would then be torn down and autograde the same assignment again.
    """
    from nbgrader_helpers import GradedCourse

    return GradedCourse(tmp_path_factory.mktemp("course"))

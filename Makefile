# gpt2-from-scratch: `make book` builds the book, `make test` runs every test. Both set up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.course-installed
JOBS ?= 2
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup course-model book test test-fast lint lab release grade selfcheck benchmarks gpu-check clean

help:
	@echo "make book        set up .venv, build the HTML book (_build/html)"
	@echo "make test        set up .venv, build the book, run every test"
	@echo "make lab         JupyterLab with the nbgrader extension, on the course"
	@echo "make release     regenerate exercises/ from solutions/ (nbgrader)"
	@echo "make grade       autograde submitted/ in sandboxes, JOBS at once; feedback, grades.csv"
	@echo "make selfcheck NB=exercises/NN_name/notebook.ipynb   run an exercise's visible tests"
	@echo "make benchmarks  run the benchmark scripts (ratios against baselines)"
	@echo "make gpu-check   on a CUDA GPU: train in bf16 + compile, the speed ladder, CUDA tests (toy size on a CPU)"

# The virtual environment, installed once per change of pyproject.toml or constraints.txt.
setup: $(STAMP)
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[course,hf]"
	@touch $@

# MathJax served by the book itself, so maths renders with no internet.
.cache/mathjax-static/mathjax/tex-mml-chtml.js:
	scripts/fetch_mathjax.sh

# The course's own character model, which the chapters use when GPT-2's weights are not on this machine:
# trained once with gpt2ref.train (about 4 minutes on 2 cores), then read from ~/.cache/gpt2ref.
course-model: setup
	@scripts/stage "course model" $(BIN)/python -m gpt2ref.course_model

book: setup course-model .cache/mathjax-static/mathjax/tex-mml-chtml.js
	@scripts/stage "build the book" $(BIN)/jupyter-book build . -W -n --keep-going
	@echo "Open the book: file://$(CURDIR)/_build/html/book/intro.html"

lint: setup
	$(BIN)/ruff check .

# pytest runs $(JOBS) workers side by side: one PyTorch thread each keeps them from fighting over the cores.
test: book
	@scripts/stage "lint (ruff)" $(BIN)/ruff check .
	@scripts/stage "assignments built from their sources" $(BIN)/python -m gpt2ref.course.assignments --check
	@OMP_NUM_THREADS=1 scripts/stage "tests (pytest)" $(BIN)/pytest -n $(JOBS) --dist loadgroup tests
	@OMP_NUM_THREADS=1 scripts/stage "book notebooks (nbval)" $(BIN)/pytest -n $(JOBS) --dist loadfile --nbval-lax book

# Without the book build and the slow tests: for a quick loop while editing gpt2ref.
test-fast: setup
	OMP_NUM_THREADS=1 $(BIN)/pytest -n $(JOBS) -m "not slow and not browser" tests

# nbgrader runs the venv's `alembic`: the course's nbgrader runner puts the venv's bin folder on PATH.
lab: setup
	$(BIN)/python -m gpt2ref.course.nbgrader_runner lab $(CURDIR)

release: setup
	$(BIN)/python -m gpt2ref.course.release

# Every student's kernel runs in a bubblewrap sandbox; JOBS students are graded at once
# (make grade JOBS=4). Without bwrap: make grade GRADE_FLAGS=--unsandboxed (at your own risk).
grade: setup
	$(BIN)/python -m gpt2ref.course.grade --jobs $(JOBS) $(GRADE_FLAGS)

# A learner's check of one exercise notebook: make selfcheck NB=exercises/05_attention/attention.ipynb
selfcheck: setup
	@test -n "$(NB)" || { echo "usage: make selfcheck NB=exercises/NN_name/notebook.ipynb"; exit 2; }
	$(BIN)/python -m gpt2ref.course.selfcheck $(NB)

benchmarks: setup
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# One command for a GPU machine (about 8 minutes on an H100/H200); without CUDA, a toy-size rehearsal on the CPU.
# The summary: _build/gpu_check/gpu_check.json and gpu_check.txt.
gpu-check: setup
	PYTHON=$(BIN)/python scripts/gpu_check.sh

clean:
	rm -rf _build .pytest_cache

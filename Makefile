# Two commands do all the set-up:
#   make lab    install (first time only) and open the workbook in JupyterLab
#   make test   install (first time only) and run the project's own test suite
# and make grade grades every lab in labs/ (the checks, with the score table).
# A student's copy (python -m workbook build --student) gets workbook/builders/handout/Makefile instead: lab, grade, test = grade.
# Installing means: a virtual environment in .venv with the pinned requirements.txt and this repo.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PORT ?= 8888
# Jupyter refuses to start as root (containers, cloud sandboxes) unless told that it is on purpose.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab grade test check mutation lint setup clean-venv

# One JupyterLab for the whole workbook: the notebooks, labs/ (the files you edit), checks/ and data/ to read; it
# opens on the first notebook. .jupyter/ holds the settings it ships with (what the file browser hides, no news
# pop-up, no look-ups on the internet; .jupyter/README.md says why). Your own ~/.jupyter still wins.
NOTEBOOK ?= notebooks/01_asyncio.ipynb
JUPYTER_ENV := JUPYTER_CONFIG_PATH="$(CURDIR)/.jupyter$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))"
JUPYTER_FLAGS := --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/$(NOTEBOOK) \
	--LabApp.app_settings_dir="$(CURDIR)/.jupyter/lab/settings"

lab: $(INSTALLED)
	$(JUPYTER_ENV) $(BIN)/jupyter lab --port $(PORT) $(ALLOW_ROOT) $(JUPYTER_FLAGS)

grade: $(INSTALLED)
	$(BIN)/python -m pytest checks

# The suite on both cores (pytest-xdist): a module's tests stay on one worker (they may share a costly fixture), but
# kept mistakes, mutants and notebooks are spread one by one; the longest start first (tests/conftest.py says how).
# The 20 slowest are listed at the end: where the time goes.
test: $(INSTALLED)
	$(BIN)/python -m pytest -n 2 --no-loadscope-reorder --durations=20

# The author's loop for one lab: its checks on the solutions and on the untouched starters, its kept mistakes,
# its notebook (both targets) and its traceability map.   make check LAB=lab3
check: $(INSTALLED)
	@test -n "$(LAB)" || { echo "usage: make check LAB=labN   (e.g. make check LAB=lab3)"; exit 2; }
	$(BIN)/python -m pytest tests --lab $(LAB) -m "not slow" -n 2 --no-loadscope-reorder

# Every mutant of every lab (957; `make test` grades a stable sample of 2 per task): the full measure of how strong the
# checks are, to run when a lab's checks or solution change. About 25 minutes on 2 cores; unchanged labs come from
# the cache in .workbook/mutation/ (tests/meta/test_mutation.py says how).
mutation: $(INSTALLED)
	WORKBOOK_MUTATION_PER_TASK=all $(BIN)/python -m pytest tests/meta/test_mutation.py -m slow

# ruff (lint, import order, format) and mypy, with the pinned versions; CI runs it before the tests.
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m workbook build-starters --check

setup: $(INSTALLED)

$(INSTALLED): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "The workbook needs Python 3.11, found " + sys.version.split()[0] + ": run make PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@# Make the repository importable (the workbook package, and checks' own imports) from the venv.
	$(BIN)/python -c 'import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()["purelib"], "workbook-repo.pth").write_text("$(CURDIR)\n")'
	touch $(INSTALLED)

clean-venv:
	rm -rf $(VENV)

# Set-up in two commands: `make demo` (venv + install + default experiment) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pip skips byte-compiling the ~6 GB of torch/CUDA wheels (saves ~30 s of the demo's 3 minutes); Python then
# writes .pyc files only for the modules a run imports, so later runs start fast even where the environment
# sets PYTHONDONTWRITEBYTECODE.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install demo test lint format clean-outputs

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-compile -e '.[dev,deploy]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/prunescope-train

test: $(STAMP)
	$(PY) -m pytest --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests experiments
	$(VENV)/bin/ruff format --check src tests experiments

format: $(STAMP)
	$(VENV)/bin/ruff check --fix src tests experiments
	$(VENV)/bin/ruff format src tests experiments

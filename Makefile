# `make demo` and `make test` each set up everything on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lrkit-installed

.PHONY: demo test lint typecheck unit install docs dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch is pinned first: a CPU build that lies on this disk; the package's own
# requirement stays a normal range (torch>=2.2) and is then already satisfied.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[all,dev,docs]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/lrkit find --task digits-cnn --probe --out lrkit-out --overwrite

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/ruff format --check src tests benchmarks examples scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	KERAS_BACKEND=torch OMP_NUM_THREADS=1 MPLBACKEND=Agg $(BIN)/python -m pytest

test: lint typecheck unit

# The docs site: redraw the schedule pictures, then build strictly (a broken link, a missing
# results file or a docstring mkdocstrings cannot read fails the build).
docs: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python scripts/plot_schedules.py >/dev/null
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The package: wheel and sdist, twine check, then the wheel alone in a fresh venv.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist . >/dev/null
	$(BIN)/twine check --strict dist/*
	$(BIN)/python scripts/check_dist.py dist

clean:
	rm -rf $(VENV) lrkit-out test-artifacts site dist

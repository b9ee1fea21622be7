# make run  — set up .venv and run the main job (xpuplan plan on the built-in default scenario)
# make test — set up .venv and run lint, types, the layer contract and the tests
# make mutate — mutation testing of perf/ and the planner's constraints (slow: about 7 hours on 2 cores for its 5,778 mutants)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck layers unit bench mutate mutate-sample clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,calibrate,ray]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/xpuplan plan

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck layers unit

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Settings in [tool.mutmut] (pyproject.toml); results stay in mutants/ (`mutmut results`,
# `mutmut show NAME`), and a rerun only re-checks mutants of changed functions.
MUTATE_JOBS ?= 2
mutate: $(STAMP)
	$(BIN)/mutmut run --max-children $(MUTATE_JOBS) > mutants.log 2>&1 || (tail -20 mutants.log; exit 1)
	$(BIN)/python benchmarks/mutation_score.py

# The same on a seeded random sample of the mutants (MUTATE_SAMPLE of them; about 40 min for 500 on 2 cores, 15 for 200):
# the score with its 95% interval, and the survivors.
MUTATE_SAMPLE ?= 500
mutate-sample: $(STAMP)
	$(BIN)/python benchmarks/mutation_sample.py --n $(MUTATE_SAMPLE) --jobs $(MUTATE_JOBS)

clean:
	rm -rf $(VENV) mutants mutants.log build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache

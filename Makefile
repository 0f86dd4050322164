PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install test lint bench soak demo clean

install: $(BIN)/ragkit

$(BIN)/ragkit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(BIN)/ragkit

test: install
	$(BIN)/python -m pytest -m "not soak"

lint: install
	$(BIN)/ruff check ragkit tests bench
	$(BIN)/ruff format --check ragkit tests bench

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/search.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

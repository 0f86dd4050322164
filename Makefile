PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install test quicktest lint bench soak demo clean

install: $(BIN)/ragkit

$(BIN)/ragkit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,mcp]'
	touch $(BIN)/ragkit

# The whole suite, soak runs included (about 2.5 minutes on 2 cores).
test: install
	$(BIN)/python -m pytest

# Everything but the long fault-injection runs (about 45 s): for quick iteration.
quicktest: install
	$(BIN)/python -m pytest -m "not soak"

# Only the long runs: 20 random SIGKILLs of `ragkit index`, a 200 MB file (~2 min).
soak: install
	$(BIN)/python -m pytest -m soak

lint: install
	$(BIN)/ruff check ragkit tests bench
	$(BIN)/ruff format --check ragkit tests bench

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/serve.py

DEMO_QUESTION ?= At which azimuth does DOMEKEEPER park the Great Dome?

# Index the sample corpus into a throwaway database and ask it one question.
# Needs Ollama with nomic-embed-text and llama3.2; without it, one line says how to start it.
demo: install
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BIN)/ragkit index sample_corpus --exclude questions.jsonl --db "$$tmp/demo.db" && \
	printf '\n$$ ragkit ask "%s"\n' "$(DEMO_QUESTION)" && \
	$(BIN)/ragkit ask --db "$$tmp/demo.db" "$(DEMO_QUESTION)"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

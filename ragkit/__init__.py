"""ragkit: local semantic search and question answering over your own files.

    >>> from ragkit import Retriever
    >>> Retriever().search("how do I rotate the dome?", k=3)

Names are imported on first use, so `from ragkit import OllamaClient` stays
light (no SQLite layer, no click).
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    BadResponse,
    ConfigError,
    DimensionChanged,
    DocumentError,
    IndexMismatch,
    IndexNotFound,
    ModelNotFound,
    OllamaError,
    OllamaUnavailable,
    RagkitError,
    StoreError,
)

_LAZY = {
    "OllamaClient": "ragkit.ollama",
    "Store": "ragkit.store",
    "Ingester": "ragkit.ingest",
    "IngestSummary": "ragkit.ingest",
    "Retriever": "ragkit.retriever",
    "Hit": "ragkit.retriever",
    "Hits": "ragkit.retriever",
    "Index": "ragkit.index",
    "Answer": "ragkit.answer",
    "Conversation": "ragkit.conversation",
}

__all__ = [
    "BadResponse",
    "ConfigError",
    "DimensionChanged",
    "DocumentError",
    "IndexMismatch",
    "IndexNotFound",
    "ModelNotFound",
    "OllamaError",
    "OllamaUnavailable",
    "RagkitError",
    "StoreError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ragkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

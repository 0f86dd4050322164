"""Defaults and environment. Flags override the environment, which overrides these."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_EMBED_MODEL = "nomic-embed-text"
DEFAULT_CHAT_MODEL = "llama3.2"


def data_dir() -> Path:
    """Where ragkit keeps its files: `$XDG_DATA_HOME/ragkit`, else `~/.local/share/ragkit`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "ragkit"


def db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The index database: the explicit path, else `RAGKIT_DB`, else `data_dir()/index.db`."""
    chosen = explicit or os.environ.get("RAGKIT_DB")
    return Path(chosen).expanduser() if chosen else data_dir() / "index.db"


def embed_model(explicit: str | None = None) -> str:
    """The embedding model: the explicit name, else `RAGKIT_EMBED_MODEL`, else nomic-embed-text."""
    return explicit or os.environ.get("RAGKIT_EMBED_MODEL") or DEFAULT_EMBED_MODEL


def chat_model(explicit: str | None = None) -> str:
    """The chat model: the explicit name, else `RAGKIT_CHAT_MODEL`, else llama3.2."""
    return explicit or os.environ.get("RAGKIT_CHAT_MODEL") or DEFAULT_CHAT_MODEL

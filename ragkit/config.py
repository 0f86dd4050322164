"""Defaults and environment. Flags override the environment, which overrides these."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

DEFAULT_EMBED_MODEL = "nomic-embed-text"
DEFAULT_CHAT_MODEL = "llama3.2"
# Kept here, not in the modules that use them, so `ragkit --help` can show them
# without importing numpy, requests or SQLite.
DEFAULT_CHUNK_SIZE = 1000  # characters
DEFAULT_OVERLAP = 150  # characters shared by neighbouring chunks
DEFAULT_MAX_FILE_SIZE = 50 * 1024 * 1024  # bytes; larger files are refused, not read
DEFAULT_CONCURRENCY = 3  # embedding requests in flight at once
DEFAULT_WATCH_INTERVAL = 2.0  # seconds between looks when `watch` polls
DEFAULT_WATCH_SETTLE = 0.5  # seconds a changed file must stay the same before `watch` takes it
DEFAULT_NUM_CTX = 8192  # tokens; always sent, so Ollama never silently uses its 2048 default
MAX_K = 10_000  # most passages one search returns: -k, and k in the library


def data_dir() -> Path:
    """Where ragkit keeps its files: `$XDG_DATA_HOME/ragkit`, else `~/.local/share/ragkit`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "ragkit"


def db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The index database: the explicit path, else `RAGKIT_DB`, else `data_dir()/index.db`."""
    chosen = explicit or os.environ.get("RAGKIT_DB")
    return Path(chosen).expanduser() if chosen else data_dir() / "index.db"


def requested_embed_model(explicit: str | None = None) -> str | None:
    """The embedding model the user asked for: the explicit name, else `RAGKIT_EMBED_MODEL`."""
    return explicit or os.environ.get("RAGKIT_EMBED_MODEL") or None


def embed_model(explicit: str | None = None, indexed: str | None = None) -> str:
    """The embedding model to use: as asked (flag, then `RAGKIT_EMBED_MODEL`), else the
    one the index was built with, else nomic-embed-text."""
    return requested_embed_model(explicit) or indexed or DEFAULT_EMBED_MODEL


def chat_model(explicit: str | None = None) -> str:
    """The chat model: the explicit name, else `RAGKIT_CHAT_MODEL`, else llama3.2."""
    return explicit or os.environ.get("RAGKIT_CHAT_MODEL") or DEFAULT_CHAT_MODEL


def read_timeout(explicit: float | None = None) -> float | None:
    """Seconds to wait for Ollama's next bytes: the explicit value, else `RAGKIT_TIMEOUT`,
    else None (the client's own default). Anything but a positive number is a ConfigError."""
    if explicit is not None:
        return explicit
    raw = os.environ.get("RAGKIT_TIMEOUT", "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise ConfigError(
            f"RAGKIT_TIMEOUT must be a number of seconds, not {raw!r}",
            value=raw,
            hint="Set it to e.g. 600, or unset it for the default",
        )
    return seconds

"""The errors ragkit raises. Every one is a `RagkitError` whose message says
what went wrong and, in `.hint`, the command or setting that fixes it.

    RagkitError
    ├── OllamaUnavailable      connection refused / timed out           (.url)
    ├── ModelNotFound          the server does not have the model       (.model, .url)
    ├── OllamaError            any other server failure                 (.status, .url)
    │   └── BadResponse        the server answered something unusable   (count, dim, JSON)
    │       └── DimensionChanged   the model's vectors no longer fit the index
    ├── IndexNotFound          no index database at the path            (.path)
    ├── IndexMismatch          index built with another embedding model (.index_model, .model)
    ├── DocumentError          one file could not be read               (.path, .reason)
    ├── StoreError             the database could not be read/written   (.path)
    └── ConfigError            a setting or argument is not usable      (.value)

Lower-level exceptions (requests, sqlite3, pypdf) are translated at one edge
each, with ``raise ... from exc``, so callers only ever catch `RagkitError`.
"""

from __future__ import annotations

from pathlib import Path


class RagkitError(Exception):
    """Base of every error ragkit raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint[:1].upper() + hint[1:] if hint else hint  # it follows a full stop

    def __str__(self) -> str:
        return f"{self.message}. {self.hint}" if self.hint else self.message


class OllamaUnavailable(RagkitError):
    """The Ollama server could not be reached at all."""

    def __init__(self, url: str, detail: str = "connection refused") -> None:
        super().__init__(
            f"cannot reach Ollama at {url} ({detail})",
            hint="Start it with `ollama serve`, or set OLLAMA_HOST to where it runs",
        )
        self.url = url


class ModelNotFound(RagkitError):
    """The server is up but does not have the requested model."""

    def __init__(self, model: str, url: str | None = None) -> None:
        where = f" on {url}" if url else ""
        super().__init__(
            f"model '{model}' is not available{where}",
            hint=f"Pull it with `ragkit pull {model}`",
        )
        self.model = model
        self.url = url


class OllamaError(RagkitError):
    """The server answered with an error ragkit cannot fix by itself."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        hint: str | None = "Check the `ollama serve` log, then try again",
    ) -> None:
        prefix = f"Ollama error (HTTP {status})" if status else "Ollama error"
        super().__init__(f"{prefix}: {message}", hint=hint)
        self.status = status
        self.url = url


class BadResponse(OllamaError):
    """The server answered, but not with something ragkit can use."""


class DimensionChanged(BadResponse):
    """The embedding model now returns vectors of another size than the index holds."""

    def __init__(self, model: str, got: int, indexed: int) -> None:
        super().__init__(
            f"{model} now returns {got}-dimensional embeddings, "
            f"but the index holds {indexed}-dimensional ones",
            hint="Rebuild the index with `ragkit index --reembed PATH`",
        )
        self.model, self.got, self.indexed = model, got, indexed


class IndexNotFound(RagkitError):
    """There is no index database where one was expected."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(
            f"no index at {path}",
            hint="Build one with `ragkit index FOLDER` (or pass --db / set RAGKIT_DB)",
        )
        self.path = Path(path)


class IndexMismatch(RagkitError):
    """The index was built with a different embedding model than requested."""

    def __init__(self, index_model: str, model: str, path: Path | str | None = None) -> None:
        where = f" at {path}" if path else ""
        super().__init__(
            f"the index{where} was built with '{index_model}', not '{model}'",
            hint=f"Use --embed-model {index_model}, or rebuild with `ragkit index --reembed`",
        )
        self.index_model = index_model
        self.model = model


class DocumentError(RagkitError):
    """One file could not be turned into text; indexing goes on without it."""

    def __init__(self, path: Path | str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {reason}", hint=hint)
        self.path = Path(path)
        self.reason = reason


class StoreError(RagkitError):
    """The index database could not be opened, read or written."""

    def __init__(self, path: Path | str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"index {path}: {reason}", hint=hint)
        self.path = Path(path)


class ConfigError(RagkitError):
    """A setting, flag or argument value is not usable."""

    def __init__(self, message: str, *, value: object = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.value = value

"""What an index holds, and taking documents out of it: the logic behind `ragkit ls`,
`ragkit forget`, `Index.documents` and `Index.forget`.

    for doc in list_documents(store, "*.md"):
        print(doc.path, doc.chunks, doc.state)      # state: "indexed" | "changed" | "missing"
    removed = forget(store, ["~/notes/old"])        # Forgotten(documents=12, chunks=80, ...)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from .discovery import absolute
from .errors import ConfigError
from .runlock import exclusive_run
from .store import Store
from .vectors import VectorCache


@dataclass(frozen=True)
class IndexedDocument:
    """One indexed document, and how its file on disk compares now (by size and mtime)."""

    path: str
    type: str | None
    title: str | None
    size: int  # bytes, when indexed
    chunks: int
    pages: int | None  # PDF pages that hold text (the last page with a chunk)
    indexed_at: str  # ISO 8601, UTC
    state: str  # "indexed": the file is as it was; "changed"; "missing": not there now

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Forgotten:
    """What `forget` removed."""

    documents: int
    chunks: int
    paths: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"documents": self.documents, "chunks": self.chunks, "paths": list(self.paths)}


def list_documents(store: Store, glob: str | None = None) -> list[IndexedDocument]:
    """The indexed documents by path; only those matching `glob` (as `search --path`)."""
    return [
        IndexedDocument(
            path, kind, title, size, chunks, pages, indexed_at, _state(path, size, mtime)
        )
        for path, kind, title, size, mtime, indexed_at, chunks, pages in store.listing(glob)
    ]


def _state(path: str, size: int, mtime: float) -> str:
    try:
        info = os.stat(path)
    except OSError:
        return "missing"
    return "indexed" if (info.st_size, info.st_mtime) == (size, mtime) else "changed"


def forget(store: Store, paths: Iterable[str | os.PathLike[str]]) -> Forgotten:
    """Remove the documents at or under each of `paths` (files or folders, there or not)
    in one transaction, under the run lock; the vector sidecar follows. A path that
    matches no document is a `ConfigError` and nothing is removed."""
    with exclusive_run(store.path):
        documents = store.documents()
        chosen: dict[str, int] = {}
        for named in paths:
            matched = _matching(documents, named)
            if not matched:
                raise ConfigError(
                    f"{os.fspath(named)!r} matches no indexed document",
                    value=named,
                    hint="See what the index holds with `ragkit ls`",
                )
            chosen |= {path: documents[path].chunks for path in matched}
        removed = store.delete_documents(chosen)
        if removed:
            VectorCache(store).refresh()
    return Forgotten(removed, sum(chosen.values()), tuple(sorted(chosen)))


def _matching(documents: dict, named: str | os.PathLike[str]) -> list[str]:
    """The indexed paths equal to `named` or under it, as ingest records paths."""
    target = absolute(Path(named))
    prefix = os.path.join(str(target), "")
    exact = str(target)
    return [path for path in documents if path == exact or path.startswith(prefix)]

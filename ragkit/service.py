"""The index served to other programs: what `ragkit mcp` and `ragkit serve` answer.

    >>> service = Service("notes.db")
    >>> service.search("dome rotation", k=3)["hits"][0]["cite"]
    'notes/dome.md'

Both servers are faces of this one module, itself a thin layer over `Index`: results
are plain JSON-ready dicts (hits, answers, status, documents), each document has a
URI (`document_uri`) under which its indexed text can be read whole. One `Service`
per process holds one `Index` and so one `Retriever`, reused by every request and
safe to share between threads (the store serializes its calls, the vector cache
loads under a lock and reloads when another process has written to the index);
at most SEARCH_SLOTS searches run at once. A server process should also keep numpy's
BLAS to one thread (`OPENBLAS_NUM_THREADS=1`, as `ragkit mcp` and `ragkit serve` do):
its requests are the parallelism.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from .errors import ConfigError, RagkitError
from .index import Index

if TYPE_CHECKING:
    from .answer import Answer, AnswerStream
    from .retriever import Hits, Retriever
    from .store import ChunkRow, Store

URI_PREFIX = "ragkit://doc"  # + the document's absolute path, percent-encoded
MAX_DOCUMENT_CHARS = 2_000_000  # a document read whole is cut after this many characters
# Searches run at once, one per core: more matrix products at once than cores fight for
# memory bandwidth (8 at once on 2 cores served half as many requests per second).
SEARCH_SLOTS = os.cpu_count() or 2
ASK_KEYS = ("k", "mode", "model", "num_ctx", "max_tokens", "temperature", "seed")


def search_index(
    retriever: Retriever, query: str, k: int = 5, *, mode: str = "hybrid", path: str | None = None
) -> Hits:
    """`Retriever.search`, but an index with no chunks at all is an error saying how to
    fill it, rather than an answer of "no matches"."""
    hits = retriever.search(query, k, mode=mode, path=path)
    if not hits and retriever.store.counts()[1] == 0:
        raise RagkitError(
            f"the index {retriever.store.path} is empty", hint="Run `ragkit index FOLDER`"
        )
    return hits


def document_uri(path: str) -> str:
    """`ragkit://doc/home/me/notes/dome.md`: where `Service.read` finds a document."""
    return URI_PREFIX + quote(path, errors="surrogateescape")


def uri_path(uri: str) -> str:
    """The document path a `document_uri` names; `ConfigError` for any other URI."""
    if not uri.startswith(URI_PREFIX + "/"):
        raise ConfigError(
            f"{uri!r} is not a ragkit document URI",
            value=uri,
            hint=f"Use a URI from the resource list, like {URI_PREFIX}/path/to/file.md",
        )
    return unquote(uri[len(URI_PREFIX) :], errors="surrogateescape")


def hit_dict(hit: Any, rank: int) -> dict[str, Any]:
    """A hit as JSON: its fields, its rank, `cite` (the label `ragkit search` and
    answers show, `notes/dome.md:3`) and the `uri` of its whole document."""
    return {"rank": rank, "cite": hit.source, "uri": document_uri(hit.path), **hit.to_dict()}


def hits_dict(hits: Hits) -> dict[str, Any]:
    """Ranked hits, with why there are none (`note`) or why fewer methods ran (`degraded`)."""
    return {
        "query": hits.query,
        "hits": [hit_dict(hit, rank) for rank, hit in enumerate(hits, start=1)],
        "note": hits.note,
        "degraded": hits.degraded,
    }


def answer_dict(answer: Answer) -> dict[str, Any]:
    """`Answer.to_dict()`, each source with its `cite` label and document `uri`."""
    data = answer.to_dict()
    for source, shown in zip(answer.sources, data["sources"], strict=True):
        shown.update(cite=source.label, uri=document_uri(source.path))
    return data


def document_text(rows: Iterable[ChunkRow], max_chars: int = MAX_DOCUMENT_CHARS) -> str:
    """A document's indexed text from its chunks (in order): overlaps joined once, the
    whitespace between chunks as a line break, and a `[page N]` line before the first
    chunk that starts on page N of a PDF. Cut, with a note, after `max_chars`."""
    parts: list[str] = []
    size, covered, page = 0, None, None
    for row in rows:
        if row.page is not None and row.page != page:
            page = row.page
            parts.append(f"\n[page {page}]\n" if parts else f"[page {page}]\n")
        if covered is None or row.start >= covered:
            piece = ("\n" if parts and covered is not None else "") + row.text
        else:
            piece = row.text[covered - row.start :]
        covered = max(covered or 0, row.end)
        if size + len(piece) > max_chars:
            parts.append(piece[: max_chars - size] + "\n[… cut here: the document is longer]")
            break
        parts.append(piece)
        size += len(piece)
    return "".join(parts)


def _glob_escape(path: str) -> str:
    """A GLOB pattern that matches exactly `path`."""
    return "".join(f"[{char}]" if char in "*?[" else char for char in path)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _last_write(db: Path) -> str | None:
    """When the index was last written: the newer of the file and its WAL."""
    times = []
    for file in (db, Path(f"{db}-wal")):
        try:
            times.append(file.stat().st_mtime)
        except OSError:  # no WAL (or it was just checkpointed away)
            pass
    return _iso(max(times)) if times else None


class Service:
    """One index, opened once, answering search, ask, status and document reads.

    Read-only unless built with `allow_index=True` (then `add` indexes more files).
    Every method raises `RagkitError` with the message a client should show.
    """

    def __init__(
        self,
        db: str | os.PathLike[str] | None = None,
        *,
        host: str | None = None,
        embed_model: str | None = None,
        chat_model: str | None = None,
        allow_index: bool = False,
    ) -> None:
        self.index = Index(db, host=host, embed_model=embed_model, chat_model=chat_model)
        self.allow_index = allow_index
        self._lock = threading.Lock()
        self._searching = threading.BoundedSemaphore(SEARCH_SLOTS)

    def __repr__(self) -> str:
        return f"<Service {self.index.path}{' (may index)' if self.allow_index else ''}>"

    def close(self) -> None:
        with self._lock:
            self.index.close()

    def retriever(self) -> Retriever:
        """The one retriever (opened on first use: the index may not exist yet at start)."""
        with self._lock:
            return self.index.retriever()

    def _store(self) -> Store:
        return self.retriever().store

    def search(
        self, query: str, k: int = 5, *, mode: str = "hybrid", path: str | None = None
    ) -> dict[str, Any]:
        """The `k` best passages for `query` (see `hits_dict`)."""
        with self._searching:
            hits = search_index(self.retriever(), query, k, mode=mode, path=path)
        return hits_dict(hits)

    def ask(self, question: str, *, stream: bool = False, **options: Any) -> Answer | AnswerStream:
        """`Index.ask` over the shared retriever (options: `ASK_KEYS`, checked by `Index`)."""
        self.retriever()
        return self.index.ask(question, stream=stream, **options)

    def status(self) -> dict[str, Any]:
        """`Index.status()` plus `updated_at`, when the index file was last written."""
        status = self.index.status()
        if status.get("exists"):
            status["updated_at"] = _last_write(self.index.path)
        return status

    def documents(self, glob: str | None = None) -> list[dict[str, Any]]:
        """`Index.documents(glob)` as JSON-ready dicts, each with the `uri` to read it by."""
        return [
            doc.to_dict() | {"uri": document_uri(doc.path)} for doc in self.index.documents(glob)
        ]

    def read(self, uri: str, max_chars: int = MAX_DOCUMENT_CHARS) -> str:
        """The indexed text of the document at `uri` (see `document_text`)."""
        path = uri_path(uri)
        store = self._store()
        ids = store.chunk_ids_matching(_glob_escape(path))
        rows = [row for row in store.chunks(ids) if row.path == path]
        if not rows and path not in store.documents():
            raise ConfigError(
                f"{path!r} is not in the index {store.path}",
                value=uri,
                hint="List the indexed documents (list_documents, GET /api/documents)",
            )
        return document_text(rows, max_chars)

    def add(self, paths: list[str]) -> dict[str, Any]:
        """Index `paths` (only with `allow_index`); what the run did."""
        if not self.allow_index:
            raise ConfigError(
                "this server is read-only", hint="Start it with --allow-index to let it index"
            )
        return self.index.add(paths).to_dict()

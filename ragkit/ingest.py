"""The indexing pipeline: find files, skip what is unchanged, read, chunk,
embed in batches with a few requests in flight, and store each document in
one transaction. It never prints: progress goes to an optional callback.

    >>> with Store("index.db") as store:
    ...     summary = Ingester(store, OllamaClient()).run(["~/notes"])
    >>> print(summary)
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import config
from .chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, Chunk, chunk_text
from .discovery import absolute, discover_files
from .embedmodels import profile_for, same_model
from .errors import (
    ConfigError,
    DimensionChanged,
    DocumentError,
    IndexMismatch,
    OllamaUnavailable,
)
from .ollama import OllamaClient
from .readers import DEFAULT_MAX_READ_SECONDS, Document, read_bytes, read_document, read_documents
from .runlock import exclusive_run
from .store import DocumentInfo, NewDocument, Store
from .terminal import parse_size
from .vectors import VectorCache
from .workers import Workers

DEFAULT_MAX_FILE_SIZE = config.DEFAULT_MAX_FILE_SIZE
DEFAULT_CONCURRENCY = config.DEFAULT_CONCURRENCY
FIRST_BATCH = 8  # texts in a run's first embedding request; each next one twice that
HEADING_CONTEXT_CHARS = 200  # at most this much heading path is embedded with a chunk
Outcome = Callable[[str, str, int, str], None]  # (path, kind, chunks, detail): `Ingester.update`


@dataclass
class IngestSummary:
    """What one indexing run did."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    chunks_added: int = 0
    seconds: float = 0.0

    @property
    def files(self) -> int:
        return self.new + self.changed + self.unchanged + len(self.failed)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["failed"] = [{"path": path, "reason": reason} for path, reason in self.failed]
        return data

    def __str__(self) -> str:
        return (
            f"{self.files} file{'' if self.files == 1 else 's'}: {self.new} new, "
            f"{self.changed} changed, "
            f"{self.unchanged} unchanged, {self.removed} removed, {len(self.failed)} failed; "
            f"{self.chunks_added} chunk{'' if self.chunks_added == 1 else 's'} added "
            f"in {self.seconds:.1f}s"
        )


@dataclass(frozen=True)
class Progress:
    """Where a run stands. Sent at the start, when a file is settled (stored, skipped or
    failed) or read, and when a batch of embeddings comes back."""

    files_done: int  # settled: unchanged files count at once, they are taken first
    files_total: int
    chunks_done: int  # chunks embedded so far
    path: str = ""  # the file just settled or read
    chunks_total: int = 0  # chunks of the files read so far
    chunks_expected: float | None = None  # the run's whole, estimated from bytes read


@dataclass
class _Pending:
    """A document whose chunks are out being embedded."""

    record: NewDocument
    chunks: list[Chunk]
    vectors: np.ndarray | None  # (chunks, dim), allocated when the first vector arrives
    missing: int
    is_new: bool
    group: _Mailbox | None = None  # set for the messages of an mbox


@dataclass
class _Mailbox:
    """The messages of one mbox, written together once all are embedded, in one
    transaction with the removal of messages it no longer holds."""

    path: Path
    size: int  # messages to write
    stale: list[str]  # documents of this file to remove
    done: list[_Pending] = field(default_factory=list)

    def complete(self, pending: _Pending) -> bool:
        self.done.append(pending)
        return len(self.done) == self.size


class Ingester:
    """Indexes files into a `Store` through an `OllamaClient`."""

    def __init__(
        self,
        store: Store,
        client: OllamaClient,
        *,
        embed_model: str | None = None,
        chunk_size: int | None = None,
        overlap: int | None = None,
        max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
        max_read_seconds: float | None = DEFAULT_MAX_READ_SECONDS,
        batch_size: int | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        include_outputs: bool = False,
    ) -> None:
        self.store = store
        self.client = client
        self.embed_model = config.embed_model(embed_model, store.embed_model)
        self.profile = profile_for(self.embed_model)
        self.chunk_size, self.overlap = self._chunking(chunk_size, overlap)
        self._chunking_asked = chunk_size is not None or overlap is not None
        self.max_file_size = None if max_file_size is None else parse_size(max_file_size)
        self.max_read_seconds = max_read_seconds  # per file; a PDF stops between text runs
        self.batch_size = batch_size or client.batch_size
        self.concurrency = max(1, concurrency)
        self.include_outputs = include_outputs  # text of notebook cell outputs

    def run(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        prune: bool = True,
        reembed: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> IngestSummary:
        """Bring the index in step with `paths` (files or folders); see `IngestSummary`.

        One run per index at a time: while another process indexes the same database,
        this one waits, telling `on_wait` why (it never embeds a file twice at once)."""
        with exclusive_run(self.store.path, on_wait):
            return self._run(
                paths,
                include=include,
                exclude=exclude,
                prune=prune,
                reembed=reembed,
                on_progress=on_progress,
            )

    def _run(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        include: Sequence[str] | None,
        exclude: Sequence[str] | None,
        prune: bool,
        reembed: bool,
        on_progress: Callable[[Progress], None] | None,
    ) -> IngestSummary:
        started = time.perf_counter()
        roots = [absolute(Path(p)) for p in paths]
        files, unreadable = _discover(roots, include, exclude, refuse_unreadable=reembed)
        self._check_chunking(reembed)
        self._check_model(reembed)
        if reembed:  # the whole index is rebuilt, not only what `paths` hold
            files += self._other_indexed_files(files)
        before = set(self.store.documents()) if reembed else set()
        present = {str(f) for f in files}
        with self.store.transaction() if reembed else nullcontext():
            if reembed:  # all or nothing: a failure keeps the old index
                self.store.clear()
            run = _Run(self, len(files), on_progress)
            _report_unreadable(run, unreadable)
            run.index_files(files)
            if prune:
                run.summary.removed = self._prune(roots, files, run, list(unreadable))
        gone = [p for p in before if p not in present and _file_of(p) not in present]
        run.summary.removed += len(gone)  # gone in a rebuild
        if run.summary.new or run.summary.changed or run.summary.removed:
            VectorCache(self.store).refresh()  # so the first search maps it, not rebuilds it
        run.summary.seconds = time.perf_counter() - started
        return run.summary

    def update(
        self,
        files: Sequence[Path],
        removed: Sequence[str] = (),
        *,
        on_outcome: Outcome | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        """Apply known changes under the run lock, held for this call only (so a watcher
        never locks `index` out for long): a file in `files` holding the very bytes of a
        document in `removed` takes it over (a rename: nothing embedded); the other
        `removed` documents go; the other `files` are indexed. Ollama is only asked when
        some file needs embedding. Tells `on_outcome(path, kind, chunks, detail)` as each
        path settles: kind "moved" (detail: the old path), "removed", "new", "changed",
        "unchanged" or "failed" (detail: the reason and its fix)."""
        tell = on_outcome or (lambda path, kind, chunks, detail: None)
        with exclusive_run(self.store.path, on_wait):
            known = self.store.documents()
            gone = {path: known[path] for path in removed if path in known}
            before = len(files)
            files = [f for f in files if not self._moved(f, known, gone, tell)]
            self.store.delete_documents(gone)
            for path, info in gone.items():
                tell(path, "removed", info.chunks, "")
            written = bool(gone) or len(files) < before  # deleted, or moved
            if files:
                self._check_model(reembed=False)
                run = _Run(self, len(files), None)
                run.on_outcome = tell
                run.index_files(list(files))
                written = written or bool(run.summary.new or run.summary.changed)
            if written:
                VectorCache(self.store).refresh()

    def _moved(
        self, path: Path, known: dict[str, DocumentInfo], gone: dict[str, DocumentInfo], tell
    ) -> bool:
        """Move a removed document with the bytes of this new file to it; True if done."""
        if str(path) in known:
            return False
        try:
            stat = path.stat()
            same_size = [  # and the same type, so the same chunks
                old
                for old, info in gone.items()
                if info.size == stat.st_size and Path(old).suffix.lower() == path.suffix.lower()
            ]
            if not same_size:
                return False
            digest = _file_hash(read_bytes(path, self.max_file_size))
        except (OSError, DocumentError):
            return False  # indexing it says why
        old = next((old for old in same_size if gone[old].hash == digest), None)
        if old is None:
            return False
        self.store.move_document(old, str(path), size=stat.st_size, mtime=stat.st_mtime)
        tell(str(path), "moved", gone.pop(old).chunks, old)
        return True

    def _chunking(self, size: int | None, overlap: int | None) -> tuple[int, int]:
        """The chunk size and overlap to use: as asked, else as the index was built,
        else the defaults; the size never exceeds what the model accepts."""
        meta = self.store.meta()
        asked_overlap = overlap
        size = size or int(meta.get("chunk_size") or DEFAULT_CHUNK_SIZE)
        if overlap is None:
            overlap = int(meta.get("chunk_overlap") or DEFAULT_OVERLAP)
        size = min(size, self.profile.max_chunk_chars)
        if asked_overlap is not None and 2 * asked_overlap >= size:
            raise ConfigError(
                f"--overlap {asked_overlap} must be under half the chunk size ({size})",
                value=asked_overlap,
                hint=f"Use e.g. --overlap {min(DEFAULT_OVERLAP, size // 2 - 1)}",
            )
        return size, min(overlap, size // 2 - 1)

    def _check_chunking(self, reembed: bool) -> None:
        """Refuse to mix chunkings in one index: unchanged files would keep the old one."""
        meta = self.store.meta()
        recorded = (meta.get("chunk_size"), meta.get("chunk_overlap"))
        wanted = (str(self.chunk_size), str(self.overlap))
        if self._chunking_asked and self.store.dim and not reembed and recorded != wanted:
            raise ConfigError(
                f"the index at {self.store.path} was chunked with --chunk-size {recorded[0]} "
                f"--overlap {recorded[1]}, not {wanted[0]} and {wanted[1]}",
                hint="Leave both out to keep them, or rebuild with `ragkit index --reembed PATH`",
            )

    def _check_model(self, reembed: bool) -> None:
        """Refuse to mix embedding models in one index, unless asked to rebuild. The old
        index is cleared only once the model has embedded a probe: a missing model or
        an unreachable Ollama keeps it. A model that is not pulled fails here, before any
        file is read (one `/api/tags` call). An Ollama that cannot be reached fails a
        rebuild here, and any other run only at the first file that needs embedding: a
        run in which nothing changed (or files were only removed) needs no Ollama."""
        indexed_with = self.store.embed_model
        if indexed_with and not same_model(indexed_with, self.embed_model) and not reembed:
            raise IndexMismatch(indexed_with, self.embed_model, self.store.path)
        try:
            self.client.require_models([self.embed_model])
        except OllamaUnavailable:
            if reembed:
                raise
            return  # the first embedding call raises it again, if one is needed
        if reembed:  # fail now, before the rebuild starts, if the model cannot embed
            self.client.embed_batch([f"{self.profile.document_prefix}ragkit"], self.embed_model)

    def _other_indexed_files(self, files: list[Path]) -> list[Path]:
        """Indexed files outside this run's paths that still exist (a rebuild keeps them)."""
        present = {str(f) for f in files}
        others = dict.fromkeys(_file_of(p) for p in self.store.documents())
        return [Path(p) for p in others if p not in present and os.path.isfile(p)]

    def _prune(
        self, roots: list[Path], files: list[Path], run: _Run, unreadable: list[Path]
    ) -> int:
        """Remove documents under `roots` that were indexed when the run started and are no
        longer there (not ones another process added meanwhile, nor any under a folder
        that could not be listed: unreadable is not gone)."""
        present = {str(f) for f in files} | run.failed_paths
        gone = [
            path
            for path in run.known
            if path not in present
            and _file_of(path) not in present
            and any(_is_under(Path(_file_of(path)), root) for root in roots)
            and not any(_is_under(Path(path), folder) for folder in unreadable)
        ]
        return self.store.delete_documents(gone) if gone else 0

    def embed_text(self, chunk: Chunk) -> str:
        """What is sent to the model for a chunk: task prefix, heading path, text. The
        heading only takes room the chunk leaves below the model's input limit."""
        room = min(HEADING_CONTEXT_CHARS, self.profile.max_chunk_chars - len(chunk.text) - 1)
        heading = f"{chunk.heading[:room]}\n" if chunk.heading and room > 0 else ""
        return f"{self.profile.document_prefix}{heading}{chunk.text}"


class _Run:
    """The state of one `Ingester.run`: a window of embedding requests in flight
    and the documents waiting for their vectors, written in the order they finish."""

    def __init__(self, ingester: Ingester, total: int, on_progress) -> None:
        self.ing = ingester
        self.total = total
        self.on_progress = on_progress
        self.summary = IngestSummary()
        self.failed_paths: set[str] = set()
        self.known: dict[str, DocumentInfo] = ingester.store.documents()
        self.stored: dict[str, list[str]] = {}  # file -> its documents (an mbox: one a message)
        for stored in self.known:
            self.stored.setdefault(_file_of(stored), []).append(stored)
        self.files_done = 0
        self.queue: deque[tuple[_Pending, int]] = deque()  # chunks not yet sent
        self.in_flight: dict[Future, list[tuple[_Pending, int]]] = {}
        self.next_batch = FIRST_BATCH  # doubles per request sent, up to the batch size
        self.chunks_embedded = self.chunks_known = 0
        self.bytes_expected = self.bytes_read = 0  # of files that look new or changed
        self.expected: dict[Path, int] = {}  # such a file -> its size
        self.on_outcome: Outcome | None = None  # told by `Ingester.update`

    def index_files(self, files: list[Path]) -> None:
        """Take every file, keeping a window of embedding requests in flight. On an
        error or Ctrl-C, requests in flight are abandoned (daemon threads), not awaited."""
        ordered = self._order(files)
        self._report("")
        with Workers(self.ing.concurrency, name="ragkit-embed") as pool:
            for path in ordered:
                self._take_counted(path)
                self._pump(pool, final=False)
            self._pump(pool, final=True)

    def _order(self, files: list[Path]) -> list[Path]:
        """Files whose size and mtime match the index first: they are most likely
        unchanged and settle at once, before any slow embedding; the rest keep their order."""
        same, other = [], []
        for path in files:
            info = self.known.get(str(path))
            try:
                stat = path.stat()
            except OSError:  # `_take` reports it
                other.append(path)
                continue
            if info is not None and (info.size, info.mtime) == (stat.st_size, stat.st_mtime):
                same.append(path)
            else:
                other.append(path)
                self.expected[path] = stat.st_size
        self.bytes_expected = sum(self.expected.values())
        return same + other

    def _take_counted(self, path: Path) -> None:
        """`_take`, counting the chunks it queued and the bytes it read for the estimate."""
        queued, settled = len(self.queue), self.files_done
        self._take(path)
        self.chunks_known += len(self.queue) - queued
        self.bytes_read += self.expected.get(path, 0)
        if self.files_done == settled:  # its chunks are queued
            self._report(str(path))

    def _report(self, path: str) -> None:
        if self.on_progress:
            self.on_progress(
                Progress(
                    files_done=self.files_done,
                    files_total=self.total,
                    chunks_done=self.chunks_embedded,
                    path=path,
                    chunks_total=self.chunks_known,
                    chunks_expected=self._expected_chunks(),
                )
            )

    def _expected_chunks(self) -> float | None:
        """Chunks known, plus those of the files not read yet at the chunks per byte
        seen so far; None until some bytes were read."""
        unread = self.bytes_expected - self.bytes_read
        if unread <= 0:
            return float(self.chunks_known)
        if not self.bytes_read:
            return None
        return self.chunks_known + unread * self.chunks_known / self.bytes_read

    def _take(self, path: Path) -> None:
        """Settle one file now (unchanged, empty, failed) or queue its chunks."""
        if not _is_utf8(str(path)):  # SQLite text is UTF-8: such a path cannot be stored
            return self._failed(path, "its name is not valid UTF-8; rename the file to index it")
        if _file_of(str(path)) != str(path):  # "box.mbox#2" names message 2 of box.mbox
            return self._failed(
                path, "its name is how ragkit names a message of an mbox; rename it"
            )
        try:
            stat = path.stat()
            data = read_bytes(path, self.ing.max_file_size)  # refuses FIFOs and big files
            digest = _file_hash(data)  # of the very bytes parsed below: no race with a writer
            if path.suffix.lower() == ".mbox":
                return self._take_mailbox(path, data, digest, stat)
            previous = self.known.get(str(path))
            if previous is not None and previous.hash == digest:
                if previous.mtime != stat.st_mtime or previous.size != stat.st_size:
                    self.ing.store.update_document_stat(
                        str(path), size=stat.st_size, mtime=stat.st_mtime
                    )
                self.summary.unchanged += 1
                self._outcome(path, "unchanged", previous.chunks, "")
                return self._settled(path)
            document = read_document(
                path,
                data=data,
                max_bytes=self.ing.max_file_size,  # also bounds the text a PDF may yield
                max_seconds=self.ing.max_read_seconds,
                include_outputs=self.ing.include_outputs,
            )
        except DocumentError as exc:  # the reason and its fix: "PDF is encrypted. decrypt it..."
            return self._failed(path, f"{exc.reason}. {exc.hint}" if exc.hint else exc.reason)
        except OSError as exc:
            return self._failed(path, exc.strerror or str(exc))
        record = _record(path, document, digest, stat)
        chunks = self._chunk(document)
        pending = _Pending(record, chunks, None, len(chunks), previous is None)
        if not chunks:
            return self._store(pending)
        self.queue.extend((pending, i) for i in range(len(chunks)))

    def _take_mailbox(self, path: Path, data: bytes, digest: str, stat: os.stat_result) -> None:
        """Each message of an mbox is a document `path#N`; unchanged when every document
        of the file has its hash. An empty mbox is recorded under its own path."""
        stored = self.stored.get(str(path), [])
        if stored and all(self.known[p].hash == digest for p in stored):
            for p in stored:
                if self.known[p].mtime != stat.st_mtime or self.known[p].size != stat.st_size:
                    self.ing.store.update_document_stat(p, size=stat.st_size, mtime=stat.st_mtime)
            self.summary.unchanged += 1
            return self._settled(path)
        messages = read_documents(
            path, data=data, max_bytes=self.ing.max_file_size, max_seconds=self.ing.max_read_seconds
        ) or [Document(path, "", "mbox", None, None)]
        names = {str(message.path) for message in messages}
        group = _Mailbox(path, len(messages), [p for p in stored if p not in names])
        for message in messages:
            chunks = self._chunk(message)
            record = _record(message.path, message, digest, stat)
            pending = _Pending(record, chunks, None, len(chunks), not stored, group)
            if not chunks:
                self._store(pending)
            self.queue.extend((pending, i) for i in range(len(chunks)))

    def _chunk(self, document: Document) -> list[Chunk]:
        return chunk_text(
            document.text,
            size=self.ing.chunk_size,
            overlap=self.ing.overlap,
            page_starts=document.page_starts,
            headings=document.headings,
        )

    def _pump(self, pool: Workers, *, final: bool) -> None:
        """Send full batches while there is room; collect finished ones.

        While files remain, only full batches go out and we wait only when the
        window is full; at the end everything is sent and awaited. The first
        requests are small (FIRST_BATCH texts, doubling), so that on a slow server
        the progress line moves within seconds, not after a whole batch."""
        window = self.ing.concurrency * 2
        while True:
            while self.queue and len(self.in_flight) < window:
                size = min(self.next_batch, self.ing.batch_size)
                if len(self.queue) < size and not final:
                    break
                self.next_batch *= 2
                batch = [self.queue.popleft() for _ in range(min(size, len(self.queue)))]
                texts = [self.ing.embed_text(p.chunks[i]) for p, i in batch]
                future = pool.submit(self.ing.client.embed_batch, texts, self.ing.embed_model)
                self.in_flight[future] = batch
            must_wait = len(self.in_flight) >= window or (final and (self.in_flight or self.queue))
            if not self.in_flight:
                return
            done, _ = wait(
                self.in_flight, timeout=None if must_wait else 0, return_when=FIRST_COMPLETED
            )
            for future in [f for f in self.in_flight if f in done]:  # in the order sent
                self._collect(future)
            if not must_wait and not done:
                return

    def _collect(self, future: Future) -> None:
        batch = self.in_flight.pop(future)
        vectors = future.result()  # an Ollama failure ends the run here, nothing half-written
        indexed_dim = self.ing.store.dim
        if indexed_dim is not None and vectors.shape[1] != indexed_dim:
            raise DimensionChanged(self.ing.embed_model, vectors.shape[1], indexed_dim)
        if indexed_dim is None:
            self.ing.store.set_index_params(
                embed_model=self.ing.embed_model,
                dim=vectors.shape[1],
                chunk_size=self.ing.chunk_size,
                chunk_overlap=self.ing.overlap,
            )
        self.chunks_embedded += len(batch)
        stored = self.files_done
        for (pending, index), vector in zip(batch, vectors, strict=True):
            if pending.vectors is None:  # one matrix per document: no copies when stored
                pending.vectors = np.empty((len(pending.chunks), len(vector)), np.float32)
            pending.vectors[index] = vector
            pending.missing -= 1
            if pending.missing == 0:
                self._store(pending)
        if self.files_done == stored:  # else `_settled` has reported
            self._report("")

    def _store(self, pending: _Pending) -> None:
        group = pending.group
        if group is not None and not group.complete(pending):
            return  # other messages of the mbox are still being embedded
        parts = group.done if group else [pending]
        with self.ing.store.transaction() if group else nullcontext():
            for part in parts:
                self._write(part)
            if group and group.stale:
                self.ing.store.delete_documents(group.stale)
        if pending.is_new:
            self.summary.new += 1
        else:
            self.summary.changed += 1
        chunks = sum(len(part.chunks) for part in parts)
        self.summary.chunks_added += chunks
        path = group.path if group else Path(pending.record.path)
        self._outcome(path, "new" if pending.is_new else "changed", chunks, "")
        self._settled(path)

    def _write(self, pending: _Pending) -> None:
        vectors = pending.vectors
        if vectors is None:  # no chunks
            vectors = np.zeros((0, self.ing.store.dim or 0), np.float32)
        self.ing.store.replace_document(
            pending.record, pending.chunks, vectors, embed_model=self.ing.embed_model
        )

    def _failed(self, path: Path, reason: str) -> None:
        self.summary.failed.append((str(path), reason))
        self.failed_paths.add(str(path))
        self._outcome(path, "failed", 0, reason)
        self._settled(path)

    def _outcome(self, path: Path, kind: str, chunks: int, detail: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(str(path), kind, chunks, detail)

    def _settled(self, path: Path) -> None:
        self.files_done += 1
        self._report(str(path))


def _discover(
    roots: list[Path],
    include: Sequence[str] | None,
    exclude: Sequence[str] | None,
    *,
    refuse_unreadable: bool,
) -> tuple[list[Path], dict[Path, str]]:
    """The files under `roots`, and the folders that could not be listed (with why).
    A rebuild refuses to start over unreadable folders: it would drop what they hold."""
    unreadable: dict[Path, str] = {}
    found = discover_files(
        roots, include=include, exclude=exclude, on_unreadable=unreadable.__setitem__
    )
    files = list(found)
    if refuse_unreadable and unreadable:
        folder, why = next(iter(unreadable.items()))
        raise ConfigError(
            f"cannot rebuild: the folder {str(folder)!r} cannot be read ({why})",
            value=folder,
            hint="Give yourself read and execute permission on it, then run again",
        )
    return files, unreadable


def _report_unreadable(run: _Run, unreadable: dict[Path, str]) -> None:
    """Count each folder that could not be listed as failed (the run exits 3)."""
    for folder, why in unreadable.items():
        reason = f"cannot read this folder ({why}); what was indexed under it is kept"
        fix = "Give yourself read and execute permission on it, or --exclude it"
        run.summary.failed.append((str(folder), f"{reason}. {fix}"))
        run.failed_paths.add(str(folder))


def _record(path: Path, document: Document, digest: str, stat: os.stat_result) -> NewDocument:
    """The row for a file, under the path it was found at (a symlink keeps its own)."""
    return NewDocument(
        path=str(path),
        hash=digest,
        size=stat.st_size,
        mtime=stat.st_mtime,
        type=document.type,
        title=document.title,
    )


def _file_of(path: str) -> str:
    """The file a stored document comes from: "/m/box.mbox#3" -> "/m/box.mbox"."""
    head, sep, number = path.rpartition("#")
    return head if sep and number.isdigit() and head.lower().endswith(".mbox") else path


def _file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_utf8(text: str) -> bool:
    """False for names with undecodable bytes (surrogate escapes), e.g. b"bad\\xff.txt"."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents

"""The index database: one SQLite file. This package is the only place in ragkit
that writes SQL (`schema.py`: tables, triggers, migrations; `records.py`: the
dataclasses it takes and returns; `opening.py`: creating, checking and opening
the file).

    >>> with Store("~/.local/share/ragkit/index.db") as store:
    ...     store.keyword_search("dome rotation", limit=5)

Tables: `documents`, `chunks` (text, spans and a float32 little-endian embedding
blob), `chunk_contexts` (each chunk's document title and heading path), `chunks_fts`
(FTS5 over the text and that context, each column with its own BM25 weight; external
content, the view `chunks_keyword`, kept in step by
triggers) and `meta` (schema_version, embed_model, dim, chunk_size,
chunk_overlap, generation). Every write runs in one ``BEGIN IMMEDIATE``
transaction and bumps `generation`, the retriever's cache key. `sqlite3` errors
are translated into `StoreError` at one edge, `_sqlite_errors`.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..embedmodels import same_model
from ..errors import ConfigError, IndexMismatch, IndexNotFound, RagkitError, StoreError
from ..words import STOPWORDS
from .embeddings import REEMBED_HINT, EmbeddingReader
from .opening import (
    NOT_AN_INDEX_HINT,
    connect,
    create_private_file,
    open_read_only,
    probe,
    read_only_error,
    schema_version,
    writable,
)
from .records import ChunkLike, ChunkRow, DocumentInfo, IdSummary, NewDocument  # noqa: F401
from .schema import FTS_TRIGGERS, MIGRATIONS, SCHEMA_VERSION, SET_META

if TYPE_CHECKING:  # sqlite-utils imports click; load it only when `Store.db` is used
    import sqlite_utils

BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another process's transaction
INSERT_BATCH = 256  # chunk rows per multi-row INSERT (8 parameters each)
MAX_QUERY_TOKENS = 64  # words kept from a keyword query
CONTEXT_WEIGHT = 1.0  # BM25 weight of a chunk's title and heading path; its text weighs 1

_TOKEN = re.compile(r"[^\W_]+")  # runs of Unicode letters and digits, like unicode61
_ABSOLUTE_GLOB = re.compile(r"^(/|~|[A-Za-z]:[\\/]|\\\\)")
_BUILD_HINT = "Build it with `ragkit index FOLDER`, or point --db or RAGKIT_DB at an index"

_INSERT_DOCUMENT = """INSERT INTO documents (path, hash, size, mtime, type, title, indexed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)"""
_CHUNK_COLUMNS = "document_id, seq, text, page, char_start, char_end, heading, embedding"
_CHUNK_ROWS = """SELECT c.id, c.document_id, d.path, d.title, c.seq, c.text, c.page,
    c.char_start, c.char_end, c.heading
    FROM chunks c JOIN documents d ON d.id = c.document_id"""
_BM25 = f"bm25(chunks_fts, 1.0, {CONTEXT_WEIGHT})"
_KEYWORD_SEARCH = f"""SELECT chunks_fts.rowid, -{_BM25} FROM chunks_fts {{join}}
    WHERE chunks_fts MATCH ? {{glob}} ORDER BY {_BM25}, chunks_fts.rowid LIMIT ?"""
_GENERATION = "SELECT value FROM meta WHERE key = 'generation'"
# Three b-tree lookups, about 4 ms at 1M chunks; sum(id) would scan them (160 ms).
_ID_SUMMARY = """SELECT (SELECT count(*) FROM chunks), (SELECT min(id) FROM chunks),
    (SELECT max(id) FROM chunks)"""
_EMBEDDINGS_OF = "SELECT id, embedding FROM chunks WHERE id IN (SELECT value FROM json_each(?))"
_JOIN_DOCUMENTS = (
    "JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d ON d.id = c.document_id"
)

# (words in the sqlite3 message, reason, hint): how `_sqlite_errors` explains a failure
_KNOWN_ERRORS = (
    ("not a database", "is not a ragkit index (not an SQLite database)", NOT_AN_INDEX_HINT),
    ("locked", "another ragkit process is writing; try again", None),
    ("readonly", "cannot be written (read-only file or folder)", "Check its permissions"),
    ("unable to open", "cannot be opened", "Check that its folder exists and is readable"),
    ("disk is full", "cannot be written: the disk is full", "Free some space, then try again"),
    ("malformed", "is corrupt", "Restore a backup, or delete it and run `ragkit index` again"),
    ("closed database", "is closed", "Open a new Store"),
)


def fts_query(text: str) -> str | None:
    """A safe FTS5 MATCH expression for any user string: its words, quoted and OR-ed.

    Quoting strips FTS5 syntax (AND, NEAR, *, ^, -, col:) of meaning. Repeated
    words count once; stopwords are dropped when other words remain (they match
    nearly every chunk, which makes BM25 score the whole index: 25x slower at
    100k chunks, and no better ranked); at most MAX_QUERY_TOKENS are kept. None
    when no word is left.
    """
    words: dict[str, str] = {}
    for match in _TOKEN.finditer(unicodedata.normalize("NFC", text)):
        words.setdefault(match.group().casefold(), match.group())
    meaningful = {key: word for key, word in words.items() if key not in STOPWORDS}
    kept = list((meaningful or words).values())[:MAX_QUERY_TOKENS]
    return " OR ".join(f'"{word}"' for word in kept) or None


def _anchor_glob(pattern: str) -> str:
    """An absolute pattern stays as it is; any other matches at a folder boundary
    anywhere in the path ("*/" + pattern), so "notes/*" misses "/x/oldnotes/a"."""
    if _ABSOLUTE_GLOB.match(pattern):
        return os.path.expanduser(pattern)
    return pattern if pattern.startswith("*") else "*/" + pattern


@lru_cache(maxsize=8)
def _insert_chunks_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO chunks ({_CHUNK_COLUMNS}) VALUES {values}"


def _chunk_params(
    doc_id: int, chunks: Sequence[ChunkLike], matrix: np.ndarray, start: int, count: int
) -> list[Any]:
    """The 8 INSERT parameters of each of chunks[start:start + count], flattened."""
    blob, width = matrix[start : start + count].tobytes(), matrix.shape[1] * 4
    params: list[Any] = []
    for i in range(count):
        c = chunks[start + i]
        embedding = blob[i * width : (i + 1) * width]
        params += (doc_id, c.seq, c.text, c.page, c.start, c.end, c.heading, embedding)
    return params


def _as_matrix(chunks: Sequence[ChunkLike], embeddings: np.ndarray) -> np.ndarray:
    """Check embeddings against chunks; return them as C-contiguous little-endian float32."""
    array = np.asarray(embeddings)
    if len(chunks) == 0 and array.size == 0:
        return np.empty((0, 0), dtype="<f4")
    if array.ndim != 2 or array.shape[1] == 0:
        raise ConfigError(
            f"embeddings must be a 2-D array (chunks x dim), not shape {array.shape}",
            value=array.shape,
        )
    if array.shape[0] != len(chunks):
        raise ConfigError(
            f"{len(chunks)} chunks but {array.shape[0]} embeddings", value=array.shape
        )
    matrix = np.ascontiguousarray(array, dtype="<f4")
    if not np.isfinite(matrix).all():
        raise ConfigError("embeddings contain NaN or infinite values", value=array.shape)
    return matrix


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """Translate any sqlite3 error into a StoreError that names the file and a fix."""
    try:
        yield
    except sqlite3.Error as exc:
        message = str(exc).lower()
        for words, reason, hint in _KNOWN_ERRORS:
            if words in message:
                raise StoreError(path, reason, hint=hint) from exc
        raise StoreError(path, f"SQLite error: {exc}") from exc


def _optional_int(value: str | None) -> int | None:
    return None if value is None else int(value)


class Store:
    """The index database. Open it, use it, close it (or use it as a context manager).

    One Store may be shared by threads (calls are serialized); several Stores or
    processes on one file are fine too: writers queue for up to BUSY_TIMEOUT_MS.
    An existing file is read first, without writing a byte: one that is not a ragkit
    index is refused unchanged, and so is an empty one unless `create`. A file this
    process may not write (or whose folder it may not write) is opened read-only,
    unless `create`: then writing is refused, naming the access it needs.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        if str(path) == ":memory:" or str(path).startswith("file:"):
            raise ConfigError(
                f"an index is a file, not {str(path)!r}",
                value=path,
                hint="Pass a file path such as ~/notes.db",
            )
        self.path = Path(path).expanduser().absolute()
        self._lock = threading.RLock()
        self._outer = 0  # > 0 while a transaction() is open: writes become savepoints
        if self.path.is_dir():
            raise StoreError(self.path, "is a folder, not an index file", hint="Pass a file path")
        if not self.path.exists():
            if not create:
                raise IndexNotFound(self.path)
            create_private_file(self.path)
        self.read_only = not writable(self.path)
        if self.read_only and create:
            raise read_only_error(self.path)
        with _sqlite_errors(self.path):
            if probe(self.path, BUSY_TIMEOUT_MS) == 0 and not create:
                raise StoreError(self.path, "is empty, not a ragkit index yet", hint=_BUILD_HINT)
            if self.read_only:
                self.conn = open_read_only(self.path, BUSY_TIMEOUT_MS)
            else:
                self.conn = self._open_read_write()

    def _open_read_write(self) -> sqlite3.Connection:
        """In WAL mode, with the schema brought up to date."""
        conn = connect(self.path, BUSY_TIMEOUT_MS)
        try:
            self.conn = conn
            self._configure()
            self._migrate()
        except BaseException:
            conn.close()
            raise
        return conn

    def _configure(self) -> None:
        # Switching a new file to WAL can fail with "locked" at once (no busy wait)
        # while another connection is switching it too: retry until the timeout.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA synchronous = NORMAL")

    def _migrate(self) -> None:
        """Bring the schema up to SCHEMA_VERSION, once, even with several openers at once."""
        if schema_version(self.conn, self.path) == SCHEMA_VERSION:
            return
        with self._write() as conn:
            version = schema_version(conn, self.path)  # again, now that we hold the write lock
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                migration(conn)
                conn.execute(SET_META, ("schema_version", str(number)))

    # -- plumbing ---------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make every write inside one all-or-nothing transaction (each write becomes a
        savepoint in it). Used to rebuild an index: other processes keep seeing the
        old one until the end, and a failure or a kill leaves it as it was."""
        with self._write():
            self._outer += 1
            try:
                yield
            finally:
                self._outer -= 1

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One BEGIN IMMEDIATE transaction: committed on success, rolled back on any error.
        Inside `transaction()` it is a savepoint of the outer transaction instead."""
        if self.read_only:
            raise read_only_error(self.path)
        with self._lock, _sqlite_errors(self.path):
            conn = self.conn
            begin, commit, undo = (
                ("SAVEPOINT w", "RELEASE w", "ROLLBACK TO w; RELEASE w")
                if self._outer
                else ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
            )
            conn.execute(begin)
            try:
                yield conn
                conn.execute(commit)
            except BaseException:
                if conn.in_transaction:
                    for statement in undo.split("; "):
                        conn.execute(statement)
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same snapshot (inside an
        open `transaction()`, that one's)."""
        with self._lock, _sqlite_errors(self.path):
            conn = self.conn
            if self._outer:
                yield conn
                return
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock, _sqlite_errors(self.path):
            return self.conn.execute(sql, params).fetchall()

    @staticmethod
    def _bump_generation(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self.conn.close()

    @property
    def db(self) -> sqlite_utils.Database:
        """The same connection as a `sqlite_utils.Database`, for exploring the index."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn, execute_plugins=False)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        try:
            documents, chunks = self.counts()
            model, dim = self.embed_model, self.dim
        except RagkitError:
            return f"<Store {self.path} (closed)>"
        about = f", {model} {dim}d" if model and dim else ""
        return f"<Store {self.path}: {documents} documents, {chunks} chunks{about}>"

    # -- meta -------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        """Every meta key and value, as stored (strings)."""
        return dict(self._rows("SELECT key, value FROM meta"))

    @property
    def generation(self) -> int:
        """Bumped by every write transaction that changes what search sees; 0 when new."""
        return int(self.meta().get("generation", 0))

    @property
    def index_id(self) -> str:
        """A random id given to this index file when it was created."""
        return self.meta().get("index_id", "")

    @property
    def embed_model(self) -> str | None:
        """The embedding model the index was built with, if any."""
        return self.meta().get("embed_model")

    @property
    def dim(self) -> int | None:
        """The embedding dimension, if the index has one yet."""
        return _optional_int(self.meta().get("dim"))

    def set_index_params(
        self, *, embed_model: str, dim: int, chunk_size: int, chunk_overlap: int
    ) -> None:
        """Record what builds the index. Changing dim while chunks are stored is refused."""
        if dim <= 0:
            raise ConfigError(f"embedding dimension must be positive, not {dim}", value=dim)
        numbers = {"dim": dim, "chunk_size": chunk_size, "chunk_overlap": chunk_overlap}
        wanted = {"embed_model": embed_model, **{k: str(int(v)) for k, v in numbers.items()}}
        with self._write() as conn:
            current = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if current.get("dim") not in (None, str(dim)) and self._has_chunks(conn):
                raise StoreError(
                    self.path,
                    f"holds {current['dim']}-d embeddings, not {dim}-d",
                    hint=REEMBED_HINT,
                )
            changed = [(k, v) for k, v in wanted.items() if current.get(k) != v]
            if changed:
                conn.executemany(SET_META, changed)
                self._bump_generation(conn)

    @staticmethod
    def _has_chunks(conn: sqlite3.Connection) -> bool:
        return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM chunks)").fetchone()[0])

    def counts(self) -> tuple[int, int]:
        """(documents, chunks)."""
        row = self._rows("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)")
        return row[0][0], row[0][1]

    def stats(self) -> dict[str, Any]:
        """Counts, meta and size on disk, for `ragkit status`."""
        documents, chunks = self.counts()
        meta = self.meta()
        wal = Path(f"{self.path}-wal")
        size = self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        numbers = ("dim", "chunk_size", "chunk_overlap", "generation", "schema_version")
        return {
            "path": str(self.path),
            "documents": documents,
            "chunks": chunks,
            "embed_model": meta.get("embed_model"),
            **{key: _optional_int(meta.get(key)) for key in numbers},
            "size_bytes": size,
        }

    # -- documents --------------------------------------------------------------

    def documents(self) -> dict[str, DocumentInfo]:
        """Every indexed document, keyed by path, with its chunk count."""
        rows = self._rows(
            """SELECT d.id, d.path, d.hash, d.size, d.mtime, d.type, d.title,
                (SELECT count(*) FROM chunks c WHERE c.document_id = d.id)
            FROM documents d ORDER BY d.path"""
        )
        return {row[1]: DocumentInfo(*row) for row in rows}

    def listing(self, path_glob: str | None = None) -> list[tuple]:
        """(path, type, title, size, mtime, indexed_at, chunks, pages) of each document, by path;
        only paths matching `path_glob` (as `search --path` matches) when given."""
        where = "WHERE d.path GLOB ?" if path_glob else ""
        params = (_anchor_glob(path_glob),) if path_glob else ()
        return self._rows(
            f"""SELECT d.path, d.type, d.title, d.size, d.mtime, d.indexed_at, count(c.id),
                max(c.page)
            FROM documents d LEFT JOIN chunks c ON c.document_id = d.id {where}
            GROUP BY d.id ORDER BY d.path""",
            params,
        )

    def replace_document(
        self,
        doc: NewDocument,
        chunks: Sequence[ChunkLike],
        embeddings: np.ndarray,
        *,
        embed_model: str | None = None,
    ) -> int:
        """Write doc and its chunks in place of any earlier version, in one transaction.

        Row i of `embeddings` belongs to chunks[i]. Zero chunks is fine (the file
        is still recorded). With `embed_model`, the write is refused (IndexMismatch)
        when the index holds another model's vectors, checked inside the transaction
        so that two processes cannot mix models. Returns the new document id.
        """
        matrix = _as_matrix(chunks, embeddings)
        with self._write() as conn:
            self._check_model(conn, embed_model)
            self._check_dim(conn, matrix)
            conn.execute("DELETE FROM documents WHERE path = ?", (doc.path,))
            now = datetime.now(UTC).isoformat(timespec="seconds")
            values = (doc.path, doc.hash, doc.size, doc.mtime, doc.type, doc.title, now)
            doc_id = conn.execute(_INSERT_DOCUMENT, values).lastrowid
            self._insert_chunks(conn, doc_id, chunks, matrix)
            self._bump_generation(conn)
        return doc_id

    def _check_model(self, conn: sqlite3.Connection, embed_model: str | None) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'embed_model'").fetchone()
        if embed_model and row is not None and not same_model(row[0], embed_model):
            raise IndexMismatch(row[0], embed_model, self.path)

    def _check_dim(self, conn: sqlite3.Connection, matrix: np.ndarray) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
        if row is not None and len(matrix) and matrix.shape[1] != int(row[0]):
            raise StoreError(
                self.path,
                f"holds {row[0]}-d embeddings; refusing {matrix.shape[1]}-d ones",
                hint=REEMBED_HINT,
            )

    @staticmethod
    def _insert_chunks(
        conn: sqlite3.Connection, doc_id: int, chunks: Sequence[ChunkLike], matrix: np.ndarray
    ) -> None:
        """Insert INSERT_BATCH rows per statement.

        One statement per row would make FTS5 flush a segment per row (every
        statement opens a savepoint), which is several times slower. Parameters
        are built one batch at a time, so memory does not grow with the document.
        """
        full, rest = divmod(len(chunks), INSERT_BATCH)
        if full:
            batches = (
                _chunk_params(doc_id, chunks, matrix, k * INSERT_BATCH, INSERT_BATCH)
                for k in range(full)
            )
            conn.executemany(_insert_chunks_sql(INSERT_BATCH), batches)
        if rest:
            params = _chunk_params(doc_id, chunks, matrix, full * INSERT_BATCH, rest)
            conn.execute(_insert_chunks_sql(rest), params)

    def update_document_stat(self, path: str, *, size: int, mtime: float) -> None:
        """Record a new size and mtime for unchanged content (no generation bump)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE documents SET size = ?, mtime = ? WHERE path = ?", (size, mtime, path)
            )

    def move_document(self, old: str, new: str, *, size: int, mtime: float) -> None:
        """Record that the document at `old` is now the file at `new` (same bytes: a
        rename), keeping its chunks and vectors; one transaction."""
        with self._write() as conn:
            conn.execute("DELETE FROM documents WHERE path = ?", (new,))
            conn.execute(
                "UPDATE documents SET path = ?, size = ?, mtime = ? WHERE path = ?",
                (new, size, mtime, old),
            )
            self._bump_generation(conn)

    def delete_documents(self, paths: Iterable[str]) -> int:
        """Delete these documents and their chunks in one transaction; return how many."""
        params = [(path,) for path in paths]
        if not params:
            return 0
        with self._write() as conn:
            deleted = conn.executemany("DELETE FROM documents WHERE path = ?", params).rowcount
            if deleted:
                self._bump_generation(conn)
        return deleted

    def clear(self) -> None:
        """Remove every document and chunk, and forget embed_model and dim (for --reembed)."""
        with self._write() as conn:
            # Emptying the FTS index at once beats a 'delete' per chunk from the trigger.
            conn.execute("DROP TRIGGER chunks_ad")
            conn.execute("DELETE FROM chunks")
            conn.execute("DELETE FROM chunk_contexts")
            conn.execute("DELETE FROM documents")
            conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('delete-all')")
            conn.execute(FTS_TRIGGERS["chunks_ad"])
            conn.execute("DELETE FROM meta WHERE key IN ('embed_model', 'dim')")
            self._bump_generation(conn)

    # -- reads for retrieval ----------------------------------------------------

    @contextmanager
    def embeddings(self) -> Iterator[EmbeddingReader]:
        """An `EmbeddingReader` over one read transaction: ids, blocks of rows and rows
        by id, all of one generation, in bounded memory (`store/embeddings.py`)."""
        with self._read() as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            width = conn.execute("SELECT length(embedding) FROM chunks LIMIT 1").fetchone()
            dim = width[0] // 4 if width else _optional_int(meta.get("dim")) or 0
            yield EmbeddingReader(conn, self.path, int(meta.get("generation", 0)), dim)

    def load_embeddings(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(generation, chunk ids int64 (n,), embeddings float32 (n, dim)), ordered by id,
        all in memory: for small indexes and tests (the sidecar streams instead)."""
        with self.embeddings() as reader:
            return reader.generation, *reader.rows_of()

    def embeddings_of(self, ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`(found ids ascending, float32 rows)` of these chunks, as stored; ids of
        chunks removed since are left out. For rescoring search candidates."""
        with self.embeddings() as reader:
            return reader.rows_of(ids)

    def id_summary(self, sample_ids: Sequence[int]) -> IdSummary:
        """Count, lowest and highest chunk id, and the float32 embeddings of the chunks
        in `sample_ids` (missing ones left out), in one read transaction: a cheap check
        of a copy of the embeddings, such as the vector sidecar."""
        wanted = json.dumps([int(i) for i in sample_ids])
        with self._read() as conn:
            generation = conn.execute(_GENERATION).fetchone()
            count, lowest, highest = conn.execute(_ID_SUMMARY).fetchone()
            rows = conn.execute(_EMBEDDINGS_OF, (wanted,)).fetchall()
        samples = {row[0]: np.frombuffer(row[1], dtype="<f4") for row in rows}
        generation = int(generation[0]) if generation else 0
        return IdSummary(generation, count, lowest, highest, samples)

    def chunks(self, ids: Sequence[int]) -> list[ChunkRow]:
        """The chunks with these ids, in the order given; unknown ids are skipped."""
        wanted = [int(i) for i in ids]
        if not wanted:
            return []
        rows = self._rows(
            f"{_CHUNK_ROWS} WHERE c.id IN (SELECT value FROM json_each(?))", (json.dumps(wanted),)
        )
        found = {row[0]: ChunkRow(*row) for row in rows}
        return [found[i] for i in wanted if i in found]

    def chunk_ids_matching(self, path_glob: str) -> np.ndarray:
        """Ids (int64, ascending) of chunks whose document path matches a GLOB pattern.

        A pattern that does not start at the root matches anywhere in the path,
        so "*.md" and "notes/*" work. Case-sensitive, like GLOB.
        """
        rows = self._rows(
            """SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id
            WHERE d.path GLOB ? ORDER BY c.id""",
            (_anchor_glob(path_glob),),
        )
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def keyword_search(
        self, query: str, limit: int = 50, *, path_glob: str | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) best first, for any user string; [] if it has no words."""
        match = fts_query(query)
        if match is None or limit <= 0:
            return []
        if path_glob is None:
            rows = self._rows(_KEYWORD_SEARCH.format(join="", glob=""), (match, limit))
        else:
            sql = _KEYWORD_SEARCH.format(join=_JOIN_DOCUMENTS, glob="AND d.path GLOB ?")
            rows = self._rows(sql, (match, _anchor_glob(path_glob), limit))
        return [(row[0], row[1]) for row in rows]

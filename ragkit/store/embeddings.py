"""Reading the stored embeddings in bounded memory, inside one read transaction.

    >>> with store.embeddings() as reader:          # one snapshot of the index
    ...     ids = reader.ids()                      # int64, ascending
    ...     for block_ids, rows in reader.blocks(): # float32 blocks, in id order
    ...         ...

The vector sidecar (`vectors.py`) is built from these: a block at a time, so that
building it for ten million chunks never holds their 30 GB of float32 at once.
Every read of one reader sees the same generation, so ids, rows and the generation
they are filed under agree even while another process writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import StoreError

BLOCK_ROWS = 8192  # rows per block handed out: 24 MB of float32 at 768-d
FETCH_BATCH = 1024  # rows per fetchmany(): 3 MB joins; 8192 was slower
LOOKUP_BATCH = 4096  # ids per `IN (json_each(?))` query

REEMBED_HINT = "Rebuild the index with `ragkit index --reembed PATH`"
_ALL_IDS = "SELECT group_concat(id) FROM chunks"  # the planner reads it off an index
_ALL_ROWS = "SELECT id, embedding FROM chunks ORDER BY id"
_ROWS_OF = (
    "SELECT id, embedding FROM chunks WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
)


class EmbeddingReader:
    """The chunk ids and float32 embeddings of one snapshot of the index (raw, as
    stored: not normalized). Made by `Store.embeddings()`; valid inside its `with`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, generation: int, dim: int) -> None:
        self._conn, self.path = conn, path
        self.generation, self.dim = generation, dim

    def count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def ids(self) -> np.ndarray:
        """Every chunk id, int64, ascending. Read from the document index (which holds
        every id) as one text and sorted here: `ORDER BY id` would walk the whole table,
        every page of text and blobs (10M chunks: 86 s from disk, against 1.5 s)."""
        (joined,) = self._conn.execute(_ALL_IDS).fetchone()
        if not joined:
            return np.zeros(0, np.int64)
        return np.sort(np.fromstring(joined, dtype=np.int64, sep=","))

    def blocks(
        self, ids: np.ndarray | None = None, *, rows: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """`(ids, float32 rows)` of every chunk, or of the chunks with these `ids` (those
        removed since left out), in id order, `rows` (BLOCK_ROWS) at a time. The two
        arrays of a block are reused by the next one: copy what you keep."""
        rows = rows or BLOCK_ROWS
        block_ids = np.empty(rows, np.int64)
        block = np.empty((rows, self.dim), np.float32)
        filled = 0
        for batch in self._batches(ids):
            while batch:
                take = batch[: rows - filled]
                batch = batch[len(take) :]
                self._copy(take, block_ids, block, filled)
                filled += len(take)
                if filled == rows:
                    yield block_ids, block
                    filled = 0
        if filled:
            yield block_ids[:filled], block[:filled]

    def rows_of(
        self, ids: Sequence[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """`(found ids ascending, their float32 rows)` for these ids (None: every chunk),
        in one piece: the `blocks` joined."""
        wanted = None if ids is None else np.asarray(ids, np.int64)
        found = [(i.copy(), r.copy()) for i, r in self.blocks(wanted)]
        if not found:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        return np.concatenate([i for i, _ in found]), np.concatenate([r for _, r in found])

    def _batches(self, ids: np.ndarray | None) -> Iterator[list[tuple]]:
        """fetchmany() batches of (id, blob): of all chunks, or of these ids."""
        if ids is None:
            cursor = self._conn.execute(_ALL_ROWS)
            while batch := cursor.fetchmany(FETCH_BATCH):
                yield batch
            return
        wanted = np.unique(ids)
        for start in range(0, len(wanted), LOOKUP_BATCH):
            cursor = self._conn.execute(
                _ROWS_OF, (json.dumps(wanted[start : start + LOOKUP_BATCH].tolist()),)
            )
            while batch := cursor.fetchmany(FETCH_BATCH):
                yield batch

    def _copy(self, batch: list[tuple], ids: np.ndarray, rows: np.ndarray, at: int) -> None:
        if not batch:
            return
        end = at + len(batch)
        ids[at:end] = [row[0] for row in batch]
        joined = b"".join([row[1] for row in batch])
        if len(joined) != self.dim * 4 * len(batch):
            raise StoreError(self.path, "holds embeddings of different sizes", hint=REEMBED_HINT)
        rows[at:end] = np.frombuffer(joined, dtype="<f4").reshape(len(batch), self.dim)

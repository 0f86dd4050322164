"""Index files as older ragkit versions wrote them, for migration tests."""

from __future__ import annotations

import pytest

import ragkit.store as store_module
from ragkit.store import NewDocument, schema
from tests.test_store import DIM, chunks_of, vectors

OLD_CHUNK_COLUMNS = "document_id, seq, text, page, char_start, char_end, heading, embedding"


def old_store(path, version: int, monkeypatch: pytest.MonkeyPatch) -> store_module.Store:
    """A new index file made as ragkit did at schema `version` (its first migrations)."""
    with monkeypatch.context() as patch:
        patch.setattr(store_module, "MIGRATIONS", schema.MIGRATIONS[:version])
        patch.setattr(store_module, "SCHEMA_VERSION", version)
        opened = store_module.Store(path)
        opened.set_index_params(
            embed_model="nomic-embed-text", dim=DIM, chunk_size=100, chunk_overlap=10
        )
        return opened


def add_old(
    store: store_module.Store, path: str, *texts: str, seed: int = 0, title: str | None = None
) -> None:
    """Write a titled document with plain SQL, as any schema up to 3 takes it."""
    conn = store.conn
    with conn:
        conn.execute("DELETE FROM documents WHERE path = ?", (path,))
        doc = NewDocument(path=path, hash="h1", size=10, mtime=1.5, type="text", title=title)
        doc_id = conn.execute(
            "INSERT INTO documents (path, hash, size, mtime, type, title)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (doc.path, doc.hash, doc.size, doc.mtime, doc.type, doc.title),
        ).lastrowid
        for chunk, vector in zip(chunks_of(*texts), vectors(len(texts), seed), strict=True):
            conn.execute(
                f"INSERT INTO chunks ({OLD_CHUNK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc_id,
                    chunk.seq,
                    chunk.text,
                    chunk.page,
                    chunk.start,
                    chunk.end,
                    chunk.heading,
                    vector.tobytes(),
                ),
            )
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

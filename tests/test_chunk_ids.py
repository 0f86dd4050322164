"""Chunk ids are never reused (schema m003), so a vector can never name another chunk's text."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

import ragkit.store as store_module
from ragkit.ollama import OllamaClient
from ragkit.retriever import Retriever
from ragkit.store import schema
from ragkit.vectors import VectorCache
from tests.fake_ollama import FakeOllama
from tests.test_store import DIM, add, fts_in_step

MODEL = "nomic-embed-text"


def ids_of(store: store_module.Store, path: str) -> list[int]:
    rows = store.db.execute(
        "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.path = ?",
        [path],
    )
    return [row[0] for row in rows]


def all_rows(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM chunks ORDER BY id").fetchall()


def new_store(path) -> store_module.Store:
    opened = store_module.Store(path)
    opened.set_index_params(embed_model=MODEL, dim=DIM, chunk_size=100, chunk_overlap=10)
    return opened


def v2_store(path, monkeypatch: pytest.MonkeyPatch) -> store_module.Store:
    """A new index file made as ragkit did at schema version 2 (migrations 1 and 2)."""
    with monkeypatch.context() as patch:
        patch.setattr(store_module, "MIGRATIONS", schema.MIGRATIONS[:2])
        patch.setattr(store_module, "SCHEMA_VERSION", 2)
        return new_store(path)


def refuse_schema_edits(conn: sqlite3.Connection) -> None:
    raise sqlite3.OperationalError("table sqlite_master may not be modified")


def test_ids_after_delete_reinsert_and_clear_are_above_every_earlier_id(tmp_path):
    with new_store(tmp_path / "index.db") as store:
        add(store, "/a.md", "alpha one", "alpha two")
        add(store, "/b.md", "beta one", "beta two")  # the highest ids
        seen = ids_of(store, "/a.md") + ids_of(store, "/b.md")
        add(store, "/b.md", "beta new", "beta newer", seed=1)  # re-indexed
        again = ids_of(store, "/b.md")
        assert min(again) > max(seen)
        store.delete_documents(["/b.md"])
        add(store, "/c.md", "gamma")
        assert min(ids_of(store, "/c.md")) > max(again)
        seen += again + ids_of(store, "/c.md")
        store.clear()  # --reembed
        add(store, "/a.md", "alpha one", "alpha two")
        assert min(ids_of(store, "/a.md")) > max(seen)
        assert fts_in_step(store)


@pytest.mark.parametrize("how", ["in place", "rebuilt"])
def test_a_v2_index_migrates_with_its_chunks_fts_and_search_intact(tmp_path, monkeypatch, how):
    db = tmp_path / "index.db"
    with v2_store(db, monkeypatch) as old:
        add(old, "/a.md", "alpha dome", "beta shutter", seed=1)
        add(old, "/b.md", "gamma mirror", "alpha motor", seed=2)
        reused = ids_of(old, "/b.md")
        add(old, "/b.md", "gamma mirror", "alpha motor", seed=2)
        assert ids_of(old, "/b.md") == reused  # what version 2 did: ids given out again
        VectorCache(old).refresh()
        keyword = old.keyword_search("alpha")
        before, generation = all_rows(db), old.generation
    if how == "rebuilt":  # where SQLite refuses schema edits (defensive mode)
        monkeypatch.setattr(schema, "_autoincrement_in_place", refuse_schema_edits)
    with store_module.Store(db, create=False) as store:
        assert store.meta()["schema_version"] == str(schema.SCHEMA_VERSION)
        assert store.generation == generation
        assert all_rows(db) == before  # ids, texts, spans and embeddings as they were
        sql = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'chunks'").fetchone()
        assert "AUTOINCREMENT" in sql[0]
        names = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master")}
        assert {"chunks_document_id", "chunks_ai", "chunks_ad", "chunks_au"} <= names
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert fts_in_step(store) and store.keyword_search("alpha") == keyword
        cache = VectorCache(store)
        cache.load()
        assert cache.rebuilds == 0  # same ids, same generation: the sidecar still holds
        add(store, "/b.md", "gamma mirror", "alpha motor", seed=2)
        assert min(ids_of(store, "/b.md")) > max(reused)
        assert fts_in_step(store)


class ReindexingClient(OllamaClient):
    """Re-indexes /b.md through another Store while a search embeds its query: after the
    search loaded its vectors, before it fetches the rows they name."""

    def __init__(self, url: str, db) -> None:
        super().__init__(url)
        self.db, self.queries = db, []

    def embed_batch(self, texts, model):
        if not self.queries:
            with store_module.Store(self.db) as other:
                add(other, "/b.md", "beta replaced", "beta rewritten", "beta anew", seed=7)
        self.queries.append(vector := super().embed_batch(texts, model))
        return vector


def test_a_search_never_shows_new_text_under_an_old_vector(tmp_path):
    db = tmp_path / "index.db"
    with new_store(db) as store:
        add(store, "/a.md", "alpha one", "alpha two", "alpha three", seed=1)
        add(store, "/b.md", "beta one", "beta two", "beta three", seed=2)  # the highest ids
    with FakeOllama(dim=DIM) as fake, store_module.Store(db, create=False) as store:
        client = ReindexingClient(fake.url, db)
        with Retriever(store=store, client=client) as retriever:
            hits = retriever.search("alpha beta", k=6, mode="vector")
            query = client.queries[0][0] / np.linalg.norm(client.queries[0][0])
            _, ids, stored = store.load_embeddings()
            by_id = dict(zip(ids.tolist(), stored, strict=True))
            for hit in hits:  # each score is the cosine of the vector stored with its text
                vector = by_id[hit.chunk_id] / np.linalg.norm(by_id[hit.chunk_id])
                assert hit.vector_score == pytest.approx(float(vector @ query), abs=1e-5)
            assert sorted(hit.path for hit in hits) == ["/a.md"] * 3  # b's old rows are gone
            assert len(retriever.search("alpha beta", k=6, mode="vector")) == 6  # next time

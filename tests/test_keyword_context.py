"""Titles and heading paths in the keyword index (schema m004): a title word matches every
chunk of its document, the chunks' text and spans stay the document's, old indexes migrate."""

from __future__ import annotations

import sqlite3

from ragkit.store import NewDocument, Store, schema
from tests.old_schemas import add_old, old_store
from tests.test_store import DIM, Chunk, chunks_of, fts_in_step, vectors


def titled(path: str, title: str | None) -> NewDocument:
    return NewDocument(path=path, hash="h", size=1, mtime=0.0, type="markdown", title=title)


def fts_check(store: Store) -> None:
    store.db.conn.execute("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 1)")


def contexts(store: Store) -> dict[str, list[str | None]]:
    rows = store.db.execute(
        """SELECT d.path, x.context FROM chunks c JOIN documents d ON d.id = c.document_id
        LEFT JOIN chunk_contexts x ON x.id = c.id ORDER BY c.id"""
    )
    found: dict[str, list[str | None]] = {}
    for path, context in rows:
        found.setdefault(path, []).append(context)
    return found


def test_the_context_is_the_title_and_the_path_without_repeats(store):
    store.set_index_params(embed_model="m", dim=DIM, chunk_size=100, chunk_overlap=10)
    cases = {
        "/a": ("Guide", "Install > Linux"),
        "/b": ("Guide", "Guide > Install"),
        "/c": ("Guide", "Guide"),
        "/d": (None, "Install"),
        "/e": ("T", None),
        "/f": (None, None),
        "/g": ("", ""),
    }
    for path, (title, heading) in cases.items():
        chunk = Chunk(0, "text", 0, 4, None, heading)
        store.replace_document(titled(path, title), [chunk], vectors(1))
    assert contexts(store) == {
        "/a": ["Guide\nInstall > Linux"],
        "/b": ["Guide > Install"],
        "/c": ["Guide"],
        "/d": ["Install"],
        "/e": ["T"],
        "/f": [None],
        "/g": [None],
    }


def test_a_title_word_finds_the_chunk_that_holds_the_answer(tmp_path):
    with Store(tmp_path / "index.db") as store:
        store.set_index_params(embed_model="m", dim=DIM, chunk_size=100, chunk_overlap=10)
        texts = ("alpha opening words", "beta the answer lies here", "gamma closing")
        store.replace_document(titled("/w.md", "Winch manual"), chunks_of(*texts), vectors(3))
        store.replace_document(titled("/o.md", "Other"), chunks_of("beta elsewhere"), vectors(1))
        hits = store.keyword_search("winch beta", 5)
        rows = {row.id: row for row in store.chunks([i for i, _ in hits])}
        assert rows[hits[0][0]].text == "beta the answer lies here"  # title and text both match
        assert {rows[i].path for i, _ in hits} == {"/w.md", "/o.md"}
        assert len(store.keyword_search("manual", 5)) == 3  # every chunk of the titled file
        assert len(store.keyword_search("h1", 5)) == 1  # heading paths are indexed too
        assert [r.text for r in store.chunks([i for i, _ in hits])] == [
            rows[i].text for i, _ in hits
        ]
        store.replace_document(titled("/w.md", "Renamed"), chunks_of("delta"), vectors(1))
        assert store.keyword_search("winch", 5) == []  # the old title left with its chunks
        fts_check(store)
        store.delete_documents(["/w.md"])
        store.clear()
        fts_check(store)
        assert store.db.execute("SELECT count(*) FROM chunk_contexts").fetchone()[0] == 0


def test_a_v3_index_migrates_its_titles_and_headings_into_the_keyword_index(tmp_path, monkeypatch):
    db = tmp_path / "index.db"
    with old_store(db, 3, monkeypatch) as old:
        add_old(old, "/a.md", "alpha dome", "beta shutter", title="Dome guide")
        add_old(old, "/b.md", "gamma mirror", "alpha motor", seed=2)
        assert old.keyword_search("dome") and len(old.keyword_search("guide")) == 0
        with sqlite3.connect(db) as conn:
            before = conn.execute("SELECT * FROM chunks ORDER BY id").fetchall()
        generation = old.generation
    with Store(db, create=False) as store:
        assert store.meta()["schema_version"] == str(schema.SCHEMA_VERSION) == "4"
        assert store.generation == generation
        rows = store.db.execute("SELECT * FROM chunks ORDER BY id").fetchall()
        assert rows == before  # ids, texts, spans and embeddings as they were
        assert contexts(store) == {
            "/a.md": ["Dome guide\nh0", "Dome guide\nh1"],
            "/b.md": ["h0", "h1"],
        }
        assert (
            fts_in_step(store) and store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        )
        guide = store.keyword_search("guide", 5)
        assert sorted(i for i, _ in guide) == [row[0] for row in rows[:2]]  # both chunks of /a.md
        assert len(store.keyword_search("alpha", 5)) == 2
        store.replace_document(titled("/a.md", "Dome guide"), chunks_of("alpha dome"), vectors(1))
        store.delete_documents(["/b.md"])
        fts_check(store)
        assert len(store.keyword_search("guide", 5)) == 1
        assert contexts(store) == {"/a.md": ["Dome guide\nh0"]}

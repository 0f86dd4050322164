"""The index database, on real SQLite files in tmp_path."""

from __future__ import annotations

import re
import sqlite3
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ragkit.store as store_module
import ragkit.store.embeddings as embeddings_module
from ragkit.errors import ConfigError, IndexMismatch, IndexNotFound, StoreError
from ragkit.store import MAX_QUERY_TOKENS, SCHEMA_VERSION, NewDocument, Store, fts_query

DIM = 4


@dataclass(frozen=True)
class Chunk:
    """Shaped like ragkit.chunking.Chunk; the store only duck-types it."""

    seq: int
    text: str
    start: int
    end: int
    page: int | None = None
    heading: str | None = None


def chunks_of(*texts: str) -> list[Chunk]:
    spans, at = [], 0
    for seq, text in enumerate(texts):
        spans.append(Chunk(seq, text, at, at + len(text), page=None, heading=f"h{seq}"))
        at += len(text)
    return spans


def vectors(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def doc(path: str, content_hash: str = "h1") -> NewDocument:
    return NewDocument(path=path, hash=content_hash, size=10, mtime=1.5, type="text", title=None)


def add(store: Store, path: str, *texts: str, seed: int = 0) -> int:
    return store.replace_document(doc(path), chunks_of(*texts), vectors(len(texts), seed))


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "index.db") as opened:
        opened.set_index_params(embed_model="m", dim=DIM, chunk_size=100, chunk_overlap=10)
        yield opened


def fts_in_step(store: Store) -> bool:
    """FTS5's own check of chunks_fts against chunks, plus equal row sets."""
    conn = store.db.conn
    conn.execute("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 1)")
    indexed = conn.execute(
        "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'alpha OR beta OR gamma'"
    ).fetchone()[0]
    expected = conn.execute(
        "SELECT count(*) FROM chunks WHERE text LIKE '%alpha%' OR text LIKE '%beta%'"
        " OR text LIKE '%gamma%'"
    ).fetchone()[0]
    return indexed == expected


# -- opening ---------------------------------------------------------------------


def test_new_index_has_schema_meta_and_pragmas(tmp_path):
    with Store(tmp_path / "index.db") as store:
        tables = set(store.db.table_names())
        assert {"documents", "chunks", "chunks_fts", "meta"} <= tables
        meta = store.meta()
        assert re.fullmatch(r"[0-9a-f]{16}", meta.pop("index_id"))
        assert meta == {"schema_version": str(SCHEMA_VERSION), "generation": "0"}
        assert store.generation == 0 and store.embed_model is None and store.dim is None
        pragma = lambda name: store.db.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("busy_timeout") == 30_000
        assert pragma("foreign_keys") == 1 and pragma("synchronous") == 1  # NORMAL
        triggers = {
            r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        }
        assert triggers == {"chunks_ai", "chunks_ad", "chunks_au"}
    with sqlite3.connect(tmp_path / "index.db") as plain:  # an ordinary SQLite file
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_new_file_is_private_and_its_folder_too(tmp_path):
    path = tmp_path / "new" / "folder" / "index.db"
    with Store(path) as store:
        assert store.path == path
        add(store, "/a.md", "alpha")
        for name in ("index.db", "index.db-wal", "index.db-shm"):  # SQLite copies the mode
            assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_missing_index_without_create_is_index_not_found(tmp_path):
    with pytest.raises(IndexNotFound) as info:
        Store(tmp_path / "nope.db", create=False)
    assert info.value.path == tmp_path / "nope.db"
    assert not (tmp_path / "nope.db").exists()


def test_a_file_that_is_not_sqlite_is_a_clear_store_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"just some text, not a database\n" * 200)
    with pytest.raises(StoreError) as info:
        Store(path)
    assert "is not a ragkit index (not an SQLite database)" in str(info.value)
    assert str(path) in str(info.value) and info.value.hint
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_a_folder_is_not_an_index(tmp_path):
    with pytest.raises(StoreError, match="is a folder"):
        Store(tmp_path)


def test_another_programs_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match="not a ragkit index"):
        Store(path)


def test_a_newer_schema_asks_for_an_upgrade(tmp_path):
    Store(tmp_path / "index.db").close()
    with sqlite3.connect(tmp_path / "index.db") as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError) as info:
        Store(tmp_path / "index.db")
    assert "Upgrade ragkit" in str(info.value) and "99" in str(info.value)


def test_reopening_keeps_everything(tmp_path, store):
    add(store, "/a.md", "alpha one")
    generation = store.generation
    store.close()
    with Store(tmp_path / "index.db", create=False) as again:
        assert again.counts() == (1, 1) and again.generation == generation
        assert again.embed_model == "m" and again.dim == DIM
        assert repr(again) == f"<Store {again.path}: 1 documents, 1 chunks, m 4d>"
    assert repr(again) == f"<Store {again.path} (closed)>"


# -- writing ---------------------------------------------------------------------


def test_replace_delete_clear_and_generation(store):
    g0 = store.generation
    add(store, "/notes/a.md", "alpha one", "beta two")
    assert store.generation == g0 + 1
    second = add(store, "/notes/a.md", "gamma three")  # a new version replaces the old
    assert store.generation == g0 + 2 and store.keyword_search("alpha") == []
    info = store.documents()["/notes/a.md"]
    assert (info.id, info.hash, info.size, info.mtime, info.type, info.chunks) == (
        second,
        "h1",
        10,
        1.5,
        "text",
        1,
    )
    add(store, "/notes/b.md", "beta four")
    assert store.counts() == (2, 2) and fts_in_step(store)

    assert store.delete_documents(["/notes/a.md", "/not/indexed"]) == 1
    assert store.counts() == (1, 1) and store.generation == g0 + 4 and fts_in_step(store)
    assert store.delete_documents(["/not/indexed"]) == 0 and store.generation == g0 + 4
    assert store.delete_documents([]) == 0

    store.clear()
    assert store.counts() == (0, 0) and store.generation == g0 + 5
    assert store.embed_model is None and store.dim is None and fts_in_step(store)
    assert store.keyword_search("beta") == []
    add(store, "/again.md", "alpha after clear")  # triggers still work after clear()
    assert store.keyword_search("alpha") and fts_in_step(store)


def test_update_document_stat_changes_stat_only(store):
    add(store, "/a.md", "alpha")
    generation = store.generation
    store.update_document_stat("/a.md", size=99, mtime=7.25)
    info = store.documents()["/a.md"]
    assert (info.size, info.mtime, info.chunks) == (99, 7.25, 1)
    assert store.generation == generation


def test_set_index_params_bumps_only_on_change_and_guards_dim(store):
    generation = store.generation
    store.set_index_params(embed_model="m", dim=DIM, chunk_size=100, chunk_overlap=10)
    assert store.generation == generation
    store.set_index_params(embed_model="m", dim=DIM, chunk_size=200, chunk_overlap=10)
    assert store.generation == generation + 1 and store.stats()["chunk_size"] == 200
    add(store, "/a.md", "alpha")
    with pytest.raises(StoreError, match="--reembed"):
        store.set_index_params(embed_model="m", dim=8, chunk_size=200, chunk_overlap=10)
    assert store.dim == DIM


def test_empty_document_is_recorded(store):
    store.replace_document(doc("/empty.txt"), [], np.zeros((0, DIM), np.float32))
    store.replace_document(doc("/empty2.txt"), [], np.zeros((0,)))
    assert store.documents()["/empty.txt"].chunks == 0 and store.counts() == (2, 0)


def test_stats(store):
    add(store, "/a.md", "alpha", "beta")
    stats = store.stats()
    assert stats["documents"] == 1 and stats["chunks"] == 2 and stats["dim"] == DIM
    assert stats["embed_model"] == "m" and stats["chunk_overlap"] == 10
    assert stats["schema_version"] == SCHEMA_VERSION and stats["generation"] == store.generation
    assert stats["size_bytes"] > 0 and stats["path"] == str(store.path)


@pytest.mark.parametrize(
    "embeddings, error",
    [
        (vectors(2, dim=8), StoreError),  # the index holds 4-d vectors
        (vectors(3), ConfigError),  # three vectors for two chunks
        (vectors(1).ravel(), ConfigError),  # not 2-D
        (np.full((2, DIM), np.nan, np.float32), ConfigError),
    ],
)
def test_bad_embeddings_are_refused_and_nothing_is_written(store, embeddings, error):
    add(store, "/a.md", "alpha old", "beta old", seed=1)
    before = (store.documents(), store.load_embeddings(), store.generation)
    with pytest.raises(error) as info:
        store.replace_document(doc("/a.md", "h2"), chunks_of("alpha new", "beta new"), embeddings)
    if error is StoreError:
        assert "4-d" in str(info.value) and "8-d" in str(info.value)
    after = (store.documents(), store.load_embeddings(), store.generation)
    assert after[0] == before[0] and after[2] == before[2]
    np.testing.assert_array_equal(after[1][2], before[1][2])


def test_a_replace_failing_mid_insert_keeps_the_previous_version(store):
    add(store, "/a.md", "alpha old", "beta old", seed=1)
    before = (store.documents(), store.chunks([1, 2]), store.load_embeddings())
    bad = [Chunk(0, "gamma new", 0, 9), Chunk(1, None, 9, 20)]  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="NOT NULL"):
        store.replace_document(doc("/a.md", "h2"), bad, vectors(2, seed=2))
    assert store.documents() == before[0] and store.chunks([1, 2]) == before[1]
    np.testing.assert_array_equal(store.load_embeddings()[2], before[2][2])
    assert store.keyword_search("gamma") == [] and fts_in_step(store)


def test_many_chunks_in_one_document(store, monkeypatch):
    monkeypatch.setattr(store_module, "INSERT_BATCH", 7)  # full batches and a remainder
    texts = [f"alpha chunk {i}" for i in range(23)]
    add(store, "/big.md", *texts)
    rows = store.chunks(store.load_embeddings()[1])
    assert [r.seq for r in rows] == list(range(23)) and [r.text for r in rows] == texts
    assert fts_in_step(store)


# -- reading ---------------------------------------------------------------------


def test_load_embeddings_round_trips_exact_values_in_id_order(store, monkeypatch):
    monkeypatch.setattr(embeddings_module, "FETCH_BATCH", 2)  # several batches
    a, b = vectors(3, seed=1), vectors(2, seed=2)
    store.replace_document(doc("/a.md"), chunks_of("a0", "a1", "a2"), a)
    store.replace_document(doc("/b.md"), chunks_of("b0", "b1"), b.astype(">f4"))
    generation, ids, matrix = store.load_embeddings()
    assert generation == store.generation
    assert ids.dtype == np.int64 and matrix.dtype == np.float32 and matrix.shape == (5, DIM)
    assert list(ids) == sorted(ids)
    np.testing.assert_array_equal(matrix, np.vstack([a, b]))
    assert [r.text for r in store.chunks(ids)] == ["a0", "a1", "a2", "b0", "b1"]


def test_load_embeddings_of_an_empty_index(store):
    generation, ids, matrix = store.load_embeddings()
    assert generation == store.generation and ids.shape == (0,) and matrix.shape == (0, DIM)


def test_the_embedding_reader_gives_blocks_and_rows_by_id_of_one_snapshot(store):
    a = vectors(5, seed=3)
    store.replace_document(doc("/a.md"), chunks_of(*"abcde"), a)
    with store.embeddings() as reader:
        ids = reader.ids()
        other = Store(store.path)  # another process writes while the reader reads
        other.replace_document(doc("/b.md"), chunks_of("late"), vectors(1, seed=4))
        blocks = [(i.copy(), r.copy()) for i, r in reader.blocks(rows=2)]
        found, rows = reader.rows_of([ids[3], ids[0], 999, ids[3]])
        assert reader.count() == 5 and reader.dim == DIM
    other.close()
    assert [len(i) for i, _ in blocks] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([i for i, _ in blocks]), ids)
    np.testing.assert_array_equal(np.vstack([r for _, r in blocks]), a)
    assert found.tolist() == [ids[0], ids[3]]  # ascending, once each, unknown ids left out
    np.testing.assert_array_equal(rows, a[[0, 3]])
    assert store.counts() == (2, 6)


def test_chunks_come_back_in_the_order_asked(store):
    add(store, "/a.md", "zero", "one", "two")
    rows = store.chunks([3, 99, 1, np.int64(2)])
    assert [(r.id, r.text, r.seq) for r in rows] == [(3, "two", 2), (1, "zero", 0), (2, "one", 1)]
    first = rows[1]
    assert (first.path, first.start, first.end, first.heading, first.page) == (
        "/a.md",
        0,
        4,
        "h0",
        None,
    )
    assert store.chunks([]) == []


def test_chunk_ids_matching_globs(store):
    add(store, "/home/u/notes/a.md", "a0", "a1")  # ids 1, 2
    add(store, "/home/u/notes/b.txt", "b0")  # id 3
    add(store, "/home/u/src/c.md", "c0")  # id 4
    add(store, "/home/u/oldnotes/d.txt", "d0")  # id 5
    match = lambda glob: store.chunk_ids_matching(glob).tolist()  # noqa: E731
    assert match("*.md") == [1, 2, 4]
    assert match("notes/*") == [1, 2, 3]  # a folder name, not the end of "oldnotes"
    assert match("u/notes/a.md") == [1, 2]
    assert match("/home/u/src/*") == [4]
    assert match("/notes/*") == []  # absolute: anchored at the root
    assert match("*.MD") == []  # case-sensitive, like GLOB
    assert store.chunk_ids_matching("*.md").dtype == np.int64


# -- keyword search --------------------------------------------------------------


@pytest.fixture
def corpus(store):
    add(store, "/docs/dome.md", "The dome rotates on the dome ring")  # id 1
    add(store, "/docs/scope.md", "The telescope points at the dome")  # id 2
    add(store, "/notes/valve.txt", "Open the cryostat valve slowly")  # id 3
    return store


def test_keyword_search_ranks_by_bm25(corpus):
    dome = corpus.keyword_search("dome")
    assert [cid for cid, _ in dome] == [1, 2]  # two mentions beat one
    assert dome[0][1] > dome[1][1] > 0
    assert [cid for cid, _ in corpus.keyword_search("cryostat dome")] == [3, 1, 2]  # rare word
    assert [cid for cid, _ in corpus.keyword_search("rotating")] == [1]  # porter stemming
    assert corpus.keyword_search("dome", limit=1) == dome[:1]
    assert corpus.keyword_search("dome", limit=0) == []


def test_keyword_search_filters_by_path(corpus):
    assert [cid for cid, _ in corpus.keyword_search("dome", path_glob="scope.md")] == [2]
    assert corpus.keyword_search("dome", path_glob="/notes/*") == []
    assert [c for c, _ in corpus.keyword_search("the", path_glob="*.txt")] == [3]


def test_fts_query_quotes_words_and_drops_syntax():
    assert fts_query('dome AND "shutter" NEAR(x y) -winch ^a* col:val') == (
        '"dome" OR "shutter" OR "NEAR" OR "x" OR "y" OR "winch" OR "col" OR "val"'
    )
    assert fts_query("AND OR NOT") == '"AND" OR "OR" OR "NOT"'  # operators, quoted as words
    assert fts_query("Dome dome DOME café") == '"Dome" OR "café"'
    assert fts_query('   ()"*:^-  ') is None and fts_query("") is None
    assert fts_query("How do I rotate the dome?") == '"rotate" OR "dome"'
    assert fts_query("The Who") == '"The" OR "Who"'  # only stopwords: all are kept
    many = fts_query(" ".join(f"w{i}" for i in range(500)))
    assert many is not None and many.count(" OR ") == MAX_QUERY_TOKENS - 1


NASTY = [
    '"',
    "AND",
    "OR",
    "NOT",
    "NEAR(",
    "NEAR/2",
    "a*",
    "-x",
    "^",
    "col:val",
    "(((",
    ")))",
    "😀",
    "",
    " ",
    "'",
    "\x00",
    "a\u0301",
    "text:dome",
    "{text}: dome",
    "*",
    "\\",
    "a" * 100_000,
    "dome " * 20_000,
    "日本語のテキスト",
    "x" + "\"'" * 50_000,
]


@pytest.fixture(scope="module")
def search_store(tmp_path_factory):
    with Store(tmp_path_factory.mktemp("search") / "index.db") as opened:
        add(opened, "/a.md", "The dome rotates; 😀 NEAR the AND valve", "日本語のテキスト col val")
        yield opened


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_keyword_search_takes_nasty_strings(search_store, text):
    assert isinstance(search_store.keyword_search(text, path_glob=text[:50]), list)


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_keyword_search_never_raises(search_store, text):
    query = fts_query(text)
    assert query is None or query.count('"') == 2 * (query.count(" OR ") + 1)
    assert isinstance(search_store.keyword_search(text), list)


# -- concurrency -----------------------------------------------------------------


def test_two_stores_in_two_threads_write_at_once(tmp_path):
    path, errors, start = tmp_path / "index.db", [], threading.Barrier(2)

    def writer(name: str) -> None:
        try:
            start.wait()  # both create the file, migrate it and write at the same time
            with Store(path) as own:
                for i in range(50):
                    add(own, f"/{name}/{i}.md", f"alpha {name} {i}", "beta")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("x", "y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Store(path) as store:
        assert len(store.documents()) == 100 and store.counts() == (100, 200)
        assert store.generation == 100 and fts_in_step(store)


def test_a_writer_that_cannot_get_the_lock_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 50)
    with Store(tmp_path / "index.db") as store:
        other = sqlite3.connect(tmp_path / "index.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError) as info:
                add(store, "/a.md", "alpha")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert "another ragkit process is writing; try again" in str(info.value)
        assert str(store.path) in str(info.value) and store.counts() == (0, 0)


def test_using_a_store_does_not_import_click(tmp_path):
    code = (
        "import sys; from ragkit.store import Store; "
        f"s = Store({str(tmp_path / 'x.db')!r}); s.counts(); s.keyword_search('a'); "
        "print('click' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_db_is_a_sqlite_utils_view_of_the_same_file(store):
    add(store, "/notes/a.md", "a0")
    assert store.db["documents"].count == 1


@pytest.mark.parametrize("name", [":memory:", "file::memory:?cache=shared"])
def test_an_in_memory_name_is_refused_not_created_as_a_file(tmp_path, monkeypatch, name):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    with pytest.raises(ConfigError) as info:
        Store(name)
    assert name in str(info.value)
    assert list((tmp_path / "cwd").iterdir()) == []


def test_a_write_with_another_embedding_model_is_refused(store):
    add(store, "/notes/a.md", "a0")
    store.set_index_params(embed_model="m", dim=DIM, chunk_size=100, chunk_overlap=10)
    record = NewDocument(path="/notes/b.md", hash="b", size=1, mtime=0.0)
    chunk = Chunk(seq=0, text="b0", start=0, end=2, page=None, heading=None)
    with pytest.raises(IndexMismatch):
        store.replace_document(record, [chunk], np.ones((1, DIM)), embed_model="other")
    store.replace_document(record, [chunk], np.ones((1, DIM)), embed_model="m:latest")
    assert store.counts() == (2, 2)


def test_a_transaction_is_all_or_nothing(store):
    add(store, "/notes/a.md", "a0")
    generation = store.generation
    with pytest.raises(RuntimeError), store.transaction():
        store.clear()
        add(store, "/notes/b.md", "b0")
        raise RuntimeError("the rebuild failed")
    assert list(store.documents()) == ["/notes/a.md"] and store.generation == generation
    with store.transaction():
        store.clear()
        add(store, "/notes/b.md", "b0")
    assert list(store.documents()) == ["/notes/b.md"]

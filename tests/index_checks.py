"""Helpers for the reliability tests: a corpus with searchable marker words,
`ragkit` as a subprocess, and checks that an index database is whole.

    paths = write_marked_corpus(root, 300, random.Random(1))
    run_ragkit(["index", str(root), "--db", str(db)], fake.url)
    check_index(db, versions)   # integrity, whole documents, FTS in step, sidecar valid
    chunk_set(db) == chunk_set(clean_db)
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

from ragkit.chunking import chunk_text
from ragkit.store import Store
from ragkit.vectors import VectorCache, normalize_rows, sidecar_dir

# Words ending in a digit: the porter stemmer leaves them alone, so an FTS MATCH of
# one finds exactly the chunks whose text holds it.
VOCABULARY = [f"term{i:03d}" for i in range(120)] + [f"topic{i}" for i in range(10)]
_WORD = re.compile(r"[^\W_]+")


def marked_text(rng: random.Random, marker: str, chars: int) -> str:
    """Paragraphs of vocabulary words, about `chars` long, with `marker` in the first one."""
    paragraphs, size = [], 0
    while size < chars or not paragraphs:
        words = [rng.choice(VOCABULARY) for _ in range(rng.randint(8, 60))]
        if not paragraphs:
            words.insert(rng.randint(0, len(words)), marker)
        paragraph = " ".join(words) + "."
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(paragraphs) + "\n"


def write_marked_corpus(root: Path, n: int, rng: random.Random) -> dict[str, str]:
    """n small .md/.txt files (some empty, most one to four chunks); {path: text}."""
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for i in range(n):
        path = root / f"sub{i % 7}" / f"file{i:04d}{'.md' if i % 3 else '.txt'}"
        path.parent.mkdir(exist_ok=True)
        text = "" if i % 50 == 7 else marked_text(rng, f"mark{i:04d}v0", rng.randint(60, 3500))
        path.write_text(text, encoding="utf-8")
        written[str(path.resolve())] = text
    return written


def ragkit_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ragkit", *args]


def ragkit_env(host: str, **extra: str) -> dict[str, str]:
    """The test's environment (HOME and XDG isolated by conftest) pointing at `host`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGKIT_")}
    return env | {"OLLAMA_HOST": host, **extra}


def start_index(folder: Path, db: Path, host: str) -> subprocess.Popen:
    """`ragkit index FOLDER --db DB` as a child process, its output piped as text."""
    return subprocess.Popen(
        ragkit_command("index", str(folder), "--db", str(db)),
        env=ragkit_env(host),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_ragkit(args: list[str], host: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ragkit_command(*args), env=ragkit_env(host, **extra), capture_output=True, text=True
    )


# -- reading an index back -------------------------------------------------------


def connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)


def chunk_set(db: Path) -> list[tuple]:
    """Every chunk with its document's path and hash and its embedding, in a stable order."""
    with connect(db) as conn:
        return conn.execute(
            """SELECT d.path, d.hash, d.type, c.seq, c.text, c.page, c.char_start, c.char_end,
                c.heading, c.embedding
            FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY d.path, c.seq"""
        ).fetchall()


def snapshot(db: Path) -> tuple[list[tuple], list[tuple], dict[str, str]]:
    """(documents without indexed_at, chunk_set, meta): what a failed run must not change."""
    with connect(db) as conn:
        documents = conn.execute(
            "SELECT path, hash, size, mtime, type, title FROM documents ORDER BY path"
        ).fetchall()
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    return documents, chunk_set(db), meta


def check_index(db: Path, versions: dict[str, str] | None = None) -> None:
    """Assert what must hold after any run, finished or killed.

    SQLite's integrity check passes; every document has chunks 0..n-1 and, when
    `versions` maps content hashes to the texts that were on disk, exactly the
    chunks of its text; the FTS index agrees with the chunks table; the vector
    sidecar is valid (or rebuilt) and holds exactly the store's vectors.
    """
    with connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        documents = conn.execute("SELECT id, path, hash, type FROM documents").fetchall()
        rows = conn.execute(
            "SELECT id, document_id, seq, text, char_start, char_end FROM chunks"
        ).fetchall()
    _check_whole_documents(documents, rows, meta, versions)
    _check_fts(db, rows)
    _check_sidecar(db)


def _check_whole_documents(documents, rows, meta, versions) -> None:
    by_document: dict[int, list[tuple]] = {}
    for row in rows:
        by_document.setdefault(row[1], []).append(row)
    assert set(by_document) <= {doc_id for doc_id, *_ in documents}, "orphan chunks"
    for doc_id, path, digest, kind in documents:
        mine = sorted(by_document.get(doc_id, []), key=lambda r: r[2])
        assert [r[2] for r in mine] == list(range(len(mine))), f"{path}: seqs not 0..n-1"
        if versions is None or digest not in versions:
            continue
        text = versions[digest]
        expected = chunk_text(
            text,
            size=int(meta.get("chunk_size", 1000)),
            overlap=int(meta.get("chunk_overlap", 0)),
            markdown=kind == "markdown",
        )
        got = [(r[3], r[4], r[5]) for r in mine]
        assert got == [(c.text, c.start, c.end) for c in expected], f"{path}: partial document"


def _check_fts(db: Path, rows: list[tuple]) -> None:
    """FTS5's own check, then MATCH of words against a scan of the chunk texts."""
    with sqlite3.connect(db, timeout=30) as conn:  # the check is an INSERT: needs write access
        conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('integrity-check')")
        conn.execute("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 1)")
        words: dict[str, set[int]] = {}
        for chunk_id, _, _, text, _, _ in rows:
            for word in set(_WORD.findall(text.lower())):
                if word.startswith(("mark", "topic")):
                    words.setdefault(word, set()).add(chunk_id)
        for word in [*sorted(words)[:40], "topic3", "nowhere1"]:
            found = conn.execute(
                "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (f'"{word}"',)
            ).fetchall()
            assert {r[0] for r in found} == words.get(word, set()), f"FTS disagrees on {word}"


def _check_sidecar(db: Path) -> None:
    """Every published sidecar file loads; the cache serves exactly the store's vectors."""
    folder = sidecar_dir(db)
    if folder is not None and folder.exists():
        for file in folder.glob("*.npy"):
            np.load(file, mmap_mode="r", allow_pickle=False)  # never a half-written file
    with Store(db, create=False) as store:
        _, truth_ids, truth = store.load_embeddings()
        ids, matrix = VectorCache(store).load()
    assert np.array_equal(ids, truth_ids)
    assert np.allclose(matrix, normalize_rows(truth.copy()), atol=1e-6)

"""Indexing while the folder changes under ragkit: writers racing the reader,
folders that cannot be read. Real files, a real SQLite index, the fake Ollama."""

from __future__ import annotations

import builtins
import hashlib
import sqlite3
from pathlib import Path

from ragkit.ingest import Ingester


def _stored(db: Path, path: Path) -> tuple[str, str]:
    """The stored hash of a document and its chunks' text joined."""
    with sqlite3.connect(db) as conn:
        ((doc_id, digest),) = conn.execute(
            "SELECT id, hash FROM documents WHERE path = ?", (str(path),)
        ).fetchall()
        texts = conn.execute(
            "SELECT text FROM chunks WHERE document_id = ? ORDER BY seq", (doc_id,)
        ).fetchall()
    return digest, " ".join(text for (text,) in texts)


def test_a_file_rewritten_between_reads_is_stored_as_one_version(
    tmp_path, store, client, monkeypatch
):
    """Each time ragkit opens the file, another program has just saved a new version:
    the stored hash must be that of the very version whose text was chunked."""
    path = tmp_path / "notes" / "race.txt"
    path.parent.mkdir()
    versions = [f"version {i} of the file talks about {word}." for i, word in
                enumerate(["lanterns", "harbours", "glaciers", "orchards"])]  # fmt: skip
    path.write_text(versions[0])
    real_open, opens = builtins.open, []

    def saving_open(file, mode="r", *args, **kwargs):
        if Path(str(file)) == path and "r" in mode:
            with real_open(path, "w") as out:  # the other program saves, then we read
                out.write(versions[len(opens) % len(versions)])
            opens.append(mode)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", saving_open)
    Ingester(store, client).run([path.parent])
    monkeypatch.undo()
    digest, text = _stored(store.path, path)
    source = next(v for v in versions if v in text)
    assert digest == hashlib.sha256(source.encode()).hexdigest()
    assert opens == ["rb"]  # read once: hashed and parsed from the same bytes
    second = Ingester(store, client).run([path.parent])  # the file now holds the last version
    assert second.unchanged + second.changed == 1
    assert _stored(store.path, path)[1] == path.read_text()

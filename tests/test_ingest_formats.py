"""Indexing the new formats: an mbox's messages as documents `path#N` (skipped when
unchanged, replaced together, pruned with their file), notebook outputs on request."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from ragkit.cli import cli
from ragkit.errors import OllamaError
from ragkit.index import Index
from ragkit.ingest import Ingester
from tests import office_files as f


def _mbox(folder: Path, *subjects: str, version: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mail.mbox"
    messages = [f.email_message(s, f"About {s.lower()}{version}.") for s in subjects]
    path.write_bytes(f.mbox(messages))
    return path


def _documents(store) -> dict[str, str]:
    """Stored path (file name and #N) -> hash."""
    return {Path(p).name: info.hash for p, info in store.documents().items()}


def test_each_message_is_a_document_and_an_unchanged_mbox_is_skipped(
    tmp_path, store, client, fake_ollama
):
    _mbox(tmp_path / "mail", "Dome", "Winch", "Beacon")
    (tmp_path / "mail" / "note.txt").write_text("The beacon is red.", encoding="utf-8")
    summary = Ingester(store, client).run([tmp_path / "mail"])
    assert (summary.new, summary.failed, summary.chunks_added) == (2, [], 4)
    assert set(_documents(store)) == {"mail.mbox#1", "mail.mbox#2", "mail.mbox#3", "note.txt"}
    hits = store.keyword_search("winch", 5)
    assert [Path(store.chunks([h[0]])[0].path).name for h in hits] == ["mail.mbox#2"]
    embeds = fake_ollama.count("/api/embed")
    again = Ingester(store, client).run([tmp_path / "mail"])
    assert (again.new, again.changed, again.unchanged, again.removed) == (0, 0, 2, 0)
    assert fake_ollama.count("/api/embed") == embeds  # nothing read or embedded again


def test_a_changed_mbox_replaces_its_messages_and_drops_those_it_lost(tmp_path, store, client):
    _mbox(tmp_path / "mail", "Dome", "Winch", "Beacon")
    Ingester(store, client).run([tmp_path / "mail"])
    _mbox(tmp_path / "mail", "Dome", "Shutter", version=" again")
    summary = Ingester(store, client).run([tmp_path / "mail"])
    assert (summary.changed, summary.new, summary.chunks_added) == (1, 0, 2)
    assert set(_documents(store)) == {"mail.mbox#1", "mail.mbox#2"}
    assert store.keyword_search("beacon", 5) == [] and store.keyword_search("shutter", 5)


def test_a_failure_while_embedding_an_mbox_keeps_all_its_old_messages(
    tmp_path, store, client, fake_ollama
):
    _mbox(tmp_path / "mail", "Dome", "Winch", "Beacon")
    Ingester(store, client).run([tmp_path / "mail"])
    before = _documents(store)
    _mbox(tmp_path / "mail", "Dome", "Winch", "Beacon", version=" v2")
    fake_ollama.fail_after(2, status=400, path="/api/embed")  # the third message fails
    with pytest.raises(OllamaError):
        Ingester(store, client, batch_size=1, concurrency=1).run([tmp_path / "mail"])
    assert _documents(store) == before  # not two new messages beside an old one
    fake_ollama.reset()
    assert Ingester(store, client).run([tmp_path / "mail"]).changed == 1


def test_a_removed_mbox_is_pruned_and_an_empty_one_is_recorded_as_itself(tmp_path, store, client):
    box = _mbox(tmp_path / "mail", "Dome", "Winch")
    Ingester(store, client).run([tmp_path / "mail"])
    box.write_bytes(b"")
    summary = Ingester(store, client).run([tmp_path / "mail"])
    assert summary.changed == 1 and set(_documents(store)) == {"mail.mbox"}
    assert Ingester(store, client).run([tmp_path / "mail"]).unchanged == 1
    _mbox(tmp_path / "mail", "Dome")
    Ingester(store, client).run([tmp_path / "mail"])
    assert set(_documents(store)) == {"mail.mbox#1"}
    box.unlink()
    assert Ingester(store, client).run([tmp_path / "mail"]).removed == 1
    assert _documents(store) == {}


def test_a_rebuild_keeps_the_messages_of_an_mbox_outside_its_paths(tmp_path, store, client):
    _mbox(tmp_path / "mail", "Dome", "Winch")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("Winch cable.", encoding="utf-8")
    Ingester(store, client).run([tmp_path / "mail"])
    summary = Ingester(store, client).run([tmp_path / "notes"], reembed=True)
    assert summary.removed == 0
    assert set(_documents(store)) == {"mail.mbox#1", "mail.mbox#2", "a.txt"}


def test_a_file_named_like_a_message_is_refused(tmp_path, store, client):
    (tmp_path / "in").mkdir()
    odd = tmp_path / "in" / "mail.mbox#2"
    odd.write_text("text", encoding="utf-8")
    summary = Ingester(store, client).run([odd])
    assert summary.failed == [(str(odd), summary.failed[0][1])]
    assert "names a message of an mbox" in summary.failed[0][1]


def _chunk_texts(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return "\n".join(row[0] for row in conn.execute("SELECT text FROM chunks"))


def test_notebook_outputs_are_indexed_only_with_include_outputs(tmp_path, fake_ollama):
    folder = tmp_path / "nb"
    folder.mkdir()
    outputs = [{"output_type": "stream", "name": "stdout", "text": "seeing 0.8 arcsec\n"}]
    (folder / "seeing.ipynb").write_bytes(f.notebook([("code", "print(seeing)", outputs)]))
    with Index(tmp_path / "lib.db", host=fake_ollama.url) as index:
        index.add(folder)
    assert "arcsec" not in _chunk_texts(tmp_path / "lib.db")
    with Index(tmp_path / "lib2.db", host=fake_ollama.url) as index:
        index.add(folder, include_outputs=True)
    assert "seeing 0.8 arcsec" in _chunk_texts(tmp_path / "lib2.db")
    db = tmp_path / "cli.db"
    args = ["index", str(folder), "--db", str(db), "--host", fake_ollama.url, "--include-outputs"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "seeing 0.8 arcsec" in _chunk_texts(db)


def test_an_unreadable_office_file_is_named_and_the_run_goes_on(tmp_path, store, client):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "broken.docx").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "docs" / "ok.docx").write_bytes(f.docx(f.docx_paragraph("Dome log")))
    summary = Ingester(store, client).run([tmp_path / "docs"])
    assert summary.new == 1 and [Path(p).name for p, _ in summary.failed] == ["broken.docx"]
    assert "not a readable DOCX" in summary.failed[0][1] and "--exclude it" in summary.failed[0][1]

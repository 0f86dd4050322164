"""Indexing while the folder changes under ragkit: writers racing the reader,
folders that cannot be read. Real files, a real SQLite index, the fake Ollama."""

from __future__ import annotations

import builtins
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragkit.ingest import Ingester
from tests.index_checks import chunk_set, ragkit_command, ragkit_env, run_ragkit
from tests.pdfmaker import make_pdf, make_shared_stream_pdf


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


# ---------------------------------------------------------------- unreadable folders


def _unprivileged() -> list[str]:
    """A command prefix under which mode 000 stops reads: none for a normal user; for root,
    `setpriv` dropping the capabilities that override file permissions."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: mode 000 cannot stop reads here")
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr.decode()[:200]}")
    return prefix


def _index_unprivileged(root: Path, db: Path, host: str, *more: str):
    command = [*_unprivileged(), *ragkit_command("index", str(root), "--db", str(db), *more)]
    return subprocess.run(command, env=ragkit_env(host), capture_output=True, text=True)


@pytest.fixture
def notes(tmp_path: Path, fake_ollama) -> Iterator[tuple[Path, Path]]:
    """notes/ with 3 files and notes/sub/ with 4, indexed; permissions restored after."""
    root = tmp_path / "notes"
    for i in range(3):
        (root / f"top{i}.txt").parent.mkdir(parents=True, exist_ok=True)
        (root / f"top{i}.txt").write_text(f"top file {i} about lighthouses")
    for i in range(4):
        (root / "sub" / f"deep{i}.txt").parent.mkdir(parents=True, exist_ok=True)
        (root / "sub" / f"deep{i}.txt").write_text(f"deep file {i} about tides")
    db = tmp_path / "index.db"
    assert run_ragkit(["index", str(root), "--db", str(db)], fake_ollama.url).returncode == 0
    yield root, db
    for folder in (root, root / "sub"):
        folder.chmod(0o700)


def test_an_unreadable_subfolder_is_reported_and_what_it_held_is_kept(notes, fake_ollama):
    root, db = notes
    before = chunk_set(db)
    (root / "sub").chmod(0o000)
    result = _index_unprivileged(root, db, fake_ollama.url)
    assert result.returncode == 3, result.stderr
    assert f"failed: {root / 'sub'}: cannot read this folder (Permission denied)" in result.stderr
    assert "what was indexed under it is kept" in result.stderr
    assert " 0 removed, 1 failed" in result.stdout
    assert chunk_set(db) == before  # all 7 documents, untouched
    (root / "sub").chmod(0o700)
    (root / "sub" / "deep0.txt").unlink()  # readable again: a real deletion is pruned
    again = run_ragkit(["index", str(root), "--db", str(db)], fake_ollama.url)
    assert again.returncode == 0 and " 1 removed, 0 failed" in again.stdout


LIBRARY_RUN = """
import sys
from ragkit import Index
with Index(sys.argv[2], host=sys.argv[3]) as index:
    summary = index.add(sys.argv[1])
print(summary.removed, [(path, reason.split(";")[0]) for path, reason in summary.failed])
"""


def test_an_unreadable_top_level_folder_keeps_what_it_held(notes, fake_ollama):
    root, db = notes
    before = chunk_set(db)
    root.chmod(0o000)
    cli = _index_unprivileged(root, db, fake_ollama.url)  # click refuses it up front
    assert cli.returncode == 2 and "is not readable" in cli.stderr
    command = [*_unprivileged(), sys.executable, "-c", LIBRARY_RUN, str(root), str(db)]
    library = subprocess.run(
        [*command, fake_ollama.url], env=ragkit_env(fake_ollama.url), capture_output=True, text=True
    )
    assert library.returncode == 0, library.stderr
    expected = [(str(root), "cannot read this folder (Permission denied)")]
    assert library.stdout.strip() == f"0 {expected}"
    assert chunk_set(db) == before


def test_a_rebuild_refuses_to_start_over_an_unreadable_folder(notes, fake_ollama):
    root, db = notes
    before = chunk_set(db)
    (root / "sub").chmod(0o000)
    result = _index_unprivileged(root, db, fake_ollama.url, "--reembed")
    assert result.returncode == 1
    assert "cannot rebuild" in result.stderr and "sub" in result.stderr
    assert chunk_set(db) == before


def test_a_missing_root_is_an_error_that_prunes_and_creates_nothing(notes, tmp_path, fake_ollama):
    root, db = notes
    before = chunk_set(db)
    gone = tmp_path / "mnt" / "usb"  # a mount that is not there today
    result = run_ragkit(["index", str(gone), "--db", str(db)], fake_ollama.url)
    assert result.returncode == 1 and "does not exist" in result.stderr
    assert chunk_set(db) == before
    fresh = tmp_path / "fresh" / "index.db"
    result = run_ragkit(["index", str(gone), "--db", str(fresh)], fake_ollama.url)
    assert result.returncode == 1 and not fresh.parent.exists()


def test_discovery_reports_unreadable_folders_and_logs_their_names_escaped(tmp_path):
    hostile = tmp_path / "sub\x1b]0;title\x07"
    hostile.mkdir()
    (hostile / "a.txt").write_text("text")
    (tmp_path / "b.txt").write_text("text")
    hostile.chmod(0o000)
    script = (
        "import logging, sys\n"
        "from ragkit.discovery import discover_files\n"
        "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "seen = []\n"
        "tell = lambda folder, why: seen.append((folder.name, why))\n"
        "print([p.name for p in discover_files(sys.argv[1], on_unreadable=tell)], seen)\n"
        "print([p.name for p in discover_files(sys.argv[1])])\n"
    )
    try:
        result = subprocess.run(
            [*_unprivileged(), sys.executable, "-c", script, str(tmp_path)],
            capture_output=True, text=True,
        )  # fmt: skip
    finally:
        hostile.chmod(0o700)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == f"['b.txt'] [({hostile.name!r}, 'Permission denied')]"
    assert second == "['b.txt']"
    assert repr(str(hostile)) in result.stderr and "\x1b" not in result.stderr


# ---------------------------------------------------------------- hostile files


def test_a_pdf_bomb_is_reported_and_the_run_goes_on(tmp_path, store, client, fake_ollama):
    root = tmp_path / "docs"
    root.mkdir()
    make_shared_stream_pdf(root / "bomb.pdf", n_pages=40, stream_bytes=1_000_000)
    (root / "fine.txt").write_text("an ordinary note about a lighthouse keeper")
    summary = Ingester(store, client).run([root])
    assert summary.new == 1 and summary.chunks_added == 1  # the bomb made no chunks
    ((path, reason),) = summary.failed
    assert path == str(root / "bomb.pdf")
    assert "decompression bomb" in reason and "page 1 of 40" in reason
    assert reason.endswith(". --exclude it")
    assert fake_ollama.count("/api/embed") == 1


def test_the_per_file_time_budget_reaches_the_reader(tmp_path, store, client):
    root = tmp_path / "docs"
    root.mkdir()
    make_pdf(root / "paper.pdf", ["a page about tides"])
    summary = Ingester(store, client, max_read_seconds=0).run([root])
    assert [reason.split(" (")[0] for _, reason in summary.failed] == [
        "text extraction took over 0s"
    ]
    assert Ingester(store, client).run([root]).new == 1

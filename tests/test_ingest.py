"""The indexing pipeline against the fake server, with a real SQLite file."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ragkit.cli import EXIT_PARTIAL, cli
from ragkit.errors import ConfigError, IndexMismatch, OllamaError, OllamaUnavailable
from ragkit.ingest import Ingester, IngestSummary
from ragkit.ollama import OllamaClient
from ragkit.store import Store

WORDS = "dome telescope shutter winch anemometer cryostat ladder beacon valve harness".split()


def write_corpus(root: Path, n: int = 6, paragraphs: int = 3) -> list[Path]:
    """n markdown files whose paragraphs are long enough to make several chunks each."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        body = "\n\n".join(
            f"Paragraph {p} of file {i} mentions the {WORDS[i % len(WORDS)]} again. " * 12
            for p in range(paragraphs)
        )
        path = root / f"doc{i}.md"
        path.write_text(f"# Document {i}\n\n{body}\n", encoding="utf-8")
        paths.append(path)
    return paths


def chunk_rows(db_path: Path) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(
            "SELECT d.path, c.seq, c.text FROM chunks c JOIN documents d ON d.id = c.document_id"
            " ORDER BY d.path, c.seq"
        ).fetchall()


def test_first_run_indexes_everything_in_full_batches(tmp_path, store, client, fake_ollama):
    write_corpus(tmp_path / "notes")
    summary = Ingester(store, client, batch_size=8).run([tmp_path / "notes"])
    documents, chunks = store.counts()
    assert (summary.new, summary.changed, summary.unchanged, summary.failed) == (6, 0, 0, [])
    assert documents == 6 and chunks == summary.chunks_added > 6
    assert fake_ollama.count("/api/embed") == math.ceil(chunks / 8)
    assert store.embed_model == "nomic-embed-text" and store.dim == 768


def test_documents_get_the_models_task_prefix(tmp_path, store, client, fake_ollama):
    write_corpus(tmp_path, n=1)
    Ingester(store, client).run([tmp_path])
    inputs = [
        t for _, path, body in fake_ollama.requests if path == "/api/embed" for t in body["input"]
    ]
    assert inputs and all(t.startswith("search_document: ") for t in inputs)


def test_unchanged_files_cost_no_embedding_calls(tmp_path, store, client, fake_ollama):
    write_corpus(tmp_path)
    Ingester(store, client).run([tmp_path])
    before = chunk_rows(store.path)
    fake_ollama.reset()
    summary = Ingester(store, client).run([tmp_path])
    assert (summary.new, summary.changed, summary.unchanged) == (0, 0, 6)
    assert fake_ollama.count("/api/embed") == 0
    assert chunk_rows(store.path) == before


def test_touched_but_identical_file_is_unchanged(tmp_path, store, client, fake_ollama):
    paths = write_corpus(tmp_path, n=2)
    Ingester(store, client).run([tmp_path])
    os.utime(paths[0], (time.time() + 100, time.time() + 100))
    fake_ollama.reset()
    summary = Ingester(store, client).run([tmp_path])
    assert summary.unchanged == 2 and fake_ollama.count("/api/embed") == 0
    assert store.documents()[str(paths[0])].mtime == pytest.approx(paths[0].stat().st_mtime)


def test_changed_file_is_replaced_and_others_untouched(tmp_path, store, client):
    paths = write_corpus(tmp_path)
    Ingester(store, client).run([tmp_path])
    others_before = [r for r in chunk_rows(store.path) if r[0] != str(paths[2])]
    paths[2].write_text("# New\n\nThe periscope replaced everything here.\n", encoding="utf-8")
    summary = Ingester(store, client).run([tmp_path])
    assert (summary.changed, summary.unchanged) == (1, 5)
    rows = chunk_rows(store.path)
    mine = [r for r in rows if r[0] == str(paths[2])]
    assert len(mine) == 1 and "periscope" in mine[0][2]
    assert [r for r in rows if r[0] != str(paths[2])] == others_before


def test_vanished_file_is_pruned_only_under_indexed_roots(tmp_path, store, client):
    a = write_corpus(tmp_path / "a", n=2)
    write_corpus(tmp_path / "b", n=2)
    Ingester(store, client).run([tmp_path / "a"])
    Ingester(store, client).run([tmp_path / "b"])
    a[0].unlink()
    summary = Ingester(store, client).run([tmp_path / "a"])
    assert summary.removed == 1
    assert sorted(Path(p).parent.name for p in store.documents()) == ["a", "b", "b"]
    summary = Ingester(store, client).run([tmp_path / "a"], prune=False)
    assert summary.removed == 0


def test_empty_file_is_recorded_and_then_unchanged(tmp_path, store, client):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.md").write_text("\n\n   \n")
    first = Ingester(store, client).run([tmp_path])
    second = Ingester(store, client).run([tmp_path])
    assert first.new == 2 and first.chunks_added == 0
    assert second.unchanged == 2


def test_unreadable_files_are_reported_and_the_run_goes_on(tmp_path, store, client):
    write_corpus(tmp_path, n=2)
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02 not text \x00" * 50)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n garbage that is not a pdf")
    (tmp_path / "big.txt").write_text("word " * 1000)
    summary = Ingester(store, client, max_file_size=2000).run([tmp_path])
    failed = dict(summary.failed)
    assert summary.new == 2
    assert set(failed) == {str(tmp_path / n) for n in ("binary.txt", "broken.pdf", "big.txt")}
    assert "binary" in failed[str(tmp_path / "binary.txt")]
    assert "PDF" in failed[str(tmp_path / "broken.pdf")]
    assert store.counts()[0] == 2


def test_a_failed_file_keeps_its_earlier_entry(tmp_path, store, client):
    paths = write_corpus(tmp_path, n=2)
    Ingester(store, client).run([tmp_path])
    paths[0].write_bytes(b"\x00binary now\x00" * 10)
    summary = Ingester(store, client).run([tmp_path])
    assert len(summary.failed) == 1 and summary.removed == 0
    assert str(paths[0]) in store.documents()


def test_other_embedding_model_is_refused_then_rebuilt_on_request(tmp_path, store, client):
    write_corpus(tmp_path, n=2)
    Ingester(store, client).run([tmp_path])
    with pytest.raises(IndexMismatch) as info:
        Ingester(store, client, embed_model="all-minilm").run([tmp_path])
    assert "nomic-embed-text" in str(info.value) and "all-minilm" in str(info.value)
    assert "--reembed" in str(info.value)
    summary = Ingester(store, client, embed_model="all-minilm").run([tmp_path], reembed=True)
    assert summary.new == 2 and store.embed_model == "all-minilm" and store.dim == 384


def test_tagged_name_of_the_same_model_is_accepted(tmp_path, store, client):
    write_corpus(tmp_path, n=1)
    Ingester(store, client).run([tmp_path])
    summary = Ingester(store, client, embed_model="nomic-embed-text:latest").run([tmp_path])
    assert summary.unchanged == 1


def test_ollama_failure_mid_run_leaves_only_whole_documents(tmp_path, store, client, fake_ollama):
    write_corpus(tmp_path, n=8, paragraphs=4)
    fake_ollama.fail_after(3, status=500)  # three batches go through, then the server breaks
    with pytest.raises(OllamaError) as info:
        Ingester(store, client, batch_size=4, concurrency=1).run([tmp_path])
    assert info.value.status == 500
    documents = store.documents()
    assert 0 < len(documents) < 8
    rows = chunk_rows(store.path)
    for path, info in documents.items():
        seqs = [seq for p, seq, _ in rows if p == path]
        assert seqs == list(range(info.chunks)) and info.chunks > 0


def test_unreachable_ollama_writes_nothing(tmp_path, store):
    write_corpus(tmp_path, n=2)
    dead = OllamaClient("127.0.0.1:9", timeout=(0.5, 1.0), retries=0)
    with pytest.raises(OllamaUnavailable):
        Ingester(store, dead).run([tmp_path])
    assert store.counts() == (0, 0)


def test_a_run_that_needs_no_embedding_needs_no_ollama(tmp_path, store, client):
    write_corpus(tmp_path, n=3)
    Ingester(store, client).run([tmp_path])
    dead = OllamaClient("127.0.0.1:9", timeout=(0.5, 1.0), retries=0)
    unchanged = Ingester(store, dead).run([tmp_path])  # Ollama is down: nothing to embed
    assert unchanged.unchanged == 3 and unchanged.failed == []
    victim = sorted(tmp_path.iterdir())[0]
    victim.unlink()
    pruned = Ingester(store, dead).run([tmp_path])  # a removal needs no Ollama either
    assert pruned.removed == 1 and store.counts()[0] == 2
    victim.write_text("A new note about the dome shutter.\n")
    with pytest.raises(OllamaUnavailable):  # this one does
        Ingester(store, dead).run([tmp_path])
    assert store.counts()[0] == 2
    with pytest.raises(OllamaUnavailable):  # and a rebuild fails before it starts
        Ingester(store, dead).run([tmp_path], reembed=True)
    assert store.counts()[0] == 2


# -- the command line ----------------------------------------------------------


def test_cli_index_json_summary_and_status(tmp_path, fake_ollama):
    write_corpus(tmp_path / "notes", n=3)
    db = tmp_path / "i.db"
    runner = CliRunner()
    env = {"OLLAMA_HOST": fake_ollama.url}
    result = runner.invoke(
        cli, ["index", str(tmp_path / "notes"), "--db", str(db), "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["new"] == 3 and summary["failed"] == [] and summary["chunks_added"] > 3
    result = runner.invoke(cli, ["status", "--db", str(db), "--json"])
    status = json.loads(result.output)
    assert status["documents"] == 3 and status["embed_model"] == "nomic-embed-text"
    result = runner.invoke(cli, ["status", "--db", str(db)])
    assert "nomic-embed-text (768-d)" in result.output


def test_cli_index_names_failed_files_and_exits_3(tmp_path, fake_ollama):
    write_corpus(tmp_path / "notes", n=1)
    (tmp_path / "notes" / "bad.txt").write_bytes(b"\x00\x00\x00")
    result = CliRunner().invoke(
        cli,
        ["index", str(tmp_path / "notes"), "--db", str(tmp_path / "i.db")],
        env={"OLLAMA_HOST": fake_ollama.url},
    )
    assert result.exit_code == EXIT_PARTIAL
    assert "bad.txt" in result.output and "1 failed" in result.output


def test_cli_status_without_index_says_how_to_build_one(tmp_path):
    result = CliRunner().invoke(cli, ["status", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert "ragkit index" in result.output
    assert not (tmp_path / "none.db").exists()


def test_cli_unreachable_ollama_exits_4_with_one_line(tmp_path):
    write_corpus(tmp_path / "notes", n=1)
    result = CliRunner().invoke(
        cli,
        ["index", str(tmp_path / "notes"), "--db", str(tmp_path / "i.db"), "--host", "127.0.0.1:9"],
    )
    assert result.exit_code == 4
    assert "ollama serve" in result.output
    assert "Traceback" not in result.output


def test_index_with_a_missing_model_fails_before_embedding_anything(tmp_path, fake_ollama):
    write_corpus(tmp_path / "notes", n=3)
    db = tmp_path / "i.db"
    args = ["index", str(tmp_path / "notes"), "--db", str(db), "--embed-model", "no-such-embed"]
    result = CliRunner().invoke(cli, [*args, "--host", fake_ollama.url])
    assert result.exit_code == 1 and "`ragkit pull no-such-embed`" in result.stderr
    assert fake_ollama.count("/api/tags") == 1 and fake_ollama.count("/api/embed") == 0


def test_cli_bad_size_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["index", str(tmp_path), "--max-file-size", "lots"])
    assert result.exit_code == 2 and "500KB" in result.output


def test_killed_mid_ingest_then_rerun_stores_each_document_once(tmp_path, fake_ollama):
    write_corpus(tmp_path / "notes", n=30, paragraphs=3)
    db = tmp_path / "i.db"
    fake_ollama.per_text_latency = 0.01
    env = {**os.environ, "OLLAMA_HOST": fake_ollama.url}
    command = [sys.executable, "-m", "ragkit", "index", str(tmp_path / "notes"), "--db", str(db)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _stored_documents(db) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _stored_documents(db)
    assert 5 <= partial < 30
    fake_ollama.per_text_latency = 0
    subprocess.run(command, env=env, check=True, capture_output=True)
    clean_db = tmp_path / "clean.db"
    subprocess.run(command[:-1] + [str(clean_db)], env=env, check=True, capture_output=True)
    assert chunk_rows(db) == chunk_rows(clean_db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        paths = [r[0] for r in conn.execute("SELECT path FROM documents")]
    assert len(paths) == len(set(paths)) == 30


def _stored_documents(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_rerun_keeps_the_indexs_embedding_model_and_chunking(tmp_path, store, client):
    write_corpus(tmp_path, n=2)
    Ingester(store, client, embed_model="all-minilm", chunk_size=300, overlap=30).run([tmp_path])
    (tmp_path / "new.md").write_text("# New\n\nA fresh note about the periscope.\n")
    summary = Ingester(store, client).run([tmp_path])  # no model, no chunking given
    assert (summary.new, summary.unchanged) == (1, 2)
    assert store.embed_model == "all-minilm" and store.dim == 384
    assert (store.meta()["chunk_size"], store.meta()["chunk_overlap"]) == ("300", "30")


def test_other_chunking_is_refused_then_rebuilt_on_request(tmp_path, store, client):
    write_corpus(tmp_path, n=2)
    Ingester(store, client).run([tmp_path])
    with pytest.raises(ConfigError) as info:
        Ingester(store, client, chunk_size=400).run([tmp_path])
    assert "--chunk-size 1000 --overlap 150" in str(info.value) and "--reembed" in str(info.value)
    summary = Ingester(store, client, chunk_size=400, overlap=40).run([tmp_path], reembed=True)
    assert summary.new == 2 and store.meta()["chunk_size"] == "400"
    assert max(len(text) for _, _, text in chunk_rows(store.path)) <= 400


def test_heading_never_pushes_a_chunk_past_the_models_input_limit(
    tmp_path, store, client, fake_ollama
):
    heading = "Section " + "very long heading words " * 20
    (tmp_path / "a.md").write_text(f"# {heading}\n\n" + "Plain words in a paragraph. " * 200)
    ingester = Ingester(store, client, embed_model="all-minilm")
    ingester.run([tmp_path])
    limit = ingester.profile.max_chunk_chars
    assert all(len(text) <= limit for _, _, text in chunk_rows(store.path))
    sent = [text for body in fake_ollama.bodies("/api/embed") for text in body["input"]]
    assert sent and max(len(text) for text in sent) <= limit
    assert any(text.startswith("Section very long") for text in sent)  # headings still go


def test_a_failed_request_is_reported_without_waiting_for_others(
    tmp_path, store, client, fake_ollama
):
    write_corpus(tmp_path, n=8, paragraphs=4)
    fake_ollama.hang_next(60.0, path="/api/embed")  # one request hangs ...
    fake_ollama.fail_next(1, status=400, path="/api/embed")  # ... while another fails at once
    with pytest.raises(OllamaError):
        Ingester(store, client, batch_size=2, concurrency=3).run([tmp_path])
    assert fake_ollama.hanging == 1  # reported while the other request still hangs


def test_the_environments_model_counts_as_asked_for(tmp_path, store, client, monkeypatch):
    from ragkit.retriever import Retriever

    write_corpus(tmp_path, n=1)
    Ingester(store, client).run([tmp_path])
    monkeypatch.setenv("RAGKIT_EMBED_MODEL", "all-minilm")
    with pytest.raises(IndexMismatch):
        Retriever(store=store, client=client)
    with pytest.raises(IndexMismatch):
        Ingester(store, client).run([tmp_path])


def test_a_deleted_symlink_takes_its_document_with_it(tmp_path, store, client):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "real.md").write_text("# Real\n\nThe periscope log lives here.\n")
    write_corpus(tmp_path / "notes", n=1)
    (tmp_path / "notes" / "link.md").symlink_to(tmp_path / "other" / "real.md")
    Ingester(store, client).run([tmp_path / "notes"])
    assert str(tmp_path / "notes" / "link.md") in store.documents()
    (tmp_path / "notes" / "link.md").unlink()
    summary = Ingester(store, client).run([tmp_path / "notes"])
    assert summary.removed == 1
    assert [Path(p).name for p in store.documents()] == ["doc0.md"]


def test_a_failed_rebuild_keeps_the_old_index_whole(tmp_path, store, client, fake_ollama):
    write_corpus(tmp_path, n=6)
    Ingester(store, client).run([tmp_path])
    before = chunk_rows(store.path)
    fake_ollama.fail_after(2, status=500)  # the probe and one batch pass, then it breaks
    with pytest.raises(OllamaError):
        Ingester(store, client, embed_model="all-minilm", batch_size=4).run(
            [tmp_path], reembed=True
        )
    assert store.embed_model == "nomic-embed-text" and store.dim == 768
    assert chunk_rows(store.path) == before


def test_a_rebuild_of_some_folders_rebuilds_the_whole_index(tmp_path, store, client):
    write_corpus(tmp_path / "a", n=2)
    write_corpus(tmp_path / "b", n=3)
    Ingester(store, client).run([tmp_path / "a", tmp_path / "b"])
    (tmp_path / "b" / "doc2.md").unlink()
    summary = Ingester(store, client, embed_model="all-minilm").run([tmp_path / "a"], reembed=True)
    assert (summary.new, summary.removed) == (4, 1)
    assert store.embed_model == "all-minilm" and store.counts()[0] == 4


def test_a_file_named_through_a_symlink_is_one_document(tmp_path, store, client):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "real.md").write_text("# Real\n\nThe periscope log lives here.\n")
    (tmp_path / "notes").mkdir()
    link = tmp_path / "notes" / "link.md"
    link.symlink_to(tmp_path / "other" / "real.md")
    Ingester(store, client).run([link])
    Ingester(store, client).run([tmp_path / "notes"])
    assert list(store.documents()) == [str(link)]


def test_a_symlink_loop_named_on_the_command_line_is_a_clear_error(tmp_path, fake_ollama):
    (tmp_path / "l1").symlink_to(tmp_path / "l2")
    (tmp_path / "l2").symlink_to(tmp_path / "l1")
    result = CliRunner().invoke(
        cli,
        ["index", str(tmp_path / "l1"), "--db", str(tmp_path / "i.db")],
        env={"OLLAMA_HOST": fake_ollama.url},
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "l1" in result.output


def test_documents_added_by_another_process_meanwhile_are_not_pruned(tmp_path, store, client):
    write_corpus(tmp_path / "notes", n=3)
    late = tmp_path / "notes" / "late.md"
    added = []

    def another_process_indexes_a_new_file(progress):
        if not added:  # while this run is going on, someone else indexes late.md
            late.write_text("# Late\n\nWritten after this run listed the folder.\n")
            with Store(store.path) as other:
                Ingester(other, client).run([late])
            added.append(late)

    summary = Ingester(store, client).run(
        [tmp_path / "notes"], on_progress=another_process_indexes_a_new_file
    )
    assert summary.removed == 0 and str(late) in store.documents()


def test_an_overlap_of_half_the_chunk_or_more_is_refused(tmp_path, store, client):
    with pytest.raises(ConfigError) as info:
        Ingester(store, client, chunk_size=1000, overlap=2000)
    assert "--overlap 2000" in str(info.value) and "(1000)" in str(info.value)


def test_the_summary_counts_one_file_in_the_singular(tmp_path, store, client):
    write_corpus(tmp_path, n=1)
    assert str(Ingester(store, client).run([tmp_path])).startswith("1 file: 1 new")


def test_the_summary_counts_one_chunk_in_the_singular():
    assert "; 1 chunk added in" in str(IngestSummary(new=1, chunks_added=1))
    assert "; 2 chunks added in" in str(IngestSummary(new=1, chunks_added=2))


def test_ctrl_c_stops_index_with_exit_130_keeping_whole_documents(tmp_path, fake_ollama):
    write_corpus(tmp_path / "notes", n=30, paragraphs=3)
    db = tmp_path / "i.db"
    fake_ollama.per_text_latency = 0.01
    env = {**os.environ, "OLLAMA_HOST": fake_ollama.url}
    command = [sys.executable, "-m", "ragkit", "index", str(tmp_path / "notes"), "--db", str(db)]
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # A shell without job control starts background jobs with SIGINT ignored, and
        # children inherit that (CI may run us so): give the child the usual handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _stored_documents(db) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and b"interrupted" in err and b"Traceback" not in err
    with Store(db) as stored:
        assert all(info.chunks > 0 for info in stored.documents().values())


def test_ask_says_when_passages_were_left_out_to_fit(tmp_path, fake_ollama):
    write_corpus(tmp_path / "notes", n=6, paragraphs=4)
    db = str(tmp_path / "i.db")
    env = {"OLLAMA_HOST": fake_ollama.url}
    CliRunner().invoke(cli, ["index", str(tmp_path / "notes"), "--db", db], env=env)
    fake_ollama.chat_reply = "The dome is mentioned [1]."
    question = "Which paragraph of the file mentions the dome again?"
    result = CliRunner().invoke(
        cli, ["ask", question, "--db", db, "-k", "5", "--num-ctx", "1200", "--no-stream"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "did not fit in --num-ctx" in result.stderr

"""Ollama misbehaving, through `ragkit` and the library: every failure is one line
naming the cause and the fix, and nothing partial reaches the index (its
documents, chunks and meta are compared before and after)."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ragkit.cli import EXIT_UNAVAILABLE, cli
from ragkit.errors import ConfigError, ModelNotFound, OllamaError, OllamaUnavailable
from ragkit.index import Index
from ragkit.ingest import Ingester
from ragkit.ollama import OllamaClient
from ragkit.store import Store
from tests.index_checks import check_index, marked_text, snapshot, write_marked_corpus

QUESTION = "Where is the DOMEKEEPER configuration file stored on tern?"
CHECK_LOG = "Check the `ollama serve` log"


def invoke(*args: str, host: str, **env: str):
    return CliRunner().invoke(cli, list(args), env={"OLLAMA_HOST": host, **env})


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def indexed(tmp_path, fake_ollama) -> tuple[Path, Path]:
    """(folder, db): six files indexed; one of them is then changed on disk."""
    root, db = tmp_path / "notes", tmp_path / "index.db"
    paths = sorted(write_marked_corpus(root, 6, random.Random(5)))
    result = invoke("index", str(root), "--db", str(db), host=fake_ollama.url)
    assert result.exit_code == 0, result.output
    Path(paths[2]).write_text(marked_text(random.Random(6), "changed1", 900), encoding="utf-8")
    fake_ollama.reset()
    return root, db


def test_a_burst_of_503s_is_retried_with_backoff_then_succeeds(indexed, fake_ollama):
    root, db = indexed
    fake_ollama.fail_next(2, status=503, path="/api/embed")
    began = time.monotonic()
    result = invoke("index", str(root), "--db", str(db), host=fake_ollama.url)
    assert result.exit_code == 0, result.output
    assert "1 changed" in result.stdout
    assert fake_ollama.count("/api/embed") == 3  # two 503s, then the answer
    assert time.monotonic() - began >= 0.5  # backoff: 0 s, then 0.5 s
    check_index(db)


def test_a_503_burst_longer_than_the_retries_stores_nothing(indexed, fake_ollama):
    root, db = indexed
    before = snapshot(db)
    fake_ollama.fail_next(10, status=503, body={"error": "server busy"}, path="/api/embed")
    client = OllamaClient(fake_ollama.url, backoff=0.01)
    with Store(db) as store, pytest.raises(OllamaError) as info:
        Ingester(store, client).run([root])
    assert info.value.status == 503 and "server busy" in str(info.value)
    assert CHECK_LOG in str(info.value)
    assert fake_ollama.count("/api/embed") == 4  # the first try and three retries
    assert snapshot(db) == before


def test_connection_refused_is_one_line_exit_4_and_nothing_written(indexed):
    root, db = indexed
    before = snapshot(db)
    result = invoke("index", str(root), "--db", str(db), host="127.0.0.1:9")
    assert result.exit_code == EXIT_UNAVAILABLE
    line = one_error_line(result)
    assert "cannot reach Ollama at http://127.0.0.1:9" in line and "`ollama serve`" in line
    assert snapshot(db) == before


def test_read_timeout_is_a_user_setting_and_stores_nothing(indexed, fake_ollama):
    root, db = indexed
    before = snapshot(db)
    for _ in range(3):  # the first try and both resends
        fake_ollama.hang_next(5, path="/api/embed")
    result = invoke("index", str(root), "--db", str(db), "--timeout", "0.5", host=fake_ollama.url)
    assert result.exit_code == 1 and fake_ollama.count("/api/embed") == 3
    line = one_error_line(result)
    assert "no answer from" in line and "within 0.5s, 3 times in a row" in line
    assert "the server is busy or the model 'nomic-embed-text' is still loading" in line
    assert "resumes where it stopped" in line
    assert "--timeout" in line and "RAGKIT_TIMEOUT" in line
    assert snapshot(db) == before


def test_ragkit_timeout_env_reaches_the_library(indexed, fake_ollama, monkeypatch):
    root, db = indexed
    before = snapshot(db)
    monkeypatch.setenv("RAGKIT_TIMEOUT", "0.5")
    for _ in range(3):
        fake_ollama.hang_next(5, path="/api/embed")
    with Index(db, host=fake_ollama.url) as index:
        assert index.client.timeout == (0.5, 0.5)
        with pytest.raises(OllamaError, match=r"within 0\.5s"):
            index.add(root)
    assert snapshot(db) == before


@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan"])
def test_a_bad_timeout_setting_is_refused_clearly(tmp_path, monkeypatch, value):
    monkeypatch.setenv("RAGKIT_TIMEOUT", value)
    with pytest.raises(ConfigError, match="RAGKIT_TIMEOUT must be a number of seconds"):
        OllamaClient("127.0.0.1:9")
    result = CliRunner().invoke(cli, ["search", "x", "--db", str(tmp_path / "i.db")])
    assert result.exit_code == 2 and "--timeout" in result.output


@pytest.mark.parametrize("fault", ["wrong_dimension", "wrong_count"])
def test_a_bad_embedding_answer_during_index_stores_nothing(indexed, fake_ollama, fault):
    root, db = indexed
    before = snapshot(db)
    getattr(fake_ollama, f"{fault}_next")()
    result = invoke("index", str(root), "--db", str(db), host=fake_ollama.url)
    assert result.exit_code == 1
    line = one_error_line(result)
    if fault == "wrong_dimension":
        assert "767-dimensional" in line and "768-dimensional" in line
        assert "ragkit index --reembed" in line
    else:
        assert re.search(r"returned \d+ embeddings for \d+ texts", line) and CHECK_LOG in line
    assert snapshot(db) == before


def test_a_model_removed_between_runs_says_to_pull_it(indexed, fake_ollama):
    root, db = indexed
    before = snapshot(db)
    fake_ollama.remove_model("nomic-embed-text")
    result = invoke("index", str(root), "--db", str(db), host=fake_ollama.url)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "model 'nomic-embed-text' is not available" in line
    assert "`ragkit pull nomic-embed-text`" in line
    with Index(db, host=fake_ollama.url) as index, pytest.raises(ModelNotFound):
        index.add(root)
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "model, folder, message",
    [("nope-embed", "notes", "`ragkit pull nope-embed`"), ("all-minilm", "nots", "not exist")],
    ids=["model missing", "mistyped folder"],
)
def test_reembed_keeps_the_old_index_when_it_cannot_start(
    indexed, fake_ollama, model, folder, message
):
    """--reembed used to empty the index before asking Ollama or looking at the folder."""
    root, db = indexed
    before = snapshot(db)
    args = ["index", str(root.parent / folder), "--db", str(db), "--reembed", "--embed-model"]
    result = invoke(*args, model, host=fake_ollama.url)
    assert result.exit_code == 1
    assert message in one_error_line(result)
    assert snapshot(db) == before


def test_reembed_keeps_the_old_index_when_ollama_is_down(indexed):
    root, db = indexed
    before = snapshot(db)
    dead = OllamaClient("127.0.0.1:9", retries=0)
    with Store(db) as store, pytest.raises(OllamaUnavailable, match="ollama serve"):
        Ingester(store, dead, embed_model="all-minilm").run([root], reembed=True)
    assert snapshot(db) == before


# -- ask -----------------------------------------------------------------------


def test_a_stream_dropped_mid_answer_raises_with_the_text_so_far(corpus_db, fake):
    before = snapshot(corpus_db)
    fake.drop_next_stream(after_lines=3)
    with Index(corpus_db, host=fake.url) as index:
        stream = index.ask(QUESTION, stream=True)
        with pytest.raises(OllamaError) as info:
            for _ in stream:
                pass
    assert "broke mid-answer" in str(info.value) and CHECK_LOG in str(info.value)
    assert stream.text and stream.answer is None
    assert snapshot(corpus_db) == before


def test_a_malformed_stream_line_during_ask_is_one_line(corpus_db, fake):
    before = snapshot(corpus_db)
    fake.malformed_next_stream(after_lines=2)
    result = invoke("ask", QUESTION, "--db", str(corpus_db), host=fake.url)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "malformed line in the answer stream" in line and CHECK_LOG in line
    assert fake.count("/api/chat") == 1
    assert snapshot(corpus_db) == before


def test_a_chat_model_that_hangs_times_out_during_ask(corpus_db, fake):
    fake.hang_next(5, path="/api/chat")
    result = invoke("ask", QUESTION, "--db", str(corpus_db), host=fake.url, RAGKIT_TIMEOUT="0.5")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "within 0.5s" in line and "RAGKIT_TIMEOUT" in line

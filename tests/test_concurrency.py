"""Several processes on one index: two `ragkit index` runs at once, searches during an
index run, and a long-lived Retriever that must see what another process wrote."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from ragkit.index import Index
from ragkit.ollama import OllamaClient
from ragkit.retriever import Retriever
from tests.conftest import timing_bound
from tests.index_checks import (
    check_index,
    chunk_set,
    run_ragkit,
    start_index,
    write_marked_corpus,
)

LATENCY = 0.003  # seconds per embedded text: runs long enough to overlap


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "locked" not in err.lower() and "Traceback" not in err
    return out


@timing_bound
@pytest.mark.parametrize("same_folder", [False, True], ids=["two folders", "one folder"])
def test_two_index_runs_at_once_make_the_union(tmp_path, fake_ollama, same_folder):
    a, b = tmp_path / "a", tmp_path / "b"
    write_marked_corpus(a, 80, random.Random(1))
    write_marked_corpus(b, 80, random.Random(2))
    db = tmp_path / "index.db"
    fake_ollama.per_text_latency = LATENCY
    first = start_index(a, db, fake_ollama.url)
    second = start_index(a if same_folder else b, db, fake_ollama.url)
    finish(first), finish(second)
    assert fake_ollama.peak_concurrency <= 3  # one run's requests: they took turns
    fake_ollama.per_text_latency = 0
    check_index(db)
    clean = tmp_path / "clean.db"
    with Index(clean, host=fake_ollama.url) as index:
        index.add([a] if same_folder else [a, b])
    assert chunk_set(db) == chunk_set(clean)


@pytest.mark.parametrize("method", ["add", "watch"])
def test_an_index_file_another_run_just_created_empty_is_built_not_refused(
    tmp_path, fake_ollama, method
):
    """The moment between another `ragkit index` creating the file and writing its
    schema, made deterministic: the file exists and is empty."""
    write_marked_corpus(tmp_path / "a", 3, random.Random(1))
    db = tmp_path / "index.db"
    db.touch(mode=0o600)
    with Index(db, host=fake_ollama.url) as index:
        if method == "add":
            assert index.add(tmp_path / "a", progress=False).new == 3
        else:
            kinds = []
            index.watch(
                tmp_path / "a",
                on_event=lambda event: kinds.append(event.kind),
                stop=lambda: "watching" in kinds,  # once the first pass is done
            )
    assert chunk_set(db)


def test_searches_during_an_index_run_never_fail(tmp_path, fake_ollama):
    a, b = tmp_path / "a", tmp_path / "b"
    write_marked_corpus(a, 30, random.Random(1))
    write_marked_corpus(b, 150, random.Random(2))
    db = tmp_path / "index.db"
    assert run_ragkit(["index", str(a), "--db", str(db)], fake_ollama.url).returncode == 0
    fake_ollama.per_text_latency = LATENCY
    indexing = start_index(b, db, fake_ollama.url)
    searches, overlapped = 0, 0
    while indexing.poll() is None or searches < 2:
        for mode in ("hybrid", "keyword"):
            args = ["search", "term007", "--db", str(db), "--mode", mode]
            result = run_ragkit(args, fake_ollama.url)
            assert result.returncode == 0 and "term007" in result.stdout, result.stderr
            searches += 1
            overlapped += indexing.poll() is None
    assert overlapped
    finish(indexing)
    check_index(db)


def test_a_retriever_held_open_sees_what_another_process_indexed(tmp_path, fake_ollama):
    a, b = tmp_path / "a", tmp_path / "b"
    write_marked_corpus(a, 5, random.Random(1))
    write_marked_corpus(b, 5, random.Random(2))
    (b / "news.md").write_text("The zeppelin42 landed on the observatory roof.\n")
    db = tmp_path / "index.db"
    with Index(db, host=fake_ollama.url) as index:
        index.add(a)
    with Retriever(db, client=OllamaClient(fake_ollama.url)) as retriever:
        assert not retriever.search("zeppelin42", mode="keyword")
        assert "news.md" not in {Path(h.path).name for h in retriever.search("zeppelin42")}
        before = retriever.vectors.generation
        assert run_ragkit(["index", str(b), "--db", str(db)], fake_ollama.url).returncode == 0
        for mode in ("keyword", "vector", "hybrid"):
            hits = retriever.search("zeppelin42 observatory roof", k=1, mode=mode)
            assert hits and hits[0].path.endswith("news.md"), mode
        assert retriever.vectors.generation > before
        assert retriever.vectors.rebuilds == 0  # each time, the indexer's sidecar was mapped

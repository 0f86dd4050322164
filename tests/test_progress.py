"""Indexing progress that tells the truth on a slow server: what `Ingester.run` reports,
`Index.add`'s display, and `ragkit index` drawing through a pseudo-terminal."""

from __future__ import annotations

import inspect
import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from ragkit.index import Index
from ragkit.ingest import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_FILE_SIZE,
    FIRST_BATCH,
    Ingester,
    Progress,
)
from ragkit.ollama import OllamaClient
from ragkit.store import Store
from ragkit.terminal import parse_size
from tests.index_checks import ragkit_command, ragkit_env

PARAGRAPH = "The dome winch needs oil before the cold season starts again. " * 16


def write_equal_files(root: Path, n: int) -> list[Path]:
    """n markdown files of the same size, four chunks each."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = root / f"note{i:02d}.md"
        path.write_text(f"# Note {i:02d}\n\n" + "\n\n".join([PARAGRAPH] * 3) + "\n")
        paths.append(path)
    return paths


def run_collecting(store: Store, client: OllamaClient, root: Path, **options) -> list[Progress]:
    seen: list[Progress] = []
    Ingester(store, client, **options).run([root], on_progress=seen.append)
    return seen


def test_unchanged_files_count_as_done_before_the_first_embedding(
    tmp_path, store, client, fake_ollama
):
    paths = write_equal_files(tmp_path / "notes", 10)
    Ingester(store, client).run([tmp_path / "notes"])
    paths[0].write_text("# Note 00\n\nRewritten: the winch is fine.\n")  # first in the walk
    seen = run_collecting(store, client, tmp_path / "notes")
    first_work = next(p for p in seen if p.chunks_total)
    assert first_work.files_done == 9 and first_work.chunks_done == 0
    assert seen[0] == Progress(0, 10, 0, "", 0, None)  # the totals, before any file is read
    assert seen[-1].files_done == 10 and seen[-1].chunks_done == seen[-1].chunks_total == 1


def test_chunks_are_reported_as_each_batch_comes_back(tmp_path, store, client):
    write_equal_files(tmp_path / "notes", 4)
    seen = run_collecting(store, client, tmp_path / "notes", batch_size=2)
    done = sorted({p.chunks_done for p in seen})
    assert done == list(range(0, seen[-1].chunks_total + 1, 2))
    assert seen[-1].chunks_done == store.counts()[1]


def test_the_first_requests_are_small_so_progress_moves_early(tmp_path, store, client, fake_ollama):
    write_equal_files(tmp_path / "notes", 40)  # 160 chunks
    seen = run_collecting(store, client, tmp_path / "notes")
    sizes = [len(body["input"]) for body in fake_ollama.bodies("/api/embed")]  # as they came
    assert FIRST_BATCH == 8 and client.batch_size == 64 and store.counts()[1] == 160
    assert sorted(sizes) == [8, 16, 32, 40, 64]  # 8, 16, 32, 64 sent in turn, then the rest
    assert min(p.chunks_done for p in seen if p.chunks_done) == FIRST_BATCH


def test_the_whole_run_is_estimated_in_chunks_from_the_bytes_read(tmp_path, store, client):
    write_equal_files(tmp_path / "notes", 6)
    seen = run_collecting(store, client, tmp_path / "notes")
    chunks = store.counts()[1]
    first_read = next(p for p in seen if p.chunks_total)
    assert first_read.chunks_total == chunks / 6
    assert first_read.chunks_expected == pytest.approx(chunks)  # one file: all six known
    assert all(p.chunks_expected == chunks for p in seen if p.chunks_total == chunks)


@pytest.mark.parametrize("method", [Index.add, Index.watch])
def test_index_add_and_watch_have_real_keyword_arguments(method):
    parameters = inspect.signature(method).parameters
    expected = {"include", "exclude", "prune", "reembed", "chunk_size", "overlap"}
    expected |= {"max_file_size", "batch_size", "concurrency", "include_outputs", "on_wait"}
    expected |= {"progress", "on_progress"} if method is Index.add else {"interval", "settle"}
    assert expected <= set(parameters)
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    assert all(p.kind is p.KEYWORD_ONLY for name, p in parameters.items() if name in expected)
    assert parse_size(parameters["max_file_size"].default) == DEFAULT_MAX_FILE_SIZE
    assert parameters["concurrency"].default == DEFAULT_CONCURRENCY
    assert "max_file_size" in (Index.add.__doc__ or "")  # and watch points to add's


def test_index_add_refuses_an_unknown_keyword(tmp_path, fake_ollama):
    with Index(tmp_path / "i.db", host=fake_ollama.url) as index, pytest.raises(TypeError):
        index.add(tmp_path, chunksize=800)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("progress", [True, False])
def test_index_add_draws_a_progress_line_unless_asked_not_to(
    tmp_path, fake_ollama, monkeypatch, progress
):
    write_equal_files(tmp_path / "notes", 3)
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    seen: list[Progress] = []
    with Index(tmp_path / "i.db", host=fake_ollama.url) as index:
        summary = index.add(
            tmp_path / "notes", progress=progress, on_progress=seen.append, max_file_size="1MB"
        )
    assert summary.new == 3 and seen[-1].files_done == 3
    assert ("3/3 files" in screen.getvalue()) is progress


# -- through a pseudo-terminal -----------------------------------------------------


def index_on_a_terminal(root: Path, db: Path, host: str) -> list[str]:
    """Run `ragkit index` with stderr on a pty; the lines it drew, one per redraw."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ragkit_command("index", str(root), "--db", str(db)),
        env=ragkit_env(host),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    screen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            screen += data
    finally:
        os.close(master)
        assert proc.wait(timeout=60) == 0
    return [part.strip() for part in screen.decode().split("\r") if part.strip()]


def test_ragkit_index_draws_from_the_start_and_while_the_model_loads(tmp_path, fake_ollama):
    paths = write_equal_files(tmp_path / "notes", 10)
    db = tmp_path / "i.db"
    fake_ollama.load_slowly(3.0)  # nothing comes back for three seconds
    frames = index_on_a_terminal(tmp_path / "notes", db, fake_ollama.url)
    waiting = [f for f in frames if "waiting for Ollama" in f]
    assert len({f.split()[0] for f in waiting}) >= 2  # redrawn, its clock moving, meanwhile
    assert all(" 0/10 files" in f for f in waiting)
    assert "10/10 files  40/40 chunks" in frames[-1] and "chunks/s" in frames[-1]

    paths[4].write_text("# Note 04\n\nRewritten.\n")
    fake_ollama.hang_next(2.0, path="/api/embed")
    frames = index_on_a_terminal(tmp_path / "notes", db, fake_ollama.url)
    waiting = [f for f in frames if "waiting for Ollama" in f]
    assert waiting and all(" 9/10 files  0/1 chunks" in f for f in waiting)

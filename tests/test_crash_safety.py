"""Crash safety: `ragkit index` killed with SIGKILL at random moments never leaves
a broken or half-written index, and the next run finishes the job exactly.

Each trial edits, adds and deletes a few files, sometimes starts from a fresh
database, starts `python -m ragkit index` over a few hundred small files against
the fake Ollama (slowed down so a run takes about a second or two), kills it at a
random moment, checks the database (`index_checks.check_index`), runs the index
to completion and compares it with a clean run over the same files.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from ragkit.index import Index
from tests.index_checks import (
    check_index,
    chunk_set,
    marked_text,
    ragkit_command,
    ragkit_env,
    run_ragkit,
    snapshot,
    write_marked_corpus,
)

SEED = 1234
FILES = 300
LATENCY = 0.004  # seconds per embedded text: a full run lasts about 1-2 s


class Corpus:
    """The files on disk and every text any of them ever held, by content hash."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root, self.rng = root, rng
        self.files = write_marked_corpus(root, FILES, rng)
        (root / "binary.txt").write_bytes(b"\x00\x01 not text \x00" * 40)  # always fails
        self.versions = {_digest(text): text for text in self.files.values()}
        self.edits = 0

    def mutate(self) -> None:
        """Rewrite a few files, delete one, add one."""
        rng = self.rng
        for path in rng.sample(sorted(self.files), 5):
            self.edits += 1
            self._write(path, marked_text(rng, f"edit{self.edits}v1", rng.randint(60, 3500)))
        gone = rng.choice(sorted(self.files))
        Path(gone).unlink()
        del self.files[gone]
        self.edits += 1
        new = str((self.root / f"new{self.edits}.md").resolve())
        self._write(new, marked_text(rng, f"added{self.edits}v1", rng.randint(60, 3500)))

    def _write(self, path: str, text: str) -> None:
        Path(path).write_text(text, encoding="utf-8")
        self.files[path] = text
        self.versions[_digest(text)] = text


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _remove_index(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(f"{db}.vectors", ignore_errors=True)


def _full_run_seconds(root: Path, scratch: Path, fake) -> float:
    began = time.monotonic()
    result = run_ragkit(["index", str(root), "--db", str(scratch)], fake.url)
    assert result.returncode == 3, result.stderr  # 3: binary.txt is reported, as it should be
    return time.monotonic() - began


def _kill_at_random(root: Path, db: Path, fake, after: float) -> None:
    proc = subprocess.Popen(
        ragkit_command("index", str(root), "--db", str(db)),
        env=ragkit_env(fake.url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def _check_killed(db: Path, versions: dict[str, str]) -> None:
    if not db.exists():
        return  # killed before the database was created
    with sqlite3.connect(db, timeout=30) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "meta" not in tables:
        assert tables == set(), f"killed mid-migration left {tables}"  # all or nothing
        return
    check_index(db, versions)


def run_trials(tmp_path: Path, fake, trials: int) -> None:
    rng = random.Random(SEED)
    corpus = Corpus(tmp_path / "corpus", rng)
    db = tmp_path / "index.db"
    fake.per_text_latency = LATENCY
    window = _full_run_seconds(corpus.root, tmp_path / "timing.db", fake)
    for trial in range(trials):
        if trial:
            corpus.mutate()
        if rng.random() < 0.3:
            _remove_index(db)
        fake.per_text_latency = LATENCY
        _kill_at_random(corpus.root, db, fake, after=rng.uniform(0, window))
        _check_killed(db, corpus.versions)

        fake.per_text_latency = 0
        result = run_ragkit(["index", str(corpus.root), "--db", str(db)], fake.url)
        assert result.returncode == 3, result.stderr
        assert "locked" not in result.stderr and "Traceback" not in result.stderr
        check_index(db, corpus.versions)
        clean = tmp_path / f"clean{trial}.db"
        with Index(clean, host=fake.url) as index:
            index.add(corpus.root)
        assert chunk_set(db) == chunk_set(clean), f"trial {trial}: rerun differs from clean"
        assert snapshot(db)[0] == snapshot(clean)[0]
        _remove_index(clean)


def test_killed_index_runs_leave_whole_documents_and_rerun_like_clean(tmp_path, fake_ollama):
    run_trials(tmp_path, fake_ollama, trials=3)


@pytest.mark.soak
@pytest.mark.timeout(600)
def test_soak_twenty_random_kills(tmp_path, fake_ollama):
    run_trials(tmp_path, fake_ollama, trials=20)

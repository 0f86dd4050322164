"""Ctrl-C and SIGTERM on real `ragkit` processes against a slow fake Ollama.

The fake holds requests for minutes; a child that ends within `BOUND` seconds has
therefore not waited for them. `BOUND` is a bound on waiting, far below the hang,
not a speed requirement.
"""

from __future__ import annotations

import hashlib
import random
import signal
import sqlite3
import subprocess
import threading
import time
from contextlib import suppress
from pathlib import Path

import pytest

from tests.index_checks import check_index, ragkit_command, ragkit_env, write_marked_corpus

BOUND = 20.0  # seconds; the fake holds each request for 60 s per text (minutes per batch)
HOLD = 60.0  # per-text latency once the fake turns slow
SIGNALS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]


class Child:
    """A `ragkit` process whose stderr is read as it comes."""

    def __init__(self, args: list[str], host: str) -> None:
        self.proc = subprocess.Popen(
            ragkit_command(*args),
            env=ragkit_env(host),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            # A shell without job control starts background jobs with SIGINT ignored, and
            # children inherit that (CI may run us so): give the child the usual handler.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: list[str] = []
        self.said = threading.Event()  # set once stderr has a line
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            self.said.set()

    def signal(self, signum: int) -> None:
        with suppress(ProcessLookupError):
            self.proc.send_signal(signum)

    def wait(self) -> tuple[int, str]:
        """The exit code and stderr; fails if the child is still running after BOUND."""
        try:
            code = self.proc.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"ragkit was still running {BOUND:g}s after the signal")
        self._reader.join(timeout=5)
        return code, "".join(self.lines)


def wait_for(condition, what: str, limit: float = 60.0) -> None:
    """Poll until `condition()`; a bound on waiting for the child to get there."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def stored_documents(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    except sqlite3.Error:  # not created or migrated yet
        return 0


def corpus(root: Path) -> dict[str, str]:
    """400 small files (about 800 chunks, a dozen batches), keyed by content hash."""
    written = write_marked_corpus(root, 400, random.Random(11))
    return {hashlib.sha256(text.encode()).hexdigest(): text for text in written.values()}


def index_until_requests_hang(tmp_path: Path, fake) -> tuple[Child, Path, dict[str, str]]:
    """Start `ragkit index`; once some documents are stored, make the fake hold every
    new request, and return when one such request is in flight."""
    versions, db = corpus(tmp_path / "notes"), tmp_path / "index.db"
    fake.per_text_latency = 0.02
    child = Child(["index", str(tmp_path / "notes"), "--db", str(db)], fake.url)
    wait_for(lambda: stored_documents(db) >= 3, "the first documents")
    sent = fake.count("/api/embed")
    fake.per_text_latency = HOLD
    wait_for(lambda: fake.count("/api/embed") > sent and fake.active_embeds, "a held request")
    assert child.proc.poll() is None, "the run finished before a request was held"
    return child, db, versions


@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_index_ends_it_at_once_keeping_whole_documents(
    tmp_path, fake_ollama, signum, code, word
):
    child, db, versions = index_until_requests_hang(tmp_path, fake_ollama)
    stored = stored_documents(db)
    child.signal(signum)
    exit_code, err = child.wait()
    assert exit_code == code and "Traceback" not in err
    assert f"{word}: what was already stored stays in the index" in err
    assert fake_ollama.active_embeds  # the held requests were abandoned, not awaited
    assert stored_documents(db) >= stored
    check_index(db, versions)  # every stored document has exactly its chunks


def test_a_second_ctrl_c_while_stopping_is_no_traceback(tmp_path, fake_ollama):
    child, db, versions = index_until_requests_hang(tmp_path, fake_ollama)
    child.signal(signal.SIGINT)
    child.said.wait(BOUND)  # "interrupted" is printed: the run is on its way out
    child.signal(signal.SIGINT)
    exit_code, err = child.wait()
    # In its last moments Python restores the default handlers: a signal then ends the
    # process by itself (-2 here), which a shell reports as 130 too.
    assert exit_code in (130, -signal.SIGINT)
    assert "Traceback" not in err and "interrupted" in err
    check_index(db, versions)


def test_an_error_ends_the_run_without_waiting_for_requests_in_flight(tmp_path, fake_ollama):
    versions, db = corpus(tmp_path / "notes"), tmp_path / "index.db"
    fake_ollama.per_text_latency = HOLD  # the first two requests are held...
    fake_ollama.fail_after(2, status=500, path="/api/embed")  # ...the third fails at once
    child = Child(["index", str(tmp_path / "notes"), "--db", str(db)], fake_ollama.url)
    exit_code, err = child.wait()
    assert exit_code == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("Error: Ollama error (HTTP 500)")
    wait_for(lambda: fake_ollama.active_embeds == 2, "the held requests", limit=10)
    check_index(db, versions)


@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", ["search", "ask"])
def test_a_signal_while_waiting_for_an_answer_ends_search_and_ask(
    corpus_db, fake, command, signum, code, word
):
    path = "/api/embed" if command == "search" else "/api/chat"
    fake.hang_next(HOLD, path=path)
    child = Child([command, "Where does the dome park?", "--db", str(corpus_db)], fake.url)
    wait_for(lambda: fake.count(path) == 1, f"the {command} request")
    time.sleep(0.1)  # the request is being sent; the child waits for the answer
    child.signal(signum)
    exit_code, err = child.wait()
    assert exit_code == code and "Traceback" not in err and word in err

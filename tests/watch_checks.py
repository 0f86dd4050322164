"""Helpers for the watcher tests: a real `ragkit watch` child whose JSON events are read
as they come, and the check that its index equals a fresh `ragkit index` of the folder.

    with Watching(root, db, fake.url) as child:
        (root / "a.md").write_text("...")
        expect_in_step(child, db, root, clean_fake, tmp_path)   # bounded wait, then equality
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from contextlib import suppress
from pathlib import Path

import pytest

from ragkit.index import Index
from tests.index_checks import chunk_set, connect, ragkit_command, ragkit_env

BOUND = 60.0  # seconds: a bound on waiting for the child, far above what it needs
SETTLE = "0.3"  # seconds a path must look the same before the child applies it


class Watching:
    """`ragkit watch FOLDER --json` as a child process."""

    def __init__(self, folder: Path, db: Path, host: str, *extra: str) -> None:
        args = ["watch", str(folder), "--db", str(db), "--json", "--settle", SETTLE, *extra]
        self.proc = subprocess.Popen(
            ragkit_command(*args),
            env=ragkit_env(host),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.events: list[dict] = []
        self.errors: list[str] = []
        self._threads = [
            threading.Thread(target=self._read_events, daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_events(self) -> None:
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def _read_errors(self) -> None:
        for line in self.proc.stderr:
            self.errors.append(line)

    def __enter__(self) -> Watching:
        self.wait_for(lambda: self.kinds().count("watching"), "the watcher to start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def paths(self) -> list[str]:
        return [event["path"] for event in self.events]

    def kinds(self) -> list[str]:
        return [event["kind"] for event in self.events]

    def wait_for(self, condition, what: str, limit: float = BOUND) -> None:
        """Poll `condition()` until true; fail after `limit` seconds or if the child died."""
        deadline = time.monotonic() + limit
        while not condition():
            if self.proc.poll() is not None:
                pytest.fail(f"ragkit watch ended ({self.proc.returncode}): {''.join(self.errors)}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; events {self.events[-5:]}")
            time.sleep(0.05)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the child; its exit code (fails if it does not end within BOUND)."""
        with suppress(ProcessLookupError):
            self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"ragkit watch was still running {BOUND:g}s after the signal")
        for thread in self._threads:
            thread.join(timeout=5)
        return code


def documents(db: Path) -> list[tuple]:
    """(path, hash, size, mtime, type, title) of every document, by path."""
    with connect(db) as conn:
        return conn.execute(
            "SELECT path, hash, size, mtime, type, title FROM documents ORDER BY path"
        ).fetchall()


def fresh_index(folder: Path, db: Path, host: str, *options: str) -> tuple[list, list]:
    """(documents, chunk_set) of a fresh index of `folder` built at `db`."""
    for stale in db.parent.glob(db.name + "*"):
        if stale.is_dir():
            for file in stale.iterdir():
                file.unlink()
            stale.rmdir()
        else:
            stale.unlink()
    with Index(db, host=host) as index:
        index.add(folder, progress=False)
    return documents(db), chunk_set(db)


def state(db: Path) -> tuple[list, list]:
    try:
        return documents(db), chunk_set(db)
    except Exception:  # noqa: BLE001 - not created yet, or mid-migration: not in step
        return [], []


def new_chunks(before: list[tuple], after: list[tuple]) -> int:
    """Chunks of `after` whose content (by document hash) no document of `before` had:
    what a watcher must embed to get from one to the other (a rename embeds nothing)."""
    known = {row[1] for row in before}
    return sum(1 for row in after if row[1] not in known)

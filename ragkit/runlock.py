"""One indexing run per index at a time, across processes: an advisory lock on
`<db>.lock` (`fcntl.flock`), which the OS releases when its holder ends, however
it ends (Ctrl-C, SIGKILL), so a stale lock file never blocks anyone.

Without it two `ragkit index` runs on one database both embed every changed file;
with it the second waits for the first, then finds those files unchanged.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

WAIT_NOTE = "another `ragkit index` is running on this index: waiting for it to finish"


class _Held(threading.local):
    """The lock files this thread holds: a run started inside a run goes straight in."""

    def __init__(self) -> None:
        self.paths: set[str] = set()


_held = _Held()


def lock_path(db: str | os.PathLike[str]) -> Path:
    """The lock file of an index database: `<db>.lock`, next to it."""
    return Path(f"{os.fspath(db)}.lock")


@contextmanager
def exclusive_run(
    db: str | os.PathLike[str], on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the index's run lock for the block. If another run holds it, tell
    `on_wait` (once, `WAIT_NOTE`) and wait; Ctrl-C and SIGTERM still end the wait."""
    path = os.path.realpath(lock_path(db))
    if path in _held.paths:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(WAIT_NOTE)
            fcntl.flock(fd, fcntl.LOCK_EX)
        _held.paths.add(path)
        try:
            yield
        finally:
            _held.paths.discard(path)
    finally:
        os.close(fd)  # releases the lock

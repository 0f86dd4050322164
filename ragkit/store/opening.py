"""How `Store` creates, checks and opens an index file without harming anyone else's.

A new file and every missing folder above it are made user-only whatever the
umask. An existing file's schema is read before anything is written or switched
to WAL (`probe`), so another program's SQLite file is refused byte for byte
unchanged. A file this process cannot write is opened read-only (`open_read_only`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..errors import StoreError
from .schema import SCHEMA_VERSION

NOT_AN_INDEX_HINT = "Point --db or RAGKIT_DB at an index built by `ragkit index`"
IMMUTABLE = "mode=ro&immutable=1"  # reads without locks or -shm: only for files nobody writes


def create_private_file(path: Path) -> None:
    """Create the missing folders (0700) and an empty database file (0600) before SQLite
    opens it."""
    try:
        _create_private_folders(path.parent)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process created it first
    except OSError as exc:
        raise StoreError(
            path,
            f"cannot be created ({exc.strerror})",
            hint="Check that the folder is writable, or pass another --db",
        ) from exc


def _create_private_folders(folder: Path) -> None:
    """Create `folder` and every missing folder above it user-only, whatever the umask
    (`mkdir(parents=True)` gives the upper ones the umask's mode: 0777 under umask 000)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for each in reversed(missing):
        try:
            os.mkdir(each, 0o700)
        except FileExistsError:
            continue  # another process made it: its mode is its own
        os.chmod(each, 0o700)  # a umask such as 0277 takes bits away from mkdir's mode


def writable(path: Path) -> bool:
    """Whether this process may write the file and, for SQLite's -wal and -shm, its folder."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def read_only_error(path: Path) -> StoreError:
    """What write access a write needs, naming what is missing."""
    missing = [
        what
        for what, allowed in (
            ("the file", os.access(path, os.W_OK)),
            (f"its folder {path.parent}", os.access(path.parent, os.W_OK | os.X_OK)),
        )
        if not allowed
    ]
    return StoreError(
        path,
        f"is read-only here: writing it needs write access to {' and '.join(missing)}"
        f" (SQLite keeps {path.name}-wal and {path.name}-shm beside it)",
        hint="Make them writable for your user (chmod u+w), or pass another --db",
    )


def connect(path: Path, busy_ms: int, mode: str | None = None) -> sqlite3.Connection:
    """A connection to the file that waits up to `busy_ms` for a lock; `mode` holds URI
    parameters such as "mode=ro"."""
    conn = sqlite3.connect(
        f"{path.as_uri()}?{mode}" if mode else path,
        timeout=busy_ms / 1000,
        isolation_level=None,
        check_same_thread=False,
        uri=mode is not None,
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    return conn


def probe(path: Path, busy_ms: int) -> int:
    """The schema version (0: an empty file), read before anything is written or
    switched to WAL, so that a file that is not a ragkit index is refused unchanged."""
    conn = connect(path, busy_ms, _reading_mode(path))
    try:
        return schema_version(conn, path)
    finally:
        conn.close()


def _reading_mode(path: Path) -> str:
    """URI parameters that read `path` without writing a byte, not even -wal and -shm
    files. With no -wal beside it, no connection has the file open in WAL mode, so it is
    whole and is read as immutable; else read-only, through SQLite's locks.

    The file is never opened outside SQLite: closing such a descriptor would drop every
    POSIX lock this process's connections hold on it."""
    return IMMUTABLE if not Path(f"{path}-wal").exists() else "mode=ro"


def open_read_only(path: Path, busy_ms: int) -> sqlite3.Connection:
    """Read-only; in WAL mode without a writable folder, SQLite cannot create the
    -shm file a reader needs, and only an immutable connection reads the file."""
    conn = connect(path, busy_ms, "mode=ro")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        conn = connect(path, busy_ms, IMMUTABLE)
    return conn


def schema_version(conn: sqlite3.Connection, path: Path) -> int:
    """0 for an empty file; refuses SQLite files that some other program made, and
    indexes newer than this ragkit."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    row = None
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None and tables:
        raise StoreError(
            path, "is an SQLite database, but not a ragkit index", hint=NOT_AN_INDEX_HINT
        )
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise StoreError(
            path,
            f"has schema version {version}; this ragkit knows up to {SCHEMA_VERSION}",
            hint="Upgrade ragkit (`pip install -U ragkit`)",
        )
    return version

"""The index file and its folder: other programs' files are refused unchanged, a read-only
index is searchable, new folders are private whatever the umask."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from ragkit.index import Index
from tests.index_checks import ragkit_command, ragkit_env, run_ragkit

NOT_PRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"]


def foreign_database(path: Path, journal_mode: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA journal_mode = {journal_mode}")
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO photos (name) VALUES ('beach.jpg')")
    conn.close()


def folder_state(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def commands(db: Path, notes: Path) -> dict[str, list[str]]:
    return {
        "index": ["index", str(notes), "--db", str(db)],
        "search": ["search", "beach", "--db", str(db)],
        "keyword search": ["search", "beach", "--db", str(db), "--mode", "keyword"],
        "status": ["status", "--db", str(db)],
    }


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "beach.md").write_text("# Beach\n\nThe dome parks at azimuth 180 on beach days.\n")
    return folder


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
@pytest.mark.parametrize("command", ["index", "search", "keyword search", "status"])
def test_another_programs_sqlite_file_is_refused_unchanged(
    tmp_path, notes, fake, journal_mode, command
):
    folder = tmp_path / "photos"
    folder.mkdir()
    db = folder / "photos.sqlite"
    foreign_database(db, journal_mode)
    before = folder_state(folder)
    assert list(before) == ["photos.sqlite"]  # SQLite removed its -wal and -shm on close
    result = run_ragkit(commands(db, notes)[command], fake.url)
    assert result.returncode == 1, result.stderr
    assert "is an SQLite database, but not a ragkit index" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert folder_state(folder) == before  # header bytes 18-19 too: still not WAL


@pytest.mark.parametrize("command", ["search", "keyword search", "status"])
def test_reading_an_empty_file_says_so_and_writes_nothing(tmp_path, notes, fake, command):
    folder = tmp_path / "empty"
    folder.mkdir()
    db = folder / "index.db"
    db.touch()
    result = run_ragkit(commands(db, notes)[command], fake.url)
    assert result.returncode == 1, result.stderr
    assert "is empty, not a ragkit index yet. Build it with `ragkit index FOLDER`" in result.stderr
    assert folder_state(folder) == {"index.db": b""}


@pytest.mark.parametrize("way", ["ragkit index", "Index.add"])
def test_indexing_fills_an_empty_file(tmp_path, notes, fake, way):
    db = tmp_path / "index.db"
    db.touch()  # say, left by a run killed while it created the file
    if way == "ragkit index":
        assert run_ragkit(commands(db, notes)["index"], fake.url).returncode == 0
    else:
        with Index(db, host=fake.url) as index:
            assert index.add(notes).new == 1
    assert "beach.md" in run_ragkit(commands(db, notes)["keyword search"], fake.url).stdout


def test_missing_folders_are_all_created_private_under_umask_000(tmp_path, notes, fake):
    db = tmp_path / "new" / "a" / "b" / "x.db"
    result = subprocess.run(
        ragkit_command(*commands(db, notes)["index"]),
        env=ragkit_env(fake.url),
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(0o000),
    )
    assert result.returncode == 0, result.stderr
    for folder in (tmp_path / "new", tmp_path / "new" / "a", tmp_path / "new" / "a" / "b"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


# -- a read-only index ------------------------------------------------------------


def unprivileged(probe: Path) -> list[str]:
    """A command prefix that runs without root's power to write what is read-only; skips
    the test where that cannot be done."""
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux) to drop root's file-access override")
    if os.geteuid() != 0:
        return []
    check = subprocess.run([*NOT_PRIVILEGED, "--", "sh", "-c", f"echo x >> '{probe}'"])
    if check.returncode == 0:
        pytest.skip("setpriv could not drop CAP_DAC_OVERRIDE here")
    return [*NOT_PRIVILEGED, "--"]


def run_unprivileged(prefix: list[str], args: list[str], host: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, *ragkit_command(*args)], env=ragkit_env(host), capture_output=True, text=True
    )


def read_only_index(tmp_path: Path, notes: Path, host: str, folder_too: bool, sidecar: bool):
    folder = tmp_path / "shared"
    db = folder / "index.db"
    with Index(db, host=host) as index:
        index.add(notes)
    if not sidecar:
        shutil.rmtree(f"{db}.vectors")
    for path in [db, *Path(f"{db}.vectors").glob("*")]:
        path.chmod(0o444)
    for path in [Path(f"{db}.vectors")] + ([folder] if folder_too else []):
        if path.exists():
            path.chmod(0o555)
    return db


@pytest.mark.parametrize("sidecar", [True, False], ids=["sidecar", "no sidecar"])
@pytest.mark.parametrize("folder_too", [True, False], ids=["0444 in 0555", "0444 file"])
def test_a_read_only_index_can_be_searched_and_shown(tmp_path, notes, fake, folder_too, sidecar):
    db = read_only_index(tmp_path, notes, fake.url, folder_too, sidecar)
    prefix = unprivileged(db)
    before = db.read_bytes()
    files = sorted(p.name for p in db.parent.iterdir())
    try:
        for mode in ("hybrid", "vector", "keyword"):
            args = ["search", "azimuth", "--db", str(db), "--mode", mode]
            result = run_unprivileged(prefix, args, fake.url)
            assert result.returncode == 0, result.stderr
            assert "beach.md" in result.stdout and "azimuth 180" in result.stdout
        status = run_unprivileged(prefix, ["status", "--db", str(db)], fake.url)
        assert status.returncode == 0, status.stderr
        assert "documents  1" in status.stdout
        assert db.read_bytes() == before
        if folder_too:  # nothing new beside it (no -wal, -shm or sidecar: it stays in memory)
            assert sorted(p.name for p in db.parent.iterdir()) == files
    finally:
        db.parent.chmod(0o755)


@pytest.mark.parametrize("folder_too", [True, False], ids=["0444 in 0555", "0444 file"])
def test_indexing_a_read_only_index_says_what_write_access_it_needs(
    tmp_path, notes, fake, folder_too
):
    db = read_only_index(tmp_path, notes, fake.url, folder_too, sidecar=True)
    prefix = unprivileged(db)
    before = db.read_bytes()
    try:
        result = run_unprivileged(prefix, ["index", str(notes), "--db", str(db)], fake.url)
    finally:
        db.parent.chmod(0o755)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    needed = "the file and its folder" if folder_too else "the file (SQLite"
    assert f"is read-only here: writing it needs write access to {needed}" in result.stderr
    assert "chmod u+w" in result.stderr and db.read_bytes() == before

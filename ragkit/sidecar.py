"""The files of the vector sidecar folder, `<db>.vectors/`: names, atomic writes,
and removing what older generations and dead writers left behind.

Every file is named by the index's random id and generation and a part
(`3f9c…-g42.ids.npy`, `….f32.npy`, `….center.npy`, `….b1.npy`) and never changes
once in place: it is written under a temporary name holding the writer's host and
pid, then `os.replace`d, so a reader maps either nothing or a whole file. What the
files hold, and how they are checked, is `vectors.py`'s concern.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np

SIDECAR_SUFFIX = ".vectors"
STALE_TEMP_SECONDS = 3600  # temp files this old are a crashed writer's, whoever wrote them
_SIDECAR_FILE = re.compile(r"(?:([0-9a-f]+)-)?g(\d+)\.(?:ids|f32|center|b1)\.npy")
_TEMP_FILE = re.compile(r"\..+\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.\w+\.tmp")


def sidecar_dir(db_path: str | os.PathLike[str]) -> Path:
    """`index.db` -> `index.db.vectors`."""
    return Path(os.fspath(db_path) + SIDECAR_SUFFIX)


def sidecar_bytes(db_path: str | os.PathLike[str]) -> int:
    """Bytes of the files in the sidecar folder of `db_path` (0 when there is none)."""
    try:
        return sum(entry.stat().st_size for entry in os.scandir(sidecar_dir(db_path)))
    except OSError:
        return 0


def part_path(folder: Path, index_id: str, generation: int, part: str) -> Path:
    """The file of one part of one generation."""
    return folder / f"{index_id}-g{generation}.{part}.npy"


def older_generations(folder: Path, index_id: str, generation: int) -> list[int]:
    """Generations of this index older than `generation` with files in `folder`,
    newest first."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = (_SIDECAR_FILE.fullmatch(name) for name in names)
    older = {int(m[2]) for m in found if m and m[1] == index_id and int(m[2]) < generation}
    return sorted(older, reverse=True)


def remove_older(folder: Path, index_id: str, generation: int) -> None:
    """Delete older generations' and other indexes' files, and dead writers' temporary
    files (readers that mapped a deleted file keep its pages). Never raises."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    cutoff = time.time() - STALE_TEMP_SECONDS
    for entry in entries:
        match = _SIDECAR_FILE.fullmatch(entry.name)
        try:
            if match and (match.group(1) != index_id or int(match.group(2)) < generation):
                os.unlink(entry.path)
            elif entry.name.endswith(".tmp") and _left_over(entry.name, entry.stat(), cutoff):
                os.unlink(entry.path)
        except OSError:
            pass  # gone already, or in use where that matters


def save_atomic(path: Path, array: np.ndarray) -> None:
    """Write `array` as `.npy` under a temporary name in the same folder, then rename."""
    with atomic_file(path) as handle:
        np.save(handle, array, allow_pickle=False)


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file opened for writing under a temporary name that holds this host and pid
    (so a later writer can tell when the process that left it is dead), renamed to
    `path` when the block ends without error and removed when it fails."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    prefix = f".{path.name}.{_host()}.{os.getpid()}."
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def write_npy_header(handle: BinaryIO, shape: tuple[int, ...], dtype: str) -> None:
    """The `.npy` header of a C-ordered array, for a body written after it in blocks."""
    header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(handle, header)


@lru_cache(maxsize=1)
def _host() -> str:
    """This machine's name as it goes into temporary file names (letters, digits, -)."""
    import platform

    return re.sub(r"[^A-Za-z0-9-]", "-", platform.node())[:64] or "host"


def _left_over(name: str, stat: os.stat_result, cutoff: float) -> bool:
    """Whether a temporary file is a dead writer's: named for a process of this host
    that is gone. A file of another host (a shared folder), of a live process or of
    this one, or with an older name, only once it is older than `cutoff`."""
    match = _TEMP_FILE.fullmatch(name)
    if match and match["host"] == _host() and os.name == "posix":
        pid = int(match["pid"])
        if 0 < pid != os.getpid() and not _running(pid):
            return True
    return stat.st_mtime < cutoff


def _running(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 only asks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, but belongs to someone else
    return True

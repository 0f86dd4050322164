"""The index's embeddings as one L2-normalized float32 matrix, cached on disk.

    >>> ids, matrix = VectorCache(store).load()    # (n,) int64, (n, dim) float32
    >>> scores = matrix @ query_vector             # cosine similarity, one product
    >>> ids[scores.argmax()]

The matrix is built from one bulk read of the store's blobs and kept in a
sidecar folder next to the database, `<db>.vectors/`, as immutable `.npy`
files named by the index's random id and generation (`3f9c…-g42.ids.npy`,
`3f9c…-g42.f32.npy`), an exact key even for an index rebuilt at the same path.
A process whose key matches maps them with `np.load(mmap_mode="r")`: no
copy, no per-row decoding, pages shared with every other reader. A stale,
missing or damaged sidecar is rebuilt; files are written under temporary names
and `os.replace`d into place (ids first, matrix last), so a reader never sees
half a file, and older generations are deleted behind them. The sidecar is
only a cache: when it cannot be written, the matrix simply stays in memory.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SIDECAR_SUFFIX = ".vectors"
NORMALIZE_BLOCK_ROWS = 8192  # rows normalized at a time: bounds the temporary memory
STALE_TEMP_SECONDS = 3600  # leftover temp files older than this are from a crashed writer
_SIDECAR_FILE = re.compile(r"(?:([0-9a-f]+)-)?g(\d+)\.(?:ids|f32)\.npy")


def sidecar_dir(db_path: str | os.PathLike[str]) -> Path:
    """`index.db` -> `index.db.vectors`."""
    return Path(os.fspath(db_path) + SIDECAR_SUFFIX)


def normalize_rows(matrix: np.ndarray, *, block: int = NORMALIZE_BLOCK_ROWS) -> np.ndarray:
    """Scale each row of a float32 matrix to unit length, in place; zero rows stay zero.

    Works a block of rows at a time, so the only temporary is one block's norms.
    """
    for start in range(0, matrix.shape[0], block):
        rows = matrix[start : start + block]
        norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
        norms[norms == 0] = 1.0
        rows /= norms[:, None]
    return matrix


class VectorCache:
    """The normalized embedding matrix of a `Store`, reloaded only when the index changed.

    >>> cache = VectorCache(store)
    >>> ids, matrix = cache.load()      # maps the sidecar, or rebuilds it
    >>> cache.load()[1] is matrix       # same generation: nothing is read again
    True
    """

    def __init__(self, store) -> None:
        self.store = store
        self.folder = sidecar_dir(store.path)
        self.index_id = store.index_id
        self.generation: int | None = None  # generation of the loaded matrix
        self.rebuilds = 0  # how many times this cache rebuilt from the store (tests, benchmarks)
        self._ids = np.zeros(0, np.int64)
        self._matrix = np.zeros((0, 0), np.float32)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        shape = "not loaded" if self.generation is None else f"{self._matrix.shape}"
        return f"<VectorCache {self.folder} generation={self.generation} {shape}>"

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """`(ids, matrix)` for the store's current generation: int64 `(n,)`, float32 `(n, dim)`.

        Rows are unit length (or zero); both arrays are read-only when mapped.
        """
        with self._lock:
            current = self.store.generation
            if self.generation != current:
                loaded = self._open(current)
                if loaded is None:
                    self._rebuild()
                else:
                    self._ids, self._matrix = loaded
                    self.generation = current
            return self._ids, self._matrix

    def refresh(self) -> None:
        """Rebuild the matrix and its sidecar from the store now, so the next search starts
        fast. Ingest calls this after a run that changed the index.

        It rebuilds even when files of the current generation exist, so a
        sidecar written by a crashed run is never trusted after a write.
        """
        with self._lock:
            self._rebuild()

    # -- the sidecar -------------------------------------------------------

    def _paths(self, generation: int) -> tuple[Path, Path]:
        key = f"{self.index_id}-g{generation}"
        return self.folder / f"{key}.ids.npy", self.folder / f"{key}.f32.npy"

    def _open(self, generation: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Map the sidecar of `generation`; None when it is missing or does not add up."""
        ids_path, matrix_path = self._paths(generation)
        try:
            ids = np.load(ids_path, mmap_mode="r", allow_pickle=False)
            matrix = np.load(matrix_path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # missing, truncated or not an .npy file: rebuild
        if not self._plausible(ids, matrix):
            return None
        return np.asarray(ids), np.asarray(matrix)  # plain ndarray views of the maps

    def _plausible(self, ids: np.ndarray, matrix: np.ndarray) -> bool:
        """Shapes and types agree with each other and with the store's dimension."""
        dim = self.store.dim
        return (
            ids.dtype == np.int64
            and ids.ndim == 1
            and matrix.dtype == np.float32
            and matrix.ndim == 2
            and matrix.flags.c_contiguous
            and matrix.shape[0] == ids.shape[0] > 0
            and (dim is None or matrix.shape[1] == dim)
        )

    def _rebuild(self) -> None:
        """Read every embedding once, normalize in place, write the sidecar."""
        generation, ids, matrix = self.store.load_embeddings()
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if not matrix.flags.writeable:
            matrix = matrix.copy()
        normalize_rows(matrix)
        matrix.flags.writeable = ids.flags.writeable = False  # like the mapped arrays
        self.rebuilds += 1
        if ids.size:
            self._write(generation, ids, matrix)
        else:  # nothing to publish; what older generations left is stale
            self._remove_older(generation)
        self._ids, self._matrix, self.generation = ids, matrix, generation

    def _write(self, generation: int, ids: np.ndarray, matrix: np.ndarray) -> None:
        """Publish both files atomically, then remove older generations. Never raises:
        a sidecar that cannot be written only costs the next process a rebuild."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            ids_path, matrix_path = self._paths(generation)
            _save_atomic(ids_path, ids)
            _save_atomic(matrix_path, matrix)
        except OSError:
            return
        self._remove_older(generation)

    def _remove_older(self, generation: int) -> None:
        """Delete older generations and other indexes' files (readers that mapped them
        keep their pages)."""
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        cutoff = time.time() - STALE_TEMP_SECONDS
        for entry in entries:
            match = _SIDECAR_FILE.fullmatch(entry.name)
            try:
                if match and (match.group(1) != self.index_id or int(match.group(2)) < generation):
                    os.unlink(entry.path)
                elif entry.name.endswith(".tmp") and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:
                pass  # gone already, or in use where that matters


def _save_atomic(path: Path, array: np.ndarray) -> None:
    """Write `array` as `.npy` under a temporary name in the same folder, then rename."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise

"""The index's embeddings as one L2-normalized float32 matrix, cached on disk.

    >>> ids, matrix = VectorCache(store).load()    # (n,) int64, (n, dim) float32
    >>> scores = matrix @ query_vector             # cosine similarity, one product
    >>> ids[scores.argmax()]

The matrix is built from one bulk read of the store's blobs and kept in a
sidecar folder next to the database, `<db>.vectors/`, as immutable `.npy`
files named by the index's random id and generation (`3f9c…-g42.ids.npy`,
`3f9c…-g42.f32.npy`), an exact key even for an index rebuilt at the same path.
A process whose key matches maps them with `np.load(mmap_mode="r")`: no
copy, no per-row decoding, pages shared with every other reader. Before it
trusts them it checks them against the store, cheaply (no full read): the count
and range of ids, ids ascending, and SENTINEL_ROWS rows spread over the matrix
against the store's own blobs. A stale, missing, damaged or foreign sidecar is
rebuilt; files are written under temporary names (holding the writer's host and
pid) and `os.replace`d into place (ids first, matrix last), so a reader never
sees half a file, and older generations and dead writers' temporary files are
deleted behind them. The sidecar is only a cache: when it cannot be written, the
matrix simply stays in memory.

For the compressed search path the sidecar also holds binary sign codes of the
rows (`codes.py`): `…-g42.b1.npy`, uint64 `(code words, n)`, one column per row
so a scan reads each word contiguously, and `…-g42.center.npy`, the vector the
codes are centered on. `load_codes()` gives them with the ids and matrix of the
same generation, never another's. They are checked like the matrix (shapes, and
the sentinel rows' codes recomputed) and rebuilt from the matrix alone when
missing, stale or damaged. A rebuild after a write keeps the previous
generation's center and copies the codes of the rows it still has (ids are never
reused), so only new rows are encoded; the center is recomputed when the index
has grown or shrunk by more than CENTER_DRIFT times since.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from .codes import binary_codes, code_words, row_mean

SIDECAR_SUFFIX = ".vectors"
NORMALIZE_BLOCK_ROWS = 8192  # rows normalized at a time: bounds the temporary memory
STALE_TEMP_SECONDS = 3600  # temp files this old are a crashed writer's, whoever wrote them
SENTINEL_ROWS = 8  # rows of a mapped sidecar compared with the store's blobs
# Where the compressed path (retriever.py) starts, measured by bench/search.py
# (2 cores, 768-d): at 100k it takes 0.2x the time of the exact scan with recall@10
# >= 0.99; below it the saving is a few ms and exact results cost nothing.
COMPRESSED_MIN_ROWS = 100_000
CENTER_DRIFT = 2.0  # a kept center is recomputed once the row count changed this much
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


def uses_codes(chunks: int, exact: bool | None = None) -> bool:
    """Whether a search over `chunks` chunks takes the compressed path: `exact=None`
    from COMPRESSED_MIN_ROWS on, `False` always, `True` never."""
    return exact is False or (exact is None and chunks >= COMPRESSED_MIN_ROWS)


def vector_footprint(stats: dict, exact: bool | None = None) -> dict:
    """Which vector search an index gets, and its bytes per chunk resident in a
    searching process (ids, and codes or the float32 rows) and on disk (database and
    sidecar), from `Store.stats()`: for `ragkit status` (which loads no HTTP code)."""
    chunks, dim = stats["chunks"], stats.get("dim") or 0
    compressed = uses_codes(chunks, exact)
    resident = 8 + (code_words(dim) * 8 if compressed else 4 * dim)
    disk = stats["size_bytes"] + sidecar_bytes(stats["path"])
    return {
        "vector_search": "compressed" if compressed else "exact",
        "resident_bytes_per_chunk": resident if chunks else 0,
        "disk_bytes_per_chunk": round(disk / chunks) if chunks else 0,
    }


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


@dataclass(frozen=True)
class Codes:
    """Binary sign codes of one generation's rows (see `codes.py`): `words` uint64
    `(code words, n)`, column j the code of row j; `center` float32 `(dim,)`."""

    words: np.ndarray
    center: np.ndarray
    matrix_file: tuple[str, int] | None = None  # (path, data offset) of a mapped matrix

    @property
    def nbytes(self) -> int:
        return self.words.nbytes + self.center.nbytes

    def rows(self, matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """float32 `(len(rows), dim)`: these rows of `matrix`, the matrix of the same
        generation. From a mapped sidecar they are read with pread, not through the
        map: touching one row of a map maps the page-cache folio around it, up to
        megabytes, into this process, and 200 scattered rows cost most of the matrix
        in resident memory (measured: 213 MB for 200 rows of a 293 MB matrix)."""
        if self.matrix_file is None or not len(rows) or not hasattr(os, "pread"):
            return matrix[rows]
        path, offset = self.matrix_file
        width = matrix.shape[1] * 4
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:  # removed by a newer generation's writer: the map still holds it
            return matrix[rows]
        try:
            data = b"".join(os.pread(fd, width, offset + int(row) * width) for row in rows)
        finally:
            os.close(fd)
        if len(data) != width * len(rows):
            return matrix[rows]
        return np.frombuffer(data, dtype=np.float32).reshape(len(rows), -1)


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
        self.code_builds = 0  # ...and how many times it encoded codes (all rows or new ones)
        self._ids = np.zeros(0, np.int64)
        self._matrix = np.zeros((0, 0), np.float32)
        self._codes: Codes | None = None  # of self.generation, once built or mapped
        self._matrix_file: tuple[str, int] | None = None  # where self._matrix is mapped from
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        shape = "not loaded" if self.generation is None else f"{self._matrix.shape}"
        return f"<VectorCache {self.folder} generation={self.generation} {shape}>"

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """`(ids, matrix)` for the store's current generation: int64 `(n,)`, float32 `(n, dim)`.

        Rows are unit length (or zero); both arrays are read-only when mapped.
        """
        with self._lock:
            return self._load()

    def load_codes(self) -> tuple[np.ndarray, np.ndarray, Codes]:
        """`(ids, matrix, codes)` of the store's current generation, all three of the
        same one: the codes are mapped from the sidecar, or encoded from the matrix."""
        with self._lock:
            ids, matrix = self._load()
            if self._codes is None:
                codes = self._open_codes(self.generation, ids, matrix)
                codes = codes or self._encode(self.generation, ids, matrix, None)
                self._codes = replace(codes, matrix_file=self._matrix_file)
            return ids, matrix, self._codes

    def _load(self) -> tuple[np.ndarray, np.ndarray]:
        current = self.store.generation
        if self.generation != current:
            loaded = self._open(current)
            if loaded is None:
                self._rebuild()
            else:
                self._ids, self._matrix, self._matrix_file = loaded
                self._codes = None
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

    def _code_paths(self, generation: int) -> tuple[Path, Path]:
        key = f"{self.index_id}-g{generation}"
        return self.folder / f"{key}.center.npy", self.folder / f"{key}.b1.npy"

    def _open(self, generation: int) -> tuple[np.ndarray, np.ndarray, tuple[str, int]] | None:
        """Map the sidecar of `generation`; None when it is missing or does not add up."""
        ids_path, matrix_path = self._paths(generation)
        try:
            ids = np.load(ids_path, mmap_mode="r", allow_pickle=False)
            matrix = np.load(matrix_path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # missing, truncated or not an .npy file: rebuild
        if not self._plausible(ids, matrix) or not self._agrees(generation, ids, matrix):
            return None
        # plain ndarray views of the maps, and where the matrix's rows are in its file
        return np.asarray(ids), np.asarray(matrix), (str(matrix_path), int(matrix.offset))

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

    def _agrees(self, generation: int, ids: np.ndarray, matrix: np.ndarray) -> bool:
        """Whether mapped files hold this store's vectors, as far as a few reads can
        tell: a name alone does not say (another index's files renamed, a zeroed body,
        shuffled ids). Reads the ids once and SENTINEL_ROWS rows of the matrix."""
        rows = np.unique(np.linspace(0, len(ids) - 1, SENTINEL_ROWS).astype(np.int64))
        sample = [int(i) for i in ids[rows]]
        found = self.store.id_summary(sample)
        summary = (generation, len(ids), sample[0], sample[-1])
        if (found.generation, found.count, found.lowest, found.highest) != summary:
            return False
        if not np.all(ids[1:] > ids[:-1]):  # the store gives them ascending, once each
            return False
        stored = [found.samples.get(i) for i in sample]
        if any(row is None or row.shape != matrix.shape[1:] for row in stored):
            return False
        expected = normalize_rows(np.stack(stored))
        return bool(np.allclose(matrix[rows], expected, rtol=1e-5, atol=1e-6))

    def _open_codes(self, generation: int, ids: np.ndarray, matrix: np.ndarray) -> Codes | None:
        """Map the codes of `generation`; None when missing or not those of `matrix`
        (shapes, and the codes of SENTINEL_ROWS rows encoded again)."""
        center_path, words_path = self._code_paths(generation)
        try:
            center = np.load(center_path, mmap_mode="r", allow_pickle=False)
            words = np.load(words_path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        codes = Codes(np.asarray(words), np.asarray(center))
        return codes if _codes_fit(codes, matrix) else None

    def _encode(self, generation: int, ids, matrix, previous: tuple | None) -> Codes:
        """Codes of `matrix`, reusing `previous` (ids, Codes) of an older generation
        where it can; written to the sidecar when possible."""
        codes = _encode_codes(ids, matrix, previous)
        codes.words.flags.writeable = codes.center.flags.writeable = False
        self.code_builds += 1
        if ids.size:
            try:
                center_path, words_path = self._code_paths(generation)
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                _save_atomic(center_path, codes.center)
                _save_atomic(words_path, codes.words)
            except OSError:
                pass  # a cache only: the next process encodes again
        return codes

    def _previous_codes(self, generation: int) -> tuple[np.ndarray, Codes] | None:
        """(ids, codes) of the newest older generation of this index in the sidecar,
        if its files are there and hold together; their maps outlive the files."""
        try:
            names = os.listdir(self.folder)
        except OSError:
            return None
        found = (_SIDECAR_FILE.fullmatch(name) for name in names)
        older = {int(m[2]) for m in found if m and m[1] == self.index_id and int(m[2]) < generation}
        for old in sorted(older, reverse=True)[:1]:
            loaded = self._open_unchecked(old)
            if loaded is not None:
                return loaded
        return None

    def _open_unchecked(self, generation: int) -> tuple[np.ndarray, Codes] | None:
        """An older generation's ids and codes, checked against its own matrix only."""
        try:
            ids = np.load(self._paths(generation)[0], mmap_mode="r", allow_pickle=False)
            matrix = np.load(self._paths(generation)[1], mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if not self._plausible(ids, matrix):
            return None
        codes = self._open_codes(generation, ids, matrix)
        return None if codes is None else (np.asarray(ids), codes)

    def _rebuild(self) -> None:
        """Read every embedding once, normalize in place, write the sidecar (codes too)."""
        generation, ids, matrix = self.store.load_embeddings()
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if not matrix.flags.writeable:
            matrix = matrix.copy()
        normalize_rows(matrix)
        matrix.flags.writeable = ids.flags.writeable = False  # like the mapped arrays
        self.rebuilds += 1
        previous = self._previous_codes(generation) if ids.size else None
        codes = self._encode(generation, ids, matrix, previous)
        if ids.size:
            self._write(generation, ids, matrix)
        else:  # nothing to publish; what older generations left is stale
            self._remove_older(generation)
        self._ids, self._matrix, self.generation = ids, matrix, generation
        self._codes, self._matrix_file = codes, None

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
                elif entry.name.endswith(".tmp") and _left_over(entry.name, entry.stat(), cutoff):
                    os.unlink(entry.path)
            except OSError:
                pass  # gone already, or in use where that matters


def _codes_fit(codes: Codes, matrix: np.ndarray) -> bool:
    """Whether `codes` are those of `matrix`: shapes, types, and SENTINEL_ROWS rows."""
    n, dim = matrix.shape
    words, center = codes.words, codes.center
    if not (
        words.dtype == np.uint64
        and words.shape == (code_words(dim), n)
        and words.flags.c_contiguous
        and center.dtype == np.float32
        and center.shape == (dim,)
        and bool(np.all(np.isfinite(center)))
    ):
        return False
    rows = np.unique(np.linspace(0, n - 1, SENTINEL_ROWS).astype(np.int64))
    expected = binary_codes(matrix[rows], center)
    return bool(np.array_equal(words[:, rows], expected))


def _encode_codes(ids: np.ndarray, matrix: np.ndarray, previous: tuple | None) -> Codes:
    """All rows encoded around their mean; or, given an older generation's (ids, codes)
    of a similar size, its center kept and the codes of rows it has copied."""
    n, dim = matrix.shape
    if previous is not None:
        old_ids, old = previous
        grown = n / max(1, len(old_ids))
        if old.center.shape == (dim,) and 1 / CENTER_DRIFT <= grown <= CENTER_DRIFT:
            at = np.minimum(np.searchsorted(old_ids, ids), len(old_ids) - 1)
            kept = old_ids[at] == ids
            words = np.zeros((code_words(dim), n), np.uint64)
            words[:, kept] = old.words[:, at[kept]]
            binary_codes(matrix, old.center, rows=np.flatnonzero(~kept), out=words)
            return Codes(words, np.array(old.center))
    center = row_mean(matrix)
    return Codes(binary_codes(matrix, center), center)


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


def _save_atomic(path: Path, array: np.ndarray) -> None:
    """Write `array` as `.npy` under a temporary name in the same folder, then rename.
    The name holds this host and pid, so that a later writer can tell when the process
    that left it is dead."""
    prefix = f".{path.name}.{_host()}.{os.getpid()}."
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
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

"""The index's embeddings in the forms vector search scans, cached on disk.

    >>> cache = VectorCache(store)
    >>> ids, matrix = cache.load()        # (n,) int64, (n, dim) float32 unit rows
    >>> ids, codes = cache.load_codes()   # the same ids, binary codes of the rows

Two forms, each built from the store a block at a time (`Store.embeddings()`), so
that building either for ten million chunks holds one block of float32, never the
whole matrix:

* the exact path's matrix: every row L2-normalized, float32, 4 bytes per dimension;
* the compressed path's binary sign codes (`codes.py`): one bit per dimension,
  centered on a `center` row (the mean of up to CENTER_SAMPLE rows). Its candidates
  are rescored from the database's own float32 blobs (`Store.embeddings_of`), so a
  compressed index keeps full precision once, in the database, and ~104 bytes per
  chunk (ids and codes) in the sidecar: no float32 copy at all.

Both live in a sidecar folder next to the database, `<db>.vectors/` (`sidecar.py`),
as immutable `.npy` files named by the index's random id and generation:
`…-g42.ids.npy` (int64, ascending), `…-g42.f32.npy` (the matrix),
`…-g42.center.npy` and `…-g42.b1.npy` (uint64 `(code words, n)`, one column per
row so a scan reads each word contiguously). A process whose key matches maps
them (`np.load(mmap_mode="r")`): no copy, pages shared with every other reader.
Before it trusts them it checks them against the store, cheaply: the count and
range of ids, ids ascending, and SENTINEL_ROWS rows (their matrix rows, or their
codes encoded again) against the store's blobs. A stale, missing, damaged or
foreign file is rebuilt; when the folder cannot be written, the arrays simply
stay in memory.

Which form a search uses is `uses_codes()`: codes from COMPRESSED_MIN_ROWS chunks
on, the matrix below; `refresh()` (after an index run) builds the one the index's
size calls for, the other is built when first asked for. After a write, codes are
patched, not rebuilt: the previous generation's center is kept and its codes
copied for every row it still has (chunk ids are never reused, and a chunk's
embedding never changes), so only new rows are read and encoded; the center is
recomputed when the index has grown or shrunk by more than CENTER_DRIFT times.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .codes import binary_codes, code_words
from .sidecar import (
    atomic_file,
    older_generations,
    part_path,
    remove_older,
    save_atomic,
    sidecar_bytes,
    sidecar_dir,
    write_npy_header,
)

NORMALIZE_BLOCK_ROWS = 8192  # rows normalized at a time: bounds the temporary memory
SENTINEL_ROWS = 8  # rows of a mapped sidecar compared with the store's blobs
# Where the compressed path (retriever.py) starts, measured by bench/search.py
# (2 cores, 768-d): at 100k it takes ~0.65x the time of the exact scan (4.3 vs 6.5 ms,
# rescoring from the database included) with recall@10 0.995, at 1M 0.2x; below it
# the saving is a ms or two and exact results cost nothing.
COMPRESSED_MIN_ROWS = 100_000
CENTER_DRIFT = 2.0  # a kept center is recomputed once the row count changed this much
CENTER_SAMPLE = 65_536  # rows, spread over the index, averaged into a new center
COPY_BLOCK_ROWS = 262_144  # codes copied from the previous generation at a time


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


def index_stats(store) -> dict:
    """`Store.stats()` with the vector search it gets and its bytes per chunk
    (`vector_footprint`): what `ragkit status` and `Index.status()` show."""
    stats = store.stats()
    return stats | vector_footprint(stats)


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

    @property
    def nbytes(self) -> int:
        return self.words.nbytes + self.center.nbytes

    @property
    def dim(self) -> int:
        return self.center.shape[0]


@dataclass(frozen=True)
class _IdCheck:
    """A mapped ids file found to be the store's: its ids, and the sentinel rows'
    positions with their normalized rows as the store holds them."""

    ids: np.ndarray
    rows: np.ndarray
    expected: np.ndarray


class VectorCache:
    """The normalized matrix and the codes of a `Store`, reloaded only when the index
    changed.

    >>> cache = VectorCache(store)
    >>> ids, matrix = cache.load()      # maps the sidecar, or rebuilds it
    >>> cache.load()[1] is matrix       # same generation: nothing is read again
    True
    """

    def __init__(self, store) -> None:
        self.store = store
        self.folder = sidecar_dir(store.path)
        self.index_id = store.index_id
        self.generation: int | None = None  # of what is loaded
        self.rebuilds = 0  # how many times this cache built the matrix (tests, benchmarks)
        self.code_builds = 0  # ...and encoded codes (all rows or the new ones)
        self.rows_encoded = 0  # ...and how many rows those encodings read from the store
        self._ids: np.ndarray | None = None
        self._matrix: np.ndarray | None = None
        self._codes: Codes | None = None
        self._id_check: _IdCheck | None = None
        self._previous: tuple[np.ndarray, Codes] | None = None  # an older generation's
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        size = "not loaded" if self._ids is None else f"{len(self._ids)} rows"
        return f"<VectorCache {self.folder} generation={self.generation} {size}>"

    # -- what searches call -------------------------------------------------

    def size(self) -> int:
        """Rows in the store's current generation (from the loaded ids, the sidecar's
        ids file, or the store), without building anything."""
        with self._lock:
            self._sync()
            if self._ids is not None:
                return len(self._ids)
            check = self._check_ids()
            if check is not None:
                return len(check.ids)
            return self.store.id_summary([]).count

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """`(ids, matrix)` for the store's current generation: int64 `(n,)`, float32
        `(n, dim)`, rows unit length (or zero); read-only."""
        with self._lock:
            self._sync()
            if self._matrix is None:
                opened = self._open_matrix()
                if opened is None:
                    self._build_matrix()
                else:
                    self._ids, self._matrix = opened
            return self._ids, self._matrix

    def load_codes(self) -> tuple[np.ndarray, Codes]:
        """`(ids, codes)` of the store's current generation, both of the same one:
        mapped from the sidecar, or encoded from the store."""
        with self._lock:
            self._sync()
            if self._codes is None:
                opened = self._open_codes()
                if opened is None:
                    self._build_codes()
                else:
                    self._ids, self._codes = opened
            return self._ids, self._codes

    def refresh(self) -> None:
        """Build what searches of this index size use (the codes from
        COMPRESSED_MIN_ROWS rows on, else the matrix) from the store now, so the next
        search starts fast. Ingest calls this after a run that changed the index.

        It builds even when files of the current generation exist, so a sidecar
        written by a crashed run is never trusted after a write.
        """
        with self._lock:
            self._sync()
            if uses_codes(self.store.id_summary([]).count):
                self._build_codes()
            else:
                self._build_matrix()

    # -- the state of one generation ------------------------------------------

    def _sync(self) -> None:
        """Forget what was loaded when the store has moved to another generation."""
        current = self.store.generation
        if current != self.generation:
            self._adopt(current, None)

    def _adopt(self, generation: int, ids: np.ndarray | None) -> None:
        """Hold `ids` as those of `generation`; what belonged to another one goes
        (its codes kept aside, to be patched into the next ones)."""
        if generation != self.generation:
            if self._codes is not None and self._ids is not None:
                self._previous = (self._ids, self._codes)
            self._matrix = self._codes = self._id_check = None
            self.generation = generation
        if ids is not None:
            self._ids = ids
        elif self._matrix is None and self._codes is None:
            self._ids = None

    def _paths(self, generation: int, *parts: str):
        return [part_path(self.folder, self.index_id, generation, part) for part in parts]

    def _publish(self, generation: int, arrays: dict[str, np.ndarray]) -> bool:
        """Write these parts of `generation` (in the order given), then remove older
        generations. A sidecar that cannot be written only costs a later rebuild."""
        try:
            for part, array in arrays.items():
                save_atomic(self._paths(generation, part)[0], array)
        except OSError:
            return False
        remove_older(self.folder, self.index_id, generation)
        return True

    # -- checking mapped files ------------------------------------------------

    def _check_ids(self) -> _IdCheck | None:
        """The current generation's ids file, if it is the store's (see `_IdCheck`);
        the result is kept for the generation."""
        if self._id_check is not None:
            return self._id_check
        (path,) = self._paths(self.generation, "ids")
        ids = _map(path)
        dim = self.store.dim
        if ids is None or ids.dtype != np.int64 or ids.ndim != 1 or not len(ids) or not dim:
            return None
        rows = _sentinels(len(ids))
        sample = [int(i) for i in ids[rows]]
        found = self.store.id_summary(sample)
        summary = (self.generation, len(ids), sample[0], sample[-1])
        if (found.generation, found.count, found.lowest, found.highest) != summary:
            return None
        if not np.all(ids[1:] > ids[:-1]):  # the store gives them ascending, once each
            return None
        stored = [found.samples.get(i) for i in sample]
        if any(row is None or row.shape != (dim,) for row in stored):
            return None
        expected = normalize_rows(np.stack(stored).astype(np.float32))
        self._id_check = _IdCheck(np.asarray(ids), rows, expected)
        return self._id_check

    def _open_matrix(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Map the current generation's matrix; None when missing or not the store's."""
        check = self._check_ids()
        if check is None:
            return None
        (path,) = self._paths(self.generation, "f32")
        matrix = _map(path)
        if (
            matrix is None
            or matrix.dtype != np.float32
            or matrix.shape != (len(check.ids), check.expected.shape[1])
            or not matrix.flags.c_contiguous
            or not np.allclose(matrix[check.rows], check.expected, rtol=1e-5, atol=1e-6)
        ):
            return None
        return check.ids, np.asarray(matrix)

    def _open_codes(self) -> tuple[np.ndarray, Codes] | None:
        """Map the current generation's codes; None when missing or not the store's
        rows (shapes, and the sentinel rows encoded again)."""
        check = self._check_ids()
        if check is None:
            return None
        center_path, words_path = self._paths(self.generation, "center", "b1")
        codes = _mapped_codes(center_path, words_path, len(check.ids), check.expected.shape[1])
        if codes is None:
            return None
        expected = binary_codes(check.expected, codes.center)
        if not np.array_equal(codes.words[:, check.rows], expected):
            return None
        return check.ids, codes

    # -- building from the store ------------------------------------------------

    def _build_matrix(self) -> None:
        """Read every embedding a block at a time, normalize, and write the matrix
        (and ids) to the sidecar as it goes; map the result. Memory: one block, plus
        the ids; the whole matrix only when the sidecar cannot be written."""
        with self.store.embeddings() as reader:
            generation, dim = reader.generation, reader.dim
            n = reader.count()
            ids, matrix = np.empty(n, np.int64), None
            if n:
                matrix = self._stream_matrix(reader, generation, ids)
            if matrix is None:  # nothing to write, or nowhere to write it
                matrix = np.empty((n, dim), np.float32)
                done = 0
                for block_ids, rows in reader.blocks():
                    end = done + len(block_ids)
                    ids[done:end], matrix[done:end] = block_ids, normalize_rows(rows)
                    done = end
        if not n:
            remove_older(self.folder, self.index_id, generation)  # what they left is stale
        ids.flags.writeable = matrix.flags.writeable = False
        self.rebuilds += 1
        self._adopt(generation, ids)
        self._matrix = matrix

    def _stream_matrix(self, reader, generation: int, ids: np.ndarray) -> np.ndarray | None:
        """Write the normalized matrix straight into the sidecar and map it; fills
        `ids` on the way. None when the sidecar cannot be written or mapped."""
        ids_path, matrix_path = self._paths(generation, "ids", "f32")
        try:
            with atomic_file(matrix_path) as handle:
                write_npy_header(handle, (len(ids), reader.dim), "<f4")
                done = 0
                for block_ids, rows in reader.blocks():
                    ids[done : done + len(block_ids)] = block_ids
                    handle.write(normalize_rows(rows).data)
                    done += len(block_ids)
                save_atomic(ids_path, ids)  # ids first, the matrix as the block ends
        except OSError:
            return None
        remove_older(self.folder, self.index_id, generation)
        matrix = _map(matrix_path)  # None if a newer generation's writer removed it
        return None if matrix is None else np.asarray(matrix)

    def _build_codes(self) -> None:
        """Encode the codes of the current generation, patching the previous
        generation's where it can (see the module docstring), and publish them."""
        with self.store.embeddings() as reader:
            generation, dim = reader.generation, reader.dim
            ids = reader.ids()
            words = np.zeros((code_words(dim), len(ids)), np.uint64)
            previous = self._reusable(reader, generation, len(ids), dim)
            if previous is None:
                center = _sample_center(reader, ids)
                done = 0
                for block_ids, rows in reader.blocks():
                    end = done + len(block_ids)
                    words[:, done:end] = binary_codes(normalize_rows(rows), center)
                    done = end
                self.rows_encoded += done
            else:
                old_ids, old = previous
                center = np.array(old.center)
                new_ids = _copy_kept_codes(old_ids, old.words, ids, words)
                for found, rows in reader.blocks(new_ids):
                    columns = np.searchsorted(ids, found)
                    words[:, columns] = binary_codes(normalize_rows(rows), center)
                    self.rows_encoded += len(found)
        codes = Codes(words, center)
        ids.flags.writeable = words.flags.writeable = center.flags.writeable = False
        self.code_builds += 1
        if len(ids):
            self._publish(generation, {"ids": ids, "center": center, "b1": words})
        else:
            remove_older(self.folder, self.index_id, generation)
        self._adopt(generation, ids)
        self._codes = codes

    def _reusable(self, reader, generation: int, n: int, dim: int):
        """(ids, codes) of an older generation to patch: this cache's own, or the newest
        older one in the sidecar whose sentinel rows still present in the store encode
        as stored. None when there is none, or the size changed too much."""
        candidates = []
        if self._previous is not None:
            candidates.append(self._previous)
        for old in older_generations(self.folder, self.index_id, generation)[:1]:
            ids_path, center_path, words_path = self._paths(old, "ids", "center", "b1")
            old_ids = _map(ids_path)
            if old_ids is None or old_ids.dtype != np.int64 or old_ids.ndim != 1:
                continue
            codes = _mapped_codes(center_path, words_path, len(old_ids), dim)
            if codes is not None and _agrees_with_store(reader, np.asarray(old_ids), codes):
                candidates.append((np.asarray(old_ids), codes))
        for old_ids, codes in candidates:
            grown = n / max(1, len(old_ids))
            if codes.dim == dim and len(old_ids) and 1 / CENTER_DRIFT <= grown <= CENTER_DRIFT:
                return old_ids, codes
        return None


def _map(path) -> np.ndarray | None:
    """An `.npy` file mapped read-only; None when missing, truncated or not one."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None


def _sentinels(n: int) -> np.ndarray:
    """SENTINEL_ROWS row positions spread over `n` rows, first and last included."""
    return np.unique(np.linspace(0, n - 1, SENTINEL_ROWS).astype(np.int64))


def _mapped_codes(center_path, words_path, n: int, dim: int) -> Codes | None:
    """Mapped center and words whose shapes and types fit `n` rows of `dim`."""
    center, words = _map(center_path), _map(words_path)
    if center is None or words is None:
        return None
    if not (
        words.dtype == np.uint64
        and words.shape == (code_words(dim), n)
        and words.flags.c_contiguous
        and center.dtype == np.float32
        and center.shape == (dim,)
        and bool(np.all(np.isfinite(center)))
    ):
        return None
    return Codes(np.asarray(words), np.asarray(center))


def _copy_kept_codes(
    old_ids: np.ndarray, old_words: np.ndarray, ids: np.ndarray, words: np.ndarray
) -> np.ndarray:
    """Copy into `words` the old codes of every id in `ids` that `old_ids` has (both
    ascending), COPY_BLOCK_ROWS columns at a time so that temporaries stay small;
    return the ids that have none (new since)."""
    new = []
    for start in range(0, len(ids), COPY_BLOCK_ROWS):
        part = ids[start : start + COPY_BLOCK_ROWS]
        at = np.minimum(np.searchsorted(old_ids, part), len(old_ids) - 1)
        kept = old_ids[at] == part
        if kept.all() and at[-1] - at[0] == len(part) - 1:  # one run of old columns
            words[:, start : start + len(part)] = old_words[:, at[0] : at[-1] + 1]
        else:
            words[:, start : start + len(part)][:, kept] = old_words[:, at[kept]]
            new.append(part[~kept])
    return np.concatenate(new) if new else np.zeros(0, np.int64)


def _agrees_with_store(reader, ids: np.ndarray, codes: Codes) -> bool:
    """Whether an older generation's codes encode its sentinel rows that the store
    still holds as the store holds them (at least one must still be there)."""
    if not len(ids) or not np.all(ids[1:] > ids[:-1]):
        return False
    found, rows = reader.rows_of(ids[_sentinels(len(ids))])
    if not len(found):
        return False
    columns = np.searchsorted(ids, found)
    expected = binary_codes(normalize_rows(rows), codes.center)
    return bool(np.array_equal(codes.words[:, columns], expected))


def _sample_center(reader, ids: np.ndarray) -> np.ndarray:
    """The mean of up to CENTER_SAMPLE normalized rows spread evenly over the ids
    (all of them in a smaller index), summed in float64."""
    total = np.zeros(reader.dim, np.float64)
    if not len(ids):
        return total.astype(np.float32)
    picks = ids[np.unique(np.linspace(0, len(ids) - 1, min(len(ids), CENTER_SAMPLE)).astype(int))]
    count = 0
    for _, rows in reader.blocks(picks):
        total += normalize_rows(rows).sum(axis=0, dtype=np.float64)
        count += len(rows)
    return (total / max(1, count)).astype(np.float32)

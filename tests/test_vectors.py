"""VectorCache: the normalized matrix, its generation-named sidecar, recovery."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ragkit import sidecar
from ragkit.chunking import Chunk
from ragkit.sidecar import STALE_TEMP_SECONDS
from ragkit.store import NewDocument, Store
from ragkit.vectors import VectorCache, normalize_rows, sidecar_dir

DIM = 8


def add_document(store: Store, name: str, vectors: np.ndarray) -> None:
    """Store a document with one chunk per row of `vectors`, directly (no Ollama)."""
    chunks = [
        Chunk(seq=i, text=f"{name} chunk {i}", start=i, end=i + 1, page=None, heading=None)
        for i in range(len(vectors))
    ]
    record = NewDocument(
        path=f"/docs/{name}", hash=name, size=1, mtime=0.0, type="text", title=None
    )
    if store.dim is None:
        store.set_index_params(
            embed_model="nomic-embed-text", dim=vectors.shape[1], chunk_size=1000, chunk_overlap=150
        )
    store.replace_document(record, chunks, np.asarray(vectors, dtype=np.float32))


def sidecar_files(store: Store) -> list[str]:
    return sorted(os.listdir(sidecar_dir(store.path)))


def generation_files(store: Store, generation: int, parts=("f32", "ids")) -> list[str]:
    """The sidecar's files of one generation: by default the exact path's ids and matrix."""
    key = f"{store.index_id}-g{generation}"
    return sorted(f"{key}.{part}.npy" for part in parts)


def test_normalize_rows_in_place_keeps_zero_rows_zero():
    matrix = np.array([[3, 4], [0, 0], [0, -2]], dtype=np.float32)
    assert normalize_rows(matrix, block=2) is matrix
    np.testing.assert_allclose(matrix, [[0.6, 0.8], [0, 0], [0, -1]])


def test_sidecar_is_created_with_normalized_rows(store):
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(5, DIM)).astype(np.float32)
    add_document(store, "a.txt", raw)
    cache = VectorCache(store)
    ids, matrix = cache.load()
    assert ids.dtype == np.int64 and matrix.dtype == np.float32 and matrix.shape == (5, DIM)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(matrix, raw / np.linalg.norm(raw, axis=1, keepdims=True), 1e-6)
    folder = sidecar_dir(store.path)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    g = store.generation
    assert sidecar_files(store) == generation_files(store, g)
    assert cache.rebuilds == 1


def test_zero_vectors_stay_zero(store):
    add_document(store, "z.txt", np.zeros((2, DIM)))
    _, matrix = VectorCache(store).load()
    assert not matrix.any()


def test_same_generation_maps_the_sidecar_without_rebuilding(store):
    add_document(store, "a.txt", np.eye(3, DIM))
    first = VectorCache(store)
    ids, matrix = first.load()
    assert first.load()[1] is matrix  # same process: nothing read again
    files = {
        name: os.stat(sidecar_dir(store.path) / name).st_mtime_ns for name in sidecar_files(store)
    }
    second = VectorCache(store)  # a new process would do this
    ids2, matrix2 = second.load()
    assert second.rebuilds == 0
    assert isinstance(matrix2.base, np.memmap) or isinstance(matrix2, np.memmap)
    assert not matrix2.flags.writeable
    np.testing.assert_array_equal(ids2, ids)
    np.testing.assert_array_equal(matrix2, matrix)
    assert {n: os.stat(sidecar_dir(store.path) / n).st_mtime_ns for n in files} == files


def test_a_write_makes_the_next_load_rebuild_and_drops_old_files(store):
    add_document(store, "a.txt", np.eye(2, DIM))
    cache = VectorCache(store)
    old_ids, old_matrix = cache.load()
    add_document(store, "b.txt", np.eye(3, DIM))
    ids, matrix = cache.load()
    assert cache.rebuilds == 2 and len(ids) == 5
    g = store.generation
    assert sidecar_files(store) == generation_files(store, g)
    assert old_matrix.shape == (2, DIM) and len(old_ids) == 2  # earlier arrays stay usable


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "missing_ids", "wrong_dim"])
def test_a_damaged_sidecar_is_rebuilt(store, damage):
    rng = np.random.default_rng(1)
    add_document(store, "a.txt", rng.normal(size=(50, DIM)))
    expected_ids, expected = (a.copy() for a in VectorCache(store).load())
    folder, g = sidecar_dir(store.path), store.generation
    matrix_file, ids_file = (
        folder / f"{store.index_id}-g{g}.f32.npy",
        folder / f"{store.index_id}-g{g}.ids.npy",
    )
    if damage == "truncate":
        matrix_file.write_bytes(matrix_file.read_bytes()[:300])
    elif damage == "garbage":
        matrix_file.write_bytes(b"not numpy at all" * 100)
    elif damage == "empty":
        matrix_file.write_bytes(b"")
    elif damage == "missing_ids":
        ids_file.unlink()
    else:
        np.save(matrix_file, np.zeros((50, DIM + 1), np.float32))
    cache = VectorCache(store)
    ids, matrix = cache.load()
    assert cache.rebuilds == 1
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(matrix, expected)
    assert VectorCache(store).load()[1].shape == (50, DIM)  # and the repaired files map


def test_an_unwritable_folder_keeps_the_matrix_in_memory(store, tmp_path):
    add_document(store, "a.txt", np.eye(2, DIM))
    sidecar_dir(store.path).write_text("a file where the folder should be")
    ids, matrix = VectorCache(store).load()
    assert matrix.shape == (2, DIM)


def test_an_empty_index_loads_empty_arrays(store):
    ids, matrix = VectorCache(store).load()
    assert ids.shape == (0,) and matrix.shape[0] == 0


def test_refresh_writes_the_sidecar_for_the_next_process(store):
    add_document(store, "a.txt", np.eye(2, DIM))
    VectorCache(store).refresh()
    assert sidecar_files(store) == generation_files(store, store.generation)
    later = VectorCache(store)
    later.load()
    assert later.rebuilds == 0


def test_refresh_replaces_files_of_a_deleted_database_with_the_same_generation(tmp_path):
    path = tmp_path / "index.db"
    with Store(path) as old:
        add_document(old, "a.txt", np.eye(2, DIM))
        VectorCache(old).refresh()
        generation = old.generation
    path.unlink()
    with Store(path) as new:  # rebuilt from scratch: same generation, other vectors
        add_document(new, "a.txt", np.eye(2, DIM)[::-1])
        assert new.generation == generation
        VectorCache(new).refresh()
        _, matrix = VectorCache(new).load()
        np.testing.assert_array_equal(matrix, np.eye(2, DIM)[::-1])


def test_files_deleted_under_a_reader_stay_readable(store):
    add_document(store, "a.txt", np.eye(2, DIM))
    VectorCache(store).refresh()
    reader = VectorCache(store)
    _, mapped = reader.load()
    assert reader.rebuilds == 0
    add_document(store, "b.txt", np.eye(2, DIM))
    VectorCache(store).load()  # another process moves on and deletes the old files
    assert len(sidecar_files(store)) == 2 and float(mapped.sum()) == 2.0


RSS_PROBE = """
import resource, sys
from ragkit.store import Store, embeddings
from ragkit.vectors import VectorCache
embeddings.BLOCK_ROWS = 1000
store = Store(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cache = VectorCache(store)
ids, matrix = getattr(cache, sys.argv[2])()[:2]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, len(ids) * 768 * 4)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_a_rebuild_holds_a_block_of_rows_not_the_matrix(store):
    rng = np.random.default_rng(2)
    for d in range(30):
        add_document(store, f"{d}.txt", rng.normal(size=(1000, 768)))
    for build in ("load", "load_codes"):
        probe = subprocess.run(
            [sys.executable, "-c", RSS_PROBE, str(store.path), build],
            capture_output=True,
            text=True,
        )
        assert probe.returncode == 0, probe.stderr
        grown, matrix_bytes = map(int, probe.stdout.split())
        # Blocks of 1,000 rows (3 MB), the store's fetch batches and the ids; a build
        # that held the whole 92 MB matrix (or a copy of it) fails this.
        assert grown < 0.25 * matrix_bytes, (build, grown, matrix_bytes)


def test_an_index_rebuilt_at_the_same_path_never_reuses_the_old_sidecar(tmp_path):
    path = tmp_path / "again.db"
    with Store(path) as first:
        add_document(first, "a.txt", np.eye(2, DIM))
        VectorCache(first).refresh()
        old_generation = first.generation
    path.unlink()
    with Store(path) as second:
        add_document(second, "b.txt", np.eye(2, DIM)[::-1])
        assert second.generation == old_generation  # the counter repeats ...
        ids, matrix = VectorCache(second).load()  # ... but the key does not
        np.testing.assert_array_equal(matrix, np.eye(2, DIM)[::-1])


def test_emptying_the_index_removes_the_old_sidecar_files(store):
    add_document(store, "a.txt", np.eye(2, DIM))
    VectorCache(store).refresh()
    assert sidecar_files(store)
    store.delete_documents([p for p in store.documents()])
    VectorCache(store).refresh()
    assert sidecar_files(store) == []


def sidecar_paths(store: Store) -> tuple[Path, Path]:
    key = f"{store.index_id}-g{store.generation}"
    folder = sidecar_dir(store.path)
    return folder / f"{key}.ids.npy", folder / f"{key}.f32.npy"


@pytest.mark.parametrize("swap", ["another index's files", "zeroed body", "shuffled ids"])
def test_a_sidecar_that_does_not_hold_this_index_is_detected_and_rebuilt(tmp_path, store, swap):
    rng = np.random.default_rng(3)
    add_document(store, "a.txt", rng.normal(size=(50, DIM)))
    expected_ids, expected = (a.copy() for a in VectorCache(store).load())
    ids_file, matrix_file = sidecar_paths(store)
    if swap == "another index's files":  # same ids, count and generation: other vectors
        with Store(tmp_path / "other.db") as other:
            add_document(other, "a.txt", rng.normal(size=(50, DIM)))
            VectorCache(other).refresh()
            assert other.generation == store.generation
            for theirs, ours in zip(sidecar_paths(other), (ids_file, matrix_file), strict=True):
                shutil.copyfile(theirs, ours)
    elif swap == "zeroed body":
        body = expected.nbytes
        matrix_file.write_bytes(matrix_file.read_bytes()[:-body] + bytes(body))
    else:
        np.save(ids_file, np.random.default_rng(4).permutation(expected_ids))
    cache = VectorCache(store)
    ids, matrix = cache.load()
    assert cache.rebuilds == 1
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(matrix, expected)
    later = VectorCache(store)
    np.testing.assert_allclose(later.load()[1], expected)
    assert later.rebuilds == 0  # the rebuilt files map


STUCK_WRITER = """
import sys, time
import numpy as np
from ragkit import sidecar
from ragkit.store import Store
from ragkit.vectors import VectorCache

def stuck(handle, array, allow_pickle):
    handle.write(b"half an array")
    handle.flush()
    print("writing", flush=True)
    time.sleep(120)

sidecar.np.save = stuck
VectorCache(Store(sys.argv[1])).refresh()
"""


def temp_files(store: Store) -> list[str]:
    return sorted(name for name in sidecar_files(store) if name.endswith(".tmp"))


def test_a_writer_killed_mid_write_leaves_a_temp_file_the_next_write_removes(store):
    add_document(store, "a.txt", np.eye(3, DIM))
    writer = subprocess.Popen(
        [sys.executable, "-c", STUCK_WRITER, str(store.path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline() == "writing\n"
    finally:
        writer.kill()
        writer.wait()
    left = temp_files(store)
    assert left and all(f".{writer.pid}." in name for name in left)
    VectorCache(store).refresh()
    assert temp_files(store) == []


def test_only_temp_files_of_dead_writers_or_old_ones_are_removed(store):
    add_document(store, "a.txt", np.eye(3, DIM))
    VectorCache(store).refresh()
    folder, host = sidecar_dir(store.path), sidecar._host()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid names no process now
    names = {
        "live": f".x.ids.npy.{host}.{sleeper.pid}.a1b2.tmp",
        "this process": f".x.ids.npy.{host}.{os.getpid()}.a1b2.tmp",
        "other host": f".x.ids.npy.elsewhere.{gone.pid}.a1b2.tmp",
        "dead": f".x.ids.npy.{host}.{gone.pid}.a1b2.tmp",
        "old name": ".x.ids.npy.a1b2.tmp",
        "old other host": f".x.ids.npy.elsewhere.{os.getpid()}.c3d4.tmp",
    }
    try:
        for kind, name in names.items():
            (folder / name).write_bytes(b"partial")
            if kind.startswith("old"):
                os.utime(folder / name, (time.time() - STALE_TEMP_SECONDS - 60,) * 2)
        add_document(store, "b.txt", np.eye(2, DIM))
        VectorCache(store).load()  # a successful write
        kept = {kind for kind, name in names.items() if (folder / name).exists()}
        assert kept == {"live", "this process", "other host"}
    finally:
        sleeper.kill()
        sleeper.wait()

"""The compressed vector search path: binary codes, exact rescoring, when it is used,
and its codes in the sidecar (checked, rebuilt, patched, never of another generation)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

from ragkit import vectors as vectors_module
from ragkit.cli import cli
from ragkit.codes import binary_codes, code_words, hamming, nearest_codes, row_mean
from ragkit.errors import ConfigError
from ragkit.retriever import Retriever
from ragkit.store import Store
from ragkit.vectors import VectorCache, sidecar_dir, vector_footprint
from tests.test_vectors import add_document

DIM = 40  # not a multiple of 64: the padding bits are exercised


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def clustered(n: int, seed: int) -> np.ndarray:
    """Rows around 12 centres with a common offset, like real embeddings (not noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, DIM)) + 2.0
    return (centres[rng.integers(0, 12, n)] + 0.6 * rng.normal(size=(n, DIM))).astype(np.float32)


def filled(store: Store, n: int = 600, seed: int = 5) -> np.ndarray:
    """`n` chunks in 3 documents; returns their unit rows in id order."""
    raw = clustered(n, seed)
    for part, rows in enumerate(np.array_split(raw, 3)):
        add_document(store, f"{part}.txt", rows)
    return unit(raw)


def exact_ranking(matrix: np.ndarray, q: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    scores = matrix @ unit(q)
    order = np.argsort(-scores, kind="stable")[:k]
    return order.tolist(), scores[order]


def rows_of(hits, store: Store) -> list[int]:
    ids, _ = VectorCache(store).load()
    return np.searchsorted(ids, [h.chunk_id for h in hits]).tolist()


# -- the codes on their own ---------------------------------------------------------


def test_hamming_counts_the_differing_signs_around_the_center():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(300, DIM)).astype(np.float32)
    center = row_mean(matrix)
    words = binary_codes(matrix, center, block=7)
    assert words.shape == (code_words(DIM), 300) == (1, 300)
    q = rng.normal(size=DIM).astype(np.float32)
    expected = ((matrix > center) != (q > center)).sum(axis=1)
    got = hamming(words, binary_codes(q[None], center)[:, 0], block=50)
    np.testing.assert_array_equal(got, expected)
    nearest = nearest_codes(got, 5)
    rest = np.setdiff1d(np.arange(300), nearest)
    assert list(nearest) == sorted(nearest) and got[nearest].max() <= got[rest].min()


def test_encoding_some_rows_fills_only_their_columns():
    matrix = np.random.default_rng(1).normal(size=(50, 130)).astype(np.float32)
    center = np.zeros(130, np.float32)
    full = binary_codes(matrix, center)
    part = binary_codes(matrix, center, rows=np.array([3, 40]), out=np.zeros_like(full))
    np.testing.assert_array_equal(part[:, [3, 40]], full[:, [3, 40]])
    assert not part[:, :3].any() and full.shape == (3, 50)


# -- compressed = exact when the candidates hold the true top k -----------------------


def planted(store: Store, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """600 clustered rows, 10 of them (spread over the documents) near one direction:
    (unit rows, that direction). Their codes are the query's or nearly, the others' far."""
    rng = np.random.default_rng(seed)
    raw = clustered(600, seed)
    base = rng.normal(size=DIM).astype(np.float32) * 3
    near = rng.choice(600, 10, replace=False)
    raw[near] = base + 0.05 * rng.normal(size=(10, DIM)).astype(np.float32)
    for part, rows in enumerate(np.array_split(raw, 3)):
        add_document(store, f"{part}.txt", rows)
    VectorCache(store).refresh()  # so that searches map the sidecar and pread rows from it
    return unit(raw), base


@pytest.mark.parametrize("seed", range(3))
def test_compressed_results_are_the_exact_ones_when_the_top_k_are_candidates(store, seed):
    matrix, q = planted(store, seed)
    compressed = Retriever(store=store, exact=False, rescore=3)
    truth, scores = exact_ranking(matrix, q, 10)
    _, _, codes = compressed.vectors.load_codes()
    assert codes.matrix_file is not None
    candidates = compressed._candidates(unit(q), codes, None, 10)
    assert len(candidates) == 30 and set(truth) <= set(candidates.tolist())  # a real cut
    hits = compressed.search_vector(q, k=10)
    assert rows_of(hits, store) == truth
    np.testing.assert_allclose([h.score for h in hits], scores, rtol=1e-6)
    exact = Retriever(store=store, exact=True).search_vector(q, k=10)
    assert [h.chunk_id for h in exact] == [h.chunk_id for h in hits]
    # the same float32 dot products, summed by BLAS in another order: equal to ~1 ulp
    np.testing.assert_allclose([h.score for h in exact], [h.score for h in hits], rtol=3e-7)


def test_rows_are_read_from_the_sidecar_file_or_else_from_the_map(store):
    matrix, _ = planted(store, 0)
    cache = VectorCache(store)
    _, mapped, codes = cache.load_codes()
    rows = np.array([599, 3, 250])
    np.testing.assert_allclose(codes.rows(mapped, rows), matrix[rows], rtol=1e-6)
    os.unlink(codes.matrix_file[0])  # a newer writer removed it: the map still reads
    np.testing.assert_array_equal(codes.rows(mapped, rows), mapped[rows])
    assert codes.rows(mapped, np.array([], np.int64)).shape == (0, DIM)


def test_compressed_scores_are_exact_cosines_even_for_a_poor_candidate_set(store):
    matrix = filled(store)
    compressed = Retriever(store=store, exact=False, rescore=1)
    q = np.random.default_rng(3).normal(size=DIM)
    hits = compressed.search_vector(q, k=5)
    rows = rows_of(hits, store)
    np.testing.assert_allclose([h.score for h in hits], matrix[rows] @ unit(q), rtol=1e-6)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_compressed_path_filter_takes_candidates_only_among_matching_files(store):
    matrix = filled(store)
    compressed = Retriever(store=store, exact=False, rescore=2)
    hits = compressed.search_vector(matrix[450], k=4, path="*/2.txt")  # rows 400-599
    assert rows_of(hits, store)[0] == 450 and all(h.path == "/docs/2.txt" for h in hits)
    assert compressed.search_vector(matrix[450], k=4, path="/nowhere/*") == []


# -- when it is used --------------------------------------------------------------


def test_exact_true_is_the_full_scan_and_never_touches_codes(store, monkeypatch):
    matrix = filled(store)
    monkeypatch.setattr(vectors_module, "COMPRESSED_MIN_ROWS", 1)
    exact = Retriever(store=store, exact=True)
    calls = []
    monkeypatch.setattr(exact.vectors, "load_codes", lambda: calls.append(1))
    q = np.random.default_rng(4).normal(size=DIM)
    hits = exact.search_vector(q, k=10)
    truth, scores = exact_ranking(matrix, q, 10)
    assert rows_of(hits, store) == truth
    np.testing.assert_allclose([h.score for h in hits], scores, rtol=1e-6)
    assert calls == []


def test_the_default_switches_to_codes_from_the_threshold_on(store, monkeypatch):
    filled(store)
    default = Retriever(store=store)
    assert default.exact is None and not vectors_module.uses_codes(600)
    calls = []
    load_codes = default.vectors.load_codes
    monkeypatch.setattr(default.vectors, "load_codes", lambda: calls.append(1) or load_codes())
    default.search_vector(np.ones(DIM), k=3)
    assert calls == []
    monkeypatch.setattr(vectors_module, "COMPRESSED_MIN_ROWS", 600)
    default.search_vector(np.ones(DIM), k=3)
    assert calls == [1]


@pytest.mark.parametrize("bad", [{"exact": "yes"}, {"rescore": 0}, {"rescore": 2.5}])
def test_bad_exact_or_rescore_is_a_config_error(store, bad):
    with pytest.raises(ConfigError):
        Retriever(store=store, **bad)


# -- the codes in the sidecar -------------------------------------------------------


def code_files(store: Store):
    key = f"{store.index_id}-g{store.generation}"
    folder = sidecar_dir(store.path)
    return folder / f"{key}.center.npy", folder / f"{key}.b1.npy"


def test_refresh_writes_codes_the_next_process_maps(store):
    filled(store)
    VectorCache(store).refresh()
    later = VectorCache(store)
    ids, _, codes = later.load_codes()
    assert later.rebuilds == 0 and later.code_builds == 0
    assert codes.words.shape == (1, len(ids)) and not codes.words.flags.writeable


def damage_codes(store: Store, how: str) -> None:
    center, words = code_files(store)
    if how == "missing":
        words.unlink()
    elif how == "garbage":
        words.write_bytes(b"not an npy file at all")
    elif how == "truncated":
        words.write_bytes(words.read_bytes()[:100])
    elif how == "flipped":  # a sentinel row's bits, with the header intact
        data = np.load(words)
        data[:, 0] ^= np.uint64(0xFF)
        np.save(words, data)
    elif how == "wrong_center":
        np.save(center, np.zeros(DIM + 1, np.float32))
    elif how == "nan_center":
        np.save(center, np.full(DIM, np.nan, np.float32))


@pytest.mark.parametrize(
    "how", ["missing", "garbage", "truncated", "flipped", "wrong_center", "nan_center"]
)
def test_damaged_codes_are_encoded_again(store, how):
    matrix = filled(store)
    VectorCache(store).refresh()
    damage_codes(store, how)
    cache = VectorCache(store)
    ids, _, codes = cache.load_codes()
    assert cache.rebuilds == 0 and cache.code_builds == 1  # the matrix itself was fine
    np.testing.assert_array_equal(codes.words, binary_codes(matrix, codes.center))
    again = VectorCache(store)
    again.load_codes()
    assert again.code_builds == 0  # the rebuilt codes were written back


def test_codes_of_another_generation_are_never_used(store):
    filled(store)
    VectorCache(store).refresh()
    old_center, old_words = (path.read_bytes() for path in code_files(store))
    add_document(store, "new.txt", clustered(50, 9))  # a new generation, 650 rows
    VectorCache(store).refresh()
    for path, data in zip(code_files(store), (old_center, old_words), strict=True):
        path.write_bytes(data)  # the older codes under the newer name: stale
    cache = VectorCache(store)
    ids, matrix, codes = cache.load_codes()
    assert cache.code_builds == 1 and codes.words.shape[1] == len(ids) == 650


def test_a_retriever_never_mixes_codes_and_rows_of_two_generations(store):
    filled(store)
    compressed = Retriever(store=store, exact=False, rescore=2)
    compressed.search_vector(np.ones(DIM), k=3)
    target = np.zeros((1, DIM), np.float32)
    target[0, 0] = 1.0
    add_document(store, "later.txt", target)  # written after the codes were loaded
    hits = compressed.search_vector(target[0], k=1)
    ids, _, codes = compressed.vectors.load_codes()
    assert codes.words.shape[1] == len(ids) == 601
    assert hits[0].path == "/docs/later.txt" and hits[0].score == pytest.approx(1.0)


def test_a_small_change_copies_the_old_codes_and_keeps_the_center(store):
    filled(store)
    VectorCache(store).refresh()
    _, _, before = VectorCache(store).load_codes()
    add_document(store, "1.txt", clustered(10, 7))  # replaces 200 rows by 10 new ones
    cache = VectorCache(store)
    cache.refresh()
    ids, matrix, after = cache.load_codes()
    np.testing.assert_array_equal(after.center, before.center)
    np.testing.assert_array_equal(after.words, binary_codes(matrix, before.center))
    assert len(ids) == 410


def test_a_large_change_centers_the_codes_again(store):
    filled(store, n=60)
    VectorCache(store).refresh()
    _, _, before = VectorCache(store).load_codes()
    add_document(store, "big.txt", clustered(200, 8) + 5.0)  # 4x the rows, elsewhere
    cache = VectorCache(store)
    cache.refresh()
    _, matrix, after = cache.load_codes()
    np.testing.assert_allclose(after.center, row_mean(matrix), rtol=1e-5)
    assert not np.allclose(after.center, before.center)


# -- the command line ----------------------------------------------------------------


def test_status_names_the_search_path_and_bytes_per_chunk(store):
    filled(store)
    VectorCache(store).refresh()
    result = CliRunner().invoke(cli, ["status", "--db", str(store.path)])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("vectors"))
    assert "exact search" in line and "168B resident" in line  # 8 (id) + 40 x 4
    stats = store.stats()
    footprint = vector_footprint(stats, exact=False)
    assert footprint["vector_search"] == "compressed"
    assert footprint["resident_bytes_per_chunk"] == 16  # 8 (id) + one 64-bit word
    assert footprint["disk_bytes_per_chunk"] > 2 * 4 * DIM  # database and sidecar


def test_cli_search_exact_flag(corpus_db, fake):
    args = ["--db", str(corpus_db), "--host", fake.url, "--mode", "vector", "--json"]
    exact = CliRunner().invoke(cli, ["search", "dome rotation", "--exact", *args])
    default = CliRunner().invoke(cli, ["search", "dome rotation", *args])
    assert exact.exit_code == default.exit_code == 0, exact.output
    assert exact.output == default.output  # a small index is searched exactly anyway

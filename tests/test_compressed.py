"""The compressed vector search path: binary codes, exact rescoring, when it is used,
and its codes in the sidecar (checked, rebuilt, patched, never of another generation)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from ragkit import vectors as vectors_module
from ragkit.cli import cli
from ragkit.codes import binary_codes, code_words, hamming, nearest_codes
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


def cache_matrix(store: Store) -> np.ndarray:
    return VectorCache(store).load()[1]


def rows_of(hits, store: Store) -> list[int]:
    ids, _ = VectorCache(store).load()
    return np.searchsorted(ids, [h.chunk_id for h in hits]).tolist()


# -- the codes on their own ---------------------------------------------------------


def test_hamming_counts_the_differing_signs_around_the_center():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(300, DIM)).astype(np.float32)
    center = matrix.mean(axis=0)
    words = binary_codes(matrix, center, block=7)
    assert words.shape == (code_words(DIM), 300) == (1, 300)
    q = rng.normal(size=DIM).astype(np.float32)
    expected = ((matrix > center) != (q > center)).sum(axis=1)
    got = hamming(words, binary_codes(q[None], center)[:, 0], block=50)
    np.testing.assert_array_equal(got, expected)
    nearest = nearest_codes(got, 5)
    rest = np.setdiff1d(np.arange(300), nearest)
    assert list(nearest) == sorted(nearest) and got[nearest].max() <= got[rest].min()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 12), min_size=1, max_size=300),  # few values: many ties
    st.integers(0, 320),
)
def test_nearest_codes_are_the_smallest_distances_ties_to_the_lower_rows(values, count):
    distances = np.array(values, np.uint16)
    expected = np.sort(np.argsort(distances, kind="stable")[:count])
    np.testing.assert_array_equal(nearest_codes(distances, count), expected)


def test_codes_encoded_in_blocks_are_padded_to_whole_words():
    matrix = np.random.default_rng(1).normal(size=(50, 130)).astype(np.float32)
    center = np.zeros(130, np.float32)
    full = binary_codes(matrix, center)
    assert full.shape == (3, 50)
    np.testing.assert_array_equal(binary_codes(matrix, center, block=7), full)
    bits = np.unpackbits(full.T.copy().view(np.uint8), axis=1)  # 192 bits a row
    np.testing.assert_array_equal(bits[:, :130], matrix > 0)
    assert not bits[:, 130:].any()


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
    VectorCache(store).load_codes()  # written to the sidecar: searches map them
    return unit(raw), base


@pytest.mark.parametrize("seed", range(3))
def test_compressed_results_are_the_exact_ones_when_the_top_k_are_candidates(store, seed):
    matrix, q = planted(store, seed)
    compressed = Retriever(store=store, exact=False, rescore=3)
    truth, scores = exact_ranking(matrix, q, 10)
    _, codes = compressed.vectors.load_codes()
    assert compressed.vectors.code_builds == 0  # mapped
    candidates = compressed._candidates(unit(q), codes, None, 10)
    assert len(candidates) == 30 and set(truth) <= set(candidates.tolist())  # a real cut
    hits = compressed.search_vector(q, k=10)
    assert rows_of(hits, store) == truth
    np.testing.assert_allclose([h.score for h in hits], scores, rtol=1e-6)
    exact = Retriever(store=store, exact=True).search_vector(q, k=10)
    assert [h.chunk_id for h in exact] == [h.chunk_id for h in hits]
    # the same float32 dot products, summed by BLAS in another order: equal to ~1 ulp
    np.testing.assert_allclose([h.score for h in exact], [h.score for h in hits], rtol=3e-7)


def test_rescoring_reads_only_the_candidates_from_the_store(store, monkeypatch):
    planted(store, 0)
    compressed = Retriever(store=store, exact=False, rescore=3)
    read = []
    embeddings_of = store.embeddings_of

    def counted(ids):
        read.append(len(ids))
        return embeddings_of(ids)

    monkeypatch.setattr(store, "embeddings_of", counted)
    assert len(compressed.search_vector(np.ones(DIM), k=10)) == 10
    assert read == [30]  # rescore x k rows, and no matrix built or mapped
    assert compressed.vectors.rebuilds == 0 and compressed.vectors._matrix is None


def test_a_candidate_removed_since_the_codes_loaded_is_left_out(store):
    matrix, q = planted(store, 1)
    compressed = Retriever(store=store, exact=False, rescore=3)
    ids, codes = compressed.vectors.load_codes()
    store.delete_documents(["/docs/0.txt"])  # rows 0-199 go, in another write
    ranked = compressed._rank(q, ids, None, codes, 10, None)
    assert ranked and all(cid > ids[199] for cid, _ in ranked)
    rows = np.searchsorted(ids, [cid for cid, _ in ranked])
    np.testing.assert_allclose([s for _, s in ranked], matrix[rows] @ unit(q), rtol=1e-6)


def test_compressed_scores_are_exact_cosines_even_for_a_poor_candidate_set(store):
    matrix = filled(store)
    compressed = Retriever(store=store, exact=False, rescore=1)
    q = np.random.default_rng(3).normal(size=DIM)
    hits = compressed.search_vector(q, k=5)
    rows = rows_of(hits, store)
    cosines = matrix[rows] @ unit(q)
    np.testing.assert_allclose([h.score for h in hits], cosines, rtol=1e-6, atol=1e-7)
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


def test_refresh_writes_codes_the_next_process_maps(store, monkeypatch):
    filled(store)
    monkeypatch.setattr(vectors_module, "COMPRESSED_MIN_ROWS", 600)
    VectorCache(store).refresh()
    later = VectorCache(store)
    ids, codes = later.load_codes()
    assert later.rebuilds == 0 and later.code_builds == 0
    assert codes.words.shape == (1, len(ids)) and not codes.words.flags.writeable
    # full precision is kept once, in the database: the sidecar holds no float copy
    key = f"{store.index_id}-g{store.generation}"
    parts = ("b1", "center", "ids")
    assert sorted(os.listdir(sidecar_dir(store.path))) == [f"{key}.{p}.npy" for p in parts]


def test_refresh_below_the_threshold_builds_the_matrix_only(store):
    filled(store)
    cache = VectorCache(store)
    cache.refresh()
    assert cache.rebuilds == 1 and cache.code_builds == 0
    assert not code_files(store)[1].exists()


def test_exact_search_of_a_compressed_index_builds_its_matrix_when_asked(store, monkeypatch):
    matrix = filled(store)
    monkeypatch.setattr(vectors_module, "COMPRESSED_MIN_ROWS", 600)
    VectorCache(store).refresh()
    exact = Retriever(store=store, exact=True)
    q = np.random.default_rng(6).normal(size=DIM)
    truth, _ = exact_ranking(matrix, q, 5)
    assert rows_of(exact.search_vector(q, k=5), store) == truth
    assert exact.vectors.rebuilds == 1 and exact.vectors.code_builds == 0


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
    VectorCache(store).load_codes()
    damage_codes(store, how)
    cache = VectorCache(store)
    ids, codes = cache.load_codes()
    assert cache.rebuilds == 0 and cache.code_builds == 1
    np.testing.assert_array_equal(codes.words, binary_codes(matrix, codes.center))
    again = VectorCache(store)
    again.load_codes()
    assert again.code_builds == 0  # the rebuilt codes were written back


def test_codes_of_another_generation_are_never_used(store):
    filled(store)
    VectorCache(store).load_codes()
    old_center, old_words = (path.read_bytes() for path in code_files(store))
    add_document(store, "new.txt", clustered(50, 9))  # a new generation, 650 rows
    VectorCache(store).load_codes()
    for path, data in zip(code_files(store), (old_center, old_words), strict=True):
        path.write_bytes(data)  # the older codes under the newer name: stale
    cache = VectorCache(store)
    ids, codes = cache.load_codes()
    assert cache.code_builds == 1 and codes.words.shape[1] == len(ids) == 650


def test_a_retriever_never_mixes_codes_and_rows_of_two_generations(store):
    filled(store)
    compressed = Retriever(store=store, exact=False, rescore=2)
    compressed.search_vector(np.ones(DIM), k=3)
    target = np.zeros((1, DIM), np.float32)
    target[0, 0] = 1.0
    add_document(store, "later.txt", target)  # written after the codes were loaded
    hits = compressed.search_vector(target[0], k=1)
    ids, codes = compressed.vectors.load_codes()
    assert codes.words.shape[1] == len(ids) == 601
    assert hits[0].path == "/docs/later.txt" and hits[0].score == pytest.approx(1.0)


@pytest.mark.parametrize("block", [7, 262_144], ids=["blocks of 7", "one block"])
@pytest.mark.parametrize("previous", ["in this process", "in the sidecar"])
def test_a_small_change_reads_and_encodes_only_the_new_rows(store, previous, block, monkeypatch):
    monkeypatch.setattr(vectors_module, "COPY_BLOCK_ROWS", block)
    filled(store)
    cache = VectorCache(store)
    _, before = cache.load_codes()
    add_document(store, "1.txt", clustered(10, 7))  # replaces 200 rows by 10 new ones
    if previous == "in the sidecar":
        cache = VectorCache(store)  # a new process: the older generation's files
    encoded = cache.rows_encoded
    ids, after = cache.load_codes()
    assert cache.rows_encoded - encoded == 10
    _, matrix = VectorCache(store).load()
    np.testing.assert_array_equal(after.center, before.center)
    np.testing.assert_array_equal(after.words, binary_codes(matrix, before.center))
    assert len(ids) == 410


def test_older_codes_that_disagree_with_the_store_are_not_patched_in(store):
    filled(store)
    VectorCache(store).load_codes()
    center, words = code_files(store)
    data = np.load(words)
    data[:, 0] ^= np.uint64(0xFF)  # a sentinel row the store still has
    np.save(words, data)
    add_document(store, "new.txt", clustered(10, 7))
    cache = VectorCache(store)
    ids, codes = cache.load_codes()
    assert cache.rows_encoded == len(ids) == 610  # encoded from scratch
    np.testing.assert_array_equal(codes.words, binary_codes(cache_matrix(store), codes.center))


def test_a_large_change_centers_the_codes_again(store):
    filled(store, n=60)
    _, before = VectorCache(store).load_codes()
    add_document(store, "big.txt", clustered(200, 8) + 5.0)  # 4x the rows, elsewhere
    _, after = VectorCache(store).load_codes()
    matrix = cache_matrix(store)
    np.testing.assert_allclose(after.center, matrix.mean(axis=0, dtype=np.float64), rtol=1e-5)
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

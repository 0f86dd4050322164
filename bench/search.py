"""Benchmark of vector search (`Retriever`) at 10k, 100k and 1M chunks of 768 dims,
exact and compressed, and of the compressed path on real MiniLM embeddings.

    .venv/bin/python bench/search.py [--sizes 10k,100k,1M] [--queries 20] [--quick]

Indexes are written straight into the store (clustered vectors with a decaying
spectrum, `vectorsets.Mixture`; short texts so FTS5 is filled too; no embedding
calls), their vector sidecar (codes included) built as ingest builds it, and kept
in a temporary folder for the run (`--keep DIR` keeps them across runs). For
each size, in the same run:

  * the floor: bare `M @ q` + `np.argpartition` top-10 on an in-memory float32
    matrix of the same shape; warm `Retriever.search_vector` latency, exact and
    compressed (the query vector is precomputed, so no embedding is timed),
    medians over `--queries` queries timed in turns, and their ratios to the floor:
    exact <= 1.5 at 100k and 1M, compressed <= 0.3 at 1M;
  * recall@10 of the compressed path against exact search over `--recall-queries`
    queries, at the default RESCORE and a few others:     target >= 0.98;
  * a cold `ragkit search "..." --mode vector` process (the fake Ollama, in its
    own process, embeds the query at once) on the default path: wall time
    (<= 1.0 s at 100k) and peak RSS (<= 0.3 x the float32 matrix at 1M, where
    the compressed path is the default);
  * disk bytes per chunk: database and sidecar, as `ragkit index` leaves them (codes
    from 100k chunks on) and after the exact runs (which add the float32 matrix);
  * the sidecar's build, in its own process (as `ragkit index` runs it): wall time
    and peak RSS, and its update after one document of 2,000 chunks is added and
    then removed again (rows read and encoded, time, peak RSS).

Sizes whose float32 matrix would not fit in memory (10M x 768 = 30 GB; say
`--sizes 1M,10M`) are measured without one: no floor or exact path of their own;
the compressed path's warm latency against the 1M floor of the same run (target
<= 2x), and recall@10 against an exact top 10 computed by streaming every stored
blob once (target >= 0.95). Such an index needs ~42 GB of disk; `--keep DIR`
keeps it for later runs.

Then the same recall figures on real all-MiniLM-L6-v2 embeddings of real text
chunks, cached by bench/real_vectors.py (skipped, with a note, when absent).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
from _common import (
    RAGKIT,
    FakeServer,
    Table,
    machine_note,
    mib,
    remove_index,
    run_measured,
    timer,
    work_dir,
)
from vectorsets import Mixture, real_minilm, real_minilm_path

from ragkit.chunking import Chunk
from ragkit.retriever import RESCORE, Retriever
from ragkit.store import NewDocument, Store
from ragkit.vectors import normalize_rows, sidecar_bytes, sidecar_dir, uses_codes

DIM = 768
K = 10
CHUNKS_PER_DOCUMENT = 2000
TARGET_RATIO = 1.5
RATIO_SIZES = (100_000, 1_000_000)
TARGET_COMPRESSED_RATIO = 0.3
TARGET_RECALL = 0.98
TARGET_COLD_SECONDS = 1.0
COLD_SIZE = 100_000
RSS_FACTOR, RSS_SLACK = 1.5, 150 * 2**20  # on the exact path
TARGET_RSS_SHARE = 0.3  # of the float32 matrix, on the compressed path, at 1M
COMPRESSED_SIZES = (1_000_000,)
COLD_RUNS = 3
OTHER_RESCORES = (5, 10, 20)
IN_MEMORY_GIB = 8.0  # larger float32 matrices: no floor, exact top k streamed
TARGET_LARGE_RATIO = 2.0  # compressed at 10M vs the 1M floor
TARGET_RECALL_LARGE = 0.95
STREAM_BLOCK = 32_768  # rows per block when streaming the exact top k

_WORDS = """dome telescope mirror shutter azimuth altitude motor encoder sensor camera
filter focus star galaxy nebula cluster planet moon comet exposure frame calibration
pixel detector cooling humidity wind cloud weather schedule operator night shift
maintenance manual safety alarm power cable network archive backup index query""".split()


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def bench_chunks(first: int, count: int, words: random.Random) -> list[Chunk]:
    chunks = []
    for seq in range(count):
        text = f"chunk {first + seq} " + " ".join(words.choices(_WORDS, k=8))
        chunks.append(Chunk(seq, text, seq * 100, seq * 100 + len(text), None, None))
    return chunks


def build_index(db: Path, vectors, n: int, dim: int) -> float:
    """Write `n` chunks through `Store.replace_document`, `vectors(first, count)`
    giving the rows of each document; then build the sidecar as ingest does, in a
    process of its own (`build_sidecar`). Returns the seconds of the store writes."""
    words = random.Random(n)
    started = time.perf_counter()
    with Store(db) as store:
        store.set_index_params(
            embed_model="nomic-embed-text", dim=dim, chunk_size=1000, chunk_overlap=150
        )
        for doc, first in enumerate(range(0, n, CHUNKS_PER_DOCUMENT)):
            count = min(CHUNKS_PER_DOCUMENT, n - first)
            record = NewDocument(f"/bench/doc{doc:05d}.txt", f"h{doc}", 1, 0.0, "text", None)
            store.replace_document(record, bench_chunks(first, count, words), vectors(first, count))
    return time.perf_counter() - started


_REFRESH = """
import sys
from ragkit.store import Store
from ragkit.vectors import VectorCache
with Store(sys.argv[1], create=False) as store:
    cache = VectorCache(store)
    cache.refresh()
    print(cache.rows_encoded, cache.rebuilds, cache.code_builds)
"""


def build_sidecar(db: Path):
    """`VectorCache.refresh()` in its own process: (ChildRun, rows it encoded)."""
    run = run_measured([sys.executable, "-c", _REFRESH, str(db)])
    if run.returncode != 0:
        raise SystemExit(f"sidecar build failed: {run.stderr.strip()}")
    return run, int(run.stdout.split()[0])


def bench_build(table: Table, name: str, db: Path, n: int, store_seconds: float | None) -> None:
    """The sidecar's full build, then its update after a document comes and goes."""
    if store_seconds is not None:
        table.add(
            f"[{name}] store writes (replace_document)",
            f"{store_seconds:.1f} s ({n / store_seconds:,.0f} chunks/s)",
        )
    for path in sidecar_dir(db).glob("*"):
        path.unlink()  # a build from scratch, as after `ragkit index` on a new folder
    run, encoded = build_sidecar(db)
    built = "codes" if uses_codes(n) else "matrix"
    table.add(
        f"[{name}] sidecar build from scratch: {built} ({encoded:,} rows encoded)",
        f"{run.seconds:.1f} s, peak RSS {mib(run.peak_rss)} (matrix {mib(n * DIM * 4)})",
    )
    add_disk(table, f"[{name}] disk as `ragkit index` leaves it: database + {built}", db, n)
    words, mix = random.Random(7), Mixture(DIM)
    with Store(db, create=False) as store:
        record = NewDocument("/bench/added.txt", "added", 1, 0.0, "text", None)
        chunks = bench_chunks(n, CHUNKS_PER_DOCUMENT, words)
        store.replace_document(record, chunks, mix.sample(CHUNKS_PER_DOCUMENT, seed=77))
    added, added_rows = build_sidecar(db)
    with Store(db, create=False) as store:
        store.delete_documents(["/bench/added.txt"])
    removed, removed_rows = build_sidecar(db)
    table.add(
        f"[{name}] sidecar update: +{CHUNKS_PER_DOCUMENT:,} chunks / the same removed",
        f"{added.seconds:.2f} s ({added_rows:,} rows encoded) / "
        f"{removed.seconds:.2f} s ({removed_rows:,}), peak RSS {mib(added.peak_rss)}",
    )


def add_disk(table: Table, figure: str, db: Path, n: int) -> None:
    with Store(db, create=False) as store:
        size = store.stats()["size_bytes"]
    sidecar = sidecar_bytes(db)
    table.add(figure, f"{(size + sidecar) / n:,.0f} B/chunk ({mib(size)} + {mib(sidecar)})")


def streamed_truth(db: Path, queries: np.ndarray) -> list[set[int]]:
    """The exact top K chunk ids of each query, from one pass over the stored blobs
    (no matrix in memory): for indexes too large for the exact path."""
    queries = normalize_rows(np.array(queries, np.float32))
    best_scores = np.full((len(queries), K), -np.inf, np.float32)
    best_ids = np.zeros((len(queries), K), np.int64)
    with Store(db, create=False) as store, store.embeddings() as reader:
        for ids, rows in reader.blocks(rows=STREAM_BLOCK):
            scores = queries @ normalize_rows(rows).T
            merged = np.concatenate([best_scores, scores], axis=1)
            merged_ids = np.concatenate([best_ids, np.broadcast_to(ids, scores.shape)], axis=1)
            top = np.argpartition(merged, -K, axis=1)[:, -K:]
            best_scores = np.take_along_axis(merged, top, axis=1)
            best_ids = np.take_along_axis(merged_ids, top, axis=1)
    return [set(row.tolist()) for row in best_ids]


def existing_size(db: Path) -> int | None:
    if not db.exists():
        return None
    try:
        with Store(db, create=False) as store:
            return store.counts()[1]
    except Exception:  # noqa: BLE001 - a broken leftover: rebuild it
        return None


def floor_top_k(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    scores = matrix @ q
    return np.argpartition(scores, scores.shape[0] - K)[-K:]


def timed_in_turns(funcs, queries: list[np.ndarray]) -> list[float]:
    """Median seconds of each of `funcs(q)` over the queries, timed in turns
    (first, second, ..., first, ...) so that all see the same machine load."""
    times: list[list[float]] = [[] for _ in funcs]
    for q in queries:
        for func, out in zip(funcs, times, strict=True):
            started = time.perf_counter()
            func(q)
            out.append(time.perf_counter() - started)
    return [statistics.median(t) for t in times]


def recall_at_k(db: Path, queries: np.ndarray, rescores, truth=None) -> dict[int, float]:
    """Mean share of the exact top K that the compressed path finds, per rescore."""
    if truth is None:
        with Retriever(db, exact=True) as exact:
            truth = [{h.chunk_id for h in exact.search_vector(q, k=K)} for q in queries]
    found = {}
    for rescore in rescores:
        with Retriever(db, exact=False, rescore=rescore) as compressed:
            hits = [{h.chunk_id for h in compressed.search_vector(q, k=K)} for q in queries]
        found[rescore] = float(np.mean([len(t & h) / K for t, h in zip(truth, hits, strict=True)]))
    return found


def add_recall(
    table: Table, name: str, db: Path, queries: np.ndarray, *, streamed: bool = False
) -> None:
    truth = streamed_truth(db, queries) if streamed else None
    recalls = recall_at_k(db, queries, (RESCORE, *OTHER_RESCORES), truth)
    target = TARGET_RECALL_LARGE if streamed else TARGET_RECALL
    table.add(
        f"[{name}] recall@{K}, compressed vs exact, rescore {RESCORE} x k ({len(queries)} q)",
        f"{recalls[RESCORE]:.4f}",
        f">= {target}",
        recalls[RESCORE] >= target,
    )
    others = ", ".join(f"{r}: {recalls[r]:.4f}" for r in OTHER_RESCORES)
    table.add(f"[{name}] recall@{K} at other rescore factors", others)


def bench_size(
    table: Table, work: Path, n: int, args, url: str, mix: Mixture, floors: dict
) -> None:
    name = label(n)
    db = work / f"search-{name}.db"
    store_seconds = None
    if existing_size(db) != n:
        remove_index(db)
        vectors = lambda first, count: mix.sample(count, args.seed + first)  # noqa: E731
        store_seconds = build_index(db, vectors, n, DIM)
    bench_build(table, name, db, n, store_seconds)
    queries = list(mix.sample(args.queries, seed=10**9))
    large = n * DIM * 4 > args.in_memory_gib * 2**30
    if large:
        bench_large_latency(table, name, db, queries, floors)
    else:
        floors[n] = bench_latency(table, name, n, db, queries)
    add_recall(table, name, db, mix.sample(args.recall_queries, seed=2**31), streamed=large)
    bench_cold(table, name, n, db, url)
    add_disk(table, f"[{name}] disk after the exact runs: database + sidecar", db, n)
    if not args.keep:
        remove_index(db)  # the next size needs the disk more


def bench_latency(table: Table, name: str, n: int, db: Path, queries) -> None:
    """Warm exact and compressed search against the floor, timed in turns."""
    with Retriever(db, exact=True) as exact, Retriever(db, exact=False) as compressed:
        for retriever in (exact, compressed):
            retriever.search_vector(queries[0], k=K)  # maps the sidecar, warms the pages
            assert len(retriever.search_vector(queries[0], k=K)) == K
        _, mapped = exact.vectors.load()
        matrix = np.array(mapped)  # the floor's in-memory copy, same shape and values
        floor_top_k(matrix, queries[0])
        warm, packed, floor = timed_in_turns(
            [
                lambda q: exact.search_vector(q, k=K),
                lambda q: compressed.search_vector(q, k=K),
                partial(floor_top_k, matrix),
            ],
            queries,
        )
        del matrix, mapped
    gc.collect()
    table.add(f"[{name}] floor: M @ q + argpartition (median)", f"{floor * 1000:.2f} ms")
    table.add(f"[{name}] Retriever.search_vector, exact, warm", f"{warm * 1000:.2f} ms")
    ratio = warm / floor
    table.add(
        f"[{name}] exact / floor",
        f"{ratio:.2f}",
        f"<= {TARGET_RATIO}" if n in RATIO_SIZES else "",
        ratio <= TARGET_RATIO if n in RATIO_SIZES else None,
    )
    table.add(f"[{name}] Retriever.search_vector, compressed, warm", f"{packed * 1000:.2f} ms")
    ratio = packed / floor
    table.add(
        f"[{name}] compressed / floor",
        f"{ratio:.2f}",
        f"<= {TARGET_COMPRESSED_RATIO}" if n in COMPRESSED_SIZES else "",
        ratio <= TARGET_COMPRESSED_RATIO if n in COMPRESSED_SIZES else None,
    )
    return floor


def bench_large_latency(table: Table, name: str, db: Path, queries, floors: dict) -> None:
    """Warm compressed search of an index too large for a float32 matrix in memory,
    against the floor of the largest size measured before it in this run."""
    with Retriever(db, exact=False) as compressed:
        for q in queries[:3]:  # maps the codes, warms their pages
            assert len(compressed.search_vector(q, k=K)) == K
        (packed,) = timed_in_turns([lambda q: compressed.search_vector(q, k=K)], queries)
    table.add(f"[{name}] Retriever.search_vector, compressed, warm", f"{packed * 1000:.2f} ms")
    if not floors:
        table.add(f"[{name}] compressed / floor", "no floor measured: add 1M to --sizes")
        return
    size = max(floors)
    ratio = packed / floors[size]
    table.add(
        f"[{name}] compressed / the {label(size)} float32 floor",
        f"{ratio:.2f}",
        f"<= {TARGET_LARGE_RATIO}",
        ratio <= TARGET_LARGE_RATIO,
    )


def bench_cold(table: Table, name: str, n: int, db: Path, url: str) -> None:
    """Cold `ragkit search` processes on the default path (sidecar already built)."""
    path = "compressed" if uses_codes(n) else "exact"
    cmd = [str(RAGKIT), "search", "dome rotation at night", "--mode", "vector", "-k", str(K)]
    cmd += ["--db", str(db), "--host", url, "--json"]
    runs = [run_measured(cmd) for _ in range(COLD_RUNS)]
    for run in runs:
        if run.returncode != 0:
            raise SystemExit(f"ragkit search failed ({run.returncode}): {run.stderr.strip()}")
    cold = statistics.median(r.seconds for r in runs)
    table.add(
        f"[{name}] cold `ragkit search --mode vector`, {path} (median of {COLD_RUNS})",
        f"{cold:.3f} s (first {runs[0].seconds:.3f} s)",
        f"<= {TARGET_COLD_SECONDS:g} s" if n == COLD_SIZE else "",
        cold <= TARGET_COLD_SECONDS if n == COLD_SIZE else None,
    )
    rss, matrix_bytes = max(r.peak_rss for r in runs), n * DIM * 4
    if path == "exact":
        limit, target = RSS_FACTOR * matrix_bytes + RSS_SLACK, ""
    else:
        limit = TARGET_RSS_SHARE * matrix_bytes
        target = f" ({rss / matrix_bytes:.3f} x matrix)"
    table.add(
        f"[{name}] peak RSS of `ragkit search`, {path}",
        f"{mib(rss)}{target} (matrix {mib(matrix_bytes)})",
        f"<= {mib(limit)}",
        rss <= limit if path == "exact" or n in COMPRESSED_SIZES else None,
    )


def bench_real(table: Table, work: Path, args) -> None:
    """Recall of the compressed path on real MiniLM embeddings of real text."""
    path = real_minilm_path()
    if path is None:
        table.add("[MiniLM] real embeddings", "none cached: run bench/real_vectors.py")
        return
    rows, queries = real_minilm(path, args.recall_queries)
    name = f"MiniLM {len(rows) // 1000}k"
    db = work / "search-minilm.db"
    remove_index(db)
    build_index(db, lambda first, count: rows[first : first + count], len(rows), rows.shape[1])
    build_sidecar(db)
    table.add(
        f"[{name}] real all-MiniLM-L6-v2 vectors", f"{len(rows):,} x {rows.shape[1]}, {path.name}"
    )
    add_recall(table, name, db, queries)
    bench_latency(table, name, len(rows), db, list(queries[: args.queries]))
    remove_index(db)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,100k,1M", help="index sizes (default 10k,100k,1M)")
    parser.add_argument("--queries", type=int, default=20, help="timed queries per figure")
    parser.add_argument("--recall-queries", type=int, default=200, help="queries for recall")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="only 10k and 100k")
    parser.add_argument("--keep", metavar="DIR", help="keep the built indexes in DIR for reuse")
    parser.add_argument(
        "--in-memory-gib",
        type=float,
        default=IN_MEMORY_GIB,
        help="largest float32 matrix measured with a floor and the exact path",
    )
    parser.add_argument("--no-real", action="store_true", help="skip the real MiniLM vectors")
    args = parser.parse_args(argv)
    chosen = "10k,100k" if args.quick else args.sizes  # "" measures only the real vectors
    sizes = [parse_size(s) for s in chosen.split(",") if s.strip()]

    table = Table(f"Retriever, {DIM}-d vectors, top-{K} ({machine_note()})")
    mix = Mixture(DIM)
    with work_dir(args.keep) as work, FakeServer() as fake:
        if not args.no_real:
            bench_real(table, work, args)
        floors: dict[int, float] = {}
        for n in sorted(sizes):
            with timer() as took:
                bench_size(table, work, n, args, fake.url, mix, floors)
            print(f"{label(n)} done in {took[0]:.0f} s", flush=True)
    table.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

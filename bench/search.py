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
  * disk bytes per chunk: database and sidecar.

Then the same recall figures on real all-MiniLM-L6-v2 embeddings of real text
chunks, cached by bench/real_vectors.py (skipped, with a note, when absent).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
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
from ragkit.vectors import VectorCache, sidecar_bytes, uses_codes

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


def build_index(db: Path, vectors, n: int, dim: int) -> float:
    """Write `n` chunks through `Store.replace_document`, `vectors(first, count)`
    giving the rows of each document, then build the sidecar as ingest does."""
    words = random.Random(n)
    started = time.perf_counter()
    with Store(db) as store:
        store.set_index_params(
            embed_model="nomic-embed-text", dim=dim, chunk_size=1000, chunk_overlap=150
        )
        for doc, first in enumerate(range(0, n, CHUNKS_PER_DOCUMENT)):
            count = min(CHUNKS_PER_DOCUMENT, n - first)
            chunks = []
            for seq in range(count):
                text = f"chunk {first + seq} " + " ".join(words.choices(_WORDS, k=8))
                chunks.append(Chunk(seq, text, seq * 100, seq * 100 + len(text), None, None))
            record = NewDocument(f"/bench/doc{doc:05d}.txt", f"h{doc}", 1, 0.0, "text", None)
            store.replace_document(record, chunks, vectors(first, count))
        VectorCache(store).refresh()
    return time.perf_counter() - started


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


def recall_at_k(db: Path, queries: np.ndarray, rescores) -> dict[int, float]:
    """Mean share of the exact top K that the compressed path finds, per rescore."""
    with Retriever(db, exact=True) as exact:
        truth = [{h.chunk_id for h in exact.search_vector(q, k=K)} for q in queries]
    found = {}
    for rescore in rescores:
        with Retriever(db, exact=False, rescore=rescore) as compressed:
            hits = [{h.chunk_id for h in compressed.search_vector(q, k=K)} for q in queries]
        found[rescore] = float(np.mean([len(t & h) / K for t, h in zip(truth, hits, strict=True)]))
    return found


def add_recall(table: Table, name: str, db: Path, queries: np.ndarray) -> None:
    recalls = recall_at_k(db, queries, (RESCORE, *OTHER_RESCORES))
    table.add(
        f"[{name}] recall@{K}, compressed vs exact, rescore {RESCORE} x k ({len(queries)} q)",
        f"{recalls[RESCORE]:.4f}",
        f">= {TARGET_RECALL}",
        recalls[RESCORE] >= TARGET_RECALL,
    )
    others = ", ".join(f"{r}: {recalls[r]:.4f}" for r in OTHER_RESCORES)
    table.add(f"[{name}] recall@{K} at other rescore factors", others)


def bench_size(table: Table, work: Path, n: int, args, url: str, mix: Mixture) -> None:
    name = label(n)
    db = work / f"search-{name}.db"
    if existing_size(db) != n:
        remove_index(db)
        took = build_index(db, lambda first, count: mix.sample(count, args.seed + first), n, DIM)
        table.add(
            f"[{name}] build (replace_document + sidecar)",
            f"{took:.1f} s ({n / took:,.0f} chunks/s)",
        )
    queries = list(mix.sample(args.queries, seed=10**9))
    bench_latency(table, name, n, db, queries)
    add_recall(table, name, db, mix.sample(args.recall_queries, seed=2**31))
    bench_cold(table, name, n, db, url)
    with Store(db, create=False) as store:
        stats = store.stats()
    disk = stats["size_bytes"] + sidecar_bytes(db)
    table.add(
        f"[{name}] disk: database + sidecar",
        f"{disk / n:,.0f} B/chunk ({mib(stats['size_bytes'])} + {mib(sidecar_bytes(db))})",
    )
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
    parser.add_argument("--no-real", action="store_true", help="skip the real MiniLM vectors")
    args = parser.parse_args(argv)
    chosen = "10k,100k" if args.quick else args.sizes  # "" measures only the real vectors
    sizes = [parse_size(s) for s in chosen.split(",") if s.strip()]

    table = Table(f"Retriever, {DIM}-d vectors, top-{K} ({machine_note()})")
    mix = Mixture(DIM)
    with work_dir(args.keep) as work, FakeServer() as fake:
        if not args.no_real:
            bench_real(table, work, args)
        for n in sizes:
            with timer() as took:
                bench_size(table, work, n, args, fake.url, mix)
            print(f"{label(n)} done in {took[0]:.0f} s", flush=True)
    table.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

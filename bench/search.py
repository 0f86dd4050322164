"""Benchmark of vector search (`Retriever`) at 10k, 100k and 1M chunks of 768 dims.

    .venv/bin/python bench/search.py [--sizes 10k,100k,1M] [--queries 20] [--quick]

Indexes are written straight into the store (random unit-ish vectors, short
texts so FTS5 is filled too; no embedding calls), their vector sidecar built
as ingest builds it, and kept in a temporary folder for the run (`--keep DIR`
keeps them across runs). For each size, in the same run:

  * warm `Retriever.search_vector` latency (the query vector is precomputed, so
    no embedding is timed), median over `--queries` queries;
  * the floor: bare `M @ q` + `np.argpartition` top-10 on an in-memory float32
    matrix of the same shape, median of as many queries;
  * their ratio;                                       target <= 1.5 at 100k and 1M
  * a cold `ragkit search "..." --mode vector` process (the fake Ollama, in its
    own process, embeds the query at once): wall time;      target <= 1.0 s at 100k
  * that process's peak RSS;                  target <= 1.5 x matrix bytes + 150 MB
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

from ragkit.chunking import Chunk
from ragkit.retriever import Retriever
from ragkit.store import NewDocument, Store
from ragkit.vectors import VectorCache

DIM = 768
K = 10
CHUNKS_PER_DOCUMENT = 2000
TARGET_RATIO = 1.5
RATIO_SIZES = (100_000, 1_000_000)
TARGET_COLD_SECONDS = 1.0
COLD_SIZE = 100_000
RSS_FACTOR, RSS_SLACK = 1.5, 150 * 2**20
COLD_RUNS = 3

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


def build_index(db: Path, n: int, seed: int) -> float:
    """Write `n` chunks with random 768-d vectors through `Store.replace_document`,
    then build the vector sidecar as ingest does. Returns the seconds taken."""
    rng = np.random.default_rng(seed)
    words = random.Random(seed)
    started = time.perf_counter()
    with Store(db) as store:
        store.set_index_params(
            embed_model="nomic-embed-text", dim=DIM, chunk_size=1000, chunk_overlap=150
        )
        for doc, first in enumerate(range(0, n, CHUNKS_PER_DOCUMENT)):
            count = min(CHUNKS_PER_DOCUMENT, n - first)
            chunks = []
            for seq in range(count):
                text = f"chunk {first + seq} " + " ".join(words.choices(_WORDS, k=8))
                chunks.append(Chunk(seq, text, seq * 100, seq * 100 + len(text), None, None))
            record = NewDocument(f"/bench/doc{doc:05d}.txt", f"h{doc}", 1, 0.0, "text", None)
            vectors = rng.standard_normal((count, DIM), dtype=np.float32)
            store.replace_document(record, chunks, vectors)
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


def unit_queries(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    queries = rng.standard_normal((count, DIM), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return list(queries)


def floor_top_k(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    scores = matrix @ q
    return np.argpartition(scores, scores.shape[0] - K)[-K:]


def interleaved_medians(first, second, queries: list[np.ndarray]) -> tuple[float, float]:
    """Median seconds of `first(q)` and of `second(q)` over the queries, timed in
    turns (first, second, first, ...) so that both see the same machine load."""
    times: tuple[list[float], list[float]] = ([], [])
    for q in queries:
        for func, out in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            func(q)
            out.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def bench_size(table: Table, work: Path, n: int, args, url: str) -> None:
    name = label(n)
    db = work / f"search-{name}.db"
    if existing_size(db) != n:
        remove_index(db)
        took = build_index(db, n, args.seed)
        table.add(
            f"[{name}] build (replace_document + sidecar)",
            f"{took:.1f} s ({n / took:,.0f} chunks/s)",
        )
    queries = unit_queries(args.queries, args.seed)

    # warm Retriever latency (no embedding in the timed part) against the floor
    with Retriever(db) as retriever:
        retriever.search_vector(queries[0], k=K)  # maps the sidecar, warms the pages
        hits = retriever.search_vector(queries[0], k=K)
        assert len(hits) == K
        _, mapped = retriever.vectors.load()
        matrix = np.array(mapped)  # the floor's in-memory copy, same shape and values
        floor_top_k(matrix, queries[0])
        warm, floor = interleaved_medians(
            lambda q: retriever.search_vector(q, k=K),
            partial(floor_top_k, matrix),
            queries,
        )
        matrix_bytes = matrix.nbytes
        del matrix, mapped
    gc.collect()
    table.add(f"[{name}] Retriever.search_vector, warm (median)", f"{warm * 1000:.2f} ms")
    table.add(f"[{name}] floor: M @ q + argpartition (median)", f"{floor * 1000:.2f} ms")
    ratio = warm / floor
    table.add(
        f"[{name}] retriever / floor",
        f"{ratio:.2f}",
        f"<= {TARGET_RATIO}" if n in RATIO_SIZES else "",
        ratio <= TARGET_RATIO if n in RATIO_SIZES else None,
    )

    # cold `ragkit search` processes (sidecar already built)
    cmd = [str(RAGKIT), "search", "dome rotation at night", "--mode", "vector", "-k", str(K)]
    cmd += ["--db", str(db), "--host", url, "--json"]
    runs = [run_measured(cmd) for _ in range(COLD_RUNS)]
    for run in runs:
        if run.returncode != 0:
            raise SystemExit(f"ragkit search failed ({run.returncode}): {run.stderr.strip()}")
    cold = statistics.median(r.seconds for r in runs)
    table.add(
        f"[{name}] cold `ragkit search --mode vector` (median of {COLD_RUNS})",
        f"{cold:.3f} s (first {runs[0].seconds:.3f} s)",
        f"<= {TARGET_COLD_SECONDS:g} s" if n == COLD_SIZE else "",
        cold <= TARGET_COLD_SECONDS if n == COLD_SIZE else None,
    )
    rss = max(r.peak_rss for r in runs)
    limit = RSS_FACTOR * matrix_bytes + RSS_SLACK
    table.add(
        f"[{name}] peak RSS of `ragkit search`",
        f"{mib(rss)} (matrix {mib(matrix_bytes)})",
        f"<= {mib(limit)}",
        rss <= limit,
    )
    if not args.keep:
        remove_index(db)  # the next size needs the disk more


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,100k,1M", help="index sizes (default 10k,100k,1M)")
    parser.add_argument("--queries", type=int, default=20, help="timed queries per figure")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="only 10k and 100k")
    parser.add_argument("--keep", metavar="DIR", help="keep the built indexes in DIR for reuse")
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in ("10k,100k" if args.quick else args.sizes).split(",")]

    table = Table(f"Retriever, {DIM}-d vectors, top-{K} ({machine_note()})")
    with work_dir(args.keep) as work, FakeServer() as fake:
        for n in sizes:
            with timer() as took:
                bench_size(table, work, n, args, fake.url)
            print(f"{label(n)} done in {took[0]:.0f} s", flush=True)
    table.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Load check of `ragkit serve`: `/api/search` on a 100k-chunk index over HTTP, next
to the same searches made in-process with `Retriever.search`.

    .venv/bin/python bench/serve.py [--chunks 100k] [--requests 400] [--clients 8]

The index is built as bench/search.py builds it (random 768-d vectors, short texts
so FTS5 is filled too); the fake Ollama, in its own process, embeds each query for
both sides. Figures, in the same run:

for `--mode vector` and for the default hybrid search, k=10:

  * in-process `Retriever.search` and `GET /api/search` from one keep-alive client,
    made in turns: p50 and p99 of each, and the overhead of HTTP and JSON at p50
    (the server's work on top of the same search);     target <= 10 ms at p50
  * `--clients` clients at once, `--requests` in all: requests/s, p50 and p99,
    next to the in-process rate of one caller.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from _common import RAGKIT, FakeServer, Table, child_env, machine_note, work_dir
from search import build_index, label, parse_size

from ragkit.ollama import OllamaClient
from ragkit.retriever import Retriever

K = 10
QUERIES = ["dome rotation at night", "shutter motor alarm", "camera cooling humidity"]
TARGET_OVERHEAD_MS = 10.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def interleaved(retriever: Retriever, base: str, mode: str, count: int) -> tuple[list, list]:
    """Seconds of `count` in-process searches and of `count` `GET /api/search`, made in
    turns (one of each, one after another) so that both see the same machine load."""
    local: list[float] = []
    remote: list[float] = []
    with requests.Session() as session:
        retriever.search(QUERIES[0], K, mode=mode)  # warm: both map the sidecar first
        _search(session, base, QUERIES[0], mode, [])
        for i in range(count):
            query = QUERIES[i % len(QUERIES)]
            started = time.perf_counter()
            retriever.search(query, K, mode=mode)
            local.append(time.perf_counter() - started)
            _search(session, base, query, mode, remote)
    return local, remote


def _search(session: requests.Session, base: str, query: str, mode: str, times: list) -> None:
    params = {"q": query, "k": K, "mode": mode}
    started = time.perf_counter()
    response = session.get(f"{base}/api/search", params=params, timeout=120)
    times.append(time.perf_counter() - started)
    if response.status_code != 200 or len(response.json()["hits"]) != K:
        raise SystemExit(f"bad answer: {response.status_code} {response.text[:200]}")


def start_server(db: Path, url: str) -> tuple[subprocess.Popen, str]:
    command = [str(RAGKIT), "serve", "--db", str(db), "--port", "0", "--ollama", url]
    proc = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=child_env()
    )
    first = proc.stderr.readline()
    if " at http://" not in first:
        proc.kill()
        raise SystemExit(f"ragkit serve did not start: {first.strip()}")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # drain request logs
    return proc, first.rsplit(" at ", 1)[1].strip()


def concurrent(base: str, mode: str, clients: int, total: int) -> tuple[float, list[float]]:
    """(requests/s, latencies) of `clients` keep-alive clients making `total` searches."""
    times: list[float] = []

    def client(offset: int) -> None:
        with requests.Session() as session:
            for i in range(total // clients):
                _search(session, base, QUERIES[(offset + i) % len(QUERIES)], mode, times)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(times) / (time.perf_counter() - started), times


def bench_mode(table: Table, retriever: Retriever, base: str, mode: str, args) -> None:
    local, remote = interleaved(retriever, base, mode, args.sequential)
    p50_local, p50_remote = percentile(local, 0.5), percentile(remote, 0.5)
    table.add(f"[{mode}] in-process Retriever.search, p50 / p99", _pair(local))
    table.add(f"[{mode}] GET /api/search, 1 client, p50 / p99", _pair(remote))
    overhead = (p50_remote - p50_local) * 1000
    target = f"<= {TARGET_OVERHEAD_MS:g} ms"
    table.add(
        f"[{mode}] HTTP + JSON overhead at p50",
        f"{overhead:.1f} ms",
        target,
        overhead <= TARGET_OVERHEAD_MS,
    )
    rate, loaded = concurrent(base, mode, args.clients, args.requests)
    table.add(
        f"[{mode}] {args.clients} clients at once: requests/s",
        f"{rate:.1f} (in-process, 1 caller: {1 / statistics.mean(local):.1f}/s)",
    )
    table.add(f"[{mode}] {args.clients} clients at once: p50 / p99", _pair(loaded))


def _pair(times: list[float]) -> str:
    return f"{ms(percentile(times, 0.5))} / {ms(percentile(times, 0.99))}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", default="100k", help="index size (default 100k)")
    parser.add_argument("--requests", type=int, default=160, help="requests under load")
    parser.add_argument("--clients", type=int, default=8, help="clients at once")
    parser.add_argument("--sequential", type=int, default=40, help="one-by-one searches")
    parser.add_argument("--keep", metavar="DIR", help="keep the built index in DIR")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    n = parse_size(args.chunks)
    table = Table(f"ragkit serve, /api/search on {label(n)} chunks ({machine_note()})")
    with work_dir(args.keep) as work, FakeServer() as fake:
        db = work / f"serve-{label(n)}.db"
        if not db.exists():
            took = build_index(db, n, args.seed)
            table.add(f"[{label(n)}] build", f"{took:.1f} s")
        proc, base = start_server(db, fake.url)
        try:
            with Retriever(db, client=OllamaClient(fake.url)) as retriever:
                for mode in ("vector", "hybrid"):
                    bench_mode(table, retriever, base, mode, args)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

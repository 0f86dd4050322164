"""Benchmark of `ragkit watch`: how long from a save until the new text is searchable,
with notifications (inotify) and with polling, and what an idle watcher costs.

    .venv/bin/python bench/watch.py [--saves 20] [--idle 10] [--keep DIR]

For each mode a `ragkit watch` child (default --settle and --interval) watches a folder
of 200 notes; each round saves one note with a new marker word and times until an FTS
query for the word finds it in the index (read-only SQLite, looked up every 5 ms).
Then the child sits idle for `--idle` seconds and its CPU time over them is reported.
The fake Ollama runs in its own process. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import RAGKIT, ROOT, FakeServer, child_env, process_cpu_seconds, work_dir

sys.path.insert(0, str(ROOT))
from tests.index_checks import marked_text, write_marked_corpus  # noqa: E402


def searchable(db: Path, word: str) -> bool:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            sql = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?"
            return conn.execute(sql, (f'"{word}"',)).fetchone()[0] > 0
    except sqlite3.Error:
        return False


def wait_until(condition, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("the watcher did not catch up within a minute")
        time.sleep(0.005)


def measure(mode: str, folder: Path, db: Path, url: str, saves: int, idle: float) -> dict:
    """Latencies of `saves` saves and the CPU seconds of `idle` idle seconds."""
    args = [str(RAGKIT), "watch", str(folder), "--db", str(db), "--quiet"]
    args += ["--poll"] if mode == "polling" else []
    child = subprocess.Popen(args, env=child_env(OLLAMA_HOST=url), stdout=subprocess.DEVNULL)
    rng = random.Random(mode)
    notes = sorted(folder.rglob("*.md"))
    try:
        wait_until(lambda: searchable(db, "mark0001v0"))
        time.sleep(1.0)  # the notifications are set up after the first pass
        latencies = []
        for n in range(saves):
            word = f"{mode[0]}save{n:03d}"
            started = time.monotonic()
            notes[n].write_text(marked_text(rng, word, 1500))
            wait_until(lambda word=word: searchable(db, word))
            latencies.append(time.monotonic() - started)
        time.sleep(1.0)
        cpu = process_cpu_seconds(child.pid)
        time.sleep(idle)
        idle_cpu = process_cpu_seconds(child.pid) - cpu
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
    return {"latencies": latencies, "idle_cpu": idle_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--keep")
    options = parser.parse_args()
    with work_dir(options.keep) as work, FakeServer() as fake:
        for mode in ("notifications", "polling"):
            folder = work / mode
            write_marked_corpus(folder, 200, random.Random(1))
            db = work / f"{mode}.db"
            result = measure(mode, folder, db, fake.url, options.saves, options.idle)
            lat = result["latencies"]
            print(
                f"{mode:<14} save -> searchable: median {statistics.median(lat):.2f}s, "
                f"max {max(lat):.2f}s over {len(lat)} saves; idle CPU "
                f"{100 * result['idle_cpu'] / options.idle:.2f}% of a core "
                f"({result['idle_cpu']:.3f}s in {options.idle:g}s)"
            )


if __name__ == "__main__":
    main()

"""Benchmark of start-up: how long `ragkit` takes before it does anything useful.

    .venv/bin/python bench/startup.py [--runs 11] [--keep DIR]

Median wall time (child processes, timed around spawn and wait) of, in the same
run and interleaved so that all see the same machine load:

  * `python -c "import click"`                     the floor of `--help`
  * `ragkit --help`                                target <= 1.5 x the click floor
  * `python -c "import numpy, requests"`           the floor of a command that works
  * `ragkit status` on the 100k-chunk index         (reported against that floor)
  * a cold `ragkit search "..."` (hybrid, the default) at 100k chunks, the fake
    Ollama in its own process embedding the query; target <= 1.3 x (numpy+requests
    floor + the query time), where the query time is the median of the same search
    in a warm `Retriever` of this process.

The index is built as in bench/search.py (random vectors, short texts, sidecar).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from _common import RAGKIT, FakeServer, Table, machine_note, run_measured, timer, work_dir
from search import build_index, existing_size

from ragkit.ollama import OllamaClient
from ragkit.retriever import Retriever

SIZE = 100_000
QUERY = "dome rotation at night"
TARGET_HELP = 1.5  # x `import click`
TARGET_SEARCH = 1.3  # x (`import numpy, requests` + the query time)


def timed_medians(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median seconds of each command over `runs` rounds, one of each per round."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, args in commands.items():
            run = run_measured(args)
            if run.returncode != 0:
                raise SystemExit(f"{name} failed ({run.returncode}): {run.stderr.strip()}")
            times[name].append(run.seconds)
    return {name: statistics.median(values) for name, values in times.items()}


def query_seconds(db: Path, url: str, runs: int) -> float:
    """The median time of the search itself, in a warm Retriever (embedding included)."""
    with Retriever(db, client=OllamaClient(url)) as retriever:
        retriever.search(QUERY, k=10)  # maps the sidecar, warms the pages
        times = []
        for _ in range(runs):
            with timer() as took:
                retriever.search(QUERY, k=10)
            times.append(took[0])
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="rounds of each command")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", metavar="DIR", help="keep the built index in DIR for reuse")
    args = parser.parse_args(argv)

    table = Table(f"Start-up, median of {args.runs} runs ({machine_note()})")
    with work_dir(args.keep) as work, FakeServer() as fake:
        db = work / "search-100k.db"  # the name bench/search.py --keep uses
        if existing_size(db) != SIZE:
            table.add("[100k] build", f"{build_index(db, SIZE, args.seed):.1f} s")
        python, ragkit = sys.executable, str(RAGKIT)
        index = ["--db", str(db)]
        medians = timed_medians(
            {
                "click": [python, "-c", "import click"],
                "help": [ragkit, "--help"],
                "numpy": [python, "-c", "import numpy, requests"],
                "status": [ragkit, "status", *index],
                "search": [ragkit, "search", QUERY, "-k", "10", "--host", fake.url, *index],
            },
            args.runs,
        )
        query = query_seconds(db, fake.url, args.runs)
    report(table, medians, query)
    table.print()
    return 0


def report(table: Table, medians: dict[str, float], query: float) -> None:
    ms = {name: f"{seconds * 1000:.0f} ms" for name, seconds in medians.items()}
    table.add('floor: python -c "import click"', ms["click"])
    ratio = medians["help"] / medians["click"]
    help_line = f"{ms['help']} ({ratio:.2f} x click)"
    table.add("ragkit --help", help_line, f"<= {TARGET_HELP} x", ratio <= TARGET_HELP)
    table.add('floor: python -c "import numpy, requests"', ms["numpy"])
    status = medians["status"] / medians["numpy"]
    table.add("[100k] ragkit status", f"{ms['status']} ({status:.2f} x numpy+requests)")
    table.add("[100k] query time, warm Retriever.search (hybrid)", f"{query * 1000:.1f} ms")
    floor = medians["numpy"] + query
    ratio = medians["search"] / floor
    table.add(
        "[100k] cold ragkit search (hybrid)",
        f"{ms['search']} ({ratio:.2f} x (numpy+requests + query))",
        f"<= {TARGET_SEARCH} x",
        ratio <= TARGET_SEARCH,
    )


if __name__ == "__main__":
    raise SystemExit(main())

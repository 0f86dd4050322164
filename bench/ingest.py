"""Benchmark of `ragkit index` (the ingest pipeline) against the fake Ollama.

    .venv/bin/python bench/ingest.py [--files 2400] [--latency 0.002] [--quick]

A deterministic corpus of mixed .md/.txt files (prose-like text, one to four
chunks each) is written to a temporary folder and indexed through a fake Ollama
running as a separate process (so it has the other core):

  (a) no model latency: chunks/s of `Ingester.run`, and of `ragkit index` as a
      whole process (start-up included);                    target >= 2,000/s
  (b) a per-text latency with `--serialize` (the server acts as one GPU):
      ingest wall time / server busy seconds;                 target <= 1.15
  (c) a second run over the unchanged corpus: its seconds and the number of
      embedding requests it made;                      target <= 2 s, 0 requests
  (d) real embeddings: `ragkit index` of the first `--local-files` files against
      `ragkit local-server` (all-MiniLM-L6-v2 on the CPU): chunks/s, and ingest wall /
      the server's model-busy seconds (target <= 1.15); the models' load times and
      one answer's tokens/s. Only with ragkit[local] installed; skipped (and said
      so) without it.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

from _common import (
    RAGKIT,
    FakeServer,
    Table,
    child_env,
    machine_note,
    mib,
    remove_index,
    run_measured,
    self_cpu_seconds,
    timer,
    work_dir,
)

from ragkit.ingest import Ingester
from ragkit.ollama import OllamaClient
from ragkit.store import Store

TARGET_CHUNKS_PER_S = 2000
TARGET_BUSY_RATIO = 1.15
TARGET_RERUN_SECONDS = 2.0

_WORDS = """
observatory dome telescope mirror shutter azimuth altitude mount motor encoder
sensor camera filter wheel focus night sky star galaxy nebula cluster planet
moon comet exposure frame calibration flat dark bias pixel detector cooling
temperature humidity wind rain cloud weather station log schedule operator
night shift maintenance manual procedure safety check alarm power supply cable
network server archive backup database index query search result report graph
the a of and to in is that for on with as by this it from at be are was were
will can should must may not all each every some many few first last next
before after during while when where how why which who what slowly carefully
quickly always never often rarely usually park rotate open close start stop
measure record compare adjust align point track guide slew home restart reset
inspect replace clean tighten loosen lubricate test verify confirm document
""".split()
_NAMES = "Vega Altair Deneb Rigel Sirius Capella Arcturus Polaris Spica Antares".split()


def sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(6, 18))
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(_NAMES))
    if rng.random() < 0.2:
        words.append(f"{rng.randint(1, 359)} degrees")
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(".....?!")


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(2, 6)))


def document(rng: random.Random, markdown: bool) -> str:
    """About 500-3,500 characters: one to four 1,000-character chunks."""
    goal = rng.randint(500, 3500)
    parts: list[str] = []
    if markdown:
        parts.append(f"# {rng.choice(_NAMES)} {' '.join(rng.choices(_WORDS, k=3))}")
    size = 0
    while size < goal:
        if markdown and parts and rng.random() < 0.25:
            parts.append(f"## {' '.join(rng.choices(_WORDS, k=rng.randint(1, 4))).title()}")
        parts.append(paragraph(rng))
        size += len(parts[-1]) + 2
    return "\n\n".join(parts) + "\n"


def write_corpus(folder: Path, files: int, seed: int) -> int:
    """`files` files in nested folders; returns the total bytes written."""
    rng = random.Random(seed)
    total = 0
    for i in range(files):
        sub = folder / f"area{i % 12:02d}" / f"topic{(i // 12) % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        markdown = rng.random() < 0.6
        text = document(rng, markdown)
        (sub / f"note{i:05d}.{'md' if markdown else 'txt'}").write_text(text, encoding="utf-8")
        total += len(text)
    return total


def ingest(db: Path, corpus: Path, url: str):
    """One in-process `Ingester.run`; (summary, wall seconds)."""
    with Store(db) as store, timer() as took:
        summary = Ingester(store, OllamaClient(url)).run([corpus])
    return summary, took[0]


def local_server_figures(table: Table, work: Path, corpus: Path, files: int) -> None:
    """(d): `ragkit index` of `files` files against the local server with real MiniLM."""
    from ragkit.localserver import missing_parts

    if missing_parts():
        print(f"(d) skipped: ragkit[local] is not installed ({', '.join(missing_parts())})")
        table.add("(d) real MiniLM via ragkit local-server", "skipped: no ragkit[local]")
        return
    subset = work / "local-corpus"
    shutil.rmtree(subset, ignore_errors=True)
    for path in sorted(corpus.rglob("*.*"))[:files]:
        target = subset / path.relative_to(corpus)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    env = child_env(XDG_CACHE_HOME=str(work / "cache"))
    server = subprocess.Popen(
        [str(RAGKIT), "local-server", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        ready = server.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", ready).group()
        db = work / "d.db"
        remove_index(db)
        cmd = [str(RAGKIT), "index", str(subset), "--db", str(db), "--host", url, "--json"]
        run = run_measured([*cmd, "--embed-model", "all-minilm"], env=env)
        if run.returncode != 0:
            raise SystemExit(f"ragkit index failed: {run.stderr}")
        chunks = json.loads(run.stdout)["chunks_added"]
        tokens_per_s, chat_seconds = _chat_rate(url)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    busy = float(re.search(r"models busy ([0-9.]+)s", err).group(1)) - chat_seconds
    remove_index(db)
    table.add("(d) models loaded", ready.split("(loaded ", 1)[-1].rstrip(")\n"))
    table.add(
        f"(d) `ragkit index`, real MiniLM, {files} files",
        f"{chunks / run.seconds:.1f} chunks/s ({chunks} chunks in {run.seconds:.1f} s; "
        f"server {chunks / busy:.1f} texts/s)",
    )
    ratio = run.seconds / busy
    table.add(
        "(d) wall / server busy, real MiniLM",
        f"{ratio:.3f} ({run.seconds:.2f} s / {busy:.2f} s)",
        f"<= {TARGET_BUSY_RATIO}",
        ratio <= TARGET_BUSY_RATIO,
    )
    table.add("(d) smollm2:135m answer", f"{tokens_per_s:.1f} tokens/s (64 tokens)")


def _chat_rate(url: str) -> tuple[float, float]:
    """Generated tokens per second of one 64-token answer, and its seconds in the model."""
    client = OllamaClient(url)
    messages = [{"role": "user", "content": "Tell me about observatory domes."}]
    reply = client.chat(messages, "smollm2:135m", options={"num_predict": 64, "seed": 1})
    stats = reply.stats
    return stats["eval_count"] / (stats["eval_duration"] / 1e9), stats["total_duration"] / 1e9


def _list(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2400, help="corpus size (default 2400)")
    parser.add_argument("--latency", type=float, default=0.002, help="(b) seconds per text")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="600 files (a smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="(a) runs, median shown")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and leave it there")
    parser.add_argument("--local-files", type=int, default=60, help="(d) files (default 60)")
    args = parser.parse_args(argv)
    files = 600 if args.quick else args.files
    args.repeat = 1 if args.quick else max(1, args.repeat)

    table = Table(f"ragkit index: {files} files ({machine_note()})")
    with work_dir(args.keep) as work:
        corpus = work / "corpus"
        if not corpus.exists():
            written = write_corpus(corpus, files, args.seed)
            print(f"corpus: {files} files, {written / 1e6:.1f} MB in {corpus}", flush=True)

        # (a) no model latency: median of `--repeat` runs, each into a fresh index
        db = work / "a.db"
        with FakeServer() as fake:
            runs = []
            for _ in range(args.repeat):
                remove_index(db)
                cpu, server_cpu = self_cpu_seconds(), fake.cpu_seconds()
                summary, seconds = ingest(db, corpus, fake.url)
                cpu, server_cpu = self_cpu_seconds() - cpu, fake.cpu_seconds() - server_cpu
                runs.append((seconds, cpu, server_cpu))
            remove_index(db)
            chunks = summary.chunks_added
            table.add("chunks indexed", f"{chunks} in {summary.files} files")
            seconds, cpu, server_cpu = sorted(runs)[len(runs) // 2]
            rate = chunks / seconds
            table.add(
                f"(a) Ingester.run, no latency (median of {len(runs)})",
                f"{rate:,.0f} chunks/s ({seconds:.2f} s; all {_list(r[0] for r in runs)} s)",
                f">= {TARGET_CHUNKS_PER_S:,}",
                rate >= TARGET_CHUNKS_PER_S,
            )
            table.add(
                "(a) CPU seconds in that run: ingest / server",
                f"{cpu:.2f} / {server_cpu:.2f} (over {seconds:.2f} s wall on 2 cores)",
            )
            cli_db = work / "a-cli.db"
            cmd = [str(RAGKIT), "index", str(corpus), "--db", str(cli_db), "--host", fake.url]
            cli_runs = []
            for _ in range(args.repeat):
                remove_index(cli_db)
                run = run_measured([*cmd, "--json"])
                if run.returncode != 0:
                    print(run.stderr, file=sys.stderr)
                    raise SystemExit(f"ragkit index failed with exit code {run.returncode}")
                cli_runs.append(run)
            remove_index(cli_db)
            cli_chunks = json.loads(cli_runs[0].stdout)["chunks_added"]
            run = sorted(cli_runs, key=lambda r: r.seconds)[len(cli_runs) // 2]
            rate = cli_chunks / run.seconds
            table.add(
                f"(a) `ragkit index` process, no latency (median of {len(cli_runs)})",
                f"{rate:,.0f} chunks/s ({run.seconds:.2f} s, peak RSS {mib(run.peak_rss)})",
                f">= {TARGET_CHUNKS_PER_S:,}",
                rate >= TARGET_CHUNKS_PER_S,
            )

        # (b) the server acts as one GPU; (c) again over the unchanged corpus
        db = work / "b.db"
        remove_index(db)
        with FakeServer(per_text_latency=args.latency, serialize=True) as fake:
            summary, seconds = ingest(db, corpus, fake.url)
            stats = fake.stats()
            busy = stats["busy_seconds"]
            ratio = seconds / busy
            table.add(
                f"(b) wall / server busy, {args.latency * 1000:g} ms/text serialized",
                f"{ratio:.3f} ({seconds:.2f} s / {busy:.2f} s, {stats['requests']} requests)",
                f"<= {TARGET_BUSY_RATIO}",
                ratio <= TARGET_BUSY_RATIO,
            )
            again, seconds = ingest(db, corpus, fake.url)
            after = fake.stats()
            requests = after["requests"] - stats["requests"]
            table.add(
                "(c) second run, unchanged corpus",
                f"{seconds:.2f} s ({again.unchanged} unchanged)",
                f"<= {TARGET_RERUN_SECONDS:g} s",
                seconds <= TARGET_RERUN_SECONDS and again.unchanged == summary.files,
            )
            table.add("(c) embedding requests in the second run", str(requests), "0", requests == 0)
        remove_index(db)
        local_server_figures(table, work, corpus, 20 if args.quick else args.local_files)

    table.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

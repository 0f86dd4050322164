"""Real MiniLM embeddings of real text chunks, for bench/search.py, cached outside git.

    OLLAMA_HOST=http://127.0.0.1:11437 .venv/bin/python bench/real_vectors.py [--count 24000]

Text comes from this machine's own documentation: /usr/share/doc (READMEs, NEWS,
changelogs, gzipped or not) and the docstrings and comments of the Python standard
library, cut into paragraphs of 200-900 characters and deduplicated. Each chunk is
embedded with `all-minilm` (384-d) through ragkit's own `OllamaClient` (so any
Ollama-compatible server works: ../shared/tools/real-ollama/ serves the real model),
and the vectors are saved, in batches as they come (a rerun resumes), to
bench/out/minilm-<count>.npy (git-ignored).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from _common import OUT

from ragkit.ollama import OllamaClient

MODEL = "all-minilm"
MIN_CHARS, MAX_CHARS = 200, 900
BATCH = 64
PER_FILE = 25  # chunks taken from one file at most, so that no changelog dominates


def cache_path(count: int) -> Path:
    return OUT / f"minilm-{count}.npy"


def _documents() -> Iterator[str]:
    """Texts of /usr/share/doc files, then of the standard library's sources."""
    for root, _, files in sorted(os.walk("/usr/share/doc")):
        for name in sorted(files):
            path = Path(root, name)
            try:
                raw = path.read_bytes()
                if name.endswith(".gz"):
                    raw = gzip.decompress(raw)
            except (OSError, EOFError, gzip.BadGzipFile):
                continue
            if b"\0" not in raw[:4096]:
                yield raw.decode("utf-8", "replace")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        try:
            yield path.read_text("utf-8", "replace")
        except OSError:
            continue


def chunks(count: int) -> list[str]:
    """`count` distinct paragraphs-ish of real text, 200-900 characters each."""
    seen: set[bytes] = set()
    out: list[str] = []
    for text in _documents():
        buffer, taken = "", 0
        for paragraph in text.split("\n\n"):
            if taken == PER_FILE:
                break
            paragraph = " ".join(paragraph.split())
            buffer = f"{buffer} {paragraph}".strip()
            if len(buffer) < MIN_CHARS:
                continue
            piece, buffer = buffer[:MAX_CHARS], ""
            digest = hashlib.blake2b(piece.encode(), digest_size=12).digest()
            if digest not in seen:
                seen.add(digest)
                out.append(piece)
                taken += 1
                if len(out) == count:
                    return out
    raise SystemExit(f"only {len(out)} chunks of text found, {count} asked")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=24_000)
    args = parser.parse_args(argv)
    texts = chunks(args.count)
    path = cache_path(args.count)
    partial = path.with_suffix(".partial.npy")
    OUT.mkdir(parents=True, exist_ok=True)
    done = np.load(partial) if partial.exists() else np.zeros((0, 384), np.float32)
    client = OllamaClient()
    started, first = time.perf_counter(), len(done)
    parts = [done]
    for at in range(len(done), len(texts), BATCH):
        parts.append(np.asarray(client.embed_batch(texts[at : at + BATCH], MODEL), np.float32))
        if (at // BATCH) % 10 == 0 or at + BATCH >= len(texts):
            np.save(partial, np.concatenate(parts))
            rate = (at + BATCH - first) / (time.perf_counter() - started)
            print(f"{min(at + BATCH, len(texts))}/{len(texts)} ({rate:.1f}/s)", flush=True)
    np.save(path, np.concatenate(parts))
    partial.unlink(missing_ok=True)
    print(path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark vectors with the structure of real embeddings, not i.i.d. noise.

On i.i.d. Gaussian vectors every compression scheme looks either useless (no
neighbour is much nearer than another) or perfect; real embeddings are clustered,
share a common direction, and their variance decays over the principal axes.
`Mixture` draws such vectors: a common offset plus one of `clusters` centres plus
noise, all with per-axis scales decaying as i^-0.5, turned by a fixed random
rotation (so no axis is special), normalized. `real_minilm()` loads the cached
all-MiniLM-L6-v2 embeddings of real text chunks (bench/real_vectors.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _common import OUT

BLOCK = 16_384  # rows drawn at a time


class Mixture:
    """Clustered unit vectors with a decaying spectrum, reproducible from a seed.

    >>> mix = Mixture(768)
    >>> rows = mix.sample(1000, seed=3)    # float32 (1000, 768), unit rows
    """

    def __init__(self, dim: int, *, clusters: int = 4000, spread: float = 0.8) -> None:
        rng = np.random.default_rng(20_26)
        self.dim, self.spread = dim, spread
        self.scale = (np.arange(1, dim + 1) ** -0.5).astype(np.float32)
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.rotation = basis.astype(np.float32)
        self.centres = rng.standard_normal((clusters, dim)).astype(np.float32) * self.scale
        self.common = 2.0 * rng.standard_normal(dim).astype(np.float32) * self.scale

    def sample(self, n: int, seed: int) -> np.ndarray:
        """`n` unit rows, drawn a block at a time."""
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.dim), np.float32)
        for start in range(0, n, BLOCK):
            count = min(BLOCK, n - start)
            which = rng.integers(0, len(self.centres), count)
            noise = rng.standard_normal((count, self.dim), dtype=np.float32) * self.scale
            rows = self.common + self.centres[which] + self.spread * noise
            block = out[start : start + count]
            np.matmul(rows, self.rotation.T, out=block)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
        return out


def real_minilm_path() -> Path | None:
    """The largest cached set of real MiniLM embeddings (complete, else partial)."""
    found = sorted(OUT.glob("minilm-*.npy"), key=lambda p: p.stat().st_size)
    return found[-1] if found else None


def real_minilm(path: Path, queries: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, query rows) from a cached set: unit vectors; `queries` chunks drawn at
    random are held out as the queries (a chunk is never its own neighbour)."""
    vectors = np.load(path).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    held = np.zeros(len(vectors), bool)
    held[np.random.default_rng(7).choice(len(vectors), queries, replace=False)] = True
    return vectors[~held], vectors[held]

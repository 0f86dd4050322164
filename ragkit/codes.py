"""Binary sign codes of embeddings, for a first pass of vector search at 1/32 the bytes.

    >>> center = matrix.mean(axis=0)                  # float32 (dim,)
    >>> codes = binary_codes(matrix, center)          # uint64 (code_words(dim), n)
    >>> distances = hamming(codes, binary_codes(q[None], center)[:, 0])
    >>> rows = nearest_codes(distances, 400)           # the 400 nearest codes
    >>> scores = matrix[rows] @ q                     # exact cosines of the candidates

A code keeps one bit per dimension: whether the unit vector lies above the
index's mean vector there. Centering first matters for real embedding models,
whose vectors share a large common direction (without it most bits are the same
for every chunk). The Hamming distance between two codes estimates the angle
between the centered vectors, so the rows with the nearest codes are candidates,
to be rescored exactly against the float32 vectors. Codes are padded to whole
64-bit words and kept one column per row, so that a distance is an XOR and a
popcount per word, each over contiguous memory; all work is done in blocks of
rows, so temporaries stay a few MB whatever the index size.
"""

from __future__ import annotations

import numpy as np

CODE_BLOCK_ROWS = 4096  # rows encoded at a time: temporaries of a few MB at 768-d
SCAN_BLOCK = 65_536  # codes compared at a time: ~7 MB of temporaries at 768-d

# popcount of every byte, for numpy < 2.0 (which has no np.bitwise_count)
_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1, np.uint8)


def code_words(dim: int) -> int:
    """64-bit words of one code: one bit per dimension, padded to whole words."""
    return -(-dim // 64)


def binary_codes(
    matrix: np.ndarray, center: np.ndarray, *, block: int = CODE_BLOCK_ROWS
) -> np.ndarray:
    """uint64 `(code_words(dim), n)`, column j the code of row j: its bit i is set
    where row[i] > center[i]."""
    n, dim = matrix.shape
    out = np.zeros((code_words(dim), n), np.uint64)
    packed = np.zeros((min(block, n), code_words(dim) * 8), np.uint8)
    for start in range(0, n, block):
        end = min(n, start + block)
        part = packed[: end - start]
        part[:, : -(-dim // 8)] = np.packbits(matrix[start:end] > center, axis=1)
        out[:, start:end] = part.view(np.uint64).T
    return out


def hamming(words: np.ndarray, code: np.ndarray, *, block: int = SCAN_BLOCK) -> np.ndarray:
    """uint16 `(n,)`: in how many bits each column of `words` differs from `code`
    (uint64 `(code words,)`). A block of columns at a time: one XOR, one popcount and
    one sum over the words, each over contiguous rows of the block."""
    count_words, n = words.shape
    out = np.zeros(n, np.uint16)
    width = min(block, n)
    xor = np.empty((count_words, width), np.uint64)
    bits = np.empty((count_words, width), np.uint8)
    column = code.reshape(-1, 1)
    for start in range(0, n, block):
        end = min(n, start + block)
        part, count = xor[:, : end - start], bits[:, : end - start]
        np.bitwise_xor(words[:, start:end], column, out=part)
        _popcount(part, count).sum(axis=0, dtype=np.uint16, out=out[start:end])
    return out


def _popcount(words: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Set bits of each uint64, into the uint8 array `out` of the same shape."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(words, out=out)
    counts = _BYTE_BITS[words.view(np.uint8)].reshape(*words.shape, 8)
    return counts.sum(axis=-1, dtype=np.uint8, out=out)


def nearest_codes(distances: np.ndarray, count: int) -> np.ndarray:
    """Row numbers of the `count` smallest distances, ascending by row number; of rows
    tied at the cut, the first ones. A histogram of the distances (they are at most
    the code's bits) finds the cut, so the work is two passes, not a partition."""
    n = distances.shape[0]
    if count >= n:
        return np.arange(n)
    if count <= 0:
        return np.zeros(0, np.int64)
    cut = int(np.searchsorted(np.bincount(distances).cumsum(), count))  # count-th smallest
    within = np.flatnonzero(distances <= cut)
    at_cut = distances[within] == cut
    surplus = len(within) - count  # rows at the cut beyond those wanted: the last ones
    if surplus:
        drop = np.flatnonzero(at_cut)[-surplus:]
        within = np.delete(within, drop)
    return within

"""Search an index by meaning (vectors), by words (FTS5 BM25), or both fused.

    >>> retriever = Retriever()                 # RAGKIT_DB, else the default index
    >>> hits = retriever.search("how do I rotate the dome?", k=3)
    >>> hits[0].path, hits[0].page, hits[0].score

Vector search is one matrix-vector product over the cached, normalized
embedding matrix (`vectors.VectorCache`) and an `np.argpartition`. From
COMPRESSED_MIN_ROWS chunks on it is compressed instead: the binary sign codes of
the rows (`codes.py`, 1/32 of the bytes) are scanned by Hamming distance, and the
RESCORE × k nearest are rescored exactly against their float32 embeddings read from
the database, so the scores returned are exact cosines; `exact=True` forces the full scan. Keyword
search is the store's FTS5 BM25; `hybrid` (the default) merges the two
rankings by reciprocal rank fusion. `top_k` and `reciprocal_rank_fusion` are
pure functions, usable on their own.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import config
from .codes import binary_codes, hamming, nearest_codes
from .config import MAX_K
from .embedmodels import profile_for, same_model
from .errors import ConfigError, DimensionChanged, IndexMismatch, OllamaUnavailable
from .ollama import OllamaClient
from .store import ChunkRow, Store
from .vectors import Codes, VectorCache, normalize_rows, uses_codes
from .words import content_terms, meaningful_words

MODES = ("hybrid", "vector", "keyword")
RRF_K0 = 60  # the constant of reciprocal rank fusion (Cormack et al. 2009)
MIN_POOL = 50  # hybrid: candidates taken from each ranking, at least...
POOL_FACTOR = 4  # ...and at least this many times k
SNIPPET_CHARS = 200
MAX_CACHED_GLOBS = 16  # path masks kept per retriever
RESCORE = 40  # candidates rescored exactly, per result asked (bench/search.py)
NO_MEANINGFUL_WORDS = (
    "the query has only common words (like 'the', 'and', 'of'), which match nothing "
    "in particular. Add a word that is specific to what you are looking for"
)
# -- pure helpers ----------------------------------------------------------


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` highest scores, best first (ties: lower index first).

        >>> top_k(np.array([0.1, 0.9, 0.5, 0.9]), 3)
        array([1, 3, 2])

    `np.partition` finds the k-th best score in linear time; only the scores at
    or above it are sorted (all of them, so ties at the cut are settled by index).
    """
    n = scores.shape[0]
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    if k == n:
        candidates = np.arange(n)
    else:
        threshold = np.partition(scores, n - k)[n - k]
        candidates = np.flatnonzero(scores >= threshold)
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order[:k]]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k0: int = RRF_K0
) -> list[tuple[int, float]]:
    """Merge rankings (ids, best first) into one: each id scores sum(1 / (k0 + rank)).

        >>> reciprocal_rank_fusion([[1, 2, 3], [3, 1]])   # rank is 1-based
        [(1, 0.0325...), (3, 0.0322...), (2, 0.0161...)]

    Ties keep the order in which ids were first seen (first ranking first).
    """
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k0 + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])


def display_path(path: str) -> str:
    """`path` relative to the current folder when it lies under it, else unchanged
    (absolute). From `/` itself paths stay absolute, never `home/me/...`."""
    try:
        cwd = Path.cwd()
        if cwd == Path(cwd.anchor):
            return path
        return str(Path(path).relative_to(cwd))
    except (ValueError, OSError):
        return path


def source_label(path: str, page: int | None) -> str:
    """`notes/dome.md`, or `manual.pdf:3` for a page of a PDF (relative to cwd)."""
    where = display_path(path)
    return f"{where}:{page}" if page is not None else where


def query_terms(query: str) -> list[str]:
    """The words of a query worth highlighting: lowercased, no stopwords, no repeats."""
    return content_terms(query)


def highlight_spans(text: str, query: str) -> list[tuple[int, int]]:
    """`(start, end)` of the words in `text` that begin with a query term."""
    terms = sorted(query_terms(query), key=len, reverse=True)
    if not terms:
        return []
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, terms)) + r")\w*", re.IGNORECASE)
    return [match.span() for match in pattern.finditer(text)]


def snippet(text: str, query: str, width: int = SNIPPET_CHARS) -> str:
    """About `width` characters of `text` (whitespace collapsed) around the stretch
    where most distinct query terms occur; `…` marks a cut."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    start = max(0, _densest(flat, query, width) - width // 5)
    if start and (space := flat.find(" ", start, start + 30)) != -1:
        start = space + 1
    end = start + width
    if end >= len(flat):
        start, end = max(0, len(flat) - width), len(flat)
    elif (space := flat.rfind(" ", end - 30, end)) != -1:
        end = space
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")


def _densest(text: str, query: str, width: int) -> int:
    """Where the window of `width` chars holding the most distinct query terms begins."""
    terms = query_terms(query)
    found = sorted(
        (match.start(), i)
        for i, term in enumerate(terms)
        for match in re.finditer(r"\b" + re.escape(term), text, re.IGNORECASE)
    )
    best, best_at = 0, 0
    for first, (position, _) in enumerate(found):
        inside = set()
        for pos, term in found[first:]:
            if pos >= position + width:
                break
            inside.add(term)
        if len(inside) > best:
            best, best_at = len(inside), position
    return best_at


# -- results ---------------------------------------------------------------


@dataclass
class Hit:
    """One retrieved chunk. `score` is the ranking score of the search mode used
    (cosine for vector, BM25 for keyword, the fused score for hybrid); the
    per-method scores and 1-based ranks are None where that method did not find it."""

    chunk_id: int
    path: str
    text: str
    score: float
    page: int | None = None
    start: int | None = None
    end: int | None = None
    seq: int | None = None
    heading: str | None = None
    title: str | None = None
    vector_score: float | None = None
    vector_rank: int | None = None
    keyword_score: float | None = None
    keyword_rank: int | None = None

    @property
    def source(self) -> str:
        """`notes/dome.md`, or `manual.pdf:3` for a page of a PDF."""
        return source_label(self.path, self.page)

    @property
    def found_by(self) -> str:
        """For people: which searches found the chunk and how each ranked it,
        `vector #2 (similarity 0.81), keyword #1`; fused scores say little alone."""
        found = []
        if self.vector_rank is not None and self.vector_score is not None:
            found.append(f"vector #{self.vector_rank} (similarity {self.vector_score:.2f})")
        if self.keyword_rank is not None:
            found.append(f"keyword #{self.keyword_rank}")
        return ", ".join(found) or f"score {self.score:.3g}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:
        text = " ".join(self.text.split())
        text = text if len(text) <= 60 else text[:59] + "…"
        return f"<Hit {self.source} {self.score:.4g} {text!r}>"


class Hits(list):
    """A ranked list of `Hit`s that shows itself as a table in Jupyter.

    `note` says why a search found nothing when the reason is known (e.g. only
    stopwords); `degraded` says why the search did less than asked (a hybrid search
    while Ollama is unreachable falls back to keyword matches); both else None.
    """

    def __init__(
        self,
        hits: Iterable[Hit] = (),
        query: str | None = None,
        note: str | None = None,
        degraded: str | None = None,
    ) -> None:
        super().__init__(hits)
        self.query = query
        self.note = note
        self.degraded = degraded

    def __getitem__(self, index):
        item = super().__getitem__(index)
        if isinstance(index, slice):
            return Hits(item, self.query, self.note, self.degraded)
        return item

    def texts(self) -> list[str]:
        return [hit.text for hit in self]

    def to_dicts(self) -> list[dict[str, Any]]:
        return [hit.to_dict() for hit in self]

    def __repr__(self) -> str:
        about = f" for {self.query!r}" if self.query else ""
        lines = [f"<Hits: {len(self)}{about}{f'; {self.note}' if self.note else ''}>"]
        lines += [f"  {rank}. {hit!r}" for rank, hit in enumerate(self, start=1)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self:
            return f"<p>no matches{html.escape(f': {self.note}' if self.note else '')}</p>"
        left = " style='text-align:left'"  # Jupyter right-aligns table cells by default
        head = f"<tr><th>#</th><th{left}>found by</th><th{left}>source</th><th{left}>text</th></tr>"
        rows = [
            f"<tr><td>{rank}</td><td{left}>{hit.found_by}</td>"
            f"<td{left}>{html.escape(hit.source)}</td>"
            f"<td{left}>{self._html_text(hit.text)}</td></tr>"
            for rank, hit in enumerate(self, start=1)
        ]
        return f"<table>{head}{''.join(rows)}</table>"

    def _html_text(self, text: str) -> str:
        shown = snippet(text, self.query or "")
        out, at = [], 0
        for start, end in highlight_spans(shown, self.query or ""):
            out += [html.escape(shown[at:start]), f"<mark>{html.escape(shown[start:end])}</mark>"]
            at = end
        return "".join(out) + html.escape(shown[at:])


# -- the retriever ---------------------------------------------------------


class Retriever:
    """Searches one index; reloads its vectors only when the index changed.

        >>> retriever = Retriever("index.db")
        >>> retriever.search("dome rotation", k=3, mode="hybrid", path="*.md")
        >>> retriever.search_vector(retriever.embed_query("dome rotation"), k=3)

    A missing index raises `IndexNotFound`; an `embed_model` other than the one
    the index was built with raises `IndexMismatch`. An empty index finds nothing.
    """

    def __init__(
        self,
        db: str | Path | None = None,
        *,
        client: OllamaClient | None = None,
        embed_model: str | None = None,
        store: Store | None = None,
        exact: bool | None = None,
        rescore: int = RESCORE,
    ) -> None:
        if exact not in (None, True, False):
            raise ConfigError(f"exact must be None, True or False, not {exact!r}", value=exact)
        if isinstance(rescore, bool) or not isinstance(rescore, int) or rescore < 1:
            raise ConfigError(
                f"rescore must be a whole number >= 1, not {rescore!r}", value=rescore
            )
        self.exact, self.rescore = exact, rescore
        self._owns_store = store is None
        if store is None:
            store = Store(config.db_path(db), create=False)
        self.store = store
        self._owns_client = client is None
        self.client = client or OllamaClient()
        self._requested_model = embed_model
        try:
            self._index_model()  # a mismatch fails here, not at the first search
        except BaseException:
            self.close()
            raise
        self.vectors = VectorCache(store)
        self._selections: dict[tuple[int | None, str], np.ndarray] = {}

    def __repr__(self) -> str:
        return f"<Retriever {self.store.path} {self.store.embed_model or '(empty)'}>"

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the index database and the HTTP client, if this retriever opened them."""
        if self._owns_store:
            self.store.close()
        if self._owns_client:
            self.client.close()

    @property
    def embed_model(self) -> str:
        """The index's embedding model (or, for an empty index, the configured one)."""
        return config.embed_model(self._requested_model, self._index_model())

    def _index_model(self) -> str | None:
        """The model the index was built with; `IndexMismatch` if another was asked for."""
        indexed = self.store.embed_model
        wanted = config.requested_embed_model(self._requested_model)
        if indexed and wanted and not same_model(indexed, wanted):
            raise IndexMismatch(indexed, wanted, self.store.path)
        return indexed

    def search(
        self, query: str, k: int = 5, *, mode: str = "hybrid", path: str | None = None
    ) -> Hits:
        """The `k` best chunks for `query`; `mode` is hybrid, vector or keyword, `path`
        an optional glob over file paths (`"*.md"`, `"notes/*"`).

        When Ollama cannot be reached, a hybrid search gives the keyword matches, with
        `Hits.degraded` saying so; a vector search raises `OllamaUnavailable`."""
        query, k, mode = _check_query(query), _check_k(k), _check_mode(mode)
        path = check_path_glob(path)
        if not meaningful_words(query):  # any chunk would match it as well as any other
            return Hits(query=query, note=NO_MEANINGFUL_WORDS)
        if mode == "keyword":
            keyword = self.store.keyword_search(query, limit=k, path_glob=path)
            return self._hits(keyword, query, keyword=keyword)
        pool = k if mode == "vector" else max(MIN_POOL, POOL_FACTOR * k)
        ids, matrix, codes = self._load()
        try:
            query_vector = self.embed_query(query) if ids.size else None
        except OllamaUnavailable as exc:
            if mode == "vector":
                raise
            hits = self.search(query, k, mode="keyword", path=path)
            hits.degraded = f"{exc.message}: showing keyword matches only"
            return hits
        vector = self._rank(query_vector, ids, matrix, codes, pool, path) if ids.size else []
        if mode == "vector":
            return self._hits(vector, query, vector=vector)
        keyword = self.store.keyword_search(query, limit=pool, path_glob=path)
        fused = reciprocal_rank_fusion([[i for i, _ in vector], [i for i, _ in keyword]])
        return self._hits(fused[:k], query, vector=vector, keyword=keyword)

    def search_vector(self, vector: Any, k: int = 5, *, path: str | None = None) -> Hits:
        """The `k` chunks nearest (by cosine) to a ready query vector."""
        k, path = _check_k(k), check_path_glob(path)
        ids, matrix, codes = self._load()
        if not ids.size:
            return Hits()
        ranked = self._rank(vector, ids, matrix, codes, k, path)
        return self._hits(ranked, None, vector=ranked)

    def embed_query(self, query: str) -> np.ndarray:
        """The unit-length float32 vector of `query`, with the model's query prefix."""
        model = self.embed_model
        self.client.require_models([model])  # once per client: a missing model says so
        text = profile_for(model).query_prefix + query
        vector = self.client.embed_batch([text], model)[0]
        dim = self.store.dim
        if dim is not None and vector.shape[0] != dim:
            raise DimensionChanged(model, vector.shape[0], dim)
        return _unit(vector)

    def _load(self) -> tuple[np.ndarray, np.ndarray | None, Codes | None]:
        """(ids, and the matrix for the exact path or the codes for the compressed one),
        both of one generation."""
        if uses_codes(self.vectors.size(), self.exact):
            ids, codes = self.vectors.load_codes()  # of a newer generation, if one came
            return ids, None, codes
        ids, matrix = self.vectors.load()
        return ids, matrix, None

    def _rank(
        self,
        vector: Any,
        ids: np.ndarray,
        matrix: np.ndarray | None,
        codes: Codes | None,
        k: int,
        path: str | None,
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the k best rows, optionally only rows under `path`:
        all rows of the matrix scored, or the nearest codes' rows rescored."""
        query = _unit(_as_query(vector, codes.dim if matrix is None else matrix.shape[1]))
        rows = self._selection(ids, path)
        if matrix is None:
            chosen = self._candidates(query, codes, rows, k)
            # exact cosines from the stored blobs; a chunk removed since is left out
            found, embeddings = self.store.embeddings_of(ids[chosen])
            scores = normalize_rows(embeddings) @ query
            best = top_k(scores, k)
            return list(zip(found[best].tolist(), scores[best].tolist(), strict=True))
        scores = matrix @ query
        if rows is not None:
            scores = scores[rows]
        best = top_k(scores, k)
        chosen = best if rows is None else rows[best]
        return list(zip(ids[chosen].tolist(), scores[best].tolist(), strict=True))

    def _candidates(
        self, query: np.ndarray, codes: Codes, rows: np.ndarray | None, k: int
    ) -> np.ndarray:
        """Row numbers (ascending, so ties settle as in the exact path) of the
        `rescore * k` rows, among `rows` if given, whose codes are nearest the query's."""
        distances = hamming(codes.words, binary_codes(query[None], codes.center)[:, 0])
        if rows is None:
            return nearest_codes(distances, self.rescore * k)
        return rows[nearest_codes(distances[rows], self.rescore * k)]

    def _selection(self, ids: np.ndarray, path: str | None) -> np.ndarray | None:
        """Row numbers of the chunks whose file matches the glob; cached per generation."""
        if path is None:
            return None
        key = (self.vectors.generation, path)
        rows = self._selections.get(key)
        if rows is None:
            stale = any(generation != key[0] for generation, _ in self._selections)
            if stale or len(self._selections) >= MAX_CACHED_GLOBS:
                self._selections.clear()
            rows = np.flatnonzero(np.isin(ids, self.store.chunk_ids_matching(path)))
            self._selections[key] = rows
        return rows

    def _hits(
        self,
        ranked: Sequence[tuple[int, float]],
        query: str | None,
        *,
        vector: Sequence[tuple[int, float]] = (),
        keyword: Sequence[tuple[int, float]] = (),
    ) -> Hits:
        """Turn (chunk id, score) pairs into `Hit`s, with each method's score and rank."""
        by_vector = {cid: (score, rank) for rank, (cid, score) in enumerate(vector, start=1)}
        by_keyword = {cid: (score, rank) for rank, (cid, score) in enumerate(keyword, start=1)}
        rows = {row.id: row for row in self.store.chunks([cid for cid, _ in ranked])}
        hits = Hits(query=query)
        for cid, score in ranked:
            row = rows.get(cid)
            if row is not None:  # None: deleted by another process since the vectors loaded
                hits.append(_hit(row, score, by_vector.get(cid), by_keyword.get(cid)))
        return hits


def _hit(row: ChunkRow, score: float, vector: tuple | None, keyword: tuple | None) -> Hit:
    """A `Hit` from a stored chunk, its ranking score and each method's (score, rank)."""
    vector_score, vector_rank = vector or (None, None)
    keyword_score, keyword_rank = keyword or (None, None)
    return Hit(
        chunk_id=row.id,
        path=row.path,
        text=row.text,
        score=float(score),
        page=row.page,
        start=row.start,
        end=row.end,
        seq=row.seq,
        heading=row.heading,
        title=row.title,
        vector_score=vector_score,
        vector_rank=vector_rank,
        keyword_score=keyword_score,
        keyword_rank=keyword_rank,
    )


def _check_query(query: Any) -> str:
    if not isinstance(query, str) or not query.strip():
        raise ConfigError("empty query", value=query, hint="Give some words to search for")
    return query.strip()


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
        raise ConfigError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}", value=k)
    return int(k)


def check_path_glob(path: Any) -> str | None:
    """A `path` glob SQLite can match: None, or text that is valid UTF-8. (A non-UTF-8
    command line gives lone surrogates; no indexed path holds such bytes.)"""
    if path is None:
        return None
    if not isinstance(path, str):
        raise ConfigError(f"the path pattern must be text, not {path!r}", value=path)
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(
            f"the path pattern {_as_bytes(path)!r} is not valid UTF-8",
            value=path,
            hint="Indexed paths are UTF-8: write the pattern in UTF-8, or use ? or * there",
        ) from None
    return path


def _as_bytes(text: str) -> bytes:
    """The bytes a command line gave (undecodable ones as lone surrogates), for messages."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def _check_mode(mode: Any) -> str:
    if mode not in MODES:
        raise ConfigError(
            f"unknown search mode {mode!r}", value=mode, hint=f"Use one of: {', '.join(MODES)}"
        )
    return mode


def _as_query(vector: Any, dim: int) -> np.ndarray:
    """A float32 vector of the index's dimension (float64 would upcast the whole matrix)."""
    query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
    if query.shape[0] != dim:
        raise ConfigError(
            f"the query vector has {query.shape[0]} dimensions, the index {dim}", value=vector
        )
    return query


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / np.float32(norm) if norm > 0 else vector

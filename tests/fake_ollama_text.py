"""Text side of the fake Ollama: meaningful deterministic embeddings and chat replies.

Embeddings are a hashed bag of content words: texts that share words point the
same way, unrelated texts are near-orthogonal. The hot path (the server's
`/api/embed`) counts words in Python, builds a whole batch with one
`np.bincount`, and writes the JSON arrays by hand: `json.dumps` of 768 floats
per text would otherwise be the bottleneck.

Chat replies quote the numbered source (`[N] path ...` header, text below it)
that shares the most content words with the question.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

TASK_PREFIXES = (
    "Represent this sentence for searching relevant passages: ",
    "search_document: ",
    "search_query: ",
    "clustering: ",
    "classification: ",
    "query: ",
    "passage: ",
)
STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be been before being
    below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers him his how i if in into is it
    its itself just me more most my no nor not of off on once only or other our ours
    out over own same she should so some such than that the their theirs them then
    there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours""".split()
)
WORD_RE = re.compile(r"[a-z0-9]+")
NO_WORD = ""  # cache value for stopwords
IDK_REPLY = "I don't know: the sources do not say."

_term_cache: dict[str, str] = {}
_slot_cache: dict[int, dict[str, int]] = {}
_CACHE_LIMIT = 2_000_000


def strip_prefix(text: str) -> str:
    """Drop one leading embedding task prefix such as `search_query: `."""
    for prefix in TASK_PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def _term(word: str) -> str:
    """Stopword filter plus a crude stem; `NO_WORD` for stopwords."""
    if word in STOPWORDS:
        return NO_WORD
    if len(word) > 3 and word[-1] == "s" and word[-2] != "s":
        sibilant = word.endswith(("sses", "xes", "zes", "ches", "shes"))
        word = word[:-2] if sibilant else word[:-1]
    if len(word) > 4:
        for suffix in ("ing", "ed"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                word = word[: -len(suffix)]
                if word[-1] == word[-2] and word[-1] not in "lsz":
                    word = word[:-1]  # running -> run, embedded -> embed
                break
    return word


def _term_counts(text: str) -> Counter[str]:
    """Term frequencies of the content words of `text`."""
    words = WORD_RE.findall(strip_prefix(text).lower())
    cache = _term_cache
    missing = set(words).difference(cache)
    if missing:
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
            missing = set(words)
        for word in missing:
            cache[word] = _term(word)
    return Counter(filter(None, map(cache.__getitem__, words)))


def terms(text: str) -> list[str]:
    """The distinct content-word terms of `text` (stopwords removed, crudely stemmed)."""
    return list(_term_counts(text))


def _slot_codes(counts: Counter[str], dim: int) -> list[int]:
    """Each term's hashed slot as `index * 2 + negative`, cached per dimension."""
    slots = _slot_cache.get(dim)
    if slots is None or len(slots) > _CACHE_LIMIT:
        slots = _slot_cache[dim] = {}
    for term in set(counts).difference(slots):
        h = zlib.crc32(term.encode())
        slots[term] = (h % dim) * 2 + (h >> 31)
    return list(map(slots.__getitem__, counts))


def embedding_matrix(texts: Sequence[str], dim: int) -> np.ndarray:
    """Unit float64 embeddings of `texts`, one row each (the vectorized core)."""
    codes: list[int] = []
    tfs: list[int] = []
    rows: list[int] = []
    for row, text in enumerate(texts):
        counts = _term_counts(text)
        codes += _slot_codes(counts, dim)
        tfs += counts.values()
        rows += [row] * len(counts)
    code = np.asarray(codes, dtype=np.int64)
    sign = 1.0 - 2.0 * (code & 1)
    weight = (1.0 + np.log(np.asarray(tfs, dtype=np.float64))) * sign
    flat = np.asarray(rows, dtype=np.int64) * dim + (code >> 1)
    matrix = np.bincount(flat, weights=weight, minlength=len(texts) * dim).astype(np.float64)
    return normalize_rows(matrix.reshape(len(texts), dim))


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """L2-normalize rows in place; an all-zero row becomes the fixed vector 1/sqrt(dim)."""
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    empty = norms == 0.0
    norms[empty] = 1.0
    matrix /= norms[:, None]
    if empty.any():
        matrix[empty] = 1.0 / math.sqrt(matrix.shape[1])
    return matrix


def fake_embeddings(texts: Sequence[str], dim: int = 768) -> np.ndarray:
    """Deterministic unit float32 embeddings, one row per text; shared words -> high cosine."""
    return embedding_matrix(list(texts), dim).astype(np.float32)


def fake_embedding(text: str, dim: int = 768) -> np.ndarray:
    """Deterministic unit float32 vector of one text (task prefixes are ignored)."""
    return fake_embeddings([text], dim)[0]


def matrix_json(matrix: np.ndarray) -> list[str]:
    """Each row as a JSON array: floats rounded to 6 places, zeros written `0`.

    Rows hold few distinct values (one per term frequency and sign), so only the
    batch's distinct values are formatted, then scattered with numpy.
    """
    n, dim = matrix.shape
    rows, cols = np.nonzero(matrix)
    uniq, inverse = np.unique(np.round(matrix[rows, cols], 6), return_inverse=True)
    labels = np.array(list(map(repr, uniq.tolist())), dtype=object)
    strings = np.empty((n, dim), dtype=object)
    strings.fill("0")
    strings[rows, cols] = labels[inverse.reshape(-1)]
    return [f"[{','.join(row)}]" for row in strings.tolist()]


def token_estimate(text: str) -> int:
    """A rough token count (about four characters a token)."""
    return max(1, (len(text) + 3) // 4)


# ---------------------------------------------------------------------------- chat replies

HEADER_RE = re.compile(r"^\s*\[(\d+)\]\s*(.*)$")
QUESTION_RE = re.compile(r"^\s*question\s*:\s*(.*)$", re.IGNORECASE)
TAG_LINE_RE = re.compile(r"^\s*</?[A-Za-z_][\w-]*>\s*$")
SENTENCE_END_RE = re.compile(r"[.!?](?=\s|$)")


def _is_delimiter(line: str) -> bool:
    """A line that closes a source: `---`, `=====`, `\"\"\"`, `</sources>` and the like."""
    stripped = line.strip()
    if TAG_LINE_RE.match(stripped):
        return True
    return len(stripped) >= 3 and not any(ch.isalnum() for ch in stripped)


def parse_sources(text: str) -> tuple[dict[int, str], str]:
    """Split `text` into ({N: source text}, the text outside any source)."""
    sources: dict[int, list[str]] = {}
    headers: dict[int, str] = {}
    outside: list[str] = []
    current: int | None = None
    for line in text.splitlines():
        header = HEADER_RE.match(line)
        if header:
            current = int(header.group(1))
            sources.setdefault(current, [])
            headers.setdefault(current, header.group(2))
        elif current is not None and (_is_delimiter(line) or QUESTION_RE.match(line)):
            current = None
            outside.append(line)
        elif current is not None:
            sources[current].append(line)
        else:
            outside.append(line)
    joined = {n: " ".join(" ".join(lines).split()) for n, lines in sources.items()}
    return {n: body or headers[n] for n, body in joined.items()}, "\n".join(outside)


def question_of(message: str, outside: str) -> str:
    """The last `Question:` line of the message, else the message outside its sources."""
    lines = message.splitlines()
    found = [i for i, line in enumerate(lines) if QUESTION_RE.match(line)]
    if found:
        same_line = QUESTION_RE.match(lines[found[-1]]).group(1).strip()  # type: ignore[union-attr]
        following = [line for line in lines[found[-1] + 1 :] if line.strip()]
        return same_line or (following[0] if following else "")
    return outside if terms(outside) else message


def first_sentence(text: str, limit: int = 300) -> str:
    """The first sentence of `text`, without its final punctuation, at most `limit` chars."""
    end = SENTENCE_END_RE.search(text)
    sentence = text[: end.start()] if end else text
    return sentence.strip()[:limit].rstrip(" .!?;:,")


def best_source(sources: dict[int, str], question: str) -> int | None:
    """The source number sharing the most distinct content words with the question."""
    wanted = set(terms(question))
    scored = [(len(wanted.intersection(terms(body))), -n, n) for n, body in sources.items()]
    if not scored:
        return None
    score, _, number = max(scored)
    return number if score > 0 else None


def default_chat_reply(messages: Sequence[dict[str, Any]]) -> str:
    """Answer from the numbered sources in the system messages and the last user message.

    A source starts at a line `[N] anything` (e.g. `[2] docs/a.pdf (page 3)`); its text
    is the lines below, up to the next `[N]` line, a delimiter line (no letters or digits
    and 3+ characters, like `---`; or a lone tag like `</sources>`) or a `Question:` line.
    The question is the user message's last `Question:` line (or the line after it when
    it is bare), else the user message outside its sources. The source sharing the most
    distinct content words with the question wins (ties: the lowest N) and the reply is
    `According to the sources, <its first sentence> [N].`; no shared word -> `IDK_REPLY`.
    """
    user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    user_text = str(user.get("content") or "")
    system = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "system")
    sources, _ = parse_sources(system)
    user_sources, outside = parse_sources(user_text)
    sources.update(user_sources)
    number = best_source(sources, question_of(user_text, outside))
    if number is None:
        return IDK_REPLY
    return f"According to the sources, {first_sentence(sources[number])} [{number}]."


PIECE_RE = re.compile(r"\s*\S+|\s+")


def split_pieces(text: str, words_per_piece: int = 1) -> list[str]:
    """Split a reply into stream pieces (a word with its leading space) that join back."""
    words = PIECE_RE.findall(text)
    if words_per_piece > 1:
        words = [
            "".join(words[i : i + words_per_piece]) for i in range(0, len(words), words_per_piece)
        ]
    return words or [""]


def content_overlap(a: str, b: str) -> int:
    """How many distinct content words two texts share (handy in tests)."""
    return len(set(terms(a)).intersection(terms(b)))

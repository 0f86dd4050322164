"""Split a document's text into overlapping chunks with exact character spans.

    chunks = chunk_text(doc.text, size=1000, overlap=150,
                        page_starts=doc.page_starts, headings=doc.headings)

Pure functions, no I/O. Every chunk satisfies `text[c.start:c.end] == c.text`,
is at most `size` characters long and never blank; together the chunks cover
every non-whitespace character. Each chunk ends at the best break found in
the second half of its window: a paragraph break, else a line break, else a
sentence end, else a space, else (one giant word) a hard cut. The next chunk
starts up to `overlap` characters before the previous one ended, moved
forward to the start of a word. Given `headings` (or `markdown=True`, which
finds markdown's own), a cut just before a heading beats all others, and the
chunk after it starts at the heading (no overlap), so sections begin chunks.
Time is linear in the length of the text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ragkit.config import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
from ragkit.errors import ConfigError
from ragkit.markdown import headings as markdown_headings

Heading = tuple[int, int, str]  # (char offset in the text, level 1-6, title): readers.Heading

MIN_CHUNK_SIZE = 50

_NON_SPACE = re.compile(r"\S")
_SPACE = re.compile(r"\s")
_SENTENCE_ENDS = (". ", "! ", "? ")
_WORD_BREAKS = (" ", "\t")


@dataclass(frozen=True)
class Chunk:
    seq: int  # 0-based order within the document
    text: str  # == document.text[start:end]
    start: int
    end: int
    page: int | None  # 1-based PDF page holding `start`
    heading: str | None  # heading path, "Intro > Install"


def chunk_text(
    text: str,
    *,
    size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    page_starts: Sequence[int] | None = None,
    markdown: bool = False,
    headings: Sequence[Heading] | None = None,
) -> list[Chunk]:
    """Split `text` into chunks of at most `size` characters, overlapping by up to `overlap`.

    `page_starts` (from a PDF `Document`) gives each chunk the 1-based page
    holding its start. `headings` (`Document.headings`: offset, level, title, in
    order) give each chunk the path of the headings in force at its start, e.g.
    "Install > On Linux"; `markdown=True` without `headings` uses the text's ATX ones.
    Raises `ConfigError` if `size` < 50 or `overlap` is not in [0, size/2).
    """
    _check_settings(size, overlap, page_starts)
    pages = _PageLookup(page_starts) if page_starts else None
    if headings is None and markdown:
        headings = list(markdown_headings(text))
    if headings and any(a[0] > b[0] for a, b in zip(headings, headings[1:], strict=False)):
        raise ConfigError("headings must be in increasing order of offset", value=headings)
    lookup = _HeadingLookup(headings) if headings else None
    sections = lookup.offsets if lookup else []
    chunks: list[Chunk] = []
    for start, end in _spans(text, size, overlap, sections):
        chunks.append(
            Chunk(
                seq=len(chunks),
                text=text[start:end],
                start=start,
                end=end,
                page=pages.page_at(start) if pages else None,
                heading=lookup.path_at(start) if lookup else None,
            )
        )
    return chunks


def _check_settings(size: int, overlap: int, page_starts: Sequence[int] | None) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_CHUNK_SIZE:
        raise ConfigError(
            f"chunk size must be a whole number of at least {MIN_CHUNK_SIZE} characters, "
            f"not {size!r}",
            value=size,
            hint=f"Use --chunk-size {DEFAULT_CHUNK_SIZE} (the default)",
        )
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= 2 * overlap < size:
        raise ConfigError(
            f"chunk overlap must be at least 0 and under half the chunk size ({size}), "
            f"not {overlap!r}",
            value=overlap,
            hint=f"Use --overlap {min(DEFAULT_OVERLAP, (size - 1) // 2)}",
        )
    if page_starts and any(a > b for a, b in zip(page_starts, page_starts[1:], strict=False)):
        raise ConfigError("page_starts must be in increasing order", value=page_starts)


def _spans(text: str, size: int, overlap: int, sections: list[int]) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each chunk, in order.

    `sections` are offsets of headings: a cut there beats any other
    and the next chunk starts at the heading itself, without overlap.
    """
    found = _NON_SPACE.search(text)
    start = found.start() if found else len(text)
    while start < len(text):
        limit = start + size
        earliest = start + size // 2
        section = _section_cut(sections, earliest, limit) if limit < len(text) else None
        cut = section if section is not None else _best_cut(text, earliest, limit)
        end = start + len(text[start:cut].rstrip())
        yield start, end
        following = _NON_SPACE.search(text, end)
        if not following:
            return
        uncovered = following.start()
        # overlap only if the first uncovered character stays in the window's first half
        lowest = max(end - overlap, start + 1, uncovered + 1 - size // 2)
        next_start = None if section is not None else _overlap_start(text, lowest, end)
        start = uncovered if next_start is None else next_start


def _section_cut(sections: list[int], earliest: int, limit: int) -> int | None:
    """The last heading offset in [earliest, limit], if any."""
    index = bisect_right(sections, limit) - 1
    if index >= 0 and sections[index] >= earliest:
        return sections[index]
    return None


def _best_cut(text: str, earliest: int, limit: int) -> int:
    """Where a chunk should end (exclusive), between `earliest` and `limit`."""
    if limit >= len(text):
        return len(text)
    paragraph = text.rfind("\n\n", earliest, limit + 2)
    if paragraph >= 0:
        return paragraph
    line = text.rfind("\n", earliest, limit + 1)
    if line >= 0:
        return line
    sentence = max(text.rfind(end, earliest, limit + 1) for end in _SENTENCE_ENDS)
    if sentence >= 0:
        return sentence + 1  # keep the punctuation
    word = max(text.rfind(space, earliest, limit + 1) for space in _WORD_BREAKS)
    return word if word >= 0 else limit


def _overlap_start(text: str, lowest: int, end: int) -> int | None:
    """Start of the next chunk: the first word start in [lowest, end), if any.

    None means no overlap (the next chunk starts after `end`). A mid-word start
    is used only when the chunk itself ended mid-word (a hard cut through a
    giant word) and the overlap window holds no word start.
    """
    if lowest >= end:
        return None
    if text[lowest - 1].isspace() and not text[lowest].isspace():
        return lowest
    gap = _SPACE.search(text, lowest, end)
    if gap:  # text[end - 1] is not a space, so a word starts before `end`
        return _NON_SPACE.search(text, gap.end()).start()
    hard_cut = end < len(text) and not text[end].isspace()
    return lowest if hard_cut else None


class _PageLookup:
    """1-based page number for a character offset, from sorted page start offsets."""

    def __init__(self, page_starts: Sequence[int]) -> None:
        self._starts = list(page_starts)

    def page_at(self, offset: int) -> int:
        return max(1, bisect_right(self._starts, offset))


class _HeadingLookup:
    """Heading path ("A > B") in force at a character offset, from (offset, level, title)
    of each heading in order of offset."""

    def __init__(self, headings: Sequence[Heading]) -> None:
        self.offsets: list[int] = []  # where each heading starts
        self._paths: list[str] = []
        stack: list[tuple[int, str]] = []  # (level, title) of the open headings
        for offset, level, title in headings:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            self.offsets.append(offset)
            self._paths.append(" > ".join(t for _, t in stack))

    def path_at(self, offset: int) -> str | None:
        index = bisect_right(self.offsets, offset) - 1
        return self._paths[index] if index >= 0 else None

"""Tests for ragkit.chunking: small cases checked by hand, then properties with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragkit.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, Chunk, chunk_text
from ragkit.errors import ConfigError

# ---------------------------------------------------------------- by hand


def spans(chunks: list[Chunk]) -> list[tuple[int, int]]:
    return [(c.start, c.end) for c in chunks]


def test_defaults():
    assert (DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP) == (1000, 150)


@pytest.mark.parametrize("text", ["", " ", "\n\n\t  \n", "\u00a0\u3000"])
def test_blank_text_gives_no_chunks(text):
    assert chunk_text(text) == []


def test_short_text_is_one_stripped_chunk():
    assert chunk_text("  hello world \n") == [Chunk(0, "hello world", 2, 13, None, None)]


def test_paragraph_break_beats_line_and_sentence():
    first = "Alpha beta. Gamma delta.\nEpsilon zeta eta theta iota kappa lambda."  # 66
    second = "Mu nu xi. Omicron pi rho sigma tau upsilon phi chi psi omega!"
    chunks = chunk_text(f"{first}\n\n{second}", size=100, overlap=0)
    assert [c.text for c in chunks] == [first, second]
    assert spans(chunks) == [(0, 66), (68, 68 + len(second))]


def test_line_break_beats_sentence_end():
    text = "Short one. Then a line that runs on for a while\nand the rest of it goes here. More."
    chunks = chunk_text(text, size=60, overlap=0)
    assert chunks[0].text == "Short one. Then a line that runs on for a while"


def test_sentence_end_keeps_its_punctuation():
    text = "One two three. Four five six! Seven eight nine? Ten eleven twelve thirteen fourteen."
    assert [c.text for c in chunk_text(text, size=50, overlap=0)] == [
        "One two three. Four five six! Seven eight nine?",
        "Ten eleven twelve thirteen fourteen.",
    ]


def test_cuts_are_not_taken_from_the_first_half_of_the_window():
    text = "Tiny.\n\n" + " ".join(["word"] * 40)  # the paragraph break is too early
    first = chunk_text(text, size=100, overlap=0)[0]
    assert first.text.startswith("Tiny.\n\nword") and len(first.text) >= 90


def test_word_boundaries_and_overlap_snapped_to_a_word_start():
    text = " ".join(f"w{i:02d}" for i in range(30))  # "w00 w01 ... w29", word i at 4*i
    chunks = chunk_text(text, size=50, overlap=10)
    assert spans(chunks) == [(0, 47), (40, 87), (80, 119)]
    assert chunks[1].text.startswith("w10 ") and chunks[2].text.endswith("w29")


def test_giant_word_is_hard_split_with_and_without_overlap():
    text = "x" * 250
    assert spans(chunk_text(text, size=100, overlap=0)) == [(0, 100), (100, 200), (200, 250)]
    assert spans(chunk_text(text, size=100, overlap=20)) == [(0, 100), (80, 180), (160, 250)]


def test_no_overlap_when_the_window_holds_no_word_start():
    text = "a" * 60 + " " + "b" * 60  # the cut is at the space; "aaa..." has no word start
    assert spans(chunk_text(text, size=80, overlap=10)) == [(0, 60), (61, 121)]


def test_overlap_never_repeats_a_chunk_end():
    # found by hypothesis: with overlap == size // 2 the next window's earliest cut
    # was the previous cut, giving a chunk that covered nothing new
    text = "```\n# One\n# One\n# One\na longer line of ordinary words that goes on\n\n" * 3
    chunks = chunk_text(text, size=125, overlap=62)
    assert all(a.end < b.end for a, b in zip(chunks, chunks[1:], strict=False))
    assert spans(chunks)[:2] == [(0, 66), (10, 134)]


def test_overlap_is_dropped_when_a_wide_gap_follows():
    for gap in (45, 150):
        text = "one two three four five six seven" + " " * gap + "eight nine ten"
        chunks = chunk_text(text, size=60, overlap=25)
        assert [c.text for c in chunks] == ["one two three four five six seven", "eight nine ten"]


def test_whitespace_regions_make_no_chunks():
    text = "start" + " " * 500 + "\n" * 300 + "end"
    chunks = chunk_text(text, size=100, overlap=20)
    assert [c.text for c in chunks] == ["start", "end"]


@pytest.mark.parametrize(
    ("size", "overlap", "bad"),
    [(10, 0, 10), (49, 0, 49), (100, 50, 50), (100, -1, -1), ("100", 0, "100"), (100, 1.5, 1.5)],
)
def test_bad_settings_are_config_errors_naming_the_value(size, overlap, bad):
    with pytest.raises(ConfigError) as err:
        chunk_text("text", size=size, overlap=overlap)
    assert err.value.value == bad and repr(bad) in str(err.value)


def test_bad_settings_name_the_cli_options_that_fix_them():
    with pytest.raises(ConfigError) as err:
        chunk_text("text", size=100, overlap=60)
    assert err.value.hint == "Use --overlap 49"
    with pytest.raises(ConfigError) as err:
        chunk_text("text", size=10)
    assert err.value.hint == "Use --chunk-size 1000 (the default)"


def test_unsorted_page_starts_are_refused():
    with pytest.raises(ConfigError):
        chunk_text("text", page_starts=[0, 10, 5])


def test_pages_come_from_the_chunk_start():
    pages = ["first page words " * 4, "second page words " * 4, "third page words " * 4]
    text = "\n\n".join(page.strip() for page in pages)
    starts = (0, text.index("second"), text.index("third"))
    chunks = chunk_text(text, size=60, overlap=0, page_starts=starts)
    assert [(c.text.split()[0], c.page) for c in chunks] == [
        ("first", 1),
        ("page", 1),  # starts on page 1, runs into page 2
        ("words", 2),
        ("third", 3),
    ]
    assert all(c.page is None for c in chunk_text(text, size=60, overlap=0))


MARKDOWN = """---
title: x
# yaml comment, not a heading
---
Preamble before any heading.

# Install

Some words about installing this.

## On Linux

Use the package manager on Linux.

```sh
# a shell comment, not a heading
```

### Debian ###

apt install it.

## On macOS

brew install it.

# Use
#hashtag is not a heading
Run it.
"""


def test_markdown_heading_paths_and_cuts_before_headings():
    chunks = chunk_text(MARKDOWN, size=50, overlap=10, markdown=True)
    assert [(c.text.split("\n")[0], c.heading) for c in chunks] == [
        ("---", None),
        ("---", None),  # overlap; the front matter's "# yaml comment" is no heading
        ("# Install", "Install"),  # cut before a heading: no overlap into it
        ("## On Linux", "Install > On Linux"),
        ("on Linux.", "Install > On Linux"),
        ("a heading", "Install > On Linux"),  # "# a shell comment" is in a fence
        ("## On macOS", "Install > On macOS"),
        ("# Use", "Use"),
    ]
    assert chunks[-1].text == "# Use\n#hashtag is not a heading\nRun it."
    assert all(c.heading is None for c in chunk_text(MARKDOWN, size=50, overlap=10))


class _CountingText(str):
    """A text that counts the characters its searches and slices look at."""

    looked_at = 0

    def rfind(self, sub, start=None, end=None):
        stop = len(self) if end is None else min(end, len(self))
        self.looked_at += max(0, stop - (start or 0))
        return str.rfind(self, sub, start, end)

    def __getitem__(self, key):
        result = str.__getitem__(self, key)
        self.looked_at += len(result)
        return result


def test_linear_work_on_a_few_megabytes():
    text = _CountingText(("A sentence of ordinary prose, with words. " * 20 + "\n\n") * 6000)
    chunks = chunk_text(text, markdown=True, page_starts=range(0, len(text), 3000))  # ~5 MB
    assert chunks[-1].end == len(text) - 3  # before the final space and blank line
    assert text.looked_at <= 5 * len(text), f"looked at {text.looked_at / len(text):.1f}x the text"


# ---------------------------------------------------------------- properties

WORDS = ["a", "to", "word", "longer", "x" * 30, "é", "日本", "Hi."]
SEPARATORS = [" ", " ", " ", "  ", "\n", "\n\n", ". ", "! ", "? ", "\t", "\u00a0", " \n \n"]
SEPARATORS += [" " * 120, "\n\n" + " " * 250]  # gaps as wide as a chunk


words_and_separators = st.lists(
    st.tuples(
        st.sampled_from(WORDS) | st.text(min_size=1, max_size=5), st.sampled_from(SEPARATORS)
    ),
    max_size=150,
)


@st.composite
def prose(draw) -> str:
    """Words and separators, sometimes a giant word: the shapes chunking must handle."""
    parts = [word + separator for word, separator in draw(words_and_separators)]
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), "y" * draw(st.integers(1, 400)))
    return "".join(parts)


texts = prose() | st.text(alphabet=" \n\t.!?ab\u00a0", max_size=1500) | st.text(max_size=800)


@st.composite
def settings_for(draw) -> tuple[int, int]:
    size = draw(st.integers(50, 300))
    return size, draw(st.integers(0, (size - 1) // 2))


def is_word_start(text: str, i: int) -> bool:
    return not text[i].isspace() and (i == 0 or text[i - 1].isspace())


def check_invariants(
    text: str, chunks: list[Chunk], size: int, overlap: int, markdown: bool = False
) -> None:
    for seq, chunk in enumerate(chunks):
        assert chunk.seq == seq
        assert text[chunk.start : chunk.end] == chunk.text
        assert 0 < len(chunk.text) <= size
        assert chunk.text == chunk.text.strip()
    covered = bytearray(len(text))
    for chunk in chunks:
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(text))
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert prev.start < nxt.start and prev.end < nxt.end
        assert nxt.start >= prev.end - overlap  # overlap is at most `overlap`
        if markdown and text[nxt.start] == "#" and not text[prev.end : nxt.start].strip():
            continue  # cut before a heading: the next chunk starts at it, no overlap
        rest = text[prev.end :]
        uncovered = prev.end + len(rest) - len(rest.lstrip())  # first non-space after prev
        assert nxt.start <= uncovered  # no gap
        lowest = max(prev.end - overlap, prev.start + 1, uncovered + 1 - size // 2)
        window = range(lowest, prev.end)
        if any(is_word_start(text, i) for i in window):
            assert nxt.start < prev.end and is_word_start(text, nxt.start)


@settings(max_examples=200, deadline=None)
@given(text=texts, sizes=settings_for())
def test_chunks_reconstruct_cover_and_overlap_boundedly(text, sizes):
    size, overlap = sizes
    check_invariants(text, chunk_text(text, size=size, overlap=overlap), size, overlap)


@settings(max_examples=100, deadline=None)
@given(text=prose(), sizes=settings_for(), data=st.data())
def test_page_is_the_page_holding_the_start(text, sizes, data):
    size, overlap = sizes
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    page_starts = [0, *cuts]
    for chunk in chunk_text(text, size=size, overlap=overlap, page_starts=page_starts):
        expected = max(i for i, start in enumerate(page_starts) if start <= chunk.start) + 1
        assert chunk.page == expected


def reference_heading(text: str, offset: int) -> str | None:
    """Heading path at `offset`, by walking the lines before it one by one."""
    stack: list[tuple[int, str]] = []
    fence = None
    line_start = 0
    for line in text.split("\n"):
        if line_start > offset:
            break
        stripped = line.lstrip(" ")
        if len(line) - len(stripped) <= 3 and stripped[:3] in ("```", "~~~"):
            fence = None if fence == stripped[:3] else fence or stripped[:3]
        elif fence is None and len(line) - len(stripped) <= 3 and stripped.startswith("#"):
            hashes = len(stripped) - len(stripped.lstrip("#"))
            rest = stripped[hashes:]
            title = rest.strip(" \t").rstrip("#").strip(" \t") if rest.strip("# \t") else ""
            if hashes <= 6 and rest[:1] in (" ", "\t") and title:
                while stack and stack[-1][0] >= hashes:
                    stack.pop()
                stack.append((hashes, title))
        line_start += len(line) + 1
    return " > ".join(title for _, title in stack) or None


markdown_lines = st.lists(
    st.sampled_from(
        [
            "# One",
            "## Two",
            "### Three",
            "#### Four",
            "###### Six",
            "####### Seven",
            "```",
            "~~~",
            "   ## Indented",
            "    # code block",
            "#tag",
            "## Closed ##",
            "text line",
            "more text.",
            "",
            "",
            "a longer line of ordinary words that goes on",
        ]
    ),  # fmt: skip
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(lines=markdown_lines, sizes=settings_for())
def test_heading_is_the_path_in_force_at_the_start(lines, sizes):
    text = "\n".join(lines)
    size, overlap = sizes
    chunks = chunk_text(text, size=size, overlap=overlap, markdown=True)
    check_invariants(text, chunks, size, overlap, markdown=True)
    for chunk in chunks:
        assert chunk.heading == reference_heading(text, chunk.start)

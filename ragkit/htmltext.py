"""HTML as a reader sees it: the page's content without its furniture.

    text, title, headings = html_document(page)

Dropped: invisible elements (script, style, head, ...), `nav`, `aside` (except
footnotes), the page's own `header`/`footer` (those inside `main`, `article` or
`section` are content), elements with role navigation/banner/contentinfo/search,
`hidden` or `aria-hidden="true"` elements, skip links and permalink anchors
(`a.headerlink` and anchors whose whole text is a mark such as `¶`). When the page
has `main` (or `[role=main]`), only its text is kept; else, when its `article`s hold
a third of its text or more, only theirs. Blocks become line or paragraph breaks,
table rows become lines, `pre` is kept as is, images give their `alt` text, and
`h1`-`h6` give the headings.
One pass, work linear in the page (`_OpenElements.steps` counts the stack's work).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

Heading = tuple[int, int, str]  # (char offset in the text, level 1-6, title): as readers.Heading

_SKIP_TAGS = frozenset(
    {"script", "style", "noscript", "template", "svg", "math", "head", "iframe", "object"}
)
_PARAGRAPH_TAGS = frozenset(
    "p h1 h2 h3 h4 h5 h6 section article header footer nav aside main blockquote pre"
    " ul ol dl table figure form fieldset address hr details summary".split()
)
_LINE_TAGS = frozenset("div li dt dd tr caption figcaption option legend".split())
_CELL_TAGS = frozenset({"td", "th"})
_VOID_TAGS = frozenset("area base br col embed hr img input link meta source track wbr".split())
_OPTIONAL_END_TAGS = frozenset(  # often left open: hiding one could hide the rest of the page
    "p li dt dd tr td th option optgroup thead tbody tfoot colgroup caption rb rt rp".split()
)
_HEADING_LEVELS = {f"h{level}": level for level in range(1, 7)}
_CONTENT_TAGS = frozenset({"main", "article", "section"})  # their header/footer is content
_FURNITURE_ROLES = frozenset({"navigation", "banner", "contentinfo", "search"})
_PERMALINK_CLASSES = frozenset({"headerlink", "anchorlink", "anchorjs-link", "header-anchor"})
_PERMALINK_TEXTS = frozenset({"¶", "#", "§", "🔗"})
_SKIP_LINK = re.compile(r"(?i)(skip|jump) to\b")
ARTICLE_SHARE = 1 / 3  # of a page's text its articles must hold to stand for the page
_WHITESPACE = re.compile(r"\s+")
_NON_SPACE = re.compile(r"\S")

_EOF_CLOSER = "<!-- -->"
"""Fed at the end of a page: it ends an open comment, tag, end tag or declaration at
once, as HTML5 does at the end of a file. Without it Python's parser (3.11 before its
2025 fix) rescans to the end for each construct left open: `<a x` 10k times is ~1 s,
40k times 11 s."""


def html_document(html: str) -> tuple[str, str | None, tuple[Heading, ...] | None]:
    """Content text of a page, its <title> (else its first h1) and its headings (None
    if it has none). May raise whatever `html.parser` raises on broken markup."""
    parser = _VisibleTextParser()
    parser.feed(html)
    parser.close()
    text, headings = parser.content()
    title = parser.title() or next((t for _, level, t in headings if level == 1), None)
    return text, title, tuple(headings) or None


def html_to_text(html: str) -> tuple[str, str | None]:
    """Content text of an HTML page (blocks become line breaks) and its <title>."""
    parser = _VisibleTextParser()
    parser.feed(html)
    parser.close()
    return parser.text(), parser.title()


def _is_furniture(tag: str, attrs: dict[str, str], in_content: bool) -> bool:
    """Whether an element and all it holds are page furniture (or hidden)."""
    classes = set(attrs.get("class", "").split())
    if tag == "nav" or attrs.get("role", "").strip().lower() in _FURNITURE_ROLES:
        return True
    if tag == "aside":
        return not any(name.startswith("footnote") for name in classes)
    if tag in ("header", "footer") and not in_content:
        return True
    if "hidden" in attrs or attrs.get("aria-hidden", "").strip().lower() == "true":
        return tag not in _OPTIONAL_END_TAGS
    return tag == "a" and bool(classes & _PERMALINK_CLASSES)


class _Region:
    """An open element whose text may be the page's content: its tag, how many
    elements of that tag are open inside it, and where its text starts in `_out`."""

    def __init__(self, kind: str, tag: str, start: int) -> None:
        self.kind, self.tag, self.depth, self.start = kind, tag, 1, start


class _VisibleTextParser(HTMLParser):
    """Collect content text in pieces; block tags request line or paragraph breaks;
    remember which pieces belong to main/article regions and where headings start."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._pending_breaks = 0  # newlines owed before the next visible text
        self._skipping = _OpenElements()  # open invisible elements
        self._pre_depth = 0
        self._content_depth = 0  # open main/article/section elements
        self._title: list[str] | None = None  # collecting while inside <title>
        self._title_text: str | None = None
        self._region: _Region | None = None  # the outermost open main/article
        self._spans: dict[str, list[tuple[int, int]]] = {"main": [], "article": []}
        self._heading: tuple[int, int] | None = None  # (piece index, level) of an open hN
        self._headings: list[tuple[int, int, str]] = []  # (piece index, level, title)
        self._anchor: tuple[int, int] | None = None  # (piece index, breaks) of an open <a href=#>

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "body" and "head" in self._skipping:
            self._skipping.close("head")  # <head> left unclosed
        named = {key: value or "" for key, value in attrs}
        if tag == "title" and self._title_text is None and self._skipping.at_most("head"):
            self._title = []
        elif self._skipping:
            if tag in self._skipping:  # nested like the element being skipped
                self._skipping.open(tag)
        elif tag in _SKIP_TAGS or _is_furniture(tag, named, self._content_depth > 0):
            if tag not in _VOID_TAGS:  # a void element holds nothing and never closes
                self._skipping.open(tag)
        elif tag == "br":
            self._pending_breaks = min(self._pending_breaks + 1, 2)
        else:
            self._open_visible(tag, named)

    def _open_visible(self, tag: str, attrs: dict[str, str]) -> None:
        self._block_edge(tag)
        if tag == "pre":
            self._pre_depth += 1
        elif tag in _CONTENT_TAGS:
            self._content_depth += 1
        elif tag in _HEADING_LEVELS:
            self._heading = (len(self._out), _HEADING_LEVELS[tag])
        elif tag == "a" and attrs.get("href", "").startswith("#"):
            self._anchor = (len(self._out), self._pending_breaks)
        elif tag == "img" and (alt := _WHITESPACE.sub(" ", attrs.get("alt", "")).strip()):
            self._write_inline(f" {alt} ")
        if self._region is not None and tag == self._region.tag:
            self._region.depth += 1
        elif self._region is None and (tag == "main" or attrs.get("role") == "main"):
            self._region = _Region("main", tag, len(self._out))
        elif self._region is None and tag == "article":
            self._region = _Region("article", tag, len(self._out))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title is not None:
            self._title_text = _WHITESPACE.sub(" ", "".join(self._title)).strip()
            self._title = None
        elif tag in self._skipping:
            self._skipping.close(tag)
        elif not self._skipping:
            self._close_visible(tag)

    def _close_visible(self, tag: str) -> None:
        self._block_edge(tag)
        if tag == "pre" and self._pre_depth:
            self._pre_depth -= 1
        elif tag in _CONTENT_TAGS and self._content_depth:
            self._content_depth -= 1
        elif tag in _HEADING_LEVELS and self._heading is not None:
            start, level = self._heading
            title = _WHITESPACE.sub(" ", "".join(self._out[start:])).strip()
            if title:
                self._headings.append((start, level, title))
            self._heading = None
        elif tag == "a" and self._anchor is not None:
            self._close_anchor(*self._anchor)
        if self._region is not None and tag == self._region.tag:
            self._region.depth -= 1
            if self._region.depth == 0:
                self._spans[self._region.kind].append((self._region.start, len(self._out)))
                self._region = None

    def _close_anchor(self, start: int, breaks: int) -> None:
        """Drop an in-page link that is a permalink mark or a skip link."""
        text = "".join(self._out[start:]).strip()
        holds_heading = bool(self._headings) and self._headings[-1][0] >= start
        if not holds_heading and (text in _PERMALINK_TEXTS or _SKIP_LINK.match(text)):
            del self._out[start:]
            self._pending_breaks = breaks
        self._anchor = None

    def handle_data(self, data: str) -> None:
        if self._title is not None:
            self._title.append(data)
        elif self._skipping:
            return
        elif self._pre_depth:
            self._write(data)
        else:
            self._write_inline(_WHITESPACE.sub(" ", data))

    def _block_edge(self, tag: str) -> None:
        if tag in _PARAGRAPH_TAGS:
            self._pending_breaks = 2
        elif tag in _LINE_TAGS:
            self._pending_breaks = max(self._pending_breaks, 1)
        elif tag in _CELL_TAGS and self._out and not self._pending_breaks:
            self._write_inline(" ")

    def _at_line_start(self) -> bool:
        return not self._out or self._pending_breaks > 0 or self._out[-1].endswith("\n")

    def _write_inline(self, text: str) -> None:
        if self._at_line_start():
            text = text.lstrip(" ")
        elif text.startswith(" ") and self._out[-1].endswith(" "):
            text = text[1:]
        if text:
            self._write(text)

    def _write(self, text: str) -> None:
        if self._pending_breaks and self._out:
            self._out[-1] = self._out[-1].rstrip(" ")
            self._out.append("\n" * self._pending_breaks)
        self._pending_breaks = 0
        self._out.append(text)

    def close(self) -> None:
        self.feed(_EOF_CLOSER)
        super().close()
        if self._region is not None:  # left open at the end of the page
            self._spans[self._region.kind].append((self._region.start, len(self._out)))
            self._region = None

    def text(self) -> str:
        return self.content()[0]

    def content(self) -> tuple[str, list[Heading]]:
        """The text of the main regions, else the articles, else the whole page, with
        the offset in it of each heading those pieces hold."""
        spans = self._spans["main"] or self._articles() or [(0, len(self._out))]
        marks = {start for start, _, _ in self._headings}
        parts: list[str] = []
        offsets: dict[int, int] = {}
        at = 0
        for first, end in spans:
            if parts and first < end and not self._out[first].startswith("\n"):
                parts.append("\n\n")
                at += 2
            for i in range(first, end):
                if i in marks:
                    offsets[i] = at
                parts.append(self._out[i])
                at += len(self._out[i])
        raw = "".join(parts).removesuffix(_EOF_CLOSER)  # inside an open quote
        text = raw.strip()
        lead = len(raw) - len(raw.lstrip())
        return text, _placed(text, lead, offsets, self._headings)

    def title(self) -> str | None:
        return self._title_text or None

    def _articles(self) -> list[tuple[int, int]]:
        """The article spans, if they hold at least ARTICLE_SHARE of the page's text: a
        page whose only `article` is a comment or a card keeps the rest of its text."""
        spans = self._spans["article"]
        held = sum(len(self._out[i]) for first, end in spans for i in range(first, end))
        return spans if held >= ARTICLE_SHARE * sum(map(len, self._out)) else []


def _placed(
    text: str, lead: int, offsets: dict[int, int], headings: list[tuple[int, int, str]]
) -> list[Heading]:
    """Headings at the first character of their title in `text`, in order."""
    placed: list[Heading] = []
    for piece, level, title in headings:
        if piece not in offsets:
            continue
        found = _NON_SPACE.search(text, max(offsets[piece] - lead, 0))
        if found and (not placed or found.start() > placed[-1][0]):
            placed.append((found.start(), level, title))
    return placed


class _OpenElements:
    """A stack of open elements with a count per tag, so that testing whether a tag is
    open and closing it cost time linear in the elements closed, never a scan of the
    stack (100k nested `<svg>` would be quadratic). `steps` counts elements pushed and
    popped: the whole work, bounded by twice the start tags seen."""

    def __init__(self) -> None:
        self._stack: list[str] = []
        self._open: dict[str, int] = {}
        self.steps = 0

    def __contains__(self, tag: str) -> bool:
        return self._open.get(tag, 0) > 0

    def __bool__(self) -> bool:
        return bool(self._stack)

    def at_most(self, tag: str) -> bool:
        """True if nothing is open, or only `tag`."""
        return not self._stack or (len(self._stack) == 1 and self._stack[0] == tag)

    def open(self, tag: str) -> None:
        self._stack.append(tag)
        self._open[tag] = self._open.get(tag, 0) + 1
        self.steps += 1

    def close(self, tag: str) -> None:
        """Close the innermost open `tag` and everything opened inside it."""
        while tag in self:
            popped = self._stack.pop()
            self._open[popped] -= 1
            self.steps += 1
            if popped == tag:
                return

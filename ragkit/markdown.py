"""Just enough markdown: front matter, code fences, ATX and setext headings.

One scanner, so that a document's title (readers) and the heading path of
each chunk (chunking) agree on what is a heading and what is code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_LINE = re.compile(  # a code fence, or an ATX heading "## Title ##"
    r"^ {0,3}(?:(?P<fence>```|~~~)"
    r"|(?P<hashes>#{1,6})(?:[ \t]+(?P<title>.*?))?(?:[ \t]+#+)?[ \t]*$)",
    re.MULTILINE,
)
_SETEXT_H1 = re.compile(r"^ {0,3}=+[ \t]*$")
_FRONT_MATTER_TITLE = re.compile(r"^title:[ \t]*(['\"]?)(.+?)\1[ \t]*$", re.MULTILINE)
TITLE_SCAN_LINES = 2000  # a title sits near the top


def front_matter_end(text: str) -> int:
    """Offset just past a leading YAML front-matter block (`---` ... `---`), else 0."""
    if not text.startswith("---\n"):
        return 0
    close = text.find("\n---", 3)
    if close < 0:
        return 0
    line_end = text.find("\n", close + 1)
    return len(text) if line_end < 0 else line_end + 1


def _fence_after(fence: str | None, marker: str) -> str | None:
    """The open fence after a fence line: it closes only the kind that opened it."""
    return None if fence == marker else fence or marker


def headings(text: str) -> Iterator[tuple[int, int, str]]:
    """(offset, level, title) of each ATX heading outside code fences and front matter."""
    fence: str | None = None
    for match in _LINE.finditer(text, front_matter_end(text)):
        if match["fence"]:
            fence = _fence_after(fence, match["fence"])
        elif fence is None and (title := (match["title"] or "").strip()):
            yield match.start(), len(match["hashes"]), title


def title(text: str) -> str | None:
    """Front matter's `title:`, else the first ATX or `===` setext heading outside code."""
    start = front_matter_end(text)
    if start and (found := _FRONT_MATTER_TITLE.search(text, 0, start)):
        if found.group(2).strip():
            return found.group(2).strip()
    lines = text[start:].split("\n", TITLE_SCAN_LINES)[:TITLE_SCAN_LINES]
    fence: str | None = None
    for i, line in enumerate(lines):
        match = _LINE.match(line)
        if match and match["fence"]:
            fence = _fence_after(fence, match["fence"])
        elif fence is None and match and (heading := (match["title"] or "").strip()):
            return heading
        elif fence is None and line.strip() and i + 1 < len(lines):
            if _SETEXT_H1.match(lines[i + 1]):
                return line.strip()
    return None

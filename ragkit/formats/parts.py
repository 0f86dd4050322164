"""What every container format shares: a budget for what one file may expand to,
ZIP members read within it, XML parsed without DTDs, and a text builder that
records where pages and headings start.

Safety: no XML part may declare a DTD, so no entity can be defined (no billion
laughs) and none can point outside the file (no external entities, no network).
"""

from __future__ import annotations

import io
import re
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ragkit.errors import DocumentError
from ragkit.terminal import human_bytes

UNZIP_BYTES_PER_BYTE = 100
"""What the parts ragkit reads of a ZIP may decompress to, per byte of the file (XML
compresses 5-20x; a bomb a million times). Any file may unpack `UNZIP_MIN_BYTES`, and
never more than --max-file-size."""
UNZIP_MIN_BYTES = 16 * 1024 * 1024

_DOCTYPES = tuple("<!DOCTYPE".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))
_HINT_EXCLUDE = "--exclude it"


@dataclass
class Extract:
    """A format reader's result; readers.py turns it into a `Document`."""

    text: str
    title: str | None = None
    page_starts: tuple[int, ...] | None = None
    headings: tuple[tuple[int, int, str], ...] | None = None


@dataclass
class Budget:
    """How much one file may unpack to and yield, and for how long; raises
    `DocumentError` as soon as one runs out."""

    path: Path
    max_unzipped: int
    max_chars: int
    max_seconds: float | None
    started: float = field(default_factory=time.monotonic)
    unzipped: int = 0
    chars: int = 0

    @classmethod
    def for_file(
        cls, path: Path, size: int, max_bytes: int | None, max_seconds: float | None
    ) -> Budget:
        """Unpack up to `UNZIP_BYTES_PER_BYTE` per byte and `max_bytes`; text up to `max_bytes`."""
        unzipped = max(size * UNZIP_BYTES_PER_BYTE, UNZIP_MIN_BYTES)
        if max_bytes is not None:
            unzipped = min(unzipped, max_bytes)
        chars = max_bytes if max_bytes is not None else unzipped
        return cls(path, unzipped, chars, max_seconds)

    def fail(self, reason: str, hint: str | None = None) -> DocumentError:
        return DocumentError(self.path, reason, hint=hint)

    def add_text(self, count: int) -> None:
        self.chars += count
        if self.chars > self.max_chars:
            raise self.fail(
                f"its text passes the {human_bytes(self.max_chars)} limit",
                "Raise --max-file-size or --exclude it",
            )

    def check_time(self, where: str) -> None:
        if self.max_seconds is not None and time.monotonic() - self.started >= self.max_seconds:
            raise self.fail(
                f"text extraction took over {self.max_seconds:g}s (stopped at {where})",
                _HINT_EXCLUDE,
            )

    def unzip(self, archive: zipfile.ZipFile, name: str) -> bytes:
        """One member's bytes, refused before and while decompressing once the file's
        members together pass `max_unzipped`."""
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise self.fail(f"part {name!r} is missing (a damaged file?)", _HINT_EXCLUDE) from None
        left = self.max_unzipped - self.unzipped
        if info.file_size > left:
            raise self._bomb(name)
        try:
            with archive.open(info) as member:
                data = member.read(left + 1)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise self.fail(f"part {name!r} cannot be unpacked ({exc})", _HINT_EXCLUDE) from exc
        if len(data) > left:
            raise self._bomb(name)
        self.unzipped += len(data)
        return data

    def _bomb(self, name: str) -> DocumentError:
        return self.fail(
            f"its parts unpack to over {human_bytes(self.max_unzipped)} (at {name!r};"
            " a decompression bomb?)",
            "Raise --max-file-size if the file is genuine, else --exclude it",
        )


def open_zip(path: Path, data: bytes, kind: str) -> zipfile.ZipFile:
    """The ZIP container of an office file or e-book; `DocumentError` naming why not."""
    if data.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE compound file, never a ZIP
        raise DocumentError(
            path,
            f"{kind} is encrypted with a password, or is an old binary Office file",
            hint="Save it again without a password, in the current format",
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise DocumentError(
            path, f"not a readable {kind} (not a ZIP archive: {exc})", hint=_HINT_EXCLUDE
        ) from exc
    if any(info.flag_bits & 0x1 for info in archive.infolist()):
        raise DocumentError(path, f"{kind} is encrypted", hint="Save it again without a password")
    return archive


def parse_xml(budget: Budget, data: bytes, name: str) -> ET.Element:
    """Parse one XML part; refuse any DTD (the only way in for entities)."""
    if any(doctype in data for doctype in _DOCTYPES):
        raise budget.fail(
            f"part {name!r} declares a DTD (<!DOCTYPE>), which ragkit does not parse",
            _HINT_EXCLUDE,
        )
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise budget.fail(f"part {name!r} is not well-formed XML ({exc})", _HINT_EXCLUDE) from exc


def local(tag: object) -> str:
    """An element's name without its namespace: "{uri}p" -> "p" (comments give "")."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def attr(element: ET.Element, name: str) -> str | None:
    """An attribute by its local name, whatever its namespace."""
    for key, value in element.attrib.items():
        if local(key) == name:
            return value
    return None


_SPACES = re.compile(r"[ \t\r\f\v]+")


def tidy(text: str) -> str:
    """Runs of spaces made one, each line stripped, blank lines dropped."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


class TextBuilder:
    """Paragraphs joined by blank lines, with the offsets where pages and headings start."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._parts: list[str] = []
        self._length = 0
        self._pages_owed = 0  # pages begun whose first paragraph has not come yet
        self._breaks_after = 0  # breaks met after the text of the paragraph being read
        self.page_starts: list[int] = []
        self.headings: list[tuple[int, int, str]] = []

    def new_page(self) -> None:
        """The next paragraph starts a new page (or slide, or sheet)."""
        self._pages_owed += 1

    def page_break(self, *, after_text: bool, recorded: bool = False) -> None:
        """A page break met while reading a paragraph: before its text, the paragraph
        starts the page; after, the next one does. `recorded`: where the writing program
        laid a page out (Word's `lastRenderedPageBreak`), which repeats a hard break
        just before it."""
        if recorded and (self._pages_owed or self._breaks_after):
            return
        if after_text:
            self._breaks_after += 1
        else:
            self._pages_owed += 1

    def paragraph(self, text: str) -> int:
        """Append a paragraph (if not blank); returns the offset its stripped text starts at."""
        text = text.strip()
        breaks, self._breaks_after = self._breaks_after, 0
        if not text:
            self._pages_owed += breaks
            return self._length
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        self._settle_pages(self._length)
        self._parts.append(text)
        self._length += len(text)
        self.budget.add_text(len(text))
        self._pages_owed += breaks
        return self._length - len(text)

    def heading(self, level: int, title: str, at: int | None = None) -> None:
        """A heading: written as its own paragraph, or found at offset `at` of the text."""
        title = " ".join(title.split())
        if title:
            start = self.paragraph(title) if at is None else at
            self.headings.append((start, max(1, min(level, 6)), title))

    def _settle_pages(self, offset: int) -> None:
        self.page_starts.extend([offset] * self._pages_owed)
        self._pages_owed = 0

    def result(self, title: str | None, *, pages: int = 0) -> Extract:
        """The text; `page_starts` only if at least `pages` (> 0) pages were begun."""
        self._settle_pages(self._length)
        return Extract(
            text="".join(self._parts),
            title=title or (self.headings[0][2] if self.headings else None),
            page_starts=tuple(self.page_starts) if 0 < pages <= len(self.page_starts) else None,
            headings=tuple(self.headings) or None,
        )

    def next_offset(self) -> int:
        """Where the next paragraph's text will start."""
        return self._length + 2 if self._parts else 0

    def empty(self) -> bool:
        return not self._parts

"""Turn a file into text, by its type.

    doc = read_document(path, max_bytes=50_000_000)   # raises DocumentError

Plain text and source code are decoded (UTF-8 with or without BOM, UTF-16/32
with a BOM, else a lenient fallback); HTML is reduced to its content text with
paragraph breaks kept (`ragkit.htmltext`); PDFs are read page by page with `pypdf`,
and `Document.page_starts` records where each page begins in the text.
`Document.headings` lists the markdown, HTML and reStructuredText headings with
where each starts in the text. This module never chunks or embeds.
"""

from __future__ import annotations

import codecs
import io
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ragkit import formats
from ragkit.errors import DocumentError
from ragkit.htmltext import Heading, html_document, html_to_text  # noqa: F401 (re-exported)
from ragkit.markdown import headings as markdown_headings
from ragkit.markdown import title as markdown_title
from ragkit.terminal import human_bytes

if TYPE_CHECKING:  # pypdf is imported when the first PDF is read
    from pypdf import PdfReader

log = logging.getLogger(__name__)

_CODE_EXTENSIONS = (
    ".py .pyi .js .mjs .cjs .jsx .ts .tsx .go .rs .java .kt .kts .scala .swift .c .h"
    " .cc .cpp .cxx .hh .hpp .hxx .cs .fs .rb .php .pl .pm .lua .r .jl .ex .exs .erl"
    " .hs .ml .clj .dart .vue .svelte .sh .bash .zsh .fish .ps1 .bat .sql .graphql"
    " .proto .css .scss .less .mk .cmake .gradle"
).split()
_DATA_EXTENSIONS = ".csv .tsv .json .yaml .yml .toml .ini .cfg .conf .xml".split()
_TEXT_EXTENSIONS = ".txt .text .log .org .tex .adoc .asciidoc .textile .bib".split()

_TYPE_BY_EXTENSION: dict[str, str] = {
    **dict.fromkeys(_TEXT_EXTENSIONS, "text"),
    **dict.fromkeys(_DATA_EXTENSIONS, "data"),
    **dict.fromkeys(_CODE_EXTENSIONS, "code"),
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".rst": "rst",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    **formats.TYPE_BY_EXTENSION,  # office, e-book, mail, notebook: ragkit/formats/
}

DEFAULT_EXTENSIONS: frozenset[str] = frozenset(_TYPE_BY_EXTENSION)
"""Extensions (lower-case, with the dot) indexed when walking a folder."""

BINARY_SNIFF_BYTES = 8192
READ_PIECE_BYTES = 1 << 24  # a file that grows while it is read is read on in pieces this big
DEFAULT_MAX_READ_SECONDS = 120.0
"""Time one file may take to extract (checked between PDF pages and text runs)."""
PDF_CHARS_PER_BYTE = 20
"""Text a PDF may yield per byte of file: real ones give a few, a shared-stream bomb
thousands. Any PDF may yield `PDF_MIN_CHARS`, and never more than `max_bytes`."""
PDF_MIN_CHARS = 200_000


@dataclass(frozen=True)
class Document:
    path: Path  # absolute, resolved
    text: str  # the whole extracted text, newlines normalized to "\n"
    type: str  # "text" | "markdown" | "html" | "pdf" | "rst" | "code" | "data"
    title: str | None  # first markdown heading / <title> / PDF metadata title
    page_starts: tuple[int, ...] | None  # PDF: char offset in `text` where page i+1 begins
    headings: tuple[Heading, ...] | None = None  # None: the reader found no structure


def document_type(path: Path | str) -> str:
    """The `Document.type` a file gets from its extension ("text" if unknown)."""
    return _TYPE_BY_EXTENSION.get(Path(path).suffix.lower(), "text")


# ---------------------------------------------------------------- reading


def read_document(
    path: Path | str,
    *,
    max_bytes: int | None = None,
    data: bytes | None = None,
    max_seconds: float | None = DEFAULT_MAX_READ_SECONDS,
    include_outputs: bool = False,
) -> Document:
    """Read one file into a `Document`; raise `DocumentError` saying why not.

    An empty file gives a Document with `text == ""` (the caller decides what
    to do with it). Files over `max_bytes` are refused before being read.
    Given `data` (the file's bytes from `read_bytes`), the file is not read
    again: a caller that hashed those bytes stores the hash of what was parsed.
    A PDF stops being extracted, with a `DocumentError`, once its text passes
    `max_bytes` or `PDF_CHARS_PER_BYTE` times its size, or after `max_seconds`.
    Office files, e-books, mail and notebooks are read by `ragkit.formats` (an mbox
    holds several messages: read it with `read_documents`).
    """
    path = Path(path).expanduser().resolve()
    kind = document_type(path)
    if data is None:
        data = read_bytes(path, max_bytes)
    if kind in formats.KINDS:
        return _one_document(path, kind, data, max_bytes, max_seconds, include_outputs)
    if not data:
        return Document(path, "", kind, None, None)
    if kind == "pdf":
        budget = _TextBudget.for_pdf(path, len(data), max_bytes, max_seconds)
        text, page_starts, title = _read_pdf(path, data, budget)
        return Document(path, text, kind, title, page_starts)
    text = _normalize_newlines(_decode_text(path, data))
    headings: tuple[Heading, ...] | None = None
    if kind == "html":
        text, title, headings = _html_document(path, text)
    elif kind == "markdown":
        title, headings = markdown_title(text), tuple(markdown_headings(text)) or None
    elif kind == "rst":
        headings = tuple(rst_headings(text)) or None
        title = headings[0][2] if headings else None
    else:
        title = None
    return Document(path, text, kind, title, None, headings)


def read_documents(
    path: Path | str,
    *,
    max_bytes: int | None = None,
    data: bytes | None = None,
    max_seconds: float | None = DEFAULT_MAX_READ_SECONDS,
    include_outputs: bool = False,
) -> list[Document]:
    """The documents a file holds: one, except an mbox, which gives one per message
    with the path `file.mbox#N` (N from 1), and none when it is empty. Options as
    `read_document`; `include_outputs` keeps the text of a notebook's cell outputs."""
    path = Path(path).expanduser().resolve()
    kind = document_type(path)
    if kind not in formats.KINDS:
        return [read_document(path, max_bytes=max_bytes, data=data, max_seconds=max_seconds)]
    if data is None:
        data = read_bytes(path, max_bytes)
    extracts = formats.read_format(
        kind,
        path,
        data,
        max_bytes=max_bytes,
        max_seconds=max_seconds,
        html_text=_html_body,
        include_outputs=include_outputs,
    )
    if kind == "mbox":
        paths = [Path(f"{path}#{number}") for number in range(1, len(extracts) + 1)]
        return [_from_extract(p, "email", e) for p, e in zip(paths, extracts, strict=True)]
    return [_from_extract(path, kind, extract) for extract in extracts]


def _one_document(
    path: Path,
    kind: str,
    data: bytes,
    max_bytes: int | None,
    max_seconds: float | None,
    include_outputs: bool,
) -> Document:
    if kind == "mbox":
        raise DocumentError(path, "an mbox holds many messages", hint="Use read_documents")
    options = {"max_seconds": max_seconds, "include_outputs": include_outputs}
    return read_documents(path, max_bytes=max_bytes, data=data, **options)[0]


def _from_extract(path: Path, kind: str, extract: formats.Extract) -> Document:
    title, pages, headings = extract.title, extract.page_starts, extract.headings
    return Document(path, extract.text, kind, title, pages, headings)


def read_bytes(path: Path, max_bytes: int | None) -> bytes:
    """The file's bytes, read once, after checking it is a regular file within the
    limit; raise `DocumentError` saying why not."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise DocumentError(path, "is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise DocumentError(path, "is not a regular file (device, pipe or socket)")
        if max_bytes is not None and info.st_size > max_bytes:
            raise _too_big(path, info.st_size, max_bytes)
        with open(path, "rb") as fh:
            data = _read_at_most(fh, info.st_size, max_bytes)
    except OSError as exc:
        raise DocumentError(path, f"cannot read it ({exc.strerror or exc})") from exc
    if max_bytes is not None and len(data) > max_bytes:
        raise _too_big(path, len(data), max_bytes)  # it grew while we looked
    return data


def _read_at_most(handle: BinaryIO, expected: int, limit: int | None) -> bytes:
    """All of the file, or `limit + 1` bytes when it holds more. Asks for no more memory
    than the file needs: `read(limit + 1)` would allocate the whole limit (1 TB) first."""
    cap = None if limit is None else limit + 1
    data = handle.read(expected + 1 if cap is None else min(expected + 1, cap))
    if len(data) <= expected:  # the usual case: the file as stat saw it
        return data
    pieces, total = [data], len(data)  # it grew since: go on in bounded pieces
    while cap is None or total < cap:
        piece = handle.read(READ_PIECE_BYTES if cap is None else min(READ_PIECE_BYTES, cap - total))
        if not piece:
            break
        pieces.append(piece)
        total += len(piece)
    return b"".join(pieces)


def _too_big(path: Path, size: int, limit: int) -> DocumentError:
    return DocumentError(
        path,
        f"file is {human_bytes(size)}, over the {human_bytes(limit)} limit",  # as --max-file-size
        hint="Raise --max-file-size or --exclude it",
    )


_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode_text(path: Path, data: bytes) -> str:
    """Decode by BOM, else UTF-8, else cp1252; refuse binary files."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise DocumentError(
            path,
            "looks like a binary file, not text",
            hint="--exclude it, or convert it to UTF-8 text if it really is text",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_mostly_text(data)


def _decode_mostly_text(data: bytes) -> str:
    """Invalid UTF-8: keep UTF-8 if only a few bytes are bad, else read it as cp1252.

    In real UTF-8 almost every non-ASCII byte belongs to a valid sequence; in a
    legacy (cp1252/Latin-1) file almost none does.
    """
    as_utf8 = data.decode("utf-8", errors="replace")
    bad = as_utf8.count("\ufffd")
    non_ascii = sum(1 for byte in data if byte >= 0x80)
    if bad * 4 < non_ascii:
        return as_utf8
    return data.decode("cp1252", errors="replace")


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------- titles

_RST_ADORNMENT = re.compile(r"^([=\-~^\"'`#*+:._])\1+[ \t]*$")


def rst_headings(text: str) -> list[Heading]:
    """reStructuredText section titles: a line underlined (and maybe overlined) with
    punctuation at least as long. Levels follow the order in which each adornment
    style (character, with or without overline) first appears, as docutils does."""
    styles: list[tuple[str, bool]] = []
    found: list[Heading] = []
    lines = text.split("\n")
    offset, previous_offset, last_under = 0, 0, -1
    for i, line in enumerate(lines[:-1]):
        title, under = line.strip(), lines[i + 1]
        over = 0 < i != last_under + 1 and lines[i - 1].rstrip() == under.rstrip()
        if _is_rst_title(line, title, under, over):
            last_under = i + 1
            style = (under[0], over)
            if style not in styles:
                styles.append(style)
            level = min(styles.index(style) + 1, 6)
            found.append((previous_offset if over else offset, level, title))
        previous_offset, offset = offset, offset + len(line) + 1
    return found


def _is_rst_title(line: str, title: str, under: str, over: bool) -> bool:
    if not title or _RST_ADORNMENT.match(line) or not _RST_ADORNMENT.match(under):
        return False
    return len(under.rstrip()) >= len(title) and (over or not line[0].isspace())


# ---------------------------------------------------------------- HTML


def _html_body(html: str) -> str:
    """The visible text of a mail's HTML body ("" where html.parser gives up on it)."""
    try:
        return html_to_text(html)[0]
    except Exception:  # html.parser raises AssertionError on e.g. `<![<!`
        return ""


def _html_document(path: Path, html: str) -> tuple[str, str | None, tuple[Heading, ...] | None]:
    try:
        return html_document(html)
    except Exception as exc:  # html.parser raises AssertionError on e.g. `<![<!`
        raise DocumentError(path, f"not parseable HTML ({_describe(exc)})") from exc


# ---------------------------------------------------------------- PDF


class _PypdfSilencer:
    """Mute the `pypdf` logger while any thread reads a PDF.

    Broken files make pypdf log a warning per problem; ragkit reports one
    `DocumentError` instead. Nested and concurrent uses share one saved level.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved_level = logging.NOTSET
        self._logger = logging.getLogger("pypdf")

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._saved_level = self._logger.level
                self._logger.setLevel(logging.CRITICAL + 1)
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._logger.setLevel(self._saved_level)


_quiet_pypdf = _PypdfSilencer()


class _TextBudget:
    """How much text one file may yield, and for how long; raises `DocumentError` as
    soon as either runs out, so a decompression bomb costs at most part of a page."""

    def __init__(
        self, path: Path, max_chars: int, over: DocumentError, max_seconds: float | None
    ) -> None:
        self.path, self.max_chars, self.over = path, max_chars, over
        self.max_seconds = max_seconds
        self.started = time.monotonic()
        self.used = 0  # characters of the pages done
        self.page_used = 0  # characters seen so far in the page being extracted
        self.where = ""  # "page 3 of 40", for the message

    @classmethod
    def for_pdf(
        cls, path: Path, size: int, max_bytes: int | None, max_seconds: float | None
    ) -> _TextBudget:
        """Text up to `max_bytes`, and up to `PDF_CHARS_PER_BYTE` per byte of the file."""
        by_size = max(size * PDF_CHARS_PER_BYTE, PDF_MIN_CHARS)
        if max_bytes is not None and max_bytes < by_size:
            over = DocumentError(
                path,
                f"PDF text passes the {human_bytes(max_bytes)} limit",
                hint="Raise --max-file-size or --exclude it",
            )
            return cls(path, max_bytes, over, max_seconds)
        over = DocumentError(
            path,
            f"PDF text passes {by_size:,} characters, far more than a {human_bytes(size)}"
            " PDF holds (a decompression bomb?)",
            hint="--exclude it",
        )
        return cls(path, by_size, over, max_seconds)

    def start_page(self, number: int, pages: int) -> None:
        self.where, self.page_used = f"page {number} of {pages}", 0
        self.check()

    def visit(self, text: str, *_: object) -> None:
        """pypdf's `visitor_text`: called for each run of text while a page is extracted."""
        self.page_used += len(text)
        self.check()

    def end_page(self, text: str) -> None:
        self.used, self.page_used = self.used + len(text), 0
        self.check()

    def check(self) -> None:
        if self.used + self.page_used > self.max_chars:
            reason = f"{self.over.reason} (stopped at {self.where})"
            raise DocumentError(self.path, reason, hint=self.over.hint)
        if self.max_seconds is not None and time.monotonic() - self.started >= self.max_seconds:
            raise DocumentError(
                self.path,
                f"text extraction took over {self.max_seconds:g}s (stopped at {self.where})",
                hint="--exclude it, or convert it to text first (e.g. with pdftotext)",
            )


def _read_pdf(
    path: Path, data: bytes, budget: _TextBudget
) -> tuple[str, tuple[int, ...], str | None]:
    """Text of every page joined by blank lines, where each page starts, and the title."""
    with _quiet_pypdf():
        reader = _open_pdf(path, data)
        title = _pdf_title(reader)
        page_texts = _pdf_page_texts(path, reader, budget)
    if not any(text.strip() for text in page_texts):
        raise DocumentError(
            path,
            "PDF has no extractable text (scanned images?)",
            hint="Run OCR on it first, e.g. ocrmypdf",
        )
    starts, offset = [], 0
    for text in page_texts:
        starts.append(offset)
        offset += len(text) + 2  # the "\n\n" between pages
    return "\n\n".join(page_texts), tuple(starts), title


def _open_pdf(path: Path, data: bytes) -> PdfReader:
    """Parse the PDF and unlock it with the empty password if it is encrypted."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    encrypted = DocumentError(
        path,
        "PDF is encrypted",
        hint="Decrypt it first, e.g. `qpdf --decrypt --password=PASSWORD in.pdf out.pdf`",
    )
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise encrypted
    except DependencyError as exc:  # AES needs the optional `cryptography` package
        raise encrypted from exc
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises many types for broken files
        raise DocumentError(path, f"not a readable PDF ({_describe(exc)})") from exc
    return reader


def _pdf_title(reader: PdfReader) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # a broken /Info dictionary only costs the title
        return None
    return (str(title).strip() or None) if title else None


def _pdf_page_texts(path: Path, reader: PdfReader, budget: _TextBudget) -> list[str]:
    """Extract page by page within `budget`; a broken page is empty, an all-broken
    file is an error."""
    try:
        pages = list(reader.pages)
    except Exception as exc:
        raise DocumentError(path, f"not a readable PDF ({_describe(exc)})") from exc
    texts: list[str] = []
    first_error: Exception | None = None
    for number, page in enumerate(pages, 1):
        budget.start_page(number, len(pages))
        try:
            text = page.extract_text(visitor_text=budget.visit) or ""
        except DocumentError:
            raise  # the budget ran out
        except Exception as exc:
            first_error, text = first_error or exc, ""
        texts.append(_normalize_newlines(text).strip())
        budget.end_page(texts[-1])
    if first_error is not None and not any(texts):
        raise DocumentError(path, f"not a readable PDF ({_describe(first_error)})") from first_error
    return texts


def _describe(exc: Exception) -> str:
    detail = str(exc).strip().split("\n")[0][:200]
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__

"""Build small, real PDF files for tests, with the standard library only.

    make_pdf(path, ["page one text", "page two text"], title="Doc")
    make_image_only_pdf(path, n_pages=2)       # shapes only, no text layer
    make_encrypted_pdf(path, ["secret text"])  # RC4, needs a password to open
    make_corrupt_pdf(path)                     # starts with %PDF-, then garbage

The text pages use the standard Helvetica font (no embedding) with
WinAnsiEncoding, so any Latin-1 text round-trips through `pypdf`'s
`extract_text()`. Lines are wrapped at about 90 characters; blank lines
(paragraph breaks) are kept as empty lines.
"""

from __future__ import annotations

import textwrap
import zlib
from pathlib import Path

WRAP_WIDTH = 90
FONT_SIZE = 11
LEADING = 14
PAGE_WIDTH, PAGE_HEIGHT = 612, 792  # US Letter, in points
MARGIN = 56


def make_pdf(path: Path | str, pages: list[str], *, title: str | None = None) -> Path:
    """Write a PDF with one page per string in `pages`; return its path."""
    streams = [_text_stream(page) for page in pages]
    return _write_pdf(Path(path), streams, title=title, with_font=True)


def make_image_only_pdf(path: Path | str, n_pages: int = 1) -> Path:
    """Write a PDF whose pages hold only drawn rectangles: nothing to extract."""
    streams = [_shapes_stream(i) for i in range(n_pages)]
    return _write_pdf(Path(path), streams, title=None, with_font=False)


def make_encrypted_pdf(path: Path | str, pages: list[str], password: str = "secret") -> Path:
    """Write a PDF like `make_pdf`, encrypted so it needs `password` to open."""
    from pypdf import PdfReader, PdfWriter

    path = Path(path)
    make_pdf(path, pages)
    writer = PdfWriter(clone_from=PdfReader(path))
    writer.encrypt(user_password=password, owner_password=password + "-owner")
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def make_corrupt_pdf(path: Path | str) -> Path:
    """Write a file that starts like a PDF but is truncated garbage."""
    path = Path(path)
    body = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R\n\x00\xff\xfe garbage stream\n"
    path.write_bytes(body + bytes(range(256)) * 4)
    return path


def _escape(line: str) -> bytes:
    """Encode one line as the body of a PDF literal string."""
    escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return escaped.encode("latin-1", errors="replace")


def _wrap(text: str) -> list[str]:
    """Wrap text at WRAP_WIDTH, keeping blank lines between paragraphs."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        lines.extend(textwrap.wrap(raw, WRAP_WIDTH, break_long_words=True) or [""])
    return lines


def _text_stream(text: str) -> bytes:
    """Content stream that shows `text` line by line, top to bottom."""
    parts = [b"BT", b"/F1 %d Tf" % FONT_SIZE, b"%d TL" % LEADING]
    parts.append(b"%d %d Td" % (MARGIN, PAGE_HEIGHT - MARGIN))
    for line in _wrap(text):
        parts.append(b"(" + _escape(line) + b") Tj T*" if line else b"T*")
    parts.append(b"ET")
    return b"\n".join(parts) + b"\n"


def _shapes_stream(index: int) -> bytes:
    """Content stream that draws a few filled rectangles and no text."""
    shade = 0.2 + 0.1 * (index % 5)
    return (
        b"%.2f g\n72 500 200 150 re f\n0 0 1 rg\n300 300 120 80 re f\n"
        b"0 0 0 RG 2 w 100 100 m 500 700 l S\n" % shade
    )


def _pdf_string(text: str) -> bytes:
    return b"(" + _escape(text) + b")"


def _write_pdf(path: Path, streams: list[bytes], *, title: str | None, with_font: bool) -> Path:
    """Lay out catalog, pages, font, content streams and info; write with a true xref."""
    n = len(streams)
    font_id = 3
    first_page_id = 4  # page i: object 4 + 2i, its contents: 5 + 2i
    info_id = first_page_id + 2 * n
    kids = b" ".join(b"%d 0 R" % (first_page_id + 2 * i) for i in range(n))
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n),
        font_id: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica"
        b" /Encoding /WinAnsiEncoding >>",
    }
    resources = b"<< /Font << /F1 %d 0 R >> >>" % font_id if with_font else b"<< >>"
    for i, stream in enumerate(streams):
        page_id, content_id = first_page_id + 2 * i, first_page_id + 2 * i + 1
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources %s /Contents %d 0 R >>"
            % (PAGE_WIDTH, PAGE_HEIGHT, resources, content_id)
        )
        data = zlib.compress(stream)
        objects[content_id] = (
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"
        )
    info = b"<< /Producer (ragkit tests/pdfmaker.py)"
    if title is not None:
        info += b" /Title " + _pdf_string(title)
    objects[info_id] = info + b" >>"
    return _serialize(path, objects, info_id)


def _serialize(path: Path, objects: dict[int, bytes], info_id: int) -> Path:
    """Write numbered objects, the cross-reference table and the trailer."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for obj_id in sorted(objects):
        offsets[obj_id] = len(out)
        out += b"%d 0 obj\n" % obj_id + objects[obj_id] + b"\nendobj\n"
    xref_at = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for obj_id in range(1, size):
        out += b"%010d 00000 n \n" % offsets[obj_id]
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (size, info_id)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    path.write_bytes(bytes(out))
    return path


def make_shared_stream_pdf(
    path: Path | str, n_pages: int = 40, stream_bytes: int = 1_000_000
) -> Path:
    """Write a small PDF whose pages all show one highly compressible content stream of
    about `stream_bytes`: a few KB on disk that expands to megabytes of text."""
    line = b"(" + b"all work and no play makes a dull pdf " * 2 + b") Tj T*"
    body = b"\n".join([line] * max(1, stream_bytes // (len(line) + 1)))
    stream = b"BT\n/F1 %d Tf\n%d TL\n%d %d Td\n" % (
        FONT_SIZE,
        LEADING,
        MARGIN,
        PAGE_HEIGHT - MARGIN,
    )
    data = zlib.compress(stream + body + b"\nET\n", 9)
    content_id = 4
    first_page_id = 5
    kids = b" ".join(b"%d 0 R" % (first_page_id + i) for i in range(n_pages))
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n_pages),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        content_id: b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data)
        + data
        + b"\nendstream",
    }
    for i in range(n_pages):
        objects[first_page_id + i] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d]"
            b" /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
            % (PAGE_WIDTH, PAGE_HEIGHT, content_id)
        )
    info_id = first_page_id + n_pages
    objects[info_id] = b"<< /Producer (ragkit tests/pdfmaker.py) >>"
    return _serialize(Path(path), objects, info_id)

"""OpenDocument: .odt, .odp and .ods, read from `content.xml`.

odt: headings (`text:h`, by outline level), paragraphs, list items as "- ", table
rows as "cell | cell", notes at the end; a page starts at each soft page break the
writing program recorded. odp: each slide is a page (title, text, notes). ods:
each sheet is a page (its name as a heading, one line per row).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator

from .office import XLSX_MAX_ROWS, no_text
from .parts import Budget, Extract, TextBuilder, attr, local, open_zip, parse_xml, tidy

ODS_MAX_REPEAT = 100
"""A repeated row or cell with text is written at most this many times."""

_SLIDE_FURNITURE = frozenset({"page-number", "date-time", "footer", "header"})
_INDEXES = frozenset(
    "table-of-content illustration-index alphabetical-index object-index user-index"
    " table-index bibliography tracked-changes".split()
)


def read_opendocument(budget: Budget, data: bytes, kind: str) -> Extract:
    """`kind` is "odt", "odp" or "ods"."""
    label = kind.upper()
    archive = open_zip(budget.path, data, label)
    _refuse_encrypted(budget, archive, label)
    root = parse_xml(budget, budget.unzip(archive, "content.xml"), "content.xml")
    body = next((el for el in root.iter() if local(el.tag) == "body"), root)
    out = TextBuilder(budget)
    if kind == "odt":
        out.new_page()
        _OdtReader(budget, out).read(body)
    elif kind == "odp":
        _slides(budget, body, out)
    elif not _sheets(budget, body, out):
        raise no_text(budget, label)
    if out.empty():
        raise no_text(budget, label)
    title = _meta_title(budget, archive)
    return out.result(title, pages=2 if kind == "odt" else 1)  # odt: if it records a break


def _refuse_encrypted(budget: Budget, archive: zipfile.ZipFile, label: str) -> None:
    name = "META-INF/manifest.xml"
    if name in archive.NameToInfo and b"encryption-data" in budget.unzip(archive, name):
        raise budget.fail(f"{label} is encrypted with a password", "Save it again without one")


def _meta_title(budget: Budget, archive: zipfile.ZipFile) -> str | None:
    if "meta.xml" not in archive.NameToInfo:
        return None
    for element in parse_xml(budget, budget.unzip(archive, "meta.xml"), "meta.xml").iter():
        if local(element.tag) == "title" and (element.text or "").strip():
            return " ".join(element.text.split())
    return None


def inline_text(
    element: ET.Element, notes: list[str] | None = None, out: TextBuilder | None = None
) -> str:
    """The text of a paragraph with its spans, spaces (`text:s`), tabs and line breaks;
    a note leaves "[citation]" and its body goes to `notes`."""
    pieces = [element.text or ""]
    for child in element:
        tag = local(child.tag)
        if tag == "s":
            pieces.append(" " * min(int(attr(child, "c") or 1), 100))
        elif tag == "tab":
            pieces.append("\t")
        elif tag == "line-break":
            pieces.append("\n")
        elif tag == "soft-page-break" and out is not None:
            out.page_break(after_text=bool("".join(pieces).strip()))
        elif tag == "note":
            citation = next((el for el in child if local(el.tag) == "note-citation"), None)
            mark = inline_text(citation) if citation is not None else "*"
            body = [inline_text(p) for p in child.iter() if local(p.tag) in ("p", "h")]
            pieces.append(f"[{mark}]")
            if notes is not None:
                notes.append(f"[{mark}] " + " ".join(t for t in body if t))
        elif tag != "annotation":  # a reviewer's comment is not the text
            pieces.append(inline_text(child, notes, out))
        pieces.append(child.tail or "")
    return tidy("".join(pieces))


class _OdtReader:
    def __init__(self, budget: Budget, out: TextBuilder) -> None:
        self.budget, self.out = budget, out
        self.notes: list[str] = []
        self.rows = [0]

    def read(self, body: ET.Element) -> None:
        """The body's blocks, then the notes."""
        self.blocks(body)
        for note in self.notes:
            self.out.paragraph(note)

    def blocks(self, container: ET.Element, bullet: str = "") -> None:
        for element in container:
            tag = local(element.tag)
            if tag in _INDEXES:
                continue
            if tag == "h":
                level = int(attr(element, "outline-level") or 1)
                self.out.heading(level, inline_text(element, self.notes, self.out))
            elif tag == "p":
                text = inline_text(element, self.notes, self.out)
                self.out.paragraph(bullet + text if text else "")
            elif tag == "soft-page-break":
                self.out.new_page()
            elif tag == "list":
                for item in element:
                    self.blocks(item, "- ")
            elif tag == "table":
                self.out.paragraph("\n".join(_table_rows(element, self.rows, self.budget)))
            else:  # sections, the text body, frames
                self.blocks(element, bullet)


def _table_rows(table: ET.Element, count: list[int], budget: Budget) -> Iterator[str]:
    """One "cell | cell" line per row with text; repeats are written out a bounded
    number of times, empty trailing repeats (a sheet's 1,048,576 rows) never."""
    for row in table.iter():
        if local(row.tag) != "table-row":
            continue
        cells: list[str] = []
        for cell in row:
            if local(cell.tag) not in ("table-cell", "covered-table-cell"):
                continue
            text = " ".join(inline_text(p) for p in cell if local(p.tag) in ("p", "h"))
            repeat = int(attr(cell, "number-columns-repeated") or 1)
            cells.extend([" ".join(text.split())] * (min(repeat, ODS_MAX_REPEAT) if text else 1))
        line = " | ".join(cells).rstrip(" |")
        if not line.strip(" |"):
            continue
        for _ in range(min(int(attr(row, "number-rows-repeated") or 1), ODS_MAX_REPEAT)):
            count[0] += 1
            if count[0] > XLSX_MAX_ROWS:
                raise budget.fail(
                    f"spreadsheet has over {XLSX_MAX_ROWS:,} rows with text",
                    "--exclude it, or save the part worth searching as its own file",
                )
            yield line


def _slides(budget: Budget, body: ET.Element, out: TextBuilder) -> None:
    pages = [el for el in body.iter() if local(el.tag) == "page"]
    for number, page in enumerate(pages, 1):
        budget.check_time(f"slide {number} of {len(pages)}")
        out.new_page()
        notes = ""
        for frame in page:
            if local(frame.tag) == "notes":
                texts = [_frame_text(f) for f in frame if local(f.tag) == "frame"]
                notes = "\n".join(t for t in texts if t)
            elif attr(frame, "class") in _SLIDE_FURNITURE:
                continue
            elif attr(frame, "class") == "title":
                out.heading(1, _frame_text(frame).replace("\n", " "))
            else:
                out.paragraph(_frame_text(frame))
        if notes:
            out.paragraph("Notes: " + notes)


def _frame_text(frame: ET.Element) -> str:
    lines = [inline_text(p) for p in frame.iter() if local(p.tag) in ("p", "h")]
    return "\n".join(line for line in lines if line)


def _sheets(budget: Budget, body: ET.Element, out: TextBuilder) -> int:
    """Each sheet as a page; returns the number of rows with text."""
    tables = [el for el in body.iter() if local(el.tag) == "table"]
    count = [0]
    for number, table in enumerate(tables, 1):
        budget.check_time(f"sheet {number} of {len(tables)}")
        out.new_page()
        out.heading(1, attr(table, "name") or f"Sheet {number}")
        out.paragraph("\n".join(_table_rows(table, count, budget)))
    return count[0]

"""Office Open XML: .docx, .pptx and .xlsx, read from their XML parts.

docx: paragraphs in order, heading styles as headings, list items as "- ", table
rows as "cell | cell", footnotes at the end; a page starts at each page break the
file records (`w:br type="page"`, `w:lastRenderedPageBreak`, page-break-before).
pptx: each slide is a page: its title (a heading), its text, its notes.
xlsx: each sheet is a page: its name (a heading), then one line per row.
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator

from ragkit.errors import DocumentError

from .parts import Budget, Extract, TextBuilder, attr, local, open_zip, parse_xml, tidy

XLSX_MAX_ROWS = 200_000
"""Rows one workbook may yield: past this a spreadsheet is data, not a document."""

_HEADING_STYLE = re.compile(r"^(?:heading|berschrift|titre|título)\s*(\d)$", re.IGNORECASE)
_SKIPPED = frozenset({"Fallback", "delText", "instrText", "del"})


_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_REL_ID_STRICT = "{http://purl.oclc.org/ooxml/officeDocument/relationships}id"


def _rel_id(element: ET.Element) -> str:
    """The `r:id` of an element (not its plain `id`), in transitional or strict OOXML."""
    return element.get(_REL_ID) or element.get(_REL_ID_STRICT) or ""


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if local(child.tag) == name]


def _walk(element: ET.Element) -> Iterator[ET.Element]:
    """Every element under `element` in document order, without alternative renderings
    (`mc:Fallback`), deleted text or field codes."""
    for child in element:
        if local(child.tag) in _SKIPPED:
            continue
        yield child
        yield from _walk(child)


def _rels(budget: Budget, archive: zipfile.ZipFile, part: str) -> dict[str, str]:
    """Relationship id -> target part name, for `part` (e.g. "ppt/presentation.xml")."""
    folder, name = posixpath.split(part)
    rels_name = posixpath.join(folder, "_rels", f"{name}.rels")
    if rels_name not in archive.NameToInfo:
        return {}
    root = parse_xml(budget, budget.unzip(archive, rels_name), rels_name)
    targets = {}
    for rel in root:
        target = rel.get("Target", "")
        if rel.get("TargetMode") != "External" and target:
            resolved = (
                target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            )
            targets[rel.get("Id", "")] = posixpath.normpath(resolved)
    return targets


def core_title(
    budget: Budget, archive: zipfile.ZipFile, part: str = "docProps/core.xml"
) -> str | None:
    """`dc:title` of the file's metadata part, if it has one."""
    if part not in archive.NameToInfo:
        return None
    for element in parse_xml(budget, budget.unzip(archive, part), part).iter():
        if local(element.tag) == "title" and (element.text or "").strip():
            return " ".join(element.text.split())
    return None


def no_text(budget: Budget, kind: str) -> DocumentError:
    return budget.fail(f"{kind} holds no text", "--exclude it, or add text to it")


# ---------------------------------------------------------------- docx


def read_docx(budget: Budget, data: bytes) -> Extract:
    archive = open_zip(budget.path, data, "DOCX")
    body_name = "word/document.xml"
    root = parse_xml(budget, budget.unzip(archive, body_name), body_name)
    reader = _DocxReader(budget, _heading_styles(budget, archive))
    reader.out.new_page()
    body = next((el for el in root if local(el.tag) == "body"), root)
    reader.blocks(body)
    reader.footnotes(archive)
    if reader.out.empty():
        raise no_text(budget, "DOCX")
    return reader.out.result(core_title(budget, archive), pages=2)  # if it records a break


def _heading_styles(budget: Budget, archive: zipfile.ZipFile) -> dict[str, int]:
    """Style id -> heading level, from style names ("heading 2") and outline levels."""
    levels = {f"Heading{n}": n for n in range(1, 7)} | {"Title": 1}
    name = "word/styles.xml"
    if name not in archive.NameToInfo:
        return levels
    for style in parse_xml(budget, budget.unzip(archive, name), name):
        style_id = attr(style, "styleId")
        if local(style.tag) != "style" or not style_id:
            continue
        for element in style.iter():
            tag, value = local(element.tag), attr(element, "val") or ""
            match = _HEADING_STYLE.match(value) if tag == "name" else None
            if match and 1 <= int(match.group(1)) <= 6:
                levels[style_id] = int(match.group(1))
            elif tag == "outlineLvl" and value.isdigit() and int(value) < 6:
                levels.setdefault(style_id, int(value) + 1)
    return levels


class _DocxReader:
    def __init__(self, budget: Budget, heading_styles: dict[str, int]) -> None:
        self.budget = budget
        self.out = TextBuilder(budget)
        self.heading_styles = heading_styles

    def blocks(self, container: ET.Element) -> None:
        """Paragraphs and tables in order, also inside content controls (`w:sdt`)."""
        for element in container:
            tag = local(element.tag)
            if tag == "p":
                self.paragraph(element)
            elif tag == "tbl":
                self.out.paragraph("\n".join(self._rows(element)))
            elif tag in ("sdt", "sdtContent", "customXml", "ins", "smartTag"):
                self.blocks(element)

    def paragraph(self, p: ET.Element, prefix: str = "") -> None:
        text, level, bullet = self._paragraph_text(p)
        if level:
            self.out.heading(level, text)
        else:
            self.out.paragraph(prefix + ("- " if bullet and text.strip() else "") + text)

    def _paragraph_text(self, p: ET.Element) -> tuple[str, int | None, bool]:
        """The text of a paragraph, its heading level, and whether it is a list item;
        page breaks in it start a page at it, or (after its text) at the next one."""
        pieces: list[str] = []
        level, bullet = None, False
        for element in _walk(p):
            tag = local(element.tag)
            if tag == "t":
                pieces.append(element.text or "")
            elif tag == "tab":
                pieces.append("\t")
            elif tag in ("br", "cr") and attr(element, "type") == "page":
                self.out.page_break(after_text=bool("".join(pieces).strip()))
            elif tag in ("br", "cr"):
                pieces.append("\n")
            elif tag == "lastRenderedPageBreak":
                self.out.page_break(after_text=bool("".join(pieces).strip()), recorded=True)
            elif tag == "pageBreakBefore" and attr(element, "val") not in ("0", "false"):
                self.out.page_break(after_text=False)
            elif tag in ("footnoteReference", "endnoteReference"):
                pieces.append(f"[{attr(element, 'id')}]")
            elif tag == "pStyle":
                level = self.heading_styles.get(attr(element, "val") or "")
            elif tag == "numPr":
                bullet = True
        return tidy("".join(pieces)), level, bullet

    def _rows(self, table: ET.Element) -> Iterator[str]:
        for row in _children(table, "tr"):
            cells = []
            for cell in _children(row, "tc"):
                texts = [self._paragraph_text(p)[0] for p in cell.iter() if local(p.tag) == "p"]
                cells.append(" ".join(t.replace("\n", " ") for t in texts if t))
            if any(cells):
                yield " | ".join(cells)

    def footnotes(self, archive: zipfile.ZipFile) -> None:
        """Footnotes and endnotes after the body, each as "[id] text"."""
        for name in ("word/footnotes.xml", "word/endnotes.xml"):
            if name not in archive.NameToInfo:
                continue
            for note in parse_xml(self.budget, self.budget.unzip(archive, name), name):
                if attr(note, "type") in (None, "normal"):
                    paragraphs = [p for p in note.iter() if local(p.tag) == "p"]
                    texts = [self._paragraph_text(p)[0] for p in paragraphs]
                    self.out.paragraph(f"[{attr(note, 'id')}] " + " ".join(t for t in texts if t))


# ---------------------------------------------------------------- pptx


def read_pptx(budget: Budget, data: bytes) -> Extract:
    archive = open_zip(budget.path, data, "PPTX")
    main = "ppt/presentation.xml"
    root = parse_xml(budget, budget.unzip(archive, main), main)
    targets = _rels(budget, archive, main)
    out = TextBuilder(budget)
    slide_ids = [el for el in root.iter() if local(el.tag) == "sldId"]
    for number, slide_id in enumerate(slide_ids, 1):
        budget.check_time(f"slide {number} of {len(slide_ids)}")
        part = targets.get(_rel_id(slide_id))
        out.new_page()
        if part and part in archive.NameToInfo:
            _slide(budget, archive, part, out)
    if out.empty():
        raise no_text(budget, "PPTX")
    return out.result(core_title(budget, archive), pages=1)


_FURNITURE = frozenset({"sldNum", "dt", "ftr", "hdr", "sldImg"})


def _slide(budget: Budget, archive: zipfile.ZipFile, part: str, out: TextBuilder) -> None:
    """A slide's title as a heading, its other text, then its speaker notes."""
    root = parse_xml(budget, budget.unzip(archive, part), part)
    title, texts = _shape_texts(root)
    if title:
        out.heading(1, title.replace("\n", " "))
    for text in texts:
        out.paragraph(text)
    for target in _rels(budget, archive, part).values():
        if "notesSlide" in target and target in archive.NameToInfo:
            notes = parse_xml(budget, budget.unzip(archive, target), target)
            _, note_texts = _shape_texts(notes)
            if note_texts:
                out.paragraph("Notes: " + "\n".join(note_texts))


def _shape_texts(root: ET.Element) -> tuple[str, list[str]]:
    """(title placeholder's text, every other shape's or table's text) of a slide or
    notes page, without slide numbers, dates, footers and headers."""
    title, texts = "", []
    for shape in root.iter():
        tag = local(shape.tag)
        if tag not in ("sp", "graphicFrame"):
            continue
        kind = next(
            (attr(el, "type") or "obj" for el in shape.iter() if local(el.tag) == "ph"), None
        )
        if kind in _FURNITURE:
            continue
        text = _table_text(shape) if tag == "graphicFrame" else _drawing_text(shape)
        if kind in ("title", "ctrTitle") and not title:
            title = text
        elif text:
            texts.append(text)
    return title, texts


def _drawing_text(shape: ET.Element) -> str:
    """DrawingML paragraphs (`a:p`) of a shape, one per line."""
    lines = []
    for p in shape.iter():
        if local(p.tag) == "p":
            pieces = []
            for run in p.iter():
                tag = local(run.tag)
                if tag == "t":
                    pieces.append(run.text or "")
                elif tag == "br":
                    pieces.append("\n")
            lines.append("".join(pieces))
    return tidy("\n".join(lines))


def _table_text(frame: ET.Element) -> str:
    rows = []
    for row in frame.iter():
        if local(row.tag) == "tr":
            cells = [_drawing_text(cell).replace("\n", " ") for cell in _children(row, "tc")]
            if any(cells):
                rows.append(" | ".join(cells))
    return "\n".join(rows)


# ---------------------------------------------------------------- xlsx


def read_xlsx(budget: Budget, data: bytes) -> Extract:
    archive = open_zip(budget.path, data, "XLSX")
    main = "xl/workbook.xml"
    root = parse_xml(budget, budget.unzip(archive, main), main)
    targets = _rels(budget, archive, main)
    shared = _shared_strings(budget, archive)
    out, rows = TextBuilder(budget), _RowCount(budget)
    sheets = [el for el in root.iter() if local(el.tag) == "sheet"]
    for number, sheet in enumerate(sheets, 1):
        budget.check_time(f"sheet {number} of {len(sheets)}")
        part = targets.get(_rel_id(sheet))
        out.new_page()
        out.heading(1, sheet.get("name") or f"Sheet {number}")
        if part and part in archive.NameToInfo:
            grid = parse_xml(budget, budget.unzip(archive, part), part)
            out.paragraph("\n".join(_sheet_rows(grid, shared, rows)))
    if not rows.rows:
        raise no_text(budget, "XLSX")
    return out.result(core_title(budget, archive), pages=1)


class _RowCount:
    def __init__(self, budget: Budget) -> None:
        self.budget, self.rows = budget, 0

    def add(self) -> None:
        self.rows += 1
        if self.rows > XLSX_MAX_ROWS:
            raise self.budget.fail(
                f"spreadsheet has over {XLSX_MAX_ROWS:,} rows with text",
                "--exclude it, or save the part worth searching as its own file",
            )


def _shared_strings(budget: Budget, archive: zipfile.ZipFile) -> list[str]:
    name = "xl/sharedStrings.xml"
    if name not in archive.NameToInfo:
        return []
    root = parse_xml(budget, budget.unzip(archive, name), name)
    ns = _namespace(root)
    return [_text_of(item, ns) for item in root.findall(f"{ns}si")]


def _namespace(root: ET.Element) -> str:
    """ "{uri}" of the root element: SpreadsheetML has a transitional and a strict one.
    Searching by full name keeps a 150,000-row sheet in C, not in a Python test per node."""
    return root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""


def _text_of(element: ET.Element, ns: str) -> str:
    """A string item's text (`t`, or the `t` of each run `r`), without phonetic runs."""
    own = element.find(f"{ns}t")
    if own is not None:
        return own.text or ""
    return "".join(t.text or "" for t in element.iterfind(f"{ns}r/{ns}t"))


def _sheet_rows(grid: ET.Element, shared: list[str], count: _RowCount) -> Iterator[str]:
    ns = _namespace(grid)
    for row in grid.iter(f"{ns}row"):
        cells = [_cell_value(cell, shared, ns) for cell in row.findall(f"{ns}c")]
        if any(cells):
            count.add()
            yield " | ".join(" ".join(c.split()) for c in cells).rstrip(" |")


def _cell_value(cell: ET.Element, shared: list[str], ns: str) -> str:
    kind = cell.get("t")
    if kind == "inlineStr":
        inline = cell.find(f"{ns}is")
        return _text_of(inline, ns) if inline is not None else ""
    value = cell.findtext(f"{ns}v") or ""
    if kind == "s":
        return shared[int(value)] if value.isdigit() and int(value) < len(shared) else ""
    if kind == "b":
        return "TRUE" if value == "1" else "FALSE"
    return value

"""Build small office files, e-books, mail and notebooks in memory, for tests.

Each builder returns the bytes of a file with only the parts ragkit reads (plus
the content-types part real files have), written as the formats specify.
"""

from __future__ import annotations

import io
import json
import zipfile
from html import escape

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
A = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
P = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
RELS = 'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"'
CORE = (
    'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
)
ODF = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
    ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
    ' xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"'
    ' xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
)
XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
TYPES = f'{XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
CONTAINER = 'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"'


def zip_bytes(parts: dict[str, str | bytes], *, stored: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            archive.writestr(name, content, compress_type=method)
    return buffer.getvalue()


def _rels(targets: dict[str, tuple[str, str]]) -> str:
    rows = "".join(
        f'<Relationship Id="{rid}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        f'relationships/{kind}" Target="{target}"/>'
        for rid, (kind, target) in targets.items()
    )
    return f"{XML}<Relationships {RELS}>{rows}</Relationships>"


def _core(title: str | None) -> str:
    inner = f"<dc:title>{escape(title)}</dc:title>" if title else ""
    return f"{XML}<cp:coreProperties {CORE}>{inner}</cp:coreProperties>"


# ---------------------------------------------------------------- docx


def docx_paragraph(text: str, style: str | None = None, *, page_break: bool = False) -> str:
    """One `w:p`; `page_break` puts a `w:br type="page"` before its text."""
    props = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    brk = '<w:r><w:br w:type="page"/></w:r>' if page_break else ""
    return f'<w:p>{props}{brk}<w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r></w:p>'


def docx_table(rows: list[list[str]]) -> str:
    cells = "".join(
        "<w:tr>" + "".join(f"<w:tc>{docx_paragraph(c)}</w:tc>" for c in row) + "</w:tr>"
        for row in rows
    )
    return f"<w:tbl>{cells}</w:tbl>"


def docx(
    body: str,
    *,
    title: str | None = None,
    footnotes: dict[int, str] | None = None,
    styles: str | None = None,
) -> bytes:
    """A .docx whose `w:body` holds `body` (use `docx_paragraph`, `docx_table`)."""
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": TYPES,
        "word/document.xml": f"{XML}<w:document {W}><w:body>{body}</w:body></w:document>",
        "docProps/core.xml": _core(title),
    }
    if footnotes:
        notes = "".join(
            f'<w:footnote w:id="{n}">{docx_paragraph(text)}</w:footnote>'
            for n, text in footnotes.items()
        )
        sep = (
            '<w:footnote w:type="separator" w:id="-1">'
            "<w:p><w:r><w:t>----</w:t></w:r></w:p></w:footnote>"
        )
        parts["word/footnotes.xml"] = f"{XML}<w:footnotes {W}>{sep}{notes}</w:footnotes>"
    if styles:
        parts["word/styles.xml"] = f"{XML}<w:styles {W}>{styles}</w:styles>"
    return zip_bytes(parts)


# ---------------------------------------------------------------- pptx


def _sp(text: str, placeholder: str | None = None) -> str:
    ph = f'<p:nvPr><p:ph type="{placeholder}"/></p:nvPr>' if placeholder else "<p:nvPr/>"
    paras = "".join(f"<a:p><a:r><a:t>{escape(line)}</a:t></a:r></a:p>" for line in text.split("\n"))
    return f"<p:sp><p:nvSpPr>{ph}</p:nvSpPr><p:txBody>{paras}</p:txBody></p:sp>"


def pptx(slides: list[tuple[str, str, str | None]], *, title: str | None = None) -> bytes:
    """A .pptx of (title, body text, notes or None) slides."""
    ids = "".join(f'<p:sldId id="{256 + i}" r:id="rId{i + 1}"/>' for i in range(len(slides)))
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": TYPES,
        "ppt/presentation.xml": f"{XML}<p:presentation {P} {R}>"
        f"<p:sldIdLst>{ids}</p:sldIdLst></p:presentation>",
        "ppt/_rels/presentation.xml.rels": _rels(
            {f"rId{i + 1}": ("slide", f"slides/slide{i + 1}.xml") for i in range(len(slides))}
        ),
        "docProps/core.xml": _core(title),
    }
    for i, (heading, body, notes) in enumerate(slides, 1):
        shapes = (_sp(heading, "title") if heading else "") + (_sp(body) if body else "")
        parts[f"ppt/slides/slide{i}.xml"] = (
            f"{XML}<p:sld {P} {A}><p:cSld><p:spTree>{shapes}</p:spTree></p:cSld></p:sld>"
        )
        if notes:
            parts[f"ppt/slides/_rels/slide{i}.xml.rels"] = _rels(
                {"rId9": ("notesSlide", f"../notesSlides/notesSlide{i}.xml")}
            )
            parts[f"ppt/notesSlides/notesSlide{i}.xml"] = (
                f"{XML}<p:notes {P} {A}><p:cSld><p:spTree>{_sp(str(i), 'sldNum')}"
                f"{_sp(notes, 'body')}</p:spTree></p:cSld></p:notes>"
            )
    return zip_bytes(parts)


# ---------------------------------------------------------------- xlsx


def xlsx(sheets: dict[str, list[list[str | int]]]) -> bytes:
    """A .xlsx: strings go to the shared strings part, numbers stay in their cells."""
    shared: list[str] = []
    parts: dict[str, str | bytes] = {}
    for n, rows in enumerate(sheets.values(), 1):
        xml_rows = []
        for r, row in enumerate(rows, 1):
            cells = []
            for value in row:
                if isinstance(value, str):
                    shared.append(value)
                    cells.append(f'<c t="s"><v>{len(shared) - 1}</v></c>')
                else:
                    cells.append(f"<c><v>{value}</v></c>")
            xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
        parts[f"xl/worksheets/sheet{n}.xml"] = (
            f"{XML}<worksheet {S}><sheetData>{''.join(xml_rows)}</sheetData></worksheet>"
        )
    names = "".join(
        f'<sheet name="{escape(name)}" sheetId="{n}" r:id="rId{n}"/>'
        for n, name in enumerate(sheets, 1)
    )
    parts["xl/workbook.xml"] = f"{XML}<workbook {S} {R}><sheets>{names}</sheets></workbook>"
    parts["xl/_rels/workbook.xml.rels"] = _rels(
        {f"rId{n}": ("worksheet", f"worksheets/sheet{n}.xml") for n in range(1, len(sheets) + 1)}
    )
    strings = "".join(f"<si><t>{escape(s)}</t></si>" for s in shared)
    parts["xl/sharedStrings.xml"] = f"{XML}<sst {S}>{strings}</sst>"
    return zip_bytes(parts)


# ---------------------------------------------------------------- OpenDocument


def opendocument(kind: str, body: str, *, title: str | None = None, manifest: str = "") -> bytes:
    """An .odt/.odp/.ods whose office:body holds `body` (inside office:text etc.)."""
    element = {"odt": "text", "odp": "presentation", "ods": "spreadsheet"}[kind]
    mime = {"odt": "text", "odp": "presentation", "ods": "spreadsheet"}[kind]
    meta = f"<dc:title>{escape(title)}</dc:title>" if title else ""
    return zip_bytes(
        {
            "mimetype": f"application/vnd.oasis.opendocument.{mime}",
            "content.xml": f"{XML}<office:document-content {ODF}><office:body>"
            f"<office:{element}>{body}</office:{element}></office:body></office:document-content>",
            "meta.xml": f"{XML}<office:document-meta {ODF}><office:meta>{meta}</office:meta>"
            "</office:document-meta>",
            "META-INF/manifest.xml": f'{XML}<manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
            f'opendocument:xmlns:manifest:1.0">{manifest}</manifest:manifest>',
        },
        stored=("mimetype",),
    )


# ---------------------------------------------------------------- epub


def epub(
    chapters: list[str],
    *,
    title: str = "A Book",
    doctype: str = "<!DOCTYPE html>",
    encrypted: tuple[int, ...] = (),
) -> bytes:
    """An EPUB whose spine holds `chapters` (XHTML body content) in order."""
    items = "".join(
        f'<item id="c{i}" href="text/ch{i}.xhtml" media-type="application/xhtml+xml"/>'
        for i in range(len(chapters))
    )
    spine = "".join(f'<itemref idref="c{i}"/>' for i in reversed(range(len(chapters))))
    parts: dict[str, str | bytes] = {
        "mimetype": "application/epub+zip",
        "META-INF/container.xml": f"{XML}<container {CONTAINER}"
        ' version="1.0"><rootfiles><rootfile full-path="OEBPS/content.opf"'
        ' media-type="application/oebps-package+xml"/></rootfiles></container>',
        "OEBPS/content.opf": f'{XML}<package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        f'<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{escape(title)}</dc:title>'
        f"</metadata><manifest>{items}</manifest><spine>{spine}</spine></package>",
    }
    for i, body in enumerate(chapters):
        parts[f"OEBPS/text/ch{i}.xhtml"] = (
            f'{XML}{doctype}<html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title>'
            f"</head><body>{body}</body></html>"
        )
    if encrypted:
        refs = "".join(
            f'<EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#"><CipherData>'
            f'<CipherReference URI="OEBPS/text/ch{i}.xhtml"/></CipherData></EncryptedData>'
            for i in encrypted
        )
        parts["META-INF/encryption.xml"] = f"{XML}<encryption {CONTAINER}>{refs}</encryption>"
    return zip_bytes(parts, stored=("mimetype",))


# ---------------------------------------------------------------- mail and notebooks


def email_message(
    subject: str,
    body: str,
    *,
    sender: str = "Ada <ada@example.org>",
    html: str | None = None,
    attachment: str | None = None,
) -> bytes:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "Ben <ben@example.org>", subject
    message["Date"] = "Tue, 04 Mar 2025 09:15:00 +0000"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    if attachment:
        message.add_attachment(
            b"%PDF-1.4 not read", maintype="application", subtype="pdf", filename=attachment
        )
    return bytes(message)


def mbox(messages: list[bytes]) -> bytes:
    """An mbox (mboxrd: body lines starting "From " are quoted with ">")."""
    out = []
    for raw in messages:
        lines = raw.replace(b"\r\n", b"\n").split(b"\n")
        quoted = [b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in lines]
        out.append(b"From ada@example.org Tue Mar  4 09:15:00 2025\n" + b"\n".join(quoted) + b"\n")
    return b"".join(out)


def notebook(cells: list[tuple[str, str, list[dict] | None]]) -> bytes:
    """An nbformat 4 notebook of (cell_type, source, outputs or None) cells."""
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {"cell_type": kind, "source": source.splitlines(keepends=True), "metadata": {}}
                | ({"outputs": outputs or [], "execution_count": 1} if kind == "code" else {})
                for kind, source, outputs in cells
            ],
        }
    ).encode()

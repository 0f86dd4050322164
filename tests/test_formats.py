"""Office files, e-books, mail and notebooks: text, titles, pages and headings, and the
reasons given for files that cannot be read. Files are built by `tests/office_files.py`,
except those in tests/fixtures/office/, written once by LibreOffice 7.4."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragkit.errors import DocumentError
from ragkit.formats import office, parts
from ragkit.readers import DEFAULT_EXTENSIONS, read_document, read_documents
from tests import office_files as f

FIXTURES = Path(__file__).parent / "fixtures" / "office"


def _read(tmp_path: Path, name: str, data: bytes, **options):
    path = tmp_path / name
    path.write_bytes(data)
    return read_document(path, **options)


def _heading_titles(doc) -> list[tuple[int, str]]:
    """(level, title) of each heading, checking that each one's offset holds its title."""
    for offset, _, title in doc.headings:  # a markdown heading starts at its "#"
        assert doc.text[offset:].lstrip("# ").startswith(title)
    return [(level, title) for _, level, title in doc.headings]


def test_every_new_extension_is_indexed_by_default():
    new = ".docx .pptx .xlsx .odt .odp .ods .epub .eml .mbox .ipynb".split()
    assert set(new) <= DEFAULT_EXTENSIONS


def test_docx_paragraphs_headings_lists_tables_footnotes_and_page_breaks(tmp_path):
    body = (
        f.docx_paragraph("Winter duties", "Heading1")
        + f.docx_paragraph("Sweep the dome slit before dusk.")
        + '<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/></w:numPr></w:pPr>'
        '<w:r><w:t>Check the heater</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r></w:p>'
        + f.docx_paragraph("Rota", "Kop2", page_break=True)
        + f.docx_table([["Night", "Observer"], ["Monday", "Ilse"]])
    )
    styles = '<w:style w:styleId="Kop2"><w:name w:val="heading 2"/></w:style>'
    doc = _read(
        tmp_path, "duties.docx", f.docx(body, title="Duties", footnotes={1: "Both."}, styles=styles)
    )
    assert doc.type == "docx" and doc.title == "Duties"
    assert doc.text == (
        "Winter duties\n\nSweep the dome slit before dusk.\n\n- Check the heater[1]\n\n"
        "Rota\n\nNight | Observer\nMonday | Ilse\n\n[1] Both."
    )
    assert _heading_titles(doc) == [(1, "Winter duties"), (2, "Rota")]  # a localized style id
    assert doc.page_starts == (0, doc.text.index("Rota"))


def test_docx_break_after_text_starts_the_next_page_and_words_record_is_not_counted_twice(
    tmp_path,
):
    body = (
        '<w:p><w:r><w:t>Page one ends here.</w:t><w:br w:type="page"/></w:r></w:p>'
        "<w:p><w:r><w:lastRenderedPageBreak/><w:t>Page two.</w:t></w:r></w:p>"
        "<w:p><w:r><w:t>Still two,</w:t><w:lastRenderedPageBreak/><w:t> then three.</w:t>"
        "</w:r></w:p><w:p><w:r><w:t>Three.</w:t></w:r></w:p>"
    )
    doc = _read(tmp_path, "breaks.docx", f.docx(body))
    assert doc.page_starts == (0, doc.text.index("Page two."), doc.text.index("Three."))


def test_docx_without_page_breaks_has_no_pages(tmp_path):
    doc = _read(tmp_path, "a.docx", f.docx(f.docx_paragraph("Only text")))
    assert doc.page_starts is None and doc.headings is None and doc.title is None


def test_pptx_slides_are_pages_with_titles_as_headings_and_notes(tmp_path):
    slides = [
        ("Dome heaters", "Switch on at -5 C\nOff at dawn", "Mention the fuse"),
        ("", "", None),
        ("Questions", "Ask the duty astronomer", None),
    ]
    doc = _read(tmp_path, "talk.pptx", f.pptx(slides))
    assert doc.text == (
        "Dome heaters\n\nSwitch on at -5 C\nOff at dawn\n\nNotes: Mention the fuse\n\n"
        "Questions\n\nAsk the duty astronomer"
    )
    questions = doc.text.index("Questions")
    assert doc.page_starts == (0, questions, questions)  # slide 2 is empty: no text, a page
    assert _heading_titles(doc) == [(1, "Dome heaters"), (1, "Questions")]
    assert doc.title == "Dome heaters"
    assert "1" not in doc.text.split()  # the notes page's slide number is furniture


def test_xlsx_sheets_are_pages_with_their_names_shared_strings_and_numbers(tmp_path):
    data = f.xlsx({"Stores": [["Item", "Count"], ["Lamp oil", 12]], "Rota": [["Ilse"]]})
    doc = _read(tmp_path, "book.xlsx", data)
    assert doc.text == "Stores\n\nItem | Count\nLamp oil | 12\n\nRota\n\nIlse"
    assert doc.page_starts == (0, doc.text.index("Rota"))
    assert _heading_titles(doc) == [(1, "Stores"), (1, "Rota")]


def test_xlsx_rows_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(office, "XLSX_MAX_ROWS", 3)
    data = f.xlsx({"Log": [[f"row {n}"] for n in range(5)]})
    with pytest.raises(DocumentError, match="over 3 rows"):
        _read(tmp_path, "log.xlsx", data)


def test_odt_headings_lists_notes_spaces_and_soft_page_breaks(tmp_path):
    body = (
        '<text:h text:outline-level="1">Kitchen</text:h>'
        '<text:p>Boil<text:s text:c="2"/>water<text:note><text:note-citation>1</text:note-citation>'
        "<text:note-body><text:p>Ten minutes.</text:p></text:note-body></text:note> first.</text:p>"
        "<text:soft-page-break/>"
        '<text:h text:outline-level="2">Stores</text:h>'
        "<text:list><text:list-item><text:p>Flour</text:p></text:list-item></text:list>"
        "<text:table-of-content><text:p>Kitchen ... 1</text:p></text:table-of-content>"
    )
    doc = _read(tmp_path, "k.odt", f.opendocument("odt", body, title="Kitchen notes"))
    assert doc.text == "Kitchen\n\nBoil water[1] first.\n\nStores\n\n- Flour\n\n[1] Ten minutes."
    assert _heading_titles(doc) == [(1, "Kitchen"), (2, "Stores")]
    assert doc.page_starts == (0, doc.text.index("Stores")) and doc.title == "Kitchen notes"


def test_odp_slides_and_ods_sheets(tmp_path):
    slide = (
        '<draw:page><draw:frame presentation:class="title"><draw:text-box><text:p>Beacon'
        "</text:p></draw:text-box></draw:frame><draw:frame><draw:text-box><text:p>Red light"
        '</text:p></draw:text-box></draw:frame><draw:frame presentation:class="page-number">'
        "<draw:text-box><text:p>7</text:p></draw:text-box></draw:frame></draw:page>"
    )
    doc = _read(tmp_path, "s.odp", f.opendocument("odp", slide + slide))
    assert doc.text == "Beacon\n\nRed light\n\nBeacon\n\nRed light"
    assert doc.page_starts == (0, 19) and len(doc.headings) == 2
    sheet = (
        '<table:table table:name="Fuel"><table:table-row><table:table-cell><text:p>Diesel'
        '</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16000"/>'
        '</table:table-row><table:table-row table:number-rows-repeated="1048000">'
        '<table:table-cell table:number-columns-repeated="16384"/></table:table-row></table:table>'
    )
    doc = _read(tmp_path, "f.ods", f.opendocument("ods", sheet))
    assert doc.text == "Fuel\n\nDiesel"  # a sheet's million empty rows cost nothing


def test_epub_chapters_in_spine_order_with_headings(tmp_path):
    chapters = [
        "<h2>The Ascent</h2><p>Fourteen&nbsp;mules.</p>",
        "<h1>Prologue</h1><p>It began <em>here</em>.</p><table><tr><td><p>a</p></td>"
        "<td>b</td></tr></table><nav><p>Next chapter</p></nav>",
    ]
    doctype = (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN"'
        ' "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">'
    )
    doc = _read(tmp_path, "b.epub", f.epub(chapters, title="The Tor", doctype=doctype))
    assert doc.text == "Prologue\n\nIt began here.\n\na | b\n\nThe Ascent\n\nFourteen mules."
    assert _heading_titles(doc) == [(1, "Prologue"), (2, "The Ascent")]
    assert doc.title == "The Tor"


def test_epub_hrefs_are_percent_decoded_without_urllib():
    from ragkit.formats.epub import unquote

    assert unquote("My%20Book/ch%C3%A9.xhtml") == "My Book/ch\xe9.xhtml"
    assert unquote("100%.xhtml") == "100%.xhtml"


def test_eml_headers_plain_text_preferred_attachments_named(tmp_path):
    data = f.email_message(
        "Generator hut", "The fuse blew at 3am.", html="<p>HTML twin</p>", attachment="wiring.pdf"
    )
    doc = _read(tmp_path, "m.eml", data)
    assert doc.type == "email" and doc.title == "Generator hut"
    assert doc.text.startswith("From: Ada <ada@example.org>\nTo: Ben <ben@example.org>\n")
    assert "Subject: Generator hut\n\nThe fuse blew at 3am." in doc.text
    assert "HTML twin" not in doc.text and "%PDF" not in doc.text
    assert doc.text.endswith("Attachments (not indexed): wiring.pdf")
    assert doc.headings == ((0, 1, "Generator hut"),)


def test_eml_html_only_body_is_read_as_text(tmp_path):
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"] = "Rota"
    message.set_content("<p>Ilse <b>Monday</b></p><script>x()</script>", subtype="html")
    doc = _read(tmp_path, "h.eml", bytes(message))
    assert doc.text == "Subject: Rota\n\nIlse Monday"


def test_an_eml_whose_html_body_html_parser_cannot_read_keeps_its_headers(tmp_path):
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"] = "Rota"
    message.set_content("<![<![ broken", subtype="html")  # html.parser: AssertionError
    doc = _read(tmp_path, "h.eml", bytes(message))
    assert doc.text.startswith("Subject: Rota")


def test_eml_encoded_headers_and_legacy_charsets_are_decoded(tmp_path):
    raw = (
        b"From: =?utf-8?q?Zo=C3=AB?= <zoe@example.org>\r\nSubject: =?iso-8859-1?q?Caf=E9_rota?=\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 opens at nine.\r\n"
    )
    doc = _read(tmp_path, "legacy.eml", raw)
    assert doc.title == "Caf\xe9 rota"
    assert (
        doc.text
        == "From: Zo\xeb <zoe@example.org>\nSubject: Caf\xe9 rota\n\nCaf\xe9 opens at nine."
    )


def test_mbox_gives_one_document_per_message_addressed_path_hash_n(tmp_path):
    path = tmp_path / "box.mbox"
    path.write_bytes(
        f.mbox([f.email_message("One", "first\nFrom the top"), f.email_message("Two", "b")])
    )
    docs = read_documents(path)
    assert [d.path.name for d in docs] == ["box.mbox#1", "box.mbox#2"]
    assert [d.title for d in docs] == ["One", "Two"] and docs[0].text.endswith(
        "first\nFrom the top"
    )
    with pytest.raises(DocumentError, match="read_documents"):
        read_document(path)
    path.write_bytes(b"")
    assert read_documents(path) == []


def test_notebook_cells_headings_and_outputs_only_when_asked(tmp_path):
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": ["42 clear nights\n"]},
        {"output_type": "display_data", "data": {"image/png": "iVBOR"}},
    ]
    data = f.notebook(
        [
            ("markdown", "# Seeing\nNotes.\n## Method", None),
            ("code", "print(nights)", outputs),
            ("raw", "ignored", None),
        ]
    )
    doc = _read(tmp_path, "n.ipynb", data)
    assert doc.text == "# Seeing\nNotes.\n## Method\n\nprint(nights)"
    assert _heading_titles(doc) == [(1, "Seeing"), (2, "Method")] and doc.title == "Seeing"
    with_outputs = _read(tmp_path, "n.ipynb", data, include_outputs=True)
    assert with_outputs.text.endswith("print(nights)\n\nOutput:\n42 clear nights")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.docx", b"", "file is empty"),
        ("junk.pptx", b"not a zip at all", "not a ZIP archive"),
        (
            "locked.docx",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
            "encrypted with a password",
        ),
        (
            "nobody.docx",
            f.zip_bytes({"[Content_Types].xml": "<Types/>"}),
            "'word/document.xml' is missing",
        ),
        ("blank.docx", f.docx(""), "holds no text"),
        ("bad.xlsx", f.zip_bytes({"xl/workbook.xml": "<workbook><sheets>"}), "not well-formed XML"),
        (
            "locked.odt",
            f.opendocument("odt", "<text:p>x</text:p>", manifest="<manifest:encryption-data/>"),
            "encrypted",
        ),
        ("drm.epub", f.epub(["<p>secret</p>"], encrypted=(0,)), "DRM"),
        ("old.ipynb", b'{"nbformat": 3, "worksheets": []}', "format 3"),
        ("junk.ipynb", b"{not json", "not JSON"),
        ("text.mbox", b"hello\n", "does not start with a 'From ' line"),
        ("nothing.eml", b"\n\n", "not an email message"),
    ],
)
def test_unreadable_files_are_named_with_a_reason_and_a_fix(tmp_path, name, data, reason):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(DocumentError, match=reason) as caught:
        read_documents(tmp_path / name)
    assert caught.value.path.name == name and caught.value.hint


def test_xml_parts_with_a_dtd_are_refused_so_entities_never_expand(tmp_path):
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;">]>'
        f"<w:document {f.W}><w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body></w:document>"
    )
    for doctype in (laughs, laughs.encode("utf-16")):
        data = f.zip_bytes({"word/document.xml": doctype})
        with pytest.raises(DocumentError, match="declares a DTD"):
            _read(tmp_path, "laughs.docx", data)
    external = f.epub(
        ["<p>x</p>"], doctype='<!DOCTYPE html [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    )
    with pytest.raises(DocumentError, match="declares a DTD"):
        _read(tmp_path, "x.epub", external)


def test_a_zip_bomb_stops_at_the_file_size_limit_before_it_is_unpacked(tmp_path, monkeypatch):
    monkeypatch.setattr(parts, "UNZIP_MIN_BYTES", 1_000_000)  # a small bomb shows the same
    data = f.zip_bytes({"word/document.xml": b"<w:document>" + b" " * 3_000_000 + b"</w:document>"})
    assert len(data) < 10_000
    with pytest.raises(DocumentError, match="unpack to over 512KB") as caught:
        _read(tmp_path, "bomb.docx", data, max_bytes=512 * 1024)  # by --max-file-size
    assert "Raise --max-file-size" in caught.value.hint
    with pytest.raises(DocumentError, match=r"over 976.6KB .*a decompression bomb"):
        _read(tmp_path, "bomb.docx", data)  # by 100x its size, at least UNZIP_MIN_BYTES


@pytest.mark.parametrize(
    ("name", "words", "pages", "headings"),
    [
        (
            "memo.docx",
            ["distilled water", "- Yearly wash", "Bulb blower | 2"],
            None,
            [(1, "Lens cleaning memo"), (2, "Schedule")],
        ),
        (
            "memo.odt",
            ["distilled water", "- Monthly inspection", "Tool | Count"],
            None,
            [(2, "Schedule")],
        ),
        ("memo.epub", ["distilled water", "Bulb blower | 2"], None, [(1, "Schedule")]),
        ("stock.xlsx", ["Lens tissue | 40"], 1, [(1, "stock")]),
        ("stock.ods", ["Lens tissue | 40"], 1, [(1, "stock")]),
        (
            "talk.pptx",
            ["Check the dome heaters", "Notes: Speak slowly"],
            2,
            [(1, "Night shift talk"), (1, "Questions")],
        ),
        (
            "talk.odp",
            ["Ask the duty astronomer", "Notes: Speak slowly"],
            2,
            [(1, "Night shift talk"), (1, "Questions")],
        ),
    ],
)
def test_files_written_by_libreoffice(name, words, pages, headings):
    doc = read_document(FIXTURES / name)
    for phrase in words:
        assert phrase in doc.text
    assert (len(doc.page_starts) if doc.page_starts else None) == pages
    assert [(level, title) for _, level, title in doc.headings] == headings

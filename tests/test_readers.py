"""Tests for ragkit.readers: real files in tmp_path, real PDFs from tests/pdfmaker.py."""

from __future__ import annotations

import io
import logging
import os
import sys
from pathlib import Path

import pytest

from ragkit.errors import DocumentError
from ragkit.htmltext import _VisibleTextParser
from ragkit.readers import (
    DEFAULT_EXTENSIONS,
    PDF_CHARS_PER_BYTE,
    PDF_MIN_CHARS,
    Document,
    _read_at_most,
    document_type,
    html_to_text,
    read_bytes,
    read_document,
)
from tests.pdfmaker import (
    make_corrupt_pdf,
    make_encrypted_pdf,
    make_image_only_pdf,
    make_pdf,
    make_shared_stream_pdf,
)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


# ---------------------------------------------------------------- text


def test_plain_text_is_read_with_newlines_normalized(tmp_path):
    path = write(tmp_path / "notes.txt", b"one\r\ntwo\rthree\nfour")
    doc = read_document(path)
    assert doc == Document(path.resolve(), "one\ntwo\nthree\nfour", "text", None, None)


def test_utf8_bom_is_dropped(tmp_path):
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbfcaf\xc3\xa9")
    assert read_document(path).text == "café"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_bom(tmp_path, encoding):
    bom = {"utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    path = write(tmp_path / "wide.txt", bom + "naïve\r\n日本語".encode(encoding))
    assert read_document(path).text == "naïve\n日本語"


def test_legacy_cp1252_text_falls_back_instead_of_crashing(tmp_path):
    path = write(tmp_path / "old.txt", "Café “quoted” – déjà vu".encode("cp1252"))
    assert read_document(path).text == "Café “quoted” – déjà vu"


def test_mostly_utf8_with_one_bad_byte_keeps_utf8(tmp_path):
    good = "Grüße aus Köln, schöne Straße. " * 5
    path = write(tmp_path / "mixed.txt", good.encode("utf-8") + b"\xff end")
    text = read_document(path).text
    assert text.startswith(good) and text.endswith("\ufffd end")


def test_nul_bytes_under_a_text_extension_are_refused(tmp_path):
    path = write(tmp_path / "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100))
    with pytest.raises(DocumentError) as err:
        read_document(path)
    assert err.value.reason == "looks like a binary file, not text"
    assert err.value.hint and err.value.path == path.resolve()


def test_empty_file_gives_empty_document(tmp_path):
    path = write(tmp_path / "empty.md", b"")
    assert read_document(path) == Document(path.resolve(), "", "markdown", None, None)


def test_max_bytes_refuses_bigger_files_and_allows_equal(tmp_path):
    path = write(tmp_path / "big.txt", "x" * 2_000_000)
    with pytest.raises(DocumentError) as err:
        read_document(path, max_bytes=1_000_000)
    assert "1.9MB" in err.value.reason and "976.6KB" in err.value.reason  # as --max-file-size
    assert err.value.hint == "Raise --max-file-size or --exclude it"
    assert len(read_document(path, max_bytes=2_000_000).text) == 2_000_000


def test_unreadable_paths_raise_document_error_with_os_reason(tmp_path):
    with pytest.raises(DocumentError, match="No such file"):
        read_document(tmp_path / "vanished.txt")
    with pytest.raises(DocumentError, match="is a folder"):
        read_document(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(DocumentError, match="not a regular file"):
        read_document(fifo)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied(tmp_path):
    path = write(tmp_path / "secret.txt", "hidden")
    path.chmod(0)
    with pytest.raises(DocumentError, match="Permission denied"):
        read_document(path)


def test_types_by_extension_case_insensitive():
    assert document_type("a.MD") == "markdown"
    assert document_type("x.HTM") == "html"
    assert document_type("main.py") == "code"
    assert document_type("data.csv") == "data"
    assert document_type("README") == "text"
    assert {".txt", ".md", ".pdf", ".html", ".rst", ".py", ".json"} <= DEFAULT_EXTENSIONS
    assert ".jsonl" not in DEFAULT_EXTENSIONS  # data dumps, e.g. sample_corpus/questions.jsonl


# ---------------------------------------------------------------- titles


def test_markdown_title_is_first_heading_outside_code_fences(tmp_path):
    text = "intro line\n\n```sh\n# not a title\n```\n\n## Real Title ##\n\n# Later\n"
    assert read_document(write(tmp_path / "a.md", text)).title == "Real Title"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("---\ntitle: 'From Front Matter'\ntags: [x]\n---\n# Heading\n", "From Front Matter"),
        ("Setext Title\n============\n\nbody\n", "Setext Title"),
        ("no heading here\n#hashtag is not one\n", None),
    ],
)
def test_markdown_title_variants(tmp_path, text, title):
    assert read_document(write(tmp_path / "b.markdown", text)).title == title


def test_rst_title(tmp_path):
    text = "=====\n\nIgnored\n\nThe Guide\n=========\n\nSection\n-------\n"
    doc = read_document(write(tmp_path / "guide.rst", text))
    assert (doc.type, doc.title) == ("rst", "The Guide")


# ---------------------------------------------------------------- HTML

PAGE = """<!DOCTYPE html>
<html><head><title> Fish &amp; Chips </title>
<style>p { color: red }</style><script>var s = "<p>not text</p>";</script>
<meta charset="utf-8"></head>
<body><h1>Caf&eacute;&nbsp;menu</h1>
<p>First   paragraph
spans <b>two</b> lines &lt;ok&gt;.</p><p>Second<br>line two</p>
<ul><li>one</li><li>two</li></ul>
<pre>  keep   this
    indentation</pre>
<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>
<noscript>enable js</noscript><template><p>hidden template</p></template>
<svg><title>icon title</title><text>svg text</text></svg>
<div>tail &#8212; end</div></body></html>"""


def test_html_visible_text_only_with_block_breaks(tmp_path):
    doc = read_document(write(tmp_path / "page.html", PAGE))
    assert doc.type == "html" and doc.title == "Fish & Chips"
    assert doc.text == (
        "Café menu\n\nFirst paragraph spans two lines <ok>.\n\nSecond\nline two\n\n"
        "one\ntwo\n\n  keep   this\n    indentation\n\na b\nc d\n\ntail — end"
    )
    for hidden in ("color", "not text", "enable js", "hidden template", "icon", "svg text"):
        assert hidden not in doc.text


def test_html_unclosed_head_and_no_title():
    text, title = html_to_text("<html><head><meta x=1><body><p>Hello <i>you</i></p>")
    assert (text, title) == ("Hello you", None)


def _parse_counting(html: str) -> tuple[str, int]:
    parser = _VisibleTextParser()
    parser.feed(html)
    parser.close()
    return parser.text(), parser._skipping.steps


def test_deeply_nested_invisible_tags_parse_in_linear_work():
    depth = 200_000  # was quadratic: a copy of the open-tag stack per end tag
    text, steps = _parse_counting("<p>before" + "<svg>" * depth + "x" + "</svg>" * depth + "after")
    assert text == "beforeafter"
    assert steps <= 2 * depth  # each element pushed once and popped once


def test_unclosed_heads_and_stray_end_tags_cost_no_scan_of_the_stack():
    depth = 50_000
    html = "<svg>" * depth + "<head><body>" * depth + "</script>" * depth + "</svg>" * depth
    text, steps = _parse_counting(html + "<p>seen")
    assert text == "seen"
    assert steps <= 4 * depth


class _ScanCountingParser(_VisibleTextParser):
    """Counts the characters Python's parser scans for constructs it cannot finish:
    each such attempt searches to the end of the input, then moves on a character."""

    rescanned = 0

    def _counted(self, parse, i):
        end = parse(i)
        if end < 0:
            self.rescanned += len(self.rawdata) - i
        return end

    def parse_starttag(self, i):
        return self._counted(super().parse_starttag, i)

    def parse_endtag(self, i):
        return self._counted(super().parse_endtag, i)

    def parse_comment(self, i, report=True):
        return self._counted(
            lambda at: super(_ScanCountingParser, self).parse_comment(at, report), i
        )

    def parse_pi(self, i):
        return self._counted(super().parse_pi, i)


@pytest.mark.parametrize("piece", ["<a x", '<a b="', "<!--", "</", "<?"])
def test_constructs_left_open_at_the_end_cost_linear_work(piece):
    html = "<p>kept</p>" + piece * 20_000
    parser = _ScanCountingParser()
    parser.feed(html)
    parser.close()
    assert parser.text() == "kept"
    assert parser.rescanned <= 2 * len(html)  # without the closer: ~n²/2, 10^9 characters


def test_html_the_parser_cannot_handle_is_a_document_error(tmp_path):
    with pytest.raises(DocumentError, match="not parseable HTML"):
        read_document(write(tmp_path / "odd.html", "<p>text</p><![<![<!["))


# ---------------------------------------------------------------- PDF


def test_multi_page_pdf_text_pages_and_title(tmp_path):
    pages = [
        "Alpha page one (with parens) and a back\\slash.",
        "Beta page two.\n\nA second paragraph on page two.",
        "Gamma page three: café.",
    ]
    doc = read_document(make_pdf(tmp_path / "three.pdf", pages, title="Three Pages"))
    assert doc.type == "pdf" and doc.title == "Three Pages"
    assert doc.page_starts is not None and len(doc.page_starts) == 3
    assert doc.page_starts[0] == 0
    bounds = [*doc.page_starts, len(doc.text) + 2]
    for i, first_word in enumerate(["Alpha", "Beta", "Gamma"]):
        page_text = doc.text[bounds[i] : bounds[i + 1] - 2]
        assert page_text.startswith(first_word)
        assert page_text.split() == pages[i].split()
    assert doc.text[doc.page_starts[1] - 2 : doc.page_starts[1]] == "\n\n"


def test_pdf_without_title_metadata(tmp_path):
    doc = read_document(make_pdf(tmp_path / "plain.pdf", ["just text"]))
    assert (doc.title, doc.text, doc.page_starts) == (None, "just text", (0,))


def test_pdf_empty_pages_keep_their_offsets(tmp_path):
    doc = read_document(make_pdf(tmp_path / "gap.pdf", ["first", "", "third"]))
    assert doc.text == "first\n\n\n\nthird"
    assert doc.page_starts == (0, 7, 9)


def test_encrypted_pdf_is_refused_with_hint(tmp_path):
    path = make_encrypted_pdf(tmp_path / "locked.pdf", ["top secret"], password="secret")
    with pytest.raises(DocumentError) as err:
        read_document(path)
    assert err.value.reason == "PDF is encrypted"
    assert "qpdf" in (err.value.hint or "")


def test_encrypted_pdf_with_empty_password_is_read(tmp_path):
    path = make_encrypted_pdf(tmp_path / "open.pdf", ["owner locked only"], password="")
    assert read_document(path).text == "owner locked only"


def test_image_only_pdf_has_no_extractable_text(tmp_path):
    with pytest.raises(DocumentError) as err:
        read_document(make_image_only_pdf(tmp_path / "scan.pdf", n_pages=2))
    assert err.value.reason == "PDF has no extractable text (scanned images?)"
    assert "ocrmypdf" in (err.value.hint or "")


def test_corrupt_pdf_is_one_quiet_document_error(tmp_path, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DocumentError) as err:
        read_document(make_corrupt_pdf(tmp_path / "broken.pdf"))
    assert err.value.reason.startswith("not a readable PDF (")
    assert err.value.__cause__ is not None
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert capfd.readouterr().err == ""
    assert logging.getLogger("pypdf").level == logging.NOTSET  # restored afterwards


def test_text_named_pdf_is_not_a_readable_pdf(tmp_path):
    with pytest.raises(DocumentError, match="not a readable PDF"):
        read_document(write(tmp_path / "fake.pdf", "just some text, not a PDF"))


@pytest.fixture
def extracted_pages(monkeypatch) -> list[int]:
    """Counts pypdf page extractions: one entry (the page's text length) per call."""
    from pypdf import PageObject

    calls: list[int] = []
    real = PageObject.extract_text

    def counting(page, *args, **kwargs):
        calls.append(-1)
        text = real(page, *args, **kwargs)
        calls[-1] = len(text)
        return text

    monkeypatch.setattr(PageObject, "extract_text", counting)
    return calls


def test_many_page_pdf_is_read_page_by_page(tmp_path, extracted_pages):
    pages = [f"Page number {i} says word{i}." for i in range(1000)]
    path = make_pdf(tmp_path / "long.pdf", pages)
    doc = read_document(path)
    assert len(doc.page_starts) == 1000
    assert doc.text[doc.page_starts[921] :].startswith("Page number 921 says word921.")
    assert len(extracted_pages) == 1000  # each page extracted once, nothing read twice


def test_a_shared_stream_pdf_bomb_stops_within_its_first_page(tmp_path, extracted_pages):
    path = make_shared_stream_pdf(tmp_path / "bomb.pdf", n_pages=40, stream_bytes=1_000_000)
    size = path.stat().st_size  # about 10 KB, expanding to ~900,000 characters a page
    with pytest.raises(DocumentError) as info:
        read_document(path, max_bytes=50_000_000)
    assert "far more than a" in info.value.reason and "stopped at page 1 of 40" in info.value.reason
    assert info.value.hint == "--exclude it"
    assert extracted_pages == [-1]  # one page begun, abandoned mid-way
    limit = max(size * PDF_CHARS_PER_BYTE, PDF_MIN_CHARS)
    assert f"{limit:,} characters" in info.value.reason


def test_pdf_text_is_bounded_by_max_bytes_page_by_page(tmp_path, extracted_pages):
    pages = [f"Page {i}: " + "the same compressible line of text. " * 300 for i in range(10)]
    path = make_pdf(tmp_path / "repetitive.pdf", pages)
    assert path.stat().st_size < 30_000  # under the limit on disk, 108,000 characters inside
    with pytest.raises(DocumentError, match=r"passes the 29.3KB limit \(stopped at page 3 of 10\)"):
        read_document(path, max_bytes=30_000)
    assert len(extracted_pages) == 3
    assert len(read_document(path, max_bytes=200_000).page_starts) == 10


def test_a_pdf_over_its_time_budget_is_refused_between_pages(tmp_path, extracted_pages):
    path = make_pdf(tmp_path / "slow.pdf", ["first page", "second page", "third page"])
    with pytest.raises(DocumentError) as info:
        read_document(path, max_seconds=0)
    assert "took over 0s (stopped at page 1 of 3)" in info.value.reason
    assert "--exclude it" in info.value.hint
    assert extracted_pages == []  # the budget is checked before each page
    assert read_document(path, max_seconds=None).text.startswith("first page")


def test_a_huge_size_limit_costs_only_the_memory_the_file_needs(tmp_path):
    # read(limit + 1) would ask for the whole limit at once: a MemoryError at 1 TB.
    path = tmp_path / "small.txt"
    path.write_text("a small file")
    assert read_bytes(path, 1024**4) == b"a small file"
    assert read_bytes(path, None) == b"a small file"


def test_a_file_that_grew_since_stat_is_read_on_up_to_the_limit():
    # stat saw 10 bytes; by the time it is read the file holds 100
    assert _read_at_most(io.BytesIO(b"x" * 100), 10, 50) == b"x" * 51  # limit + 1: too big
    assert _read_at_most(io.BytesIO(b"x" * 100), 10, None) == b"x" * 100

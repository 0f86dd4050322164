"""The sample corpus and its questions agree with each other.

`sample_corpus/questions.jsonl` promises, for every answerable question, that
its answer phrase appears in the named file (on the named 1-based page for a
PDF, on the named slide for a PPTX) and in no other file of the corpus. These tests
hold it to that, using only the standard library and pypdf, so they do not depend on
ragkit's readers.
"""

from __future__ import annotations

import html
import json
import re
import zipfile
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from pypdf import PdfReader

CORPUS = Path(__file__).resolve().parent.parent / "sample_corpus"
QUESTIONS = CORPUS / "questions.jsonl"
DOC_SUFFIXES = {".md", ".txt", ".html", ".pdf", ".docx", ".pptx", ".epub"}
PAGED = {".pdf", ".pptx"}  # questions name the page (the slide) that answers them

# Words that occur only inside <script> or <style> blocks of the HTML pages.
HIDDEN_HTML_WORDS = {
    "visitor_faq.html": ["toggleQuokkaPanel", "zephyrine", "periwinkle", "gainsboro"],
    "staff_directory.html": ["marmosetFilter", "honeydew", "lightcoral"],
    "bulletin_autumn_2023.html": ["pangolinSubscribe", "burlywood", "lavenderblush"],
}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _html_text(raw: str) -> str:
    """Crude visible text of an HTML page: no script/style, no tags, entities decoded."""
    raw = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", raw)
    raw = re.sub(r"(?s)<!--.*?-->", " ", raw)
    raw = re.sub(r"(?s)<[^>]+>", " ", raw)
    return html.unescape(raw)


def _xml_text(raw: bytes) -> str:
    """Crude text of an XML part: paragraphs end lines, tags go, entities are decoded."""
    text = raw.decode("utf-8")
    text = re.sub(r"</(?:w:p|a:p|p|h\d|li|td|dd|dt)>", "\n", text)
    return html.unescape(re.sub(r"(?s)<[^>]+>", "", text))


def _zipped_pages(path: Path) -> tuple[str, ...]:
    """Each slide's text (with its notes) of a PPTX, or the whole text of a DOCX/EPUB."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if path.suffix == ".pptx":
            slides = sorted(
                (n for n in names if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)),
                key=lambda n: int(re.findall(r"\d+", n)[0]),
            )
            notes = [n.replace("slides/slide", "notesSlides/notesSlide") for n in slides]
            return tuple(
                "".join(_xml_text(archive.read(n)) for n in pair if n in names)
                for pair in zip(slides, notes, strict=True)
            )
        parts = ["word/document.xml"] if path.suffix == ".docx" else sorted(names)
        return (
            "".join(
                _xml_text(archive.read(n))
                for n in parts
                if n.endswith("html") or n.endswith(".xml")
            ),
        )


@cache
def _raw_pages(path: Path) -> tuple[str, ...]:
    """Text of each page of a PDF or slide of a PPTX, or a 1-tuple for other files."""
    if path.suffix == ".pdf":
        return tuple(p.extract_text() or "" for p in PdfReader(path).pages)
    if path.suffix in (".pptx", ".docx", ".epub"):
        return _zipped_pages(path)
    raw = path.read_text(encoding="utf-8")
    return (_html_text(raw) if path.suffix == ".html" else raw,)


@cache
def _pages(path: Path) -> tuple[str, ...]:
    return tuple(_norm(text) for text in _raw_pages(path))


def _documents() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.suffix in DOC_SUFFIXES)


def _questions() -> list[dict]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_every_line_is_a_question_object():
    for n, line in enumerate(QUESTIONS.read_text(encoding="utf-8").splitlines(), 1):
        item = json.loads(line)
        assert set(item) == {"question", "file", "page", "answer"}, n
        assert isinstance(item["question"], str) and item["question"].endswith("?"), n
        if item["file"] is None:
            assert item["answer"] is None and item["page"] is None, n
            continue
        path = CORPUS / item["file"]
        assert path.is_file(), (n, item["file"])
        assert isinstance(item["answer"], str) and item["answer"].strip(), n
        if path.suffix in PAGED:
            assert isinstance(item["page"], int), n
            assert 1 <= item["page"] <= len(_pages(path)), n
        else:
            assert item["page"] is None, n


def test_questions_are_unique():
    counts = Counter(q["question"] for q in _questions())
    assert [q for q, c in counts.items() if c > 1] == []


@pytest.mark.parametrize(
    "item", [q for q in _questions() if q["file"]], ids=lambda q: q["question"][:60]
)
def test_answer_is_in_the_named_file_and_page_only(item):
    answer = _norm(item["answer"])
    path = CORPUS / item["file"]
    pages = _pages(path)
    if item["page"] is None:
        assert answer in pages[0]
    else:
        assert answer in pages[item["page"] - 1]
        others = [i + 1 for i, text in enumerate(pages) if answer in text]
        assert others == [item["page"]], f"answer also on pages {others}"
    elsewhere = [p.name for p in _documents() if p != path and any(answer in t for t in _pages(p))]
    assert elsewhere == [], f"answer also found in {elsewhere}"


def test_answers_survive_without_whitespace_normalisation():
    """md/txt answers never straddle a hard line break; PDF answers never straddle a wrap;
    office and e-book answers sit inside one paragraph."""
    missing = []
    for item in _questions():
        if not item["file"] or item["file"].endswith(".html"):
            continue
        text = _raw_pages(CORPUS / item["file"])[(item["page"] or 1) - 1]
        if item["answer"].lower() not in text.lower():
            missing.append(item["question"])
    assert missing == []


def test_coverage():
    questions = _questions()
    answerable = [q for q in questions if q["file"]]
    assert len(answerable) >= 30
    assert len(questions) - len(answerable) >= 4
    asked = {q["file"] for q in answerable}
    assert [p.name for p in _documents() if p.name not in asked] == []
    pdf_questions = [q for q in answerable if q["file"].endswith(".pdf")]
    assert len(pdf_questions) >= 6
    long_pdf = max(
        (p for p in _documents() if p.suffix == ".pdf"), key=lambda p: len(PdfReader(p).pages)
    )
    assert len(PdfReader(long_pdf).pages) >= 5
    assert sum(1 for q in pdf_questions if q["file"] == long_pdf.name and q["page"] > 1) >= 3


def test_corpus_shape():
    docs = _documents()
    by_suffix = Counter(p.suffix for p in docs)
    assert by_suffix[".md"] >= 6 and by_suffix[".txt"] >= 3 and by_suffix[".html"] >= 3
    assert by_suffix[".pdf"] == 2
    assert by_suffix[".docx"] >= 1 and by_suffix[".pptx"] >= 1 and by_suffix[".epub"] >= 1
    assert 18 <= len(docs) <= 24
    assert sum(p.stat().st_size for p in CORPUS.iterdir() if p.is_file()) < 300_000


@pytest.mark.parametrize("name", sorted(HIDDEN_HTML_WORDS))
def test_html_script_and_style_words_are_not_visible_text(name):
    path = CORPUS / name
    raw = path.read_text(encoding="utf-8")
    assert re.search(r"(?is)<head>.*<title>.+</title>.*</head>", raw)
    assert "<script" in raw and "<style" in raw and "<nav" in raw
    visible = _pages(path)[0]
    for word in HIDDEN_HTML_WORDS[name]:
        assert word in raw
        assert word.lower() not in visible, word
    # words hidden in one page's script or style appear in no other document either
    for word in HIDDEN_HTML_WORDS[name]:
        for other in _documents():
            if other.suffix != ".html":
                assert word.lower() not in _pages(other)[0], (word, other.name)


def test_a_saved_web_page_keeps_its_navigation_and_furniture():
    """night_sky_tours.html is a page as a browser saves it: the answers are in <main>,
    around it the site's menus, breadcrumbs, sidebar, footer and permalink marks."""
    raw = (CORPUS / "night_sky_tours.html").read_text(encoding="utf-8")
    assert "<!-- saved from url=" in raw and 'class="skip-link"' in raw
    for furniture in ("<header", "<nav", "<aside", "<footer", 'class="headerlink"'):
        assert furniture in raw
    main = raw[raw.index("<main") : raw.index("</main>")]
    for item in _questions():
        if item["file"] == "night_sky_tours.html":
            assert item["answer"] in main


def test_office_files_match_their_generator():
    """The checked-in .docx, .pptx and .epub hold the text tests/make_sample_office.py has."""
    from tests import make_sample_office as gen

    docx = _pages(CORPUS / "east_dome_proposal.docx")[0]
    assert _norm("Calloway Optical of Sternmoor") in docx and "little ardith" in docx
    slides = _pages(CORPUS / "winter_school_talk.pptx")
    assert len(slides) == len(gen.TALK_SLIDES)
    for text, (title, _, notes) in zip(slides, gen.TALK_SLIDES, strict=True):
        assert _norm(title) in text and (notes is None or _norm(notes) in text)
    book = _pages(CORPUS / "orrin_tor_field_guide.epub")[0]
    assert all(_norm(title) in book for title, _ in gen.GUIDE_CHAPTERS)


def test_pdfs_match_their_generator():
    """The checked-in PDFs hold the text that tests/make_sample_pdfs.py writes."""
    from tests import make_sample_pdfs as gen

    for name, pages in [
        ("lochan_quickstart.pdf", gen.LOCHAN_PAGES),
        ("annual_report_2023.pdf", gen.REPORT_PAGES),
    ]:
        extracted = _pages(CORPUS / name)
        assert len(extracted) == len(pages), name
        for i, (want, got) in enumerate(zip(pages, extracted, strict=True), 1):
            assert _norm(want) == got, (name, i)

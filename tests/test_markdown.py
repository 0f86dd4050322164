"""The one markdown scanner that titles and chunk headings share."""

from __future__ import annotations

from ragkit.chunking import chunk_text
from ragkit.markdown import front_matter_end, headings, title
from ragkit.readers import read_document


def test_headings_skip_code_fences_of_either_kind_and_front_matter():
    text = "---\ntitle: T\n---\n# One\n```\n# not\n~~~\n# still not\n```\n## Two ##\n"
    assert [(level, name) for _, level, name in headings(text)] == [(1, "One"), (2, "Two")]


def test_title_and_chunk_headings_agree_on_mixed_fences(tmp_path):
    text = "```\n~~~\n```\n# Real title\n\nSome words under it.\n"
    path = tmp_path / "a.md"
    path.write_text(text)
    assert read_document(path).title == "Real title"
    assert [name for _, _, name in headings(text)] == ["Real title"]
    later = text + "\n" + "More words follow here. " * 60
    assert chunk_text(later, size=200, overlap=0, markdown=True)[-1].heading == "Real title"


def test_title_sources_in_order():
    assert title("---\ntitle: 'From front matter'\n---\n# Heading\n") == "From front matter"
    assert title("---\nauthor: me\n---\nSetext title\n=====\n# Later\n") == "Setext title"
    assert title("plain text\nno headings\n") is None
    assert title("```\n# code\n```\n") is None


def test_front_matter_end():
    assert front_matter_end("---\n---\nbody") == len("---\n---\n")
    assert front_matter_end("---\nkey: v\n---") == len("---\nkey: v\n---")
    assert front_matter_end("no front matter") == 0 and front_matter_end("---\nunclosed") == 0

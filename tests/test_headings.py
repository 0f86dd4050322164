"""Headings for every format that has them (`Document.headings`), each chunk's heading
path, and the heading shown next to path:page by `ragkit search` and `ask`."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from ragkit.chunking import chunk_text
from ragkit.cli import cli
from ragkit.errors import ConfigError
from ragkit.index import Index
from ragkit.readers import read_document, rst_headings

RST = """=========
The Guide
=========

Intro text.

Installing
==========

On Linux
--------

Use the package.

   Indented
   ========

Back to Top Level
=================

.. code::

    not a title
    -----------
"""


def test_rst_section_titles_get_levels_in_order_of_their_adornment_style():
    headings = rst_headings(RST)
    assert [(level, title) for _, level, title in headings] == [
        (1, "The Guide"),  # overlined: a style of its own
        (2, "Installing"),
        (3, "On Linux"),
        (2, "Back to Top Level"),
    ]
    assert [RST[offset:].split("\n")[0] for offset, _, _ in headings] == [
        "=========",  # an overlined title starts at its overline
        "Installing",
        "On Linux",
        "Back to Top Level",
    ]


def test_readers_give_headings_for_rst_markdown_and_html(tmp_path):
    (tmp_path / "a.rst").write_text(RST, encoding="utf-8")
    (tmp_path / "b.md").write_text("# Top\n\ntext\n\n## Sub\n\nmore\n", encoding="utf-8")
    (tmp_path / "c.html").write_text("<h1>Top</h1><p>x</p><h3>Deep</h3>", encoding="utf-8")
    (tmp_path / "d.txt").write_text("Plain\n=====\n", encoding="utf-8")
    rst, md, page, plain = (
        read_document(tmp_path / n) for n in ("a.rst", "b.md", "c.html", "d.txt")
    )
    assert rst.title == "The Guide" and len(rst.headings) == 4
    assert md.headings == ((0, 1, "Top"), (13, 2, "Sub"))
    assert page.headings == ((0, 1, "Top"), (8, 3, "Deep")) and page.text[8:] == "Deep"
    assert plain.headings is None  # no structure found
    chunks = chunk_text(rst.text, size=60, overlap=0, headings=rst.headings)
    assert "The Guide > Installing > On Linux" in {c.heading for c in chunks}


def test_headings_out_of_order_are_refused():
    with pytest.raises(ConfigError, match="increasing order"):
        chunk_text("some text here", headings=[(5, 1, "B"), (0, 1, "A")])


def test_search_and_ask_show_the_heading_next_to_the_path(tmp_path, fake_ollama):
    folder = tmp_path / "docs"
    folder.mkdir()
    sections = "".join(
        f"<h2>Part {i}</h2><p>The winch {word} needs grease every {i + 2} weeks; check bolts.</p>"
        for i, word in enumerate(["cable", "drum", "brake"])
    )
    evil = "<h2>Evil \x1b[31mred</h2><p>The brake pawl is checked daily.</p>"
    page = f"<nav>Home</nav><main><h1>Winch Guide</h1>{sections}{evil}</main>"
    (folder / "winch.html").write_text(page, encoding="utf-8")
    db = tmp_path / "index.db"
    with Index(db, host=fake_ollama.url) as index:
        assert index.add(folder, chunk_size=100, overlap=0).new == 1
    args = ["--db", str(db), "--host", fake_ollama.url]
    result = CliRunner().invoke(cli, ["search", "drum grease", "-k", "2", *args])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert re.fullmatch(r"1\. \S*winch\.html - Winch Guide > Part 1  .*keyword #1.*", first), first
    pawl = CliRunner().invoke(cli, ["search", "pawl", "--mode", "keyword", *args]).output
    assert "\x1b" not in pawl and "Winch Guide > Evil \\x1b[31mred" in pawl
    asked = CliRunner().invoke(cli, ["ask", "How often does the winch drum need grease?", *args])
    assert asked.exit_code == 0, asked.output
    listing = asked.stdout.partition("\n\n")[2]
    assert re.search(r"^\[\d\] \S*winch\.html - Winch Guide > Part \d", listing, re.M), listing

"""HTML as a reader sees it: generated docs and saved articles come out as their content,
with headings; page furniture is dropped. Pages are built here, shaped like the real
output of Sphinx, MkDocs (Material) and a news site."""

from __future__ import annotations

from ragkit.chunking import chunk_text
from ragkit.htmltext import _VisibleTextParser, html_document
from ragkit.readers import read_document

SPHINX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8" />
<title>4. More Control Flow Tools &#8212; Python 3.11 documentation</title>
<script src="_static/doctools.js"></script></head>
<body>
<div class="related" role="navigation" aria-label="related navigation"><h3>Navigation</h3>
<ul><li class="right"><a href="genindex.html" title="General Index">index</a></li>
<li class="right"><a href="py-modindex.html">modules</a> |</li>
<li class="right"><a href="datastructures.html">next</a> |</li>
<li class="right"><a href="introduction.html">previous</a> |</li></ul></div>
<div class="document"><div class="documentwrapper"><div class="bodywrapper">
<div class="body" role="main">
<section id="more-control-flow-tools">
<h1><span class="section-number">4. </span>More Control Flow Tools<a class="headerlink"
 href="#more-control-flow-tools" title="Permalink to this headline">&#182;</a></h1>
<p>Besides the <code>while</code> statement just introduced, Python uses the usual
flow control statements.</p>
<section id="if-statements"><h2>4.1. <code>if</code> Statements<a class="headerlink"
 href="#if-statements">¶</a></h2>
<div class="highlight-python3 notranslate">
<div class="highlight"><pre>&gt;&gt;&gt; x = int(input("Please enter an integer: "))
&gt;&gt;&gt; if x &lt; 0:
...     x = 0
</pre></div></div>
<dl class="simple"><dt>elif</dt>
<dd><p>short for else if, avoids excessive indentation.</p></dd></dl>
<table class="docutils"><thead><tr><th>Operator</th><th>Meaning</th></tr></thead>
<tbody><tr><td>&lt;</td><td>less than</td></tr><tr><td>==</td><td>equal</td></tr></tbody></table>
<aside class="footnote brackets" id="id2"><span class="label">1</span>
<p>Footnotes stay: they are content.</p></aside>
</section></section>
<div class="clearer"></div></div></div></div>
<div class="sphinxsidebar" role="navigation" aria-label="main navigation">
<div class="sphinxsidebarwrapper"><div><h3>Previous topic</h3><p><a href="introduction.html">
3. An Informal Introduction</a></p></div><div><h3>Next topic</h3></div>
<div role="note"><h3>This Page</h3><ul><li><a href="bugs.html">Report a Bug</a></li>
<li><a href="_sources/controlflow.rst.txt">Show Source</a></li></ul></div>
<div id="searchbox" role="search"><h3>Quick search</h3><form><input type="text" name="q" />
<input type="submit" value="Go" /></form></div></div></div>
<div class="clearer"></div></div>
<div class="footer">&copy; Copyright 2001-2023, Python Software Foundation.</div>
</body></html>"""

MKDOCS = """<!doctype html><html><head><title>Configuration - Kettleback Docs</title></head>
<body><input class="md-toggle" data-md-toggle="drawer" type="checkbox" id="__drawer">
<a href="#configuration" class="md-skip">Skip to content</a>
<header class="md-header" data-md-component="header"><nav class="md-header__inner">
<a href="." title="Kettleback Docs" class="md-header__button md-logo">Kettleback Docs</a>
</nav></header>
<div class="md-container"><main class="md-main" data-md-component="main">
<div class="md-main__inner md-grid">
<div class="md-sidebar md-sidebar--primary"><div class="md-sidebar__scrollwrap">
<nav class="md-nav md-nav--primary"><label class="md-nav__title">Kettleback Docs</label>
<ul class="md-nav__list"><li><a href="..">Home</a></li><li><a href="#">Sidebar link</a></li>
</ul></nav></div></div>
<div class="md-content" data-md-component="content"><article class="md-content__inner md-typeset">
<h1 id="configuration">Configuration<a class="headerlink" href="#configuration"
 title="Permanent link">&para;</a></h1>
<p>Settings live in <code>kettleback.toml</code>.</p>
<h2 id="dome">Dome<a class="headerlink" href="#dome" title="Permanent link">&para;</a></h2>
<p>The dome turns at two degrees a second.</p>
<p><img src="dome.png" alt="Diagram of the dome motor"> is drawn to scale.</p>
</article></div></div></main>
<footer class="md-footer"><div class="md-copyright">Made with Material for MkDocs</div>
</footer></div></body></html>"""

ARTICLE = """<html><head><title>Quokkas return to Kettleback | The Valley Gazette</title>
</head><body><a class="skip-link" href="#content">Skip to main content</a>
<header role="banner"><div class="logo">The Valley Gazette</div>
<nav><a href="/">News</a> <a href="/sport">Sport</a> <a href="/weather">Weather</a></nav>
</header>
<div class="cookie" hidden><p>We use cookies.</p></div>
<div id="content"><article><header><h1>Quokkas return to Kettleback</h1>
<p class="byline">By A. Reporter, 3 March 2024</p></header>
<p>A family of quokkas was seen near the upper station for the first time in a decade.</p>
<figure><img src="q.jpg" alt="Two quokkas on a rock"><figcaption>The pair at dawn.
</figcaption></figure>
<aside class="related"><h2>Related stories</h2><a href="/x">Winch repaired</a></aside>
<h2>What happens next</h2><p>Rangers will count them again in spring.</p>
<div class="share" aria-hidden="true">Share on social media</div>
</article></div>
<aside><h2>Most read</h2><ol><li>Ice on the steps</li></ol></aside>
<footer role="contentinfo"><p>&copy; The Valley Gazette. Contact us.</p></footer>
</body></html>"""

FURNITURE = [
    "Navigation", "index", "modules", "previous", "Previous topic", "Next topic", "This Page",
    "Report a Bug", "Show Source", "Quick search", "Copyright", "¶", "Skip to", "Sidebar link",
    "Made with", "Sport", "Weather", "We use cookies", "Related stories", "Winch repaired",
    "Most read", "Ice on the steps", "Contact us", "Share on",
]  # fmt: skip


def _furniture_in(text: str) -> list[str]:
    return [word for word in FURNITURE if word in text]


def _headings_are_exact(text: str, headings) -> None:
    for offset, _, title in headings:
        assert text[offset:].startswith(title.split()[0]), (offset, title)


def test_a_sphinx_page_comes_out_as_its_content_with_headings():
    text, title, headings = html_document(SPHINX)
    assert title == "4. More Control Flow Tools — Python 3.11 documentation"
    assert _furniture_in(text) == []
    assert text.startswith("4. More Control Flow Tools\n\nBesides the while statement")
    assert '>>> x = int(input("Please enter an integer: "))\n>>> if x < 0:\n...     x = 0' in text
    assert "elif\n\nshort for else if" in text  # a definition list: term, then definition
    assert "Operator Meaning\n< less than\n== equal" in text  # rows in reading order
    assert "Footnotes stay: they are content." in text
    assert [(level, name) for _, level, name in headings] == [
        (1, "4. More Control Flow Tools"),
        (2, "4.1. if Statements"),
    ]
    _headings_are_exact(text, headings)


def test_a_mkdocs_page_keeps_its_article_and_image_text():
    text, title, headings = html_document(MKDOCS)
    assert title == "Configuration - Kettleback Docs"
    assert _furniture_in(text) == [] and "Kettleback Docs" not in text
    assert text == (
        "Configuration\n\nSettings live in kettleback.toml.\n\nDome\n\n"
        "The dome turns at two degrees a second.\n\n"
        "Diagram of the dome motor is drawn to scale."
    )
    assert [name for _, _, name in headings] == ["Configuration", "Dome"]
    _headings_are_exact(text, headings)


def test_a_saved_news_article_is_its_story_only():
    text, title, headings = html_document(ARTICLE)
    assert _furniture_in(text) == [] and "Gazette" not in text
    assert text.startswith("Quokkas return to Kettleback\n\nBy A. Reporter, 3 March 2024")
    assert "Two quokkas on a rock\nThe pair at dawn." in text
    assert text.endswith("What happens next\n\nRangers will count them again in spring.")
    assert [(level, name) for _, level, name in headings] == [
        (1, "Quokkas return to Kettleback"),
        (2, "What happens next"),
    ]


def test_without_main_or_article_the_whole_page_minus_furniture_is_kept():
    page = (
        "<body><nav>Home | About</nav><h1>Notes</h1><p>Kept <a href='#x'>#</a></p>"
        "<div role='navigation'><div><div>deep nav</div></div>still nav</div>"
        "<p>after <a href='#top'>back to top</a></p><footer>foot</footer></body>"
    )
    text, title, headings = html_document(page)
    assert text == "Notes\n\nKept\n\nafter back to top"
    assert title == "Notes" and headings == ((0, 1, "Notes"),)  # no <title>: the first h1


def test_several_articles_are_all_kept_in_order():
    page = "<nav>menu</nav><article><h2>One</h2><p>a</p></article><p>teaser</p>"
    page += "<article><h2>Two</h2><p>b</p></article>"
    text, _, headings = html_document(page)
    assert text == "One\n\na\n\nTwo\n\nb"
    assert [offset for offset, _, _ in headings] == [0, text.index("Two")]


def test_a_small_article_does_not_stand_for_the_page():
    body = "<h1>Report</h1><p>" + "The long body of the page. " * 20 + "</p>"
    comment = "<article><p>Nice post!</p></article>"
    text, _, _ = html_document(f"<div>{body}</div>{comment}")
    assert text.startswith("Report\n\nThe long body") and text.endswith("Nice post!")


def test_hidden_void_and_optional_end_elements_hide_no_more_than_themselves():
    page = "<p>one<img aria-hidden='true' src=x><input type=hidden value=v></p>"
    page += "<li aria-hidden=true>item<li>two</ul><p hidden>para<p>three"
    assert html_document(page)[0] == "one\n\nitem\ntwo\n\npara\n\nthree"


def test_html_headings_give_each_chunk_its_path(tmp_path):
    page = tmp_path / "guide.html"
    sections = "".join(
        f"<h2>Part {i}</h2><p>{'words ' * 40}</p><h3>Detail {i}</h3><p>{'more ' * 40}</p>"
        for i in range(3)
    )
    page.write_text(f"<main><h1>Guide</h1>{sections}</main>", encoding="utf-8")
    doc = read_document(page)
    chunks = chunk_text(doc.text, size=300, overlap=30, headings=doc.headings)
    paths = {chunk.heading for chunk in chunks}
    assert {"Guide > Part 1", "Guide > Part 2 > Detail 2"} <= paths
    assert all(chunk.heading for chunk in chunks)
    for chunk in chunks:  # spans stay exact
        assert doc.text[chunk.start : chunk.end] == chunk.text


def test_nested_furniture_is_skipped_in_linear_work():
    depth = 20_000
    page = "<p>before</p><div role=navigation>" + "<div>" * depth + "x" + "</div>" * depth
    parser = _VisibleTextParser()
    parser.feed(page + "</div><main><div>" * 3 + "<p>after</p>")
    parser.close()
    assert parser.text() == "after"
    assert parser._skipping.steps <= 2 * depth + 4  # each element pushed once, popped once

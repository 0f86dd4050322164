"""What a person sees of a search: which methods found a hit (not a bare fused score),
paths that read well from any folder, a query of only stopwords, and the Jupyter table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ragkit.cli import cli
from ragkit.retriever import NO_MEANINGFUL_WORDS, Hit, Hits, Retriever, display_path
from tests.test_retriever import DOCS, build_index


@pytest.fixture
def retriever(store, client):
    build_index(store, DOCS)
    return Retriever(store=store, client=client)


@pytest.fixture
def index_args(tmp_path, store, fake_ollama):
    build_index(store, DOCS)
    return ["--db", str(store.path), "--host", fake_ollama.url]


def hit(**fields) -> Hit:
    return Hit(**{"chunk_id": 1, "path": "/c/a.md", "text": "dome", "score": 0.0325} | fields)


# -- which methods found it -----------------------------------------------------


def test_found_by_names_each_method_and_its_rank():
    both = hit(vector_rank=2, vector_score=0.8123, keyword_rank=1, keyword_score=3.2)
    assert both.found_by == "vector #2 (similarity 0.81), keyword #1"
    assert hit(keyword_rank=4, keyword_score=1.0).found_by == "keyword #4"
    assert hit(vector_rank=1, vector_score=0.5).found_by == "vector #1 (similarity 0.50)"
    assert hit().found_by == "score 0.0325"  # a Hit made by hand, with no ranks


def test_cli_search_says_which_methods_found_each_hit(index_args):
    result = CliRunner().invoke(cli, ["search", "tinned peaches", *index_args])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert re.fullmatch(
        r"1\. /corpus/logs/kitchen\.txt  vector #1 \(similarity \d\.\d\d\), keyword #1", first
    ), first
    assert "0.03" not in result.output  # the fused score itself is not shown
    keyword = CliRunner().invoke(cli, ["search", "peaches", "--mode", "keyword", *index_args])
    assert keyword.output.splitlines()[0].endswith("kitchen.txt  keyword #1")


# -- a query with no meaningful words ---------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_a_query_of_only_stopwords_finds_nothing_and_says_why(retriever, fake_ollama, mode):
    hits = retriever.search("the and of", mode=mode)
    assert list(hits) == [] and hits.note == NO_MEANINGFUL_WORDS
    assert fake_ollama.count("/api/embed") == 0  # nothing embedded for it
    assert retriever.search("???", mode=mode).note == NO_MEANINGFUL_WORDS
    assert retriever.search("the dome", mode=mode)  # one real word is enough
    assert retriever.search("os", mode=mode).note is None  # short words still count


def test_cli_search_of_only_stopwords_says_so(index_args):
    result = CliRunner().invoke(cli, ["search", "the and of", "--mode", "keyword", *index_args])
    assert result.exit_code == 0
    assert result.output == f"no matches: {NO_MEANINGFUL_WORDS}\n"
    assert "only common words" in result.output and "Add a word" in result.output


# -- paths ------------------------------------------------------------------------


def test_paths_outside_the_current_folder_print_absolute(tmp_path, monkeypatch):
    inside = tmp_path / "notes" / "a.md"
    monkeypatch.chdir(tmp_path)
    assert display_path(str(inside)) == "notes/a.md"
    assert display_path("/elsewhere/b.md") == "/elsewhere/b.md"
    monkeypatch.chdir("/")
    assert display_path(str(inside)) == str(inside)  # not "tmp/.../notes/a.md"
    assert hit(path=str(inside), page=2).source == f"{inside}:2"


# -- the Jupyter table ---------------------------------------------------------------


def test_the_jupyter_table_aligns_headers_with_their_text_and_shows_found_by():
    page = Hits([hit(vector_rank=1, vector_score=0.7)], "dome")._repr_html_()
    assert "<th style='text-align:left'>text</th>" in page
    assert "<th style='text-align:left'>found by</th>" in page
    assert "vector #1 (similarity 0.70)" in page
    cells = re.findall(r"<td style='text-align:left'>", page)
    assert len(cells) == 3  # found by, source and text: all left, under left headers


def test_an_empty_result_says_no_matches_in_jupyter(retriever):
    assert Hits([], "zeppelin")._repr_html_() == "<p>no matches</p>"
    page = retriever.search("the of", mode="keyword")._repr_html_()
    assert page.startswith("<p>no matches: the query has only common words")
    assert "&#x27;the&#x27;" in page  # escaped like any other text
    assert Path(retriever.store.path).exists()

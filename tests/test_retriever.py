"""Retriever: top-k and fusion by hand, vector search against brute force, path
filters, reloads, keyword robustness, Hit/Hits, and `ragkit search`."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import click
import numpy as np
import pytest
from click.testing import CliRunner

from ragkit.chunking import Chunk
from ragkit.cli import cli
from ragkit.errors import (
    BadResponse,
    ConfigError,
    IndexMismatch,
    IndexNotFound,
    OllamaUnavailable,
)
from ragkit.ingest import Ingester
from ragkit.ollama import OllamaClient
from ragkit.retriever import (
    Hit,
    Hits,
    Retriever,
    highlight_spans,
    query_terms,
    reciprocal_rank_fusion,
    snippet,
    top_k,
)
from ragkit.store import NewDocument, Store
from tests.fake_ollama import fake_embeddings

# -- pure helpers ------------------------------------------------------------


def test_top_k_by_hand():
    scores = np.array([0.1, 0.9, 0.5, 0.9, -1.0])
    assert top_k(scores, 3).tolist() == [1, 3, 2]  # tie 0.9: lower index first
    assert top_k(scores, 1).tolist() in ([1], [3])
    assert top_k(scores, 10).tolist() == [1, 3, 2, 0, 4]
    assert top_k(scores, 0).tolist() == []
    assert top_k(np.array([]), 3).tolist() == []


def test_top_k_matches_a_full_sort_on_random_scores():
    rng = np.random.default_rng(7)
    scores = rng.normal(size=10_000).astype(np.float32)
    for k in (1, 5, 50, 9_999, 10_000):
        assert top_k(scores, k).tolist() == np.argsort(-scores, kind="stable")[:k].tolist()


def test_reciprocal_rank_fusion_by_hand():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k0=60)
    assert [item for item, _ in fused] == [1, 3, 2]
    scores = dict(fused)
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)


def test_fusion_ties_keep_first_seen_order_and_k0_matters():
    assert [i for i, _ in reciprocal_rank_fusion([[7, 8], [8, 7]])] == [7, 8]
    assert reciprocal_rank_fusion([[5]], k0=0) == [(5, 1.0)]
    assert reciprocal_rank_fusion([]) == [] and reciprocal_rank_fusion([[], []]) == []


def test_query_terms_and_highlight_spans():
    assert query_terms("How do I rotate the Dome? dome!") == ["rotate", "dome"]
    text = "Rotating the dome: the dome rotates on bogies."
    spans = highlight_spans(text, "rotate dome")
    assert [text[a:b] for a, b in spans] == ["dome", "dome", "rotates"]
    assert highlight_spans(text, "the of") == []


def test_snippet_centres_on_the_densest_matches():
    text = ("filler words here. " * 30) + "The winch hauls the shutter up. " + ("more. " * 40)
    shown = snippet(text, "winch shutter", width=80)
    assert "winch hauls the shutter" in shown
    assert shown.startswith("…") and shown.endswith("…") and len(shown) <= 82
    assert snippet("short\n\n text", "x") == "short text"


def make_hit(**overrides) -> Hit:
    fields = dict(
        chunk_id=1,
        path="/nowhere/notes/dome.md",
        text="The <dome> rotates " * 10,
        score=0.0325,
        page=3,
    )
    return Hit(**{**fields, **overrides})


def test_hit_repr_and_dict():
    hit = make_hit()
    assert repr(hit).startswith("<Hit /nowhere/notes/dome.md:3 0.0325 'The <dome> rotates")
    assert len(repr(hit)) < 120
    assert hit.to_dict()["keyword_rank"] is None and hit.to_dict()["page"] == 3
    assert make_hit(page=None).source == "/nowhere/notes/dome.md"


def test_hits_list_helpers_and_html_is_escaped():
    hits = Hits([make_hit(), make_hit(chunk_id=2, text="<script>x</script> dome")], "dome")
    assert hits.texts()[1] == "<script>x</script> dome"
    assert [d["chunk_id"] for d in hits.to_dicts()] == [1, 2]
    assert isinstance(hits[:1], Hits) and hits[:1].query == "dome"
    page = hits._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page and "<mark>dome</mark>" in page
    assert repr(hits).splitlines()[0] == "<Hits: 2 for 'dome'>"
    assert json.loads(json.dumps(hits.to_dicts()))[0]["score"] == 0.0325


def test_importing_the_retriever_does_not_import_click():
    code = "import sys, ragkit.retriever; assert 'click' not in sys.modules, 'click imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the retriever over a real index and the fake server ----------------------------------

DOCS = {
    "notes/dome.md": "The dome rotates on twelve bogies driven by the azimuth motor.",
    "notes/shutter.md": "The shutter winch hauls the upper shutter open before observing.",
    "logs/water.txt": "Water is trucked up weekly; the cistern holds nine thousand litres.",
    "logs/kitchen.txt": "The kitchen stocks tinned peaches, rice and dried beans for winter.",
    "manual.pdf": "Collimate the secondary mirror with the laser tool after each move.",
}


def build_index(store: Store, docs: dict[str, str], root: str = "/corpus") -> None:
    """Write one-chunk documents with the fake server's embeddings, straight into the store."""
    if store.dim is None:
        store.set_index_params(
            embed_model="nomic-embed-text", dim=768, chunk_size=1000, chunk_overlap=150
        )
    for name, text in docs.items():
        page = 2 if name.endswith(".pdf") else None
        chunk = Chunk(seq=0, text=text, start=0, end=len(text), page=page, heading=None)
        record = NewDocument(path=f"{root}/{name}", hash=name, size=len(text), mtime=0.0)
        store.replace_document(record, [chunk], fake_embeddings([text]))


def random_index(store: Store, n: int, dim: int, seed: int = 3) -> np.ndarray:
    """n one-chunk documents with random vectors, spread over a.txt / b.txt names."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(n, dim)).astype(np.float32)
    store.set_index_params(
        embed_model="nomic-embed-text", dim=dim, chunk_size=1000, chunk_overlap=150
    )
    for i in range(n):
        chunk = Chunk(seq=0, text=f"row {i}", start=0, end=5, page=None, heading=None)
        record = NewDocument(path=f"/r/{i}.{'ab'[i % 2]}.txt", hash=str(i), size=1, mtime=0.0)
        store.replace_document(record, [chunk], raw[i : i + 1])
    return raw


@pytest.fixture
def retriever(store, client):
    build_index(store, DOCS)
    return Retriever(store=store, client=client)


def test_vector_search_equals_brute_force(store):
    raw = random_index(store, 300, 16)
    retriever = Retriever(store=store)
    rng = np.random.default_rng(11)
    for _ in range(5):
        q = rng.normal(size=16)
        unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
        cosine = unit @ (q / np.linalg.norm(q))
        expected = np.argsort(-cosine, kind="stable")[:10]
        hits = retriever.search_vector(q, k=10)
        assert [h.text for h in hits] == [f"row {i}" for i in expected]
        np.testing.assert_allclose([h.score for h in hits], cosine[expected], rtol=1e-5)
        assert [h.vector_rank for h in hits] == list(range(1, 11))


def test_path_filter_equals_brute_force_on_the_subset(store):
    raw = random_index(store, 200, 8)
    retriever = Retriever(store=store)
    q = np.ones(8, dtype=np.float32)
    cosine = (raw / np.linalg.norm(raw, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    odd = np.arange(1, 200, 2)  # rows written as *.b.txt
    expected = odd[np.argsort(-cosine[odd], kind="stable")[:7]]
    hits = retriever.search_vector(q, k=7, path="*.b.txt")
    assert [h.text for h in hits] == [f"row {i}" for i in expected]
    assert retriever.search_vector(q, k=3, path="/nowhere/*") == []
    assert len(retriever.search_vector(q, k=500, path="*.a.txt")) == 100


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_each_mode_finds_the_passage(retriever, mode):
    hits = retriever.search("which motor rotates the dome?", k=3, mode=mode)
    assert hits[0].path == "/corpus/notes/dome.md"
    assert hits.query == "which motor rotates the dome?"
    method_rank = {"vector": "vector_rank", "keyword": "keyword_rank"}
    for name, field in method_rank.items():
        assert (getattr(hits[0], field) == 1) == (mode in (name, "hybrid"))


def test_hybrid_scores_are_the_fused_ranks(retriever):
    hits = retriever.search("tinned peaches in the kitchen", k=5)
    top = hits[0]
    assert top.path.endswith("kitchen.txt") and top.vector_rank == top.keyword_rank == 1
    for hit in hits:
        expected = sum(1 / (60 + r) for r in (hit.vector_rank, hit.keyword_rank) if r)
        assert hit.score == pytest.approx(expected)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_queries_carry_the_models_query_prefix(retriever, fake_ollama):
    retriever.search("shutter winch", mode="vector")
    inputs = [body["input"] for body in fake_ollama.bodies("/api/embed")]
    assert inputs == [["search_query: shutter winch"]]


def test_hits_carry_chunk_fields(retriever):
    hit = retriever.search("collimate the secondary mirror", k=1)[0]
    assert (hit.path, hit.page, hit.seq, hit.start) == ("/corpus/manual.pdf", 2, 0, 0)
    assert hit.end == len(DOCS["manual.pdf"]) and hit.text == DOCS["manual.pdf"]
    assert hit.source == "/corpus/manual.pdf:2"


def test_path_glob_in_every_mode(retriever):
    for mode in ("hybrid", "vector", "keyword"):
        hits = retriever.search(
            "the dome and the water and the kitchen", k=5, mode=mode, path="logs/*"
        )
        assert hits and {h.path.rsplit("/", 2)[-2] for h in hits} == {"logs"}


def test_the_retriever_sees_later_writes_in_the_same_process(retriever, store):
    assert retriever.search("anemometer", k=3, mode="keyword") == []
    before = retriever.search("anemometer gusts", k=10, mode="vector", path="notes/*")
    build_index(store, {"notes/wind.md": "The anemometer logs gusts on the ridge."})
    hits = retriever.search("anemometer gusts", k=1, mode="vector")
    assert hits[0].path == "/corpus/notes/wind.md"
    assert retriever.vectors.rebuilds == 2
    after = retriever.search("anemometer gusts", k=10, mode="vector", path="notes/*")
    assert len(after) == len(before) + 1  # the path mask was recomputed too
    assert retriever.search("anemometer", k=3, mode="keyword")[0].path.endswith("wind.md")


def test_a_second_retriever_maps_the_sidecar(retriever, store):
    retriever.search("dome", mode="vector")
    other = Retriever(store=store, client=retriever.client)
    assert other.search("dome", mode="vector")[0].path.endswith("dome.md")
    assert other.vectors.rebuilds == 0


def test_an_empty_index_finds_nothing_without_calling_ollama(tmp_path):
    Store(tmp_path / "empty.db").close()
    with Retriever(tmp_path / "empty.db", client=OllamaClient("http://127.0.0.1:9")) as r:
        for mode in ("hybrid", "vector", "keyword"):
            assert r.search("anything at all", mode=mode) == []
        assert r.search_vector(np.ones(4), k=3) == []


def test_a_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexNotFound, match="ragkit index FOLDER"):
        Retriever(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


def test_another_embedding_model_is_refused(store):
    build_index(store, {"a.md": "alpha"})
    with pytest.raises(IndexMismatch, match="nomic-embed-text"):
        Retriever(store=store, embed_model="mxbai-embed-large")
    assert Retriever(store=store, embed_model="nomic-embed-text:latest").embed_model


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda r: r.search("   "), "empty query"),
        (lambda r: r.search(""), "empty query"),
        (lambda r: r.search("dome", k=0), "k must be"),
        (lambda r: r.search("dome", k=2.5), "k must be"),
        (lambda r: r.search("dome", mode="fuzzy"), "unknown search mode"),
        (lambda r: r.search_vector(np.ones(3)), "3 dimensions"),
    ],
)
def test_bad_arguments_are_config_errors(retriever, call, message):
    with pytest.raises(ConfigError, match=message):
        call(retriever)


NASTY = [
    '"',
    '""',
    "'",
    "*",
    "-",
    "^",
    ":",
    "(",
    ")",
    "((dome",
    "dome)",
    "NEAR(dome shutter)",
    "dome AND",
    "OR",
    "NOT dome",
    "dome OR OR",
    "text:dome",
    "{text}: dome",
    "dome*",
    "'; DROP TABLE chunks; --",
    "\x00",
    "dome\x00shutter",
    "🔭 dome",
    "ドーム",
    "é́́",
    "%",
    "_",
    "\\",
    "a" * 5000,
    " ".join(["dome"] * 500),
    "-dome +shutter",
    "$$ $$",
]


@pytest.mark.parametrize("query", NASTY)
def test_nasty_keyword_queries_never_raise(retriever, query):
    assert isinstance(retriever.search(query, mode="keyword"), Hits)


def test_nasty_queries_in_hybrid_mode(retriever):
    for query in NASTY[:12]:
        assert isinstance(retriever.search(query), Hits)


# -- ragkit search ------------------------------------------------------------------------


@pytest.fixture
def indexed(tmp_path, fake_ollama, monkeypatch):
    """A real index built by `ragkit index`, with the cwd above the corpus."""
    corpus = tmp_path / "corpus"
    for name, text in DOCS.items():
        if name.endswith(".pdf"):
            continue
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(f"{text}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "index.db"
    runner = CliRunner()
    result = runner.invoke(cli, ["index", str(corpus), "--db", str(db), "--host", fake_ollama.url])
    assert result.exit_code == 0, result.output
    return ["--db", str(db), "--host", fake_ollama.url]


def test_cli_search_prints_ranked_hits_with_snippets(indexed):
    result = CliRunner().invoke(cli, ["search", "tinned peaches", *indexed])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.fullmatch(r"1\. corpus/logs/kitchen\.txt  vector #\d .*, keyword #1", lines[0])
    assert lines[1] == "    " + DOCS["logs/kitchen.txt"]  # no ANSI codes when piped
    assert "\x1b[" not in result.output


def test_cli_search_bolds_query_words_on_a_terminal(indexed):
    result = CliRunner().invoke(cli, ["search", "peaches", "-k", "1", *indexed], color=True)
    assert click.style("peaches", bold=True) in result.output


def test_cli_search_json(indexed):
    args = ["search", "shutter winch", "-k", "2", "--mode", "vector", "--json", *indexed]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert len(hits) == 2 and hits[0]["path"].endswith("notes/shutter.md")
    assert set(hits[0]) >= {"chunk_id", "path", "text", "score", "page", "vector_rank"}


def test_cli_search_path_filter_and_no_matches(indexed):
    result = CliRunner().invoke(cli, ["search", "dome", "--path", "*.txt", *indexed])
    assert "dome.md" not in result.output
    result = CliRunner().invoke(cli, ["search", "zeppelin", "--mode", "keyword", *indexed])
    assert (result.exit_code, result.output) == (0, "no matches\n")


def test_cli_search_on_an_empty_or_missing_index(tmp_path):
    Store(tmp_path / "empty.db").close()
    result = CliRunner().invoke(cli, ["search", "dome", "--db", str(tmp_path / "empty.db")])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "is empty" in result.output
    assert "ragkit index FOLDER" in result.output
    result = CliRunner().invoke(cli, ["search", "dome", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1 and "ragkit index FOLDER" in result.output


def test_cli_search_rejects_bad_input(tmp_path, indexed):
    assert CliRunner().invoke(cli, ["search", "dome", "-k", "0", *indexed]).exit_code == 2
    assert CliRunner().invoke(cli, ["search", "dome", "--mode", "x", *indexed]).exit_code == 2
    result = CliRunner().invoke(cli, ["search", "  ", *indexed])
    assert result.exit_code == 2 and "the query is empty" in result.output  # bad usage, as ask


def test_a_query_vector_of_another_dimension_says_to_reembed(retriever, fake_ollama):
    fake_ollama.wrong_dimension_next()
    with pytest.raises(BadResponse, match="--reembed"):
        retriever.search("dome", mode="vector")


def test_an_indexing_run_leaves_a_ready_sidecar(tmp_path, store, client):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Dome\n\nThe dome rotates.\n", encoding="utf-8")
    Ingester(store, client).run([tmp_path / "docs"])
    retriever = Retriever(store=store, client=client)
    assert retriever.search("dome rotates", k=1)[0].path.endswith("a.md")
    assert retriever.vectors.rebuilds == 0
    assert repr(retriever) == f"<Retriever {store.path} nomic-embed-text>"


def test_top_k_settles_ties_at_the_cut_by_index():
    scores = np.array([1.0, 5.0, 3.0, 3.0, 3.0, 0.0, 3.0])
    assert top_k(scores, 3).tolist() == [1, 2, 3]
    rng = np.random.default_rng(7)
    for _ in range(200):
        scores = rng.integers(0, 4, size=30).astype(np.float32)
        k = int(rng.integers(1, 30))
        expected = sorted(range(30), key=lambda i: (-scores[i], i))[:k]
        assert top_k(scores, k).tolist() == expected


def test_a_retriever_closes_the_client_it_made(tmp_path, fake_ollama, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama.url)
    Store(tmp_path / "r.db").close()
    retriever = Retriever(tmp_path / "r.db")
    adapter = retriever.client.session.get_adapter(fake_ollama.url)
    retriever.client.version()  # opens a pooled connection
    assert adapter.poolmanager.pools
    retriever.close()
    assert not adapter.poolmanager.pools


# -- Ollama down or a model missing ----------------------------------------------------


def test_hybrid_search_falls_back_to_keywords_when_ollama_is_down(corpus_db):
    with Retriever(corpus_db, client=OllamaClient("127.0.0.1:9", retries=0)) as retriever:
        hits = retriever.search("shutter", k=3)
        keyword = retriever.search("shutter", k=3, mode="keyword")
        assert len(hits) == 3 and [h.chunk_id for h in hits] == [h.chunk_id for h in keyword]
        assert hits.degraded.startswith("cannot reach Ollama at http://127.0.0.1:9")
        assert hits.degraded.endswith("showing keyword matches only")
        assert keyword.degraded is None and hits[:2].degraded == hits.degraded
        with pytest.raises(OllamaUnavailable):
            retriever.search("shutter", mode="vector")


def test_cli_search_when_ollama_is_down(corpus_db):
    args = ["search", "shutter", "--db", str(corpus_db), "--host", "127.0.0.1:9"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1. ") and "shutter" in result.stdout
    assert result.stderr.startswith("note: cannot reach Ollama at http://127.0.0.1:9")
    assert result.stderr.count("\n") == 1
    vector = CliRunner().invoke(cli, [*args, "--mode", "vector"])
    assert vector.exit_code == 4 and "ollama serve" in vector.stderr


def test_search_checks_the_embedding_model_first_and_keyword_needs_none(corpus_db, fake):
    fake.remove_model("nomic-embed-text")
    args = ["search", "shutter", "--db", str(corpus_db), "--host", fake.url]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "`ragkit pull nomic-embed-text`" in result.stderr
    assert fake.count("/api/tags") == 1 and fake.count("/api/embed") == 0
    keyword = CliRunner().invoke(cli, [*args, "--mode", "keyword"])
    assert keyword.exit_code == 0 and keyword.stdout.startswith("1. ")
    assert fake.count("/api/tags") == 1  # a keyword search asks Ollama nothing

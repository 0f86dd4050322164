"""Search quality on `sample_corpus/`: recall@5 of the file that answers each question.

The corpus is indexed once per module through `Ingester` and the fake Ollama
(whose embeddings are hashed bags of words, so these figures measure ragkit's
plumbing and fusion, not a real model). Floors sit just below what was measured
(84 answerable questions: vector 0.988, keyword 1.000, hybrid 1.000).

Titles and heading paths in the keyword index (schema m004) are measured at chunk
level, nDCG@10 of the chunk holding the answer, keyword mode: the questions as they
are 0.941 with and without; of the first 72, the 56 from titled files asked
naming the document ("<title>: <question>") 0.888 with the text alone, 0.960 with
titles and headings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragkit.ingest import Ingester
from ragkit.ollama import OllamaClient
from ragkit.retriever import Retriever
from ragkit.store import Store, fts_query
from tests.conftest import SAMPLE_CORPUS as CORPUS
from tests.fake_ollama import FakeOllama

K = 5
FLOORS = {"vector": 0.98, "keyword": 0.98}


def answerable() -> list[dict]:
    lines = (CORPUS / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line) for line in lines if line.strip()]
    return [q for q in questions if q["file"]]  # `file: null`: the corpus has no answer


@pytest.fixture(scope="module")
def retriever(tmp_path_factory) -> Iterator[Retriever]:
    """The sample corpus indexed once, through the real pipeline and the fake server."""
    db = tmp_path_factory.mktemp("quality") / "index.db"
    with pytest.MonkeyPatch.context() as env, FakeOllama() as fake:
        env.delenv("RAGKIT_EMBED_MODEL", raising=False)
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        client = OllamaClient(fake.url, timeout=(2.0, 30.0))
        with Store(db) as store:
            summary = Ingester(store, client, embed_model="nomic-embed-text").run([CORPUS])
            assert not summary.failed, summary.failed
            yield Retriever(store=store, client=client)


def finds_file(retriever: Retriever, question: dict, mode: str) -> bool:
    hits = retriever.search(question["question"], K, mode=mode)
    return any(Path(hit.path).name == question["file"] for hit in hits)


@pytest.fixture(scope="module")
def recall(retriever) -> dict[str, float]:
    """recall@K per mode: the share of questions whose answering file is among the K hits."""
    questions = answerable()
    assert len(questions) >= 20
    result = {}
    for mode in ("vector", "keyword", "hybrid"):
        result[mode] = sum(finds_file(retriever, q, mode) for q in questions) / len(questions)
    figures = ", ".join(f"{mode} {value:.3f}" for mode, value in result.items())
    print(f"\nrecall@{K} on sample_corpus ({len(questions)} questions): {figures}")
    return result


@pytest.mark.parametrize("mode", sorted(FLOORS))
def test_recall_of_each_method_is_above_its_floor(recall, mode):
    assert recall[mode] >= FLOORS[mode], recall


def test_hybrid_is_as_good_as_the_better_method(recall):
    assert recall["hybrid"] >= max(recall["vector"], recall["keyword"]), recall


def _ndcg_of_answer_chunk(store: Store, questions: list[dict], *, text_only: bool) -> float:
    """nDCG@10 of the first chunk holding the answer (one relevant chunk per question), keyword
    search over chunk text alone (the index before m004) or over text, title and headings."""
    rows = store.db.execute(
        "SELECT c.id, d.path, c.text FROM chunks c JOIN documents d ON d.id = c.document_id"
    )
    chunks = {i: (Path(path).name, " ".join(text.split()).lower()) for i, path, text in rows}
    total = 0.0
    for q in questions:
        if text_only:
            match = f"text : ({fts_query(q['question'])})"
            found = store.db.execute(
                "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?"
                " ORDER BY bm25(chunks_fts), rowid LIMIT 10",
                [match],
            )
            ids = [row[0] for row in found]
        else:
            ids = [chunk_id for chunk_id, _ in store.keyword_search(q["question"], 10)]
        answer = " ".join(q["answer"].split()).lower()
        ranks = [
            r for r, i in enumerate(ids, 1) if chunks[i][0] == q["file"] and answer in chunks[i][1]
        ]
        total += 1 / math.log2(ranks[0] + 1) if ranks else 0.0
    return total / len(questions)


def test_titles_and_headings_lift_keyword_ranking_and_lose_nothing(retriever):
    store = retriever.store
    titles = {
        Path(path).name: title
        for path, title in store.db.execute("SELECT path, title FROM documents")
    }
    plain = answerable()
    named = [
        q | {"question": f"{titles[q['file']]}: {q['question']}"}
        for q in plain
        if titles.get(q["file"])
    ]
    assert len(named) >= 40
    before = _ndcg_of_answer_chunk(store, plain, text_only=True)
    after = _ndcg_of_answer_chunk(store, plain, text_only=False)
    named_before = _ndcg_of_answer_chunk(store, named, text_only=True)
    named_after = _ndcg_of_answer_chunk(store, named, text_only=False)
    print(
        f"\nkeyword nDCG@10 of the answer chunk: questions {before:.3f} -> {after:.3f},"
        f" naming their document {named_before:.3f} -> {named_after:.3f}"
    )
    assert after >= before
    assert named_after >= named_before + 0.05

"""Search quality on `sample_corpus/`: recall@5 of the file that answers each question.

The corpus is indexed once per module through `Ingester` and the fake Ollama
(whose embeddings are hashed bags of words, so these figures measure ragkit's
plumbing and fusion, not a real model). Floors sit just below what was measured
(84 answerable questions: vector 0.988, keyword 1.000, hybrid 1.000).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragkit.ingest import Ingester
from ragkit.ollama import OllamaClient
from ragkit.retriever import Retriever
from ragkit.store import Store
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

"""The fake Ollama server itself, over real HTTP with plain `requests`."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from tests.fake_ollama import FakeOllama, fake_embedding, fake_embeddings
from tests.fake_ollama_text import IDK_REPLY, default_chat_reply, parse_sources, split_pieces

EMBED, CHAT = "nomic-embed-text", "llama3.2"
SOURCES = (
    "Use only these sources.\n"
    "-----\n"
    "[1] notes/dome.md\n"
    "The observatory dome rotates east every evening. It is painted white.\n\n"
    "[2] manuals/telescope.pdf (page 2)\n"
    "The telescope mirror is cleaned with distilled water! Never use soap.\n"
    "-----\n"
)


@pytest.fixture
def url(fake_ollama: FakeOllama) -> str:
    return fake_ollama.url


def post(url: str, path: str, body: Any, **kwargs: Any) -> requests.Response:
    return requests.post(url + path, json=body, timeout=5, **kwargs)


def embed(url: str, texts: Any, model: str = EMBED, **extra: Any) -> requests.Response:
    return post(url, "/api/embed", {"model": model, "input": texts, **extra})


def lines_of(response: requests.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.iter_lines() if line]


def chat(url: str, content: str, **extra: Any) -> requests.Response:
    body = {"model": CHAT, "messages": [{"role": "user", "content": content}], **extra}
    return post(url, "/api/chat", body, stream=extra.get("stream", True) is not False)


# -- plain endpoints ----------------------------------------------------------------------


def test_root_version_and_head(url: str) -> None:
    root = requests.get(url + "/", timeout=5)
    assert (root.status_code, root.text) == (200, "Ollama is running")
    head = requests.head(url + "/", timeout=5)
    assert head.status_code == 200 and head.content == b""
    assert requests.get(url + "/api/version", timeout=5).json() == {"version": "0.6.2"}
    with FakeOllama(version="0.1.29") as old:
        assert requests.get(old.url + "/api/version", timeout=5).json()["version"] == "0.1.29"


def test_tags_lists_the_default_models(url: str) -> None:
    models = requests.get(url + "/api/tags", timeout=5).json()["models"]
    names = {m["name"] for m in models}
    assert names == {
        "nomic-embed-text:latest",
        "mxbai-embed-large:latest",
        "all-minilm:latest",
        "llama3.2:latest",
    }
    nomic = next(m for m in models if m["name"] == "nomic-embed-text:latest")
    assert nomic["model"] == nomic["name"] and nomic["size"] == 274302450
    assert len(nomic["digest"]) == 64 and int(nomic["digest"], 16) >= 0
    assert nomic["details"]["family"] == "nomic-bert"
    assert set(nomic["details"]) >= {"format", "families", "parameter_size", "quantization_level"}


def test_show_describes_models(url: str) -> None:
    shown = post(url, "/api/show", {"model": EMBED}).json()
    assert shown["capabilities"] == ["embedding"]
    assert shown["model_info"]["general.architecture"] == "nomic-bert"
    assert shown["model_info"]["nomic-bert.embedding_length"] == 768
    assert shown["model_info"]["nomic-bert.context_length"] == 2048
    assert {"modelfile", "parameters", "template", "details"} <= set(shown)
    assert post(url, "/api/show", {"model": "llama3.2:latest"}).json()["capabilities"] == [
        "completion"
    ]
    missing = post(url, "/api/show", {"model": "nope"})
    assert (missing.status_code, missing.json()) == (404, {"error": "model 'nope' not found"})
    assert post(url, "/api/show", {}).status_code == 400


def test_unknown_route_and_wrong_method_answer_like_gin(url: str) -> None:
    missing = requests.get(url + "/api/nothing", timeout=5)
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    assert missing.headers["Content-Type"] == "text/plain"
    wrong = requests.get(url + "/api/embed", timeout=5)
    assert (wrong.status_code, wrong.text) == (405, "405 method not allowed")


def test_bad_bodies_get_go_messages(url: str) -> None:
    bad = requests.post(url + "/api/embed", data=b"xyz", timeout=5)
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid character 'x' looking for beginning of value"}
    truncated = requests.post(url + "/api/chat", data=b'{"model": ', timeout=5)
    assert truncated.json() == {"error": "unexpected EOF"}
    empty = requests.post(url + "/api/embed", data=b"", timeout=5)
    assert empty.json() == {"error": "missing request body"}
    array = requests.post(url + "/api/embed", json=[1], timeout=5)
    assert "cannot unmarshal array" in array.json()["error"]


# -- embeddings ---------------------------------------------------------------------------


def test_embed_answers_one_unit_vector_per_text(url: str) -> None:
    body = embed(url, ["the dome turns", "the mirror is clean"]).json()
    assert body["model"] == EMBED
    assert {"total_duration", "load_duration", "prompt_eval_count"} <= set(body)
    vectors = np.array(body["embeddings"])
    assert vectors.shape == (2, 768)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    single = embed(url, "the dome turns").json()["embeddings"]
    np.testing.assert_allclose(single[0], vectors[0])
    np.testing.assert_allclose(vectors[0], fake_embedding("the dome turns"), atol=1e-6)


def test_embed_dims_per_model_and_names_with_or_without_latest(url: str) -> None:
    for model, dim in (("all-minilm", 384), ("mxbai-embed-large:latest", 1024), (EMBED, 768)):
        assert len(embed(url, "x", model=model).json()["embeddings"][0]) == dim
    with FakeOllama(dims={EMBED: 16}, dim=8) as small:
        assert len(embed(small.url, "x").json()["embeddings"][0]) == 16
        assert len(embed(small.url, "x", model="all-minilm").json()["embeddings"][0]) == 8
        assert small.dim_of("nomic-embed-text:latest") == 16


def test_embed_edge_cases(url: str) -> None:
    assert embed(url, []).json() == {"model": EMBED, "embeddings": []}
    assert embed(url, "").json() == {"model": EMBED, "embeddings": []}
    short = embed(url, "the dome turns east", dimensions=64).json()["embeddings"][0]
    assert len(short) == 64 and np.linalg.norm(short) == pytest.approx(1.0, abs=1e-5)
    too_long = "word " * 5000
    assert embed(url, too_long).status_code == 200  # truncated silently by default
    refused = embed(url, too_long, truncate=False)
    assert refused.status_code == 400 and "context length" in refused.json()["error"]


def test_embed_errors(url: str) -> None:
    missing = embed(url, "x", model="no-such-model")
    assert missing.status_code == 404
    assert missing.json() == {"error": 'model "no-such-model" not found, try pulling it first'}
    nameless = post(url, "/api/embed", {"input": "x"})
    assert (nameless.status_code, nameless.json()) == (400, {"error": "model is required"})
    chatty = embed(url, "x", model=CHAT)
    assert (chatty.status_code, chatty.json()["error"]) == (
        400,
        "this model does not support embeddings",
    )
    assert embed(url, [1, 2]).json() == {"error": "invalid input type"}


def test_legacy_embeddings_endpoint_agrees(url: str) -> None:
    old = post(url, "/api/embeddings", {"model": EMBED, "prompt": "the dome turns"}).json()
    assert set(old) == {"embedding"}
    new = embed(url, "the dome turns").json()["embeddings"][0]
    np.testing.assert_allclose(old["embedding"], new)
    assert post(url, "/api/embeddings", {"model": EMBED, "prompt": ""}).json() == {"embedding": []}
    assert post(url, "/api/embeddings", {"model": "nope", "prompt": "x"}).status_code == 404


def test_embeddings_carry_meaning() -> None:
    doc = fake_embedding("search_document: The telescope mirror needs cleaning with water.")
    query = fake_embedding("search_query: how do I clean the telescope mirror?")
    other = fake_embedding("Quarterly revenue grew in European markets.")
    assert doc @ query > 0.4
    assert abs(doc @ other) < 0.1
    assert doc @ query > doc @ other + 0.3
    assert np.array_equal(doc, fake_embedding("The telescope mirror needs cleaning with water."))
    matrix = fake_embeddings(["a cat", "cats", "", "the of and"], dim=32)
    assert matrix.dtype == np.float32 and matrix.shape == (4, 32)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-6)
    assert matrix[0] @ matrix[1] == pytest.approx(1.0)  # stemmed, stopwords dropped
    np.testing.assert_array_equal(matrix[2], matrix[3])  # the fixed "empty" vector


# -- chat and generate --------------------------------------------------------------------


def test_chat_stream_shape_matches_the_whole_reply(url: str) -> None:
    response = chat(url, SOURCES + "Question: Which way does the dome rotate?")
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert response.headers["Transfer-Encoding"] == "chunked"
    lines = lines_of(response)
    assert len(lines) > 3 and not any(line["done"] for line in lines[:-1])
    assert all(line["message"]["role"] == "assistant" for line in lines)
    final = lines[-1]
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["message"]["content"] == ""
    stats = ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration")
    assert set(stats) | {"eval_count", "eval_duration", "created_at"} <= set(final)
    streamed = "".join(line["message"]["content"] for line in lines)
    whole = chat(url, SOURCES + "Question: Which way does the dome rotate?", stream=False).json()
    assert whole["done"] is True and whole["message"]["content"] == streamed
    assert (
        streamed == "According to the sources, The observatory dome rotates east every evening [1]."
    )


def test_chat_reply_picks_the_source_sharing_most_words(url: str) -> None:
    asked = chat(url, SOURCES + "Question: How is the telescope mirror cleaned?", stream=False)
    assert asked.json()["message"]["content"].endswith("distilled water [2].")
    unknown = chat(url, SOURCES + "Question: Who won the football match?", stream=False)
    assert unknown.json()["message"]["content"] == IDK_REPLY
    in_system = [
        {"role": "system", "content": SOURCES},
        {"role": "user", "content": "What colour is the dome painted?"},
    ]
    assert default_chat_reply(in_system).endswith("[1].")


def test_chat_reply_override_and_num_predict(fake_ollama: FakeOllama, url: str) -> None:
    fake_ollama.chat_reply = "Fixed words for every question."
    assert chat(url, "anything", stream=False).json()["message"]["content"].startswith("Fixed")
    fake_ollama.chat_reply = lambda messages: f"{len(messages)} message(s)"
    assert chat(url, "anything", stream=False).json()["message"]["content"] == "1 message(s)"
    cut = chat(url, "x", stream=False, options={"num_predict": 1}).json()
    assert cut["done_reason"] == "length" and cut["message"]["content"] == "1"


def test_chat_errors_and_load(url: str) -> None:
    missing = post(url, "/api/chat", {"model": "nope", "messages": []})
    assert missing.status_code == 404
    assert missing.json()["error"] == 'model "nope" not found, try pulling it first'
    wrong = post(url, "/api/chat", {"model": EMBED, "messages": [{"role": "user", "content": "x"}]})
    assert wrong.status_code == 400
    assert wrong.json() == {"error": '"nomic-embed-text" does not support chat'}
    loaded = post(url, "/api/chat", {"model": CHAT, "messages": []}).json()
    assert loaded["done_reason"] == "load" and loaded["done"] is True


def test_generate_both_ways(url: str) -> None:
    body = {"model": CHAT, "prompt": SOURCES + "Question: What cleans the mirror?"}
    lines = lines_of(post(url, "/api/generate", body, stream=True))
    assert lines[-1]["done"] and lines[-1]["response"] == "" and lines[-1]["context"]
    whole = post(url, "/api/generate", body | {"stream": False, "system": "Be brief."}).json()
    assert whole["response"] == "".join(line["response"] for line in lines)
    assert whole["response"].endswith("[2].")


def test_pieces_join_back() -> None:
    text = "  Two  spaces, then [1]. Done!"
    assert "".join(split_pieces(text)) == text
    assert "".join(split_pieces(text, 3)) == text


def test_parse_sources_stops_at_delimiters() -> None:
    sources, outside = parse_sources(
        SOURCES + "Question: x?\n<sources>\n[3] a.txt\nThird.\n</sources>"
    )
    assert sources == {
        1: "The observatory dome rotates east every evening. It is painted white.",
        2: "The telescope mirror is cleaned with distilled water! Never use soap.",
        3: "Third.",
    }
    assert "Question: x?" in outside and "Use only these sources." in outside


# -- pull and the model set ---------------------------------------------------------------


def test_pull_streams_progress_then_installs(fake_ollama: FakeOllama, url: str) -> None:
    assert embed(url, "x", model="bge-m3").status_code == 404
    lines = lines_of(post(url, "/api/pull", {"model": "bge-m3"}, stream=True))
    statuses = [line["status"] for line in lines]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert "verifying sha256 digest" in statuses and "writing manifest" in statuses
    layer = next(line for line in lines if "digest" in line)
    assert layer["digest"].startswith("sha256:") and layer["total"] >= layer["completed"]
    assert "bge-m3:latest" in fake_ollama.models
    assert len(embed(url, "x", model="bge-m3").json()["embeddings"][0]) == 1024
    assert post(url, "/api/pull", {"model": "qwen2.5", "stream": False}).json() == {
        "status": "success"
    }


def test_pull_of_an_unknown_name_fails(url: str) -> None:
    streamed = post(url, "/api/pull", {"model": "no-such-model"}, stream=True)
    assert streamed.status_code == 200
    assert lines_of(streamed)[-1] == {"error": "pull model manifest: file does not exist"}
    whole = post(url, "/api/pull", {"model": "no-such-model", "stream": False})
    assert whole.status_code == 500 and "file does not exist" in whole.json()["error"]


def test_add_and_remove_models(fake_ollama: FakeOllama, url: str) -> None:
    fake_ollama.remove_model("nomic-embed-text:latest")
    assert embed(url, "x").status_code == 404
    fake_ollama.add_model("my-embedder", kind="embedding", dim=12)
    assert len(embed(url, "x", model="my-embedder:latest").json()["embeddings"][0]) == 12
    fake_ollama.add_model("my-chat", kind="chat")
    assert post(url, "/api/show", {"model": "my-chat"}).json()["capabilities"] == ["completion"]
    fake_ollama.reset()
    assert embed(url, "x").status_code == 200 and fake_ollama.model("my-chat") is None


# -- misbehaviour switches ----------------------------------------------------------------


def test_fail_next_then_recover(fake_ollama: FakeOllama, url: str) -> None:
    fake_ollama.fail_next(2)
    for _ in range(2):
        busy = embed(url, "x")
        assert busy.status_code == 503
        assert busy.json() == {
            "error": "server busy, please try again.  maximum pending requests exceeded"
        }
    assert embed(url, "x").status_code == 200
    fake_ollama.fail_next(1, status=502)
    gateway = embed(url, "x")
    assert gateway.status_code == 502 and "Bad Gateway" in gateway.text
    fake_ollama.fail_next(1, status=500, path="/api/chat")
    assert embed(url, "x").status_code == 200
    assert chat(url, "x", stream=False).status_code == 500
    fake_ollama.fail_next(1, status=429, body="slow down")
    assert embed(url, "x").text == "slow down"


def test_fail_after_breaks_inference_for_good(fake_ollama: FakeOllama, url: str) -> None:
    fake_ollama.fail_after(2, status=500)
    assert [embed(url, "x").status_code for _ in range(4)] == [200, 200, 500, 500]
    assert requests.get(url + "/api/version", timeout=5).status_code == 200
    fake_ollama.reset()
    assert embed(url, "x").status_code == 200


def test_drop_next_stream_cuts_the_body(fake_ollama: FakeOllama, url: str) -> None:
    fake_ollama.drop_next_stream(after_lines=2)
    response = chat(url, "hello there")
    received = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for line in response.iter_lines():
            received.append(json.loads(line))
    assert len(received) == 2
    assert lines_of(chat(url, "hello there"))[-1]["done"] is True  # cleared


def test_malformed_and_error_lines(fake_ollama: FakeOllama, url: str) -> None:
    fake_ollama.malformed_next_stream(after_lines=1)
    raw = [line for line in chat(url, "hi").iter_lines() if line]
    json.loads(raw[0])
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw[1])
    fake_ollama.error_next_stream("model runner crashed", after_lines=1)
    lines = lines_of(chat(url, "hi"))
    assert len(lines) == 2 and lines[-1] == {"error": "model runner crashed"}
    assert lines_of(chat(url, "hi"))[-1]["done"] is True


def test_wrong_dimension_and_count(fake_ollama: FakeOllama, url: str) -> None:
    fake_ollama.wrong_dimension_next()
    assert len(embed(url, ["a", "b"]).json()["embeddings"][0]) == 767
    fake_ollama.wrong_count_next()
    assert len(embed(url, ["a", "b"]).json()["embeddings"]) == 1
    assert np.array(embed(url, ["a", "b"]).json()["embeddings"]).shape == (2, 768)


def test_old_server_has_no_embed_route(fake_ollama: FakeOllama, url: str) -> None:
    fake_ollama.old_server = True
    old = embed(url, "x")
    assert (old.status_code, old.text) == (404, "404 page not found")
    assert post(url, "/api/embeddings", {"model": EMBED, "prompt": "x"}).status_code == 200


def test_latency_switches(fake_ollama: FakeOllama, url: str) -> None:
    fake_ollama.latency = 0.1
    started = time.monotonic()
    requests.get(url + "/api/version", timeout=5)
    assert time.monotonic() - started >= 0.1
    fake_ollama.latency, fake_ollama.per_text_latency = 0.0, 0.02
    started = time.monotonic()
    embed(url, ["a"] * 5)
    assert time.monotonic() - started >= 0.1


def _embed_in_parallel(url: str, n: int) -> float:
    started = time.monotonic()
    threads = [threading.Thread(target=embed, args=(url, ["a", "b"])) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def test_busy_seconds_is_the_union_of_embed_intervals(fake_ollama: FakeOllama, url: str) -> None:
    fake_ollama.per_text_latency = 0.1  # 0.2 s a request
    wall = _embed_in_parallel(url, 3)
    assert 0.19 <= fake_ollama.busy_seconds <= wall
    assert fake_ollama.peak_concurrency >= 2 and fake_ollama.embedded_texts == 6
    fake_ollama.reset()
    fake_ollama.per_text_latency, fake_ollama.serialize = 0.05, True
    wall = _embed_in_parallel(url, 3)
    assert wall >= 0.3 and 0.29 <= fake_ollama.busy_seconds <= wall
    assert fake_ollama.peak_concurrency == 1


def test_log_count_and_reset(fake_ollama: FakeOllama, url: str) -> None:
    embed(url, ["a"])
    requests.get(url + "/api/tags", timeout=5)
    assert fake_ollama.requests[0] == ("POST", "/api/embed", {"model": EMBED, "input": ["a"]})
    assert fake_ollama.requests[1] == ("GET", "/api/tags", None)
    assert fake_ollama.count("/api/embed") == 1 and fake_ollama.count("/api/tags", "POST") == 0
    assert fake_ollama.bodies("/api/embed") == [{"model": EMBED, "input": ["a"]}]
    fake_ollama.fail_next(5)
    fake_ollama.reset()
    assert fake_ollama.requests == [] and embed(url, "a").status_code == 200


# -- lifecycle ----------------------------------------------------------------------------


def test_keep_alive_and_chunked_on_one_connection(url: str) -> None:
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
    for _ in range(2):
        conn.request("POST", "/api/chat", json.dumps({"model": CHAT, "messages": []}))
        assert conn.getresponse().read()
    conn.request("POST", "/api/pull", json.dumps({"model": EMBED}))
    streamed = conn.getresponse()
    assert streamed.getheader("Transfer-Encoding") == "chunked"
    assert streamed.read().decode().count("\n") >= 5
    conn.close()


@pytest.fixture
def hanging_server() -> Iterator[FakeOllama]:
    server = FakeOllama().start()
    yield server
    server.stop()


def test_stop_is_quick_with_a_hanging_request(hanging_server: FakeOllama) -> None:
    hanging_server.hang_next(30)
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(requests.get(hanging_server.url + "/api/version", timeout=10))
        except requests.RequestException as exc:
            outcome.append(exc)

    client = threading.Thread(target=call)
    client.start()
    while not hanging_server.hanging and client.is_alive():  # wait until it is held
        time.sleep(0.01)
    hanging_server.stop()
    client.join()
    # cut by stop(): not left to run into the client's 10 s read timeout (ReadTimeout)
    assert isinstance(outcome[0], requests.ConnectionError)
    assert hanging_server.hanging == 0


def test_stop_cuts_keep_alive_connections_and_restart_reuses_the_port() -> None:
    server = FakeOllama().start()
    session = requests.Session()
    assert session.get(server.url + "/api/version", timeout=5).ok
    server.stop()  # an idle keep-alive connection left open would answer the next request
    with pytest.raises(requests.ConnectionError):
        session.get(server.url + "/api/version", timeout=5)
    with server:
        assert requests.get(server.url + "/api/version", timeout=5).ok


def test_command_line_prints_the_url_and_serves() -> None:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_ollama", "--port", "0", "--per-text-latency", "0"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert len(embed(url, ["a", "b"]).json()["embeddings"]) == 2
        stats = requests.get(url + "/_fake/stats", timeout=5).json()
        assert stats["embedded_texts"] == 2 and stats["busy_seconds"] >= 0
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0


def test_environment_is_isolated(tmp_path: Path) -> None:
    for name in ("OLLAMA_HOST", "RAGKIT_DB", "RAGKIT_EMBED_MODEL", "RAGKIT_CHAT_MODEL"):
        assert name not in os.environ
    assert Path(os.environ["XDG_DATA_HOME"]).is_relative_to(tmp_path)
    assert Path(os.environ["HOME"]).is_relative_to(tmp_path)

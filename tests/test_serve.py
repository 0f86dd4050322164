"""`ragkit serve`: a real server process on a free port, used over real HTTP."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from ragkit.cli import cli
from tests.conftest import SAMPLE_DOCUMENTS
from tests.fake_ollama import FakeOllama
from tests.index_checks import ragkit_command, ragkit_env

QUESTION = "At which azimuth does DOMEKEEPER park the Great Dome?"
THREADS = 8


class Served:
    """A `ragkit serve` process; its stderr is drained so request logs never block it."""

    def __init__(self, db: Path, host: str, *args: str, home: Path) -> None:
        command = ragkit_command("serve", "--db", str(db), "--port", "0", *args)
        env = ragkit_env(host, HOME=str(home), NO_PROXY="127.0.0.1,localhost")
        self.proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        first = self.proc.stderr.readline()
        assert " at http://" in first, first
        self.url = first.rsplit(" at ", 1)[1].strip()
        self.log: list[str] = []
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()

    def _read_log(self) -> None:
        for line in self.proc.stderr:
            self.log.append(line)

    def get(self, route: str, **kwargs) -> requests.Response:
        return requests.get(self.url + route, timeout=30, **kwargs)

    def post(self, route: str, **kwargs) -> requests.Response:
        return requests.post(self.url + route, timeout=30, **kwargs)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._drain.join(timeout=10)


@pytest.fixture(scope="module")
def served(
    corpus_db: Path, fake_ollama_session: FakeOllama, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One server over the session's sample-corpus index, for the read-only tests."""
    server = Served(corpus_db, fake_ollama_session.url, home=tmp_path_factory.mktemp("home"))
    yield server
    server.stop()


def test_every_route_answers_json(served: Served, fake: FakeOllama) -> None:
    found = served.get("/api/search", params={"q": "dome azimuth park", "k": 3}).json()
    assert [hit["rank"] for hit in found["hits"]] == [1, 2, 3]
    top = found["hits"][0]
    assert {"text", "path", "page", "heading", "score", "cite", "uri"} <= set(top)
    assert top["uri"].startswith("ragkit://doc/")

    keyword = served.get(
        "/api/search", params={"q": "DOMEKEEPER", "mode": "keyword", "path": "*.pdf"}
    )
    assert all(hit["path"].endswith(".pdf") for hit in keyword.json()["hits"])

    status = served.get("/api/status").json()
    assert (status["documents"], status["embed_model"]) == (SAMPLE_DOCUMENTS, "nomic-embed-text")
    assert status["updated_at"]

    documents = served.get("/api/documents").json()
    assert len(documents) == SAMPLE_DOCUMENTS
    pdfs = served.get("/api/documents", params={"glob": "*.pdf"}).json()
    assert pdfs and all(doc["path"].endswith(".pdf") for doc in pdfs)

    pdf = next(doc for doc in pdfs if doc["chunks"] > 3)
    text = served.get("/api/document", params={"uri": pdf["uri"]}).json()["text"]
    assert text.startswith("[page 1]\n") and "\n[page 2]\n" in text

    answer = served.post("/api/ask", json={"question": QUESTION, "stream": False}).json()
    assert answer["answer"] and answer["sources"][0]["cite"]

    spec = served.get("/openapi.json").json()
    assert set(spec["paths"]) >= {"/api/search", "/api/ask", "/api/status", "/api/documents"}


def test_a_streamed_answer_arrives_line_by_line(served: Served, fake: FakeOllama) -> None:
    with served.post("/api/ask", json={"question": QUESTION}, stream=True) as response:
        assert response.headers["Content-Type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response.iter_lines()]
    pieces, last = lines[:-1], lines[-1]
    assert len(pieces) > 3 and all(line["done"] is False for line in pieces)
    assert last["done"] is True
    assert "".join(line["response"] for line in pieces) == last["answer"]
    assert last["cited"] and last["sources"][0]["uri"].startswith("ragkit://doc/")


@pytest.mark.parametrize(
    ("method", "route", "kwargs", "status", "message"),
    [
        ("get", "/api/search", {"params": {"q": " "}}, 400, "empty query"),
        ("get", "/api/search", {"params": {"q": "dome", "k": "many"}}, 400, "k must be"),
        ("get", "/api/search", {"params": {"q": "dome", "k": "0"}}, 400, "from 1 to"),
        ("get", "/api/search", {"params": {"q": "dome", "mode": "x"}}, 400, "unknown search mode"),
        ("post", "/api/ask", {"data": b"{not json"}, 400, "not JSON"),
        ("post", "/api/ask", {"json": {"question": "q", "temprature": 1}}, 400, "unknown field"),
        ("post", "/api/ask", {"json": {"question": ""}}, 400, "empty question"),
        ("get", "/api/document", {"params": {"uri": "file:///etc/passwd"}}, 400, "not a ragkit"),
        ("get", "/api/ask", {}, 405, "no route"),
        ("get", "/nowhere", {}, 404, "no route"),
    ],
)
def test_a_bad_request_is_a_4xx_with_the_message(
    served: Served, method: str, route: str, kwargs: dict, status: int, message: str
) -> None:
    response = getattr(served, method)(route, **kwargs)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_a_method_the_api_lacks_is_a_json_error(served: Served) -> None:
    """Errors the standard library raises itself are JSON too, not its HTML page."""
    host, port = served.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"BREW /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        reply = sock.makefile("rb").read()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].startswith(b"HTTP/1.1 501")
    assert b"application/json" in head and "BREW" in json.loads(body)["error"]


def test_a_request_naming_another_host_is_refused(served: Served) -> None:
    response = served.get("/api/status", headers={"Host": "attacker.example:8765"})
    assert response.status_code == 403 and "not this machine" in response.json()["error"]


def test_with_a_token_every_request_must_carry_it(
    corpus_db: Path, fake: FakeOllama, tmp_path: Path
) -> None:
    server = Served(corpus_db, fake.url, "--token", "s3cret", home=tmp_path)
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = server.get("/api/status", headers=headers)
            assert response.status_code == 401 and "token" in response.json()["error"]
        ok = server.get("/api/status", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["documents"] == SAMPLE_DOCUMENTS
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "192.0.2.1"], "refusing to listen"),
        (["--host", "0.0.0.0"], "needs a token"),
    ],
)
def test_a_non_loopback_bind_is_refused_before_listening(
    corpus_db: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(cli, ["serve", "--db", str(corpus_db), *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def _copy_index(source: Path, target: Path) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()


def test_concurrent_searches_while_another_process_indexes(
    corpus_db: Path, fake: FakeOllama, tmp_path: Path
) -> None:
    db = tmp_path / "index.db"
    _copy_index(corpus_db, db)
    folder = tmp_path / "new"
    folder.mkdir()
    for i in range(20):
        (folder / f"bird{i:02d}.md").write_text(f"# Bird {i}\n\nThe zebrafinch number {i} sings.\n")
    server = Served(db, fake.url, home=tmp_path)
    results: list[tuple[int, dict]] = []
    started = threading.Barrier(THREADS + 1)
    indexer: list[subprocess.Popen] = []

    def search() -> None:
        started.wait()
        for round_ in range(200):
            response = server.get("/api/search", params={"q": "dome shutter zebrafinch", "k": 5})
            results.append((response.status_code, response.json()))
            if round_ >= 3 and indexer[0].poll() is not None:
                return

    threads = [threading.Thread(target=search) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    indexer.append(
        subprocess.Popen(
            ragkit_command("index", str(folder), "--db", str(db)),
            env=ragkit_env(fake.url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    )
    started.wait()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert indexer[0].wait(timeout=60) == 0, indexer[0].stderr.read()
        assert len(results) >= THREADS * 4
        assert all(status == 200 and len(body["hits"]) == 5 for status, body in results)
        after = server.get("/api/search", params={"q": "zebrafinch", "mode": "keyword"}).json()
        assert after["hits"] and "zebrafinch" in after["hits"][0]["text"]
        assert server.get("/api/status").json()["documents"] == SAMPLE_DOCUMENTS + 20
    finally:
        server.stop()

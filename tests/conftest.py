"""Shared fixtures. The fake Ollama server and environment isolation come first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragkit.index import Index
from ragkit.ollama import OllamaClient
from ragkit.store import Store
from tests.fake_ollama import FakeOllama

# Tests whose pass/fail depends on how fast child processes are scheduled (a writer
# pausing longer than --settle, a pty's Ctrl-C racing readline): on a loaded 2-core
# machine they can fail without a bug, so they get two more tries. Each must still pass
# with every assertion; a real bug fails all three. Use sparingly: bound work instead.
timing_bound = pytest.mark.flaky(reruns=2, reruns_delay=1)

ISOLATED_ENV = (
    "OLLAMA_HOST",
    "RAGKIT_DB",
    "RAGKIT_EMBED_MODEL",
    "RAGKIT_CHAT_MODEL",
    "RAGKIT_TIMEOUT",
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real home, a real index or a real Ollama through the environment."""
    for name in ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_DATA_HOME", "xdg"), ("XDG_CONFIG_HOME", "xdg-config")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for var in ("NO_PROXY", "no_proxy"):  # loopback traffic never goes through a proxy
        monkeypatch.setenv(var, "127.0.0.1,localhost,::1")


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    """A started fake Ollama server (fresh for each test); stopped afterwards."""
    with FakeOllama() as server:
        yield server


@pytest.fixture(scope="session")
def fake_ollama_session() -> Iterator[FakeOllama]:
    """One fake Ollama shared by the whole session: call `.reset()` before using it."""
    with FakeOllama() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A new, empty index in tmp_path."""
    with Store(tmp_path / "index.db") as opened:
        yield opened


@pytest.fixture
def client(fake_ollama: FakeOllama) -> Iterator[OllamaClient]:
    """A client of the per-test fake server, with short timeouts and quick retries."""
    opened = OllamaClient(fake_ollama.url, timeout=(2.0, 10.0), backoff=0.01)
    yield opened
    opened.close()


SAMPLE_DOCUMENTS = 21  # files of sample_corpus/ indexed by `corpus_db`
SAMPLE_CORPUS = Path(__file__).resolve().parent.parent / "sample_corpus"


@pytest.fixture(scope="session")
def corpus_db(tmp_path_factory: pytest.TempPathFactory, fake_ollama_session: FakeOllama) -> Path:
    """The sample corpus, indexed once for the whole session; tests only read it."""
    fake_ollama_session.reset()
    db = tmp_path_factory.mktemp("corpus") / "index.db"
    with Index(db, host=fake_ollama_session.url) as index:
        summary = index.add(SAMPLE_CORPUS, exclude=["questions.jsonl"])
    assert summary.new == SAMPLE_DOCUMENTS and not summary.failed
    return db


@pytest.fixture
def fake(fake_ollama_session: FakeOllama) -> FakeOllama:
    """The session's fake server, reset for this test."""
    fake_ollama_session.reset()
    return fake_ollama_session

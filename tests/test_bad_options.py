"""Bad option values and settings, through `ragkit` and the library: each is one
`Error:` line (exit 2, a usage error) or a `ConfigError`, never a traceback, and
nothing is sent to Ollama or written to an index."""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from ragkit.cli import cli
from ragkit.config import MAX_K
from ragkit.doctor import run_checks
from ragkit.errors import ConfigError
from ragkit.index import Index
from ragkit.ingest import Ingester
from ragkit.ollama import OllamaClient
from ragkit.retriever import Retriever
from ragkit.store import Store
from tests.index_checks import ragkit_command, ragkit_env

HUGE_K = str(2**63)  # one past SQLite's largest integer


def invoke(args: list[str], host: str | None = None):
    return CliRunner().invoke(cli, args, env={"OLLAMA_HOST": host} if host else {})


def usage_error(result) -> str:
    """The one `Error:` line of a usage error (exit 2), after click's usage lines."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# -- OLLAMA_HOST / --host --------------------------------------------------------


@pytest.mark.parametrize("host", ["http://[::1", "[::1"])
@pytest.mark.parametrize(
    "command", [["search", "dome"], ["index", "NOTES"], ["doctor"], ["ask", "why?"], ["chat"]]
)
def test_a_malformed_ollama_host_is_a_usage_error_naming_it(tmp_path, host, command):
    (tmp_path / "notes").mkdir()
    db = tmp_path / "index.db"
    args = [str(tmp_path / "notes") if arg == "NOTES" else arg for arg in command]
    line = usage_error(invoke([*args, "--db", str(db)], host))
    assert "OLLAMA_HOST" in line and repr(host) in line
    assert usage_error(invoke([*args, "--db", str(db), "--host", host])) == line
    assert not db.exists()


def test_a_malformed_ollama_host_is_a_config_error_in_the_library(tmp_path, monkeypatch):
    for make in (
        lambda: Index(tmp_path / "index.db", host="http://[::1"),
        lambda: OllamaClient("[::1"),
        lambda: run_checks(host="[::1", db=tmp_path / "index.db"),
    ):
        with pytest.raises(ConfigError, match="OLLAMA_HOST"):
            make()
    monkeypatch.setenv("OLLAMA_HOST", "http://[::1")
    with pytest.raises(ConfigError, match="OLLAMA_HOST"):
        OllamaClient()


# -- -k ----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [HUGE_K, str(MAX_K + 1), "0"])
@pytest.mark.parametrize(
    "command",
    [["search", "dome", "--mode", "keyword"], ["search", "dome"], ["ask", "dome?"], ["chat"]],
)
def test_k_out_of_range_is_a_usage_error_saying_the_range(corpus_db, fake, command, k):
    line = usage_error(invoke([*command, "-k", k, "--db", str(corpus_db)], fake.url))
    assert f"1<=x<={MAX_K}" in line
    assert fake.requests == []


def test_k_up_to_the_bound_works_in_every_mode(corpus_db, fake):
    for mode in ("keyword", "vector", "hybrid"):
        result = invoke(
            ["search", "dome", "-k", str(MAX_K), "--mode", mode, "--db", str(corpus_db)], fake.url
        )
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("k", [2**63, MAX_K + 1, 0, np.int64(-1)])
def test_k_out_of_range_is_a_config_error_in_the_library(corpus_db, fake, k):
    with Retriever(corpus_db, client=OllamaClient(fake.url)) as retriever:
        for mode in ("keyword", "vector", "hybrid"):
            with pytest.raises(ConfigError, match=f"from 1 to {MAX_K}"):
                retriever.search("dome", k, mode=mode)
        with pytest.raises(ConfigError, match=f"from 1 to {MAX_K}"):
            retriever.search_vector(np.ones(768, dtype=np.float32), k)
        assert len(retriever.search("dome", MAX_K, mode="keyword")) > 0
    assert fake.count("/api/embed") == 0


# -- --max-file-size ---------------------------------------------------------------


@pytest.mark.parametrize(
    "size", ["99999999999999999999999999GB", "9" * 400, "1025GB", "1.5TB", "1099511627777"]
)
def test_an_absurd_max_file_size_is_a_usage_error(tmp_path, fake, size):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text("dome\n")
    db = tmp_path / "index.db"
    line = usage_error(
        invoke(
            ["index", str(tmp_path / "notes"), "--db", str(db), "--max-file-size", size], fake.url
        )
    )
    assert "--max-file-size" in line and "1TB" in line
    assert fake.requests == [] and not db.exists()


def test_an_absurd_max_file_size_is_a_config_error_in_the_library(tmp_path, fake):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text("dome\n")
    client = OllamaClient(fake.url)
    with Store(tmp_path / "index.db") as store:
        for size in (10**30, 2**63, -1, "99999999999999999999999999GB"):
            with pytest.raises(ConfigError, match="size"):
                Ingester(store, client, max_file_size=size)
        assert Ingester(store, client, max_file_size="1TB").max_file_size == 1024**4
    with Index(tmp_path / "index.db", host=fake.url) as index:
        with pytest.raises(ConfigError, match="over the 1TB limit"):
            index.add(tmp_path / "notes", max_file_size=10**30)
    assert fake.count("/api/embed") == 0


# -- --path --------------------------------------------------------------------------


def test_a_non_utf8_path_glob_from_the_command_line_is_a_usage_error(corpus_db, fake):
    """A real non-UTF-8 argv: the bytes reach Python as lone surrogates."""
    args = [*ragkit_command("search", "dome", "--db", str(corpus_db)), "--path", b"\xff*"]
    result = subprocess.run(args, env=ragkit_env(fake.url), capture_output=True)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, stderr
    assert "Traceback" not in stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("Error")]
    assert "--path" in line and "not valid UTF-8" in line and "\\xff*" in line
    assert fake.requests == []


@pytest.mark.parametrize("glob", ["\udcff*", "notes/\ud800.md"])
def test_a_non_utf8_path_glob_is_a_config_error_in_the_library(corpus_db, fake, glob):
    line = usage_error(invoke(["search", "dome", "--path", glob, "--db", str(corpus_db)], fake.url))
    assert "not valid UTF-8" in line
    with Retriever(corpus_db, client=OllamaClient(fake.url)) as retriever:
        for mode in ("keyword", "vector", "hybrid"):
            with pytest.raises(ConfigError, match="not valid UTF-8"):
                retriever.search("dome", 3, mode=mode, path=glob)
        with pytest.raises(ConfigError, match="not valid UTF-8"):
            retriever.search_vector(np.ones(768, dtype=np.float32), 3, path=glob)
    assert fake.requests == []


# -- float options -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999"])
@pytest.mark.parametrize("command", [["ask", "Where does the dome park?"], ["chat"]])
def test_a_non_finite_temperature_is_a_usage_error(corpus_db, fake, command, value):
    line = usage_error(invoke([*command, "--temperature", value, "--db", str(corpus_db)], fake.url))
    assert "--temperature" in line
    assert fake.requests == []


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_non_finite_timeout_is_a_usage_error(corpus_db, fake, value):
    line = usage_error(
        invoke(["ask", "why?", "--timeout", value, "--db", str(corpus_db)], fake.url)
    )
    assert "--timeout" in line


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_a_non_finite_model_option_is_a_config_error_in_the_library(corpus_db, fake, value):
    client = OllamaClient(fake.url)
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(ConfigError, match="temperature"):
        client.chat(messages, "llama3.2", options={"temperature": value})
    with pytest.raises(ConfigError, match="top_p"):
        client.generate("hi", "llama3.2", stream=True, options={"top_p": value})
    with Index(corpus_db, host=fake.url) as index:
        with pytest.raises(ConfigError, match="temperature"):
            index.ask("Where does the dome park?", temperature=value)
    assert fake.count("/api/chat") == fake.count("/api/generate") == 0

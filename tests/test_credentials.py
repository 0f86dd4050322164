"""Credentials in OLLAMA_HOST (`http://user:password@host:port`, for Ollama behind an
authenticating proxy): sent as HTTP basic auth on every request, percent-decoded,
and never printed: not in errors, `doctor` output, reprs or JSON."""

from __future__ import annotations

import json
import subprocess
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from ragkit.cli import EXIT_ERROR, EXIT_UNAVAILABLE, cli
from ragkit.index import Index
from tests.fake_ollama import FakeOllama
from tests.fake_ollama_auth import basic_auth
from tests.index_checks import ragkit_command, ragkit_env

USER, PASSWORD = "ann@lab", "Zs3cret:/@ö"  # needs percent-encoding in a URL
QUOTED = quote(PASSWORD, safe="")
QUESTION = "What is the vault code?"


def authed(fake: FakeOllama, user: str = USER, password: str = PASSWORD) -> str:
    """OLLAMA_HOST for `fake` with credentials, as a user would write it."""
    return f"http://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{fake.port}"


def shows_no_password(*texts: str) -> bool:
    joined = "\n".join(texts)
    return not any(secret in joined for secret in (PASSWORD, QUOTED, "Zs3"))


@pytest.fixture
def notes(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "vault.md").write_text("# Vault\n\nThe vault code is 4711.\n")
    return tmp_path / "notes"


@pytest.fixture
def decoy():
    """A listener set as every proxy: loopback Ollama must be reached directly."""
    with FakeOllama() as server:
        yield server


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(ragkit_command(*args), env=env, capture_output=True, text=True)


def test_index_search_and_ask_work_through_basic_auth_past_a_proxy(
    tmp_path, notes, fake_ollama, decoy
):
    fake_ollama.require_auth(USER, PASSWORD)
    env = ragkit_env(authed(fake_ollama))
    for name in ("NO_PROXY", "no_proxy"):
        env.pop(name, None)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = decoy.url
    db = str(tmp_path / "index.db")
    results = [
        run(["index", str(notes), "--db", db], env),
        run(["search", "vault code", "--db", db], env),
        run(["ask", QUESTION, "--db", db, "--no-stream"], env),
        run(["doctor", "--db", db], env),
    ]
    for result in results:
        assert result.returncode == 0, result.stderr
        assert shows_no_password(result.stdout, result.stderr)
    assert "4711" in results[2].stdout
    assert decoy.requests == [] and decoy.authorizations == []
    assert fake_ollama.count("/api/embed") >= 2 and fake_ollama.count("/api/chat") == 1
    assert set(fake_ollama.authorizations) == {basic_auth(USER, PASSWORD)}


def test_the_library_sends_the_credentials_and_never_shows_them(tmp_path, notes, fake_ollama):
    fake_ollama.require_auth(USER, PASSWORD)
    with Index(tmp_path / "index.db", host=authed(fake_ollama)) as index:
        assert index.add(notes).new == 1
        assert "4711" in index.search("vault code")[0].text
        assert "4711" in index.ask(QUESTION).text
        assert shows_no_password(repr(index), repr(index.client), json.dumps(index.status()))
    assert set(fake_ollama.authorizations) == {basic_auth(USER, PASSWORD)}


def _invoke(args: list[str], host: str):
    return CliRunner().invoke(cli, args, env={"OLLAMA_HOST": host})


@pytest.mark.parametrize("given", ["wrong", "none"])
def test_refused_credentials_are_one_line_that_never_shows_them(
    tmp_path, notes, fake_ollama, given
):
    db = str(tmp_path / "index.db")
    assert _invoke(["index", str(notes), "--db", db], fake_ollama.url).exit_code == 0
    (notes / "vault.md").write_text("# Vault\n\nThe vault code is 4712.\n")  # to embed again
    fake_ollama.reset()
    fake_ollama.require_auth(USER, "another password")
    host = authed(fake_ollama) if given == "wrong" else fake_ollama.url
    for args in (
        ["index", str(notes), "--db", db],
        ["search", "vault", "--db", db],
        ["ask", QUESTION, "--db", db],
    ):
        result = _invoke(args, host)
        assert result.exit_code == EXIT_ERROR, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: Ollama error (HTTP 401)")
        assert ("was refused" if given == "wrong" else "http://USER:PASSWORD@") in lines[0]
        assert shows_no_password(result.output)
    for args in (["doctor", "--db", db], ["doctor", "--db", db, "--json"]):
        result = _invoke(args, host)
        assert result.exit_code == EXIT_UNAVAILABLE, result.output
        assert "401" in result.stdout and shows_no_password(result.output)
    assert fake_ollama.requests == []  # nothing got past the "proxy"


def test_a_malformed_host_with_credentials_never_shows_them(tmp_path):
    host = f"http://ann:{QUOTED}@[::1"
    for args in (["search", "vault"], ["index", str(tmp_path)], ["doctor"]):
        result = _invoke([*args, "--db", str(tmp_path / "index.db")], host)
        assert result.exit_code == 2 and "ann:***@[::1" in result.stderr
        assert shows_no_password(result.output)

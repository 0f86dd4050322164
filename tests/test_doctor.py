"""`ragkit doctor` finds each thing that is not ready and says how to fix it;
`ragkit pull` shows progress and ends with one line."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from ragkit.cli import cli
from ragkit.doctor import Check, run_checks
from ragkit.index import Index
from ragkit.store import Store
from ragkit.terminal import PullProgress


@pytest.fixture
def db(tmp_path, fake_ollama):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "dome.md").write_text("# Dome\n\nThe dome parks at 187 degrees.\n")
    with Index(tmp_path / "index.db", host=fake_ollama.url) as index:
        index.add(tmp_path / "notes")
    return tmp_path / "index.db"


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def test_all_good(db, fake_ollama):
    checks = run_checks(host=fake_ollama.url, db=db)
    assert [c.name for c in checks] == [
        "ollama",
        "embedding model",
        "chat model",
        "index",
        "index model",
    ]
    assert all(c.ok for c in checks) and all(c.fix is None for c in checks)
    found = by_name(checks)
    assert fake_ollama.url in found["ollama"].detail and "0.6.2" in found["ollama"].detail
    assert "1 document, 1 chunk," in found["index"].detail


def test_server_down(db, fake_ollama):
    fake_ollama.stop()
    found = by_name(run_checks(host=fake_ollama.url, db=db))
    assert not found["ollama"].ok and "ollama serve" in found["ollama"].fix
    assert not found["chat model"].ok and "not checked" in found["chat model"].detail
    assert found["index"].ok  # the index can still be checked


@pytest.mark.parametrize(
    "model, name", [("llama3.2", "chat model"), ("nomic-embed-text", "embedding model")]
)
def test_missing_models(db, fake_ollama, model, name):
    fake_ollama.remove_model(model)
    found = by_name(run_checks(host=fake_ollama.url, db=db))
    assert not found[name].ok and found[name].fix == f"`ragkit pull {model}`"
    assert sum(not c.ok for c in found.values()) == 1


def test_a_chat_model_that_cannot_chat(db, fake_ollama):
    found = by_name(run_checks(host=fake_ollama.url, db=db, chat_model="all-minilm"))
    assert not found["chat model"].ok and "RAGKIT_CHAT_MODEL" in found["chat model"].fix


def test_no_index_and_empty_index(tmp_path, fake_ollama):
    found = by_name(run_checks(host=fake_ollama.url, db=tmp_path / "none.db"))
    assert not found["index"].ok and "ragkit index" in found["index"].fix
    assert "index model" not in found
    Store(tmp_path / "empty.db").close()
    found = by_name(run_checks(host=fake_ollama.url, db=tmp_path / "empty.db"))
    assert not found["index"].ok and "empty" in found["index"].detail


def test_index_model_mismatch(db, fake_ollama):
    found = by_name(run_checks(host=fake_ollama.url, db=db, embed_model="mxbai-embed-large"))
    check = found["index model"]
    assert not check.ok and "nomic-embed-text" in check.detail and "--reembed" in check.fix


def test_without_a_model_named_the_index_model_is_checked(tmp_path, fake_ollama):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "dome.md").write_text("# Dome\n\nThe dome parks at 187 degrees.\n")
    with Index(tmp_path / "m.db", host=fake_ollama.url, embed_model="all-minilm") as index:
        index.add(tmp_path / "notes")
    found = by_name(run_checks(host=fake_ollama.url, db=tmp_path / "m.db"))
    assert found["index model"].ok and found["embedding model"].detail == "all-minilm is pulled"
    fake_ollama.remove_model("all-minilm")
    found = by_name(run_checks(host=fake_ollama.url, db=tmp_path / "m.db"))
    assert found["embedding model"].fix == "`ragkit pull all-minilm`"


def test_cli_doctor_lines_and_exit_codes(db, fake_ollama, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama.url)
    ok = CliRunner().invoke(cli, ["doctor", "--db", str(db)])
    assert ok.exit_code == 0 and ok.stdout.count("✓") == 5 and "✗" not in ok.stdout
    fake_ollama.remove_model("llama3.2")
    bad = CliRunner().invoke(cli, ["doctor", "--db", str(db)])
    line = next(line for line in bad.stdout.splitlines() if line.startswith("✗"))
    assert bad.exit_code == 1 and "chat model" in line and "-> `ragkit pull llama3.2`" in line
    data = json.loads(CliRunner().invoke(cli, ["doctor", "--json", "--db", str(db)]).stdout)
    assert [c["ok"] for c in data] == [True, True, False, True, True]
    fake_ollama.stop()
    down = CliRunner().invoke(cli, ["doctor", "--db", str(db)])
    assert down.exit_code == 4 and "ollama serve" in down.stdout


def test_cli_doctor_falls_back_to_ascii(tmp_path, fake_ollama):
    runner = CliRunner(charset="ascii")
    result = runner.invoke(
        cli, ["doctor", "--db", str(tmp_path / "x.db"), "--host", fake_ollama.url]
    )
    assert result.exit_code == 1 and "ok ollama" in result.stdout and "XX index" in result.stdout


def test_cli_pull_prints_status_lines_then_one_result(fake_ollama):
    result = CliRunner().invoke(cli, ["pull", "qwen2.5", "--host", fake_ollama.url])
    assert result.exit_code == 0
    assert result.stdout.startswith("pulled qwen2.5 (4.4GB) in ") and result.stdout.count("\n") == 1
    statuses = result.stderr.splitlines()
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert len(statuses) == len(set(statuses))  # progress updates are not repeated
    assert fake_ollama.model("qwen2.5") is not None


def test_cli_pull_of_an_unknown_model(fake_ollama):
    result = CliRunner().invoke(cli, ["pull", "no-such-model", "--host", fake_ollama.url])
    assert result.exit_code == 1 and "no-such-model" in result.stderr


def test_pull_progress_draws_a_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    with PullProgress(stream=Terminal()) as progress:
        progress.update(
            {"status": "pulling 1234", "digest": "sha256:1", "total": 2048, "completed": 1024}
        )
        drawn = progress.stream.getvalue()
    assert drawn.startswith("\rpulling 1234") and "[" + "#" * 12 + "-" * 12 + "]  50%" in drawn
    assert "1KB/2KB" in drawn and progress.size == 2048


@pytest.mark.parametrize("answers", ["an error line in the stream", "HTTP 404"])
def test_cli_pull_of_a_name_the_library_does_not_have(fake_ollama, answers):
    if answers == "HTTP 404":  # what some Ollama-compatible servers answer
        missing = {"error": 'model "does-not-exist" not found, try pulling it first'}
        fake_ollama.fail_next(1, status=404, body=missing, path="/api/pull")
    result = CliRunner().invoke(cli, ["pull", "does-not-exist", "--host", fake_ollama.url])
    assert result.exit_code == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: Ollama error: 'does-not-exist' is not in the Ollama library")
    assert "ollama.com/library" in line and "ollama serve" not in line

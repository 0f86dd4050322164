"""Terminal escape injection (issue 10 item 12): text from a document, a file name or
the model's answer reaches stdout and stderr with its control characters shown as
visible escapes, never raw, through every command; --json stays loadable and exact."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ragkit.cli import cli
from ragkit.terminal import PullProgress
from tests.index_checks import ragkit_command, ragkit_env

# Sets the window title, clears the screen, turns text red (ESC and C1 CSI), reverses.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31m\x9b1m\u202e"
VISIBLE = r"\x1b]0;pwned\x07\x1b[2J\x1b[31m\x9b1m\u202e"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
BOLD = re.compile(r"\x1b\[(?:1|0)m")  # ragkit's own styling of query words
QUESTION = "Where does the brass lantern glow?"


def assert_safe(output: bytes, *, styled: bool = False) -> str:
    """The output as text, after checking it holds no raw control character."""
    text = output.decode("utf-8")
    assert not RAW.search(BOLD.sub("", text) if styled else text), text
    return text


def invoke(args: list[str], **options):
    """`ragkit ARGS` in-process, colour on as on a terminal (click strips nothing)."""
    return CliRunner().invoke(cli, args, color=True, **options)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    lantern = f"# Lamps {HOSTILE}\n\nThe brass lantern {HOSTILE} glows over the harbour.\n"
    (folder / f"lantern{HOSTILE}.md").write_text(lantern)
    (folder / f"broken{HOSTILE}.pdf").write_bytes(b"not a pdf at all")
    return folder


@pytest.fixture
def args(corpus: Path, tmp_path: Path, fake) -> list[str]:
    """--db and --host of an index of `corpus` (built here; one file failed)."""
    db_args = ["--db", str(tmp_path / "index.db"), "--host", fake.url]
    assert invoke(["index", str(corpus), *db_args]).exit_code == 3
    return db_args


def test_index_failures_name_files_visibly(corpus, tmp_path, fake):
    db_args = ["--db", str(tmp_path / "index.db"), "--host", fake.url]
    result = invoke(["index", str(corpus), *db_args])
    assert result.exit_code == 3, result.output
    assert_safe(result.stdout_bytes)
    errors = assert_safe(result.stderr_bytes)
    assert f"failed: {corpus}/broken{VISIBLE}.pdf: " in errors
    listed = invoke(["index", str(corpus), *db_args, "--json"])
    assert json.loads(assert_safe(listed.stdout_bytes))["failed"][0]["path"] == str(
        corpus / f"broken{HOSTILE}.pdf"
    )


def test_search_escapes_paths_and_snippets_and_keeps_its_bold(args):
    for mode in ("hybrid", "keyword"):
        result = invoke(["search", "brass lantern", "--mode", mode, *args])
        assert result.exit_code == 0, result.output
        out = assert_safe(result.stdout_bytes, styled=True)
        assert f"lantern{VISIBLE}.md" in out and f"{VISIBLE} glows" in out
        assert "\x1b[1mbrass\x1b[0m" in out
    hits = json.loads(assert_safe(invoke(["search", "brass", "--json", *args]).stdout_bytes))
    assert HOSTILE in hits[0]["text"] and hits[0]["path"].endswith(f"lantern{HOSTILE}.md")


def test_a_streamed_answer_and_its_sources_are_escaped(args, fake):
    fake.chat_reply = f"The lantern {HOSTILE} glows [1]."
    result = invoke(["ask", QUESTION, *args])
    assert result.exit_code == 0, result.output
    out = assert_safe(result.stdout_bytes)
    assert f"The lantern {VISIBLE} glows [1]." in out and f"lantern{VISIBLE}.md" in out
    assert fake.bodies("/api/chat")[0]["stream"] is True
    assert_safe(result.stderr_bytes)


def test_ask_context_and_json_are_escaped(args, fake):
    fake.chat_reply = f"The lantern {HOSTILE} glows [1]."
    shown = invoke(["ask", QUESTION, "--show-context", "--no-stream", *args])
    assert shown.exit_code == 0, shown.output
    context = assert_safe(shown.stdout_bytes)
    assert f"lantern{VISIBLE}.md - Lamps {VISIBLE}" in context and context.count(VISIBLE) >= 4
    data = invoke(["ask", QUESTION, "--json", "--show-context", *args]).stdout_bytes
    loaded = json.loads(assert_safe(data))
    assert loaded["answer"] == f"The lantern {HOSTILE} glows [1]."
    assert HOSTILE in loaded["sources"][0]["text"] and HOSTILE in loaded["messages"][-1]["content"]


def test_chat_answers_sources_and_errors_are_escaped(args, fake):
    fake.chat_reply = f"The lantern {HOSTILE} glows [1]."
    result = invoke(["chat", *args], input=f"{QUESTION}\n/sources\n/{HOSTILE}\n")
    assert result.exit_code == 0, result.output
    out = assert_safe(result.stdout_bytes)
    assert f"The lantern {VISIBLE} glows" in out
    assert f"[1] {Path(args[1]).parent}/notes/lantern{VISIBLE}.md - Lamps {VISIBLE}" in out
    assert f"unknown command /{VISIBLE.lower()}" in assert_safe(result.stderr_bytes)
    fake.error_next_stream(f"model {HOSTILE} crashed")
    failed = invoke(["chat", *args], input=f"{QUESTION}\n")
    assert failed.exit_code == 1 and f"model {VISIBLE} crashed" in failed.stderr


def test_status_doctor_and_error_lines_escape_the_index_path(corpus, tmp_path, fake):
    db = tmp_path / f"index{HOSTILE}" / "index.db"
    assert invoke(["index", str(corpus), "--db", str(db), "--host", fake.url]).exit_code == 3
    status = invoke(["status", "--db", str(db)])
    assert status.exit_code == 0 and f"index{VISIBLE}" in assert_safe(status.stdout_bytes)
    doctor = invoke(["doctor", "--db", str(db), "--host", fake.url])
    assert f"index{VISIBLE}" in assert_safe(doctor.stdout_bytes)
    missing = invoke(["status", "--db", str(tmp_path / f"gone{HOSTILE}.db")])
    assert missing.exit_code == 1, missing.output
    error = assert_safe(missing.stderr_bytes)
    assert error.startswith("Error: ") and f"gone{VISIBLE}.db" in error
    assert_safe(missing.stdout_bytes)


def test_piped_output_carries_no_escape_byte(args, fake):
    """As in the issue: piped, click strips colours but not the title code."""
    fake.chat_reply = f"The lantern {HOSTILE} glows [1]."
    env = ragkit_env(fake.url)
    for command in (["search", "brass lantern"], ["ask", QUESTION]):
        done = subprocess.run(ragkit_command(*command, *args), env=env, capture_output=True)
        assert done.returncode == 0, done.stderr
        for stream in (done.stdout, done.stderr):
            assert not {0x1B, 0x07} & set(stream) and b"\xc2\x9b" not in stream
        assert VISIBLE.encode() in done.stdout


def test_pull_status_lines_from_the_server_are_escaped():
    stream = io.StringIO()
    with PullProgress(stream=stream) as progress:
        progress.update({"status": f"pulling {HOSTILE}"})
    assert stream.getvalue() == f"pulling {VISIBLE}\n"

"""Conversations: history sent along, follow-up retrieval, trimming, reset, and the
`ragkit chat` loop over piped stdin."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest
from click.testing import CliRunner

from ragkit.answer import NO_ANSWER
from ragkit.cli import cli
from ragkit.cli_chat import run_chat
from ragkit.conversation import Conversation
from ragkit.errors import OllamaError
from ragkit.ollama import OllamaClient
from ragkit.retriever import Retriever

CORPUS = Path(__file__).resolve().parent.parent / "sample_corpus"
FIRST = "Where is the DOMEKEEPER configuration file stored on tern?"
SECOND = "How many turns of the hand crank does it take to close the Great Dome shutter?"


@pytest.fixture(scope="module")
def db(tmp_path_factory, fake_ollama_session) -> Path:
    """A small index of three sample documents, built once."""
    from ragkit import Index

    fake_ollama_session.reset()
    path = tmp_path_factory.mktemp("chat") / "index.db"
    with Index(path, host=fake_ollama_session.url) as index:
        index.add(CORPUS, include=["domekeeper_*.md", "glossary.md"])
    return path


@pytest.fixture
def fake(fake_ollama_session):
    fake_ollama_session.reset()
    return fake_ollama_session


@pytest.fixture
def chat(db, fake):
    client = OllamaClient(fake.url, retries=0)
    with Retriever(db, client=client) as retriever:
        yield Conversation(retriever, client)


def test_the_second_request_carries_the_first_turn(chat, fake):
    first = chat.ask(FIRST)
    chat.ask(SECOND)
    one, two = (body["messages"] for body in fake.bodies("/api/chat"))
    assert [m["role"] for m in one] == ["system", "user"]
    assert [m["role"] for m in two] == ["system", "user", "assistant", "user"]
    assert two[1] == {"role": "user", "content": FIRST}
    assert two[2] == {"role": "assistant", "content": first.text}
    assert two[3]["content"].endswith(f"Question: {SECOND}")
    assert chat.last_answer.question == SECOND and chat.last_sources == chat.last_answer.sources


def test_follow_ups_are_searched_with_the_previous_question(chat):
    assert chat.search_query("Where is it?") == "Where is it?"  # nothing to follow yet
    chat.ask(FIRST)
    assert chat.search_query("Why there?") == f"{FIRST} Why there?"
    assert chat.search_query("Who maintains it today?") == f"{FIRST} Who maintains it today?"
    assert chat.search_query(SECOND) == SECOND


def test_a_follow_up_finds_sources_through_the_previous_question(chat, fake):
    chat.ask(FIRST)
    follow = chat.ask("Who may edit it?")
    assert not follow.nothing_found and follow.sources
    assert fake.count("/api/chat") == 2


def test_old_turns_are_trimmed_to_the_budget(chat, fake):
    chat.max_history_tokens = 60
    fake.chat_reply = "A fairly short answer of about ten words or so [1]."
    for question in (FIRST, SECOND, "What does the DOMEKEEPER alarm code E214 mean?"):
        chat.ask(question)
    assert [q for q, _ in chat.turns] == ["What does the DOMEKEEPER alarm code E214 mean?"]
    last = fake.bodies("/api/chat")[-1]["messages"]
    assert [m["content"] for m in last if m["role"] == "user"][0] == SECOND
    assert FIRST not in str(last)


def test_reset_forgets_everything(chat, fake):
    chat.ask(FIRST)
    chat.reset()
    assert chat.turns == [] and chat.last_answer is None and chat.last_sources == []
    chat.ask(SECOND)
    assert [m["role"] for m in fake.bodies("/api/chat")[-1]["messages"]] == ["system", "user"]


def test_a_streamed_turn_is_kept_only_once_it_ends(chat, fake):
    stream = chat.ask(FIRST, stream=True)
    assert chat.turns == []
    text = "".join(stream)
    assert chat.turns == [(FIRST, text)] and chat.last_answer is stream.answer
    fake.error_next_stream("out of memory", after_lines=2)
    broken = chat.ask(SECOND, stream=True)
    with pytest.raises(OllamaError, match="out of memory"):
        list(broken)
    assert len(chat.turns) == 1


def test_nothing_found_is_a_turn_too(chat, fake):
    assert chat.ask("What is the Wi-Fi password for the guest network?").text == NO_ANSWER
    assert fake.count("/api/chat") == 0 and len(chat.turns) == 1


# -- ragkit chat ---------------------------------------------------------------------


@pytest.fixture
def run(db, fake):
    def invoke(text: str):
        args = ["chat", "--db", str(db), "--host", fake.url]
        return CliRunner().invoke(cli, args, input=text)

    return invoke


def test_cli_chat_answers_each_question_with_its_sources(run, fake):
    result = run(f"{FIRST}\n\n{SECOND}\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("According to the sources") == 2
    assert "/etc/domekeeper/dome.toml" in result.stdout
    assert "\n[1] " in result.stdout and "domekeeper_manual.md" in result.stdout
    messages = fake.bodies("/api/chat")[1]["messages"]
    assert messages[1]["content"] == FIRST and messages[2]["role"] == "assistant"


def test_cli_chat_commands(run, fake):
    result = run(f"/sources\n{FIRST}\n/sources\n/help\n/nope\n/reset\n{SECOND}\n/exit\n{FIRST}\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("no sources yet\n")
    assert "  (cited)" in out and "/reset" in out and "conversation cleared" in out
    assert "unknown command /nope" in result.stderr
    assert fake.count("/api/chat") == 2  # nothing after /exit
    assert [m["role"] for m in fake.bodies("/api/chat")[1]["messages"]] == ["system", "user"]


def test_cli_chat_ends_cleanly_at_eof(run):
    result = run("")
    assert result.exit_code == 0 and result.output == ""


def test_cli_chat_survives_an_error_mid_stream(run, fake):
    fake.error_next_stream("model runner crashed", after_lines=3)
    result = run(f"{FIRST}\n{SECOND}\n")
    assert result.exit_code == 1  # a turn failed, so scripts can tell
    assert result.stderr.count("Error: ") == 1 and "model runner crashed" in result.stderr
    first, second = result.stdout.split("\n", 1)
    assert first.startswith("According") and not first.endswith("].")  # the broken answer
    assert second.count("According to the sources") == 1  # the next turn, printed once


def test_ctrl_c_ends_the_loop_cleanly(chat, monkeypatch, capsys):
    def interrupted(prompt: str = "") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(builtins, "input", interrupted)
    assert run_chat(chat) == 0
    assert capsys.readouterr().err == ""

"""Conversations: history sent along, follow-up retrieval, trimming, reset, and the
`ragkit chat` loop over piped stdin."""

from __future__ import annotations

import builtins
import fcntl
import io
import os
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ragkit.answer import NO_ANSWER, Source, estimate_tokens
from ragkit.cli import cli
from ragkit.cli_chat import run_chat, show_sources
from ragkit.conversation import Conversation
from ragkit.errors import OllamaError
from ragkit.ollama import OllamaClient
from ragkit.retriever import Retriever
from tests.conftest import SAMPLE_CORPUS as CORPUS
from tests.conftest import timing_bound

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


def test_the_newest_turn_is_kept_even_when_it_alone_is_over_budget(db, fake):
    fake.chat_reply = "The crank turns the shutter closed, slowly and surely [1]. " * 28
    assert len(fake.chat_reply) > 1600
    client = OllamaClient(fake.url, retries=0)
    with Retriever(db, client=client) as retriever:
        chat = Conversation(retriever, client, num_ctx=2048)  # history budget: 512 tokens
        chat.ask(FIRST)
        assert [q for q, _ in chat.turns] == [FIRST]
        kept = chat.turns[0][1]
        assert kept.endswith("…") and kept[:40] == fake.chat_reply[:40]
        assert estimate_tokens(FIRST) + estimate_tokens(kept) + 8 <= 512
        assert chat.last_answer.text == fake.chat_reply  # only the history copy is cut
        chat.ask(SECOND)
        sent = fake.bodies("/api/chat")[-1]["messages"]
        assert sent[1:3] == [
            {"role": "user", "content": FIRST},
            {"role": "assistant", "content": kept},
        ]
        assert [q for q, _ in chat.turns] == [SECOND]


def test_a_chain_of_follow_ups_keeps_searching_the_first_topic(chat, fake):
    chat.ask(SECOND)  # the dome shutter
    chat.ask("Who is allowed to do it?")
    query = chat.search_query("Why?")
    assert query == f"{SECOND} Who is allowed to do it? Why?"
    assert not chat.ask("Why?").nothing_found
    chat.ask("And when?")  # still the thread of the first question, not a growing list
    assert chat.search_query("How?") == f"{SECOND} And when? How?"


def test_a_small_context_does_not_get_stuck_after_a_few_turns(db, fake):
    client = OllamaClient(fake.url, retries=0)
    with Retriever(db, client=client) as retriever:
        chat = Conversation(retriever, client, num_ctx=600)
        for question in (FIRST, SECOND, FIRST, SECOND):
            assert chat.ask(question).sources  # no ConfigError, a source every turn
    assert fake.count("/api/chat") == 4


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


def test_cli_chat_exits_4_when_ollama_is_down(db):
    args = ["chat", "--db", str(db), "--host", "127.0.0.1:9"]
    result = CliRunner().invoke(cli, args, input=f"{FIRST}\n")
    assert result.exit_code == 4, result.output  # as for `ask`, and as the README says
    assert result.stderr.count("Error: ") == 1 and "ollama serve" in result.stderr


def test_cli_chat_sources_after_nothing_found(run, fake):
    result = run("What is the Wi-Fi password for the guest network?\n/sources\n")
    assert result.exit_code == 0, result.output
    assert "the last question found nothing relevant" in result.stdout
    assert "no sources yet" not in result.stdout


def test_sources_of_one_file_can_be_told_apart(capsys):
    def source(n: int, text: str, heading: str | None) -> Source:
        return Source(n, "/d/manual.md", None, n, text, 1.0, heading=heading)

    show_sources(
        [
            source(1, "Close the shutter first.", "Shutter"),
            source(2, "Park at 187 degrees.", "Parking"),
            source(3, "Crank forty turns, slowly and evenly, until it stops.", None),
            source(4, "Never crank in high wind.", None),
        ],
        cited=[2],
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("manual.md - Shutter") and lines[1].endswith("Parking  (cited)")
    assert lines[2].endswith('manual.md "Crank forty turns, slowly and evenly, un…"')
    assert lines[3].endswith('manual.md "Never crank in high wind."')


def test_no_citation_note_for_an_answer_that_says_the_sources_do_not_say(run, fake):
    fake.chat_reply = "I don't know: the sources do not say."
    assert "cites none" not in run(f"{FIRST}\n").stderr
    fake.chat_reply = "It is kept in /etc somewhere."  # a claim without a citation
    assert "note: the answer cites none of its sources" in run(f"{FIRST}\n").stderr


def test_interactive_chat_turns_on_line_editing(chat, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def end(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.delitem(sys.modules, "readline", raising=False)
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(builtins, "input", end)
    assert run_chat(chat) == 0
    assert "readline" in sys.modules


def test_ctrl_c_ends_the_loop_cleanly(chat, monkeypatch, capsys):
    def interrupted(prompt: str = "") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(builtins, "input", interrupted)
    assert run_chat(chat) == 0
    assert capsys.readouterr().err == ""


def test_cli_chat_with_a_missing_model_fails_before_the_first_question(db, fake):
    args = ["chat", "--db", str(db), "--host", fake.url, "--model", "no-such-model"]
    result = CliRunner().invoke(cli, args, input=f"{FIRST}\n")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("Error: ") == 1 and "`ragkit pull no-such-model`" in result.stderr
    assert fake.count("/api/tags") == 1
    assert fake.count("/api/embed") == 0 and fake.count("/api/chat") == 0


def test_a_conversation_checks_its_models_once_and_caps_answers(db, fake):
    client = OllamaClient(fake.url, retries=0)
    with Retriever(db, client=client) as retriever:
        chat = Conversation(retriever, client, max_tokens=6)
        assert fake.count("/api/tags") == 1 and fake.count("/api/embed") == 0
        chat.ask(FIRST)
        chat.ask(SECOND)
    assert fake.count("/api/tags") == 1
    assert [body["options"]["num_predict"] for body in fake.bodies("/api/chat")] == [6, 6]
    result = CliRunner().invoke(
        cli, ["chat", "--db", str(db), "--host", fake.url, "--max-tokens", "2"], input=FIRST
    )
    assert result.exit_code == 0 and fake.bodies("/api/chat")[-1]["options"]["num_predict"] == 2


# -- Ctrl-C in a real `ragkit chat` on a pseudo-terminal -------------------------------


def _take_terminal() -> None:
    """In the child: make the pty its controlling terminal, so ^C typed there is SIGINT
    to it, and give it the usual SIGINT handler (a shell without job control may not)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Terminal:
    """A child process on a pseudo-terminal: type into it, wait for what it shows."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.fd, child = os.openpty()
        self.proc = subprocess.Popen(
            args,
            stdin=child,
            stdout=child,
            stderr=child,
            env=env,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
        os.close(child)
        self.shown = ""  # everything shown so far
        self._read_to = 0  # where the next `wait_for` starts looking

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait_for(self, text: str, patience: float = 60.0) -> str:
        """What was shown up to and including the next `text` (fails after `patience`
        seconds without it: a guard against hanging, not a speed requirement)."""
        deadline = time.monotonic() + patience
        while (found := self.shown.find(text, self._read_to)) < 0:
            assert time.monotonic() < deadline, f"never saw {text!r} in {self.shown!r}"
            if select.select([self.fd], [], [], 0.2)[0]:
                try:
                    self.shown += os.read(self.fd, 4096).decode(errors="replace")
                except OSError:  # EIO: the child closed the terminal
                    time.sleep(0.1)
        start, self._read_to = self._read_to, found + len(text)
        return self.shown[start : self._read_to]

    def interrupt_until_exit(self, tries: int = 10) -> int | None:
        """Type Ctrl-C until the child exits; its exit code. More than one may be needed:
        a SIGINT that lands between readline drawing the prompt and waiting for a key is
        only noticed at the next key (a race in CPython's readline module)."""
        for _ in range(tries):
            self.type("\x03")
            try:
                return self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                continue
        return None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.fd)


def _wait_until(condition, patience: float = 30.0) -> bool:
    deadline = time.monotonic() + patience
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


@timing_bound
def test_ctrl_c_stops_the_answer_and_the_chat_goes_on(db, fake):
    fake.piece_latency = 0.05  # a slow model: ~600 pieces, half a minute to the end
    fake.chat_reply = "The dome " + "turns slowly " * 300 + "[1]."
    env = {**os.environ, "TERM": "dumb"}
    args = [sys.executable, "-m", "ragkit", "chat", "--db", str(db), "--host", fake.url]
    terminal = Terminal(args, env)
    try:
        terminal.wait_for("> ")
        terminal.type(f"{FIRST}\n")
        terminal.wait_for("turns slowly turns slowly")  # the answer is streaming
        terminal.type("\x03")  # Ctrl-C
        assert "answer stopped" in terminal.wait_for("> ")
        stream = fake.streams[0]
        assert _wait_until(lambda: stream.closed), "the server is still generating"
        assert not stream.finished and stream.sent < stream.lines // 2
        assert terminal.proc.poll() is None  # the chat is still there, the stream is not

        fake.piece_latency, fake.chat_reply = 0.0, "Short answer [1]."
        terminal.type(f"{SECOND}\n")
        assert "Short answer [1]." in terminal.wait_for("> ")
        sent = fake.bodies("/api/chat")[-1]["messages"]
        assert [m["role"] for m in sent] == ["system", "user"]  # the stopped turn was dropped

        assert terminal.interrupt_until_exit() == 0  # Ctrl-C at an empty prompt leaves
        assert "Traceback" not in terminal.shown and terminal.shown.count("answer stopped") == 1
    finally:
        terminal.close()

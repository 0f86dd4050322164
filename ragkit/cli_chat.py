"""Terminal output of answers for `ragkit ask` and the `ragkit chat` loop.

Answers stream to stdout piece by piece; notes and errors go to stderr. An error
mid-answer ends the line first, so the error stands on a line of its own, and
nothing already printed is printed again.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

import click

from .answer import Answer, AnswerStream, Source
from .cli import EXIT_ERROR, EXIT_UNAVAILABLE
from .conversation import Conversation
from .errors import OllamaUnavailable, RagkitError
from .terminal import printable

CHAT_HELP = """\
Ask a question about your documents, or type a command:
  /sources  the sources of the last answer
  /reset    forget the conversation so far
  /help     this help
  /exit     leave (Ctrl-D, or Ctrl-C at the prompt, leave too)
Ctrl-C while an answer is coming stops it; a stopped answer is dropped: the next
question is asked as if it had not been."""


def show_answer(result: Answer | AnswerStream) -> Answer:
    """Print an answer (as it arrives, for a stream), then its cited sources."""
    if isinstance(result, Answer):
        click.echo(printable(result.text))
        final = result
    else:
        final = _stream(result)
    show_cited(final)
    return final


def _stream(stream: AnswerStream) -> Answer:
    printed = False
    try:
        for piece in stream:
            click.echo(printable(piece), nl=False)  # click.echo flushes: each piece shows at once
            printed = printed or bool(piece)
    except BaseException:
        if printed:
            click.echo()
        raise
    click.echo()
    assert stream.answer is not None  # set when the iteration ended without error
    return stream.answer


def show_cited(answer: Answer) -> None:
    """`[n] path:page - Heading` for each cited source; notes on stderr for what looks wrong."""
    if answer.cited:
        click.echo()
        _echo_sources(answer.cited_sources)
    elif answer.sources:
        if not says_not_found(answer.text):
            note("the answer cites none of its sources")
        click.echo()
        _echo_sources(answer.sources, "  (not cited)")
    if answer.invented:
        numbers = ", ".join(f"[{n}]" for n in answer.invented)
        note(f"the answer cites {numbers}, but there were only {len(answer.sources)} sources")
    if answer.done_reason == "length":
        note("the answer was cut off at its length limit (--max-tokens, or the model's own)")
    if answer.skipped:
        note(f"{len(answer.skipped)} more passage(s) did not fit in --num-ctx and were left out")


_NOT_FOUND = re.compile(
    r"\b(?:do(?:es)?\s*(?:not|n[’']t)\s+(?:say|know|contain|mention|cover|include)"
    r"|(?:no|not\s+(?:enough|any))\s+information|(?:cannot|can[’']t|could\s*n[’']t)\s+find)\b",
    re.IGNORECASE,
)


def says_not_found(text: str) -> bool:
    """Whether an answer says the sources do not hold the answer ("the documents do
    not say", "I don't know", "no information about ..."): such an answer has no
    claims to cite, so citing nothing is not worth a note. English phrases only."""
    return bool(_NOT_FOUND.search(text))


def source_line(source: Source, same_label: bool = False) -> str:
    """`[n] path:page - Heading`; the first words of the text as well when another
    source has the same path, page and heading."""
    line = f"[{source.number}] {source.label}"
    if source.heading:
        line += f" - {source.heading}"
    if same_label:
        start = " ".join(source.text.split())
        line += f' "{start[:40]}…"' if len(start) > 40 else f' "{start}"'
    return line


def _echo_sources(sources: Sequence[Source], suffix: str = "") -> None:
    """A `source_line` each, with its first words when another has the same path,
    page and heading."""
    keys = [(s.label, s.heading) for s in sources]
    for source, key in zip(sources, keys, strict=True):
        click.echo(printable(source_line(source, keys.count(key) > 1) + suffix, one_line=True))


def show_sources(sources: Sequence[Source], cited: Sequence[int] = ()) -> None:
    """Every source of an answer, cited ones marked."""
    keys = [(s.label, s.heading) for s in sources]
    for source, key in zip(sources, keys, strict=True):
        mark = "  (cited)" if source.number in cited else ""
        trimmed = "  (trimmed)" if source.trimmed else ""
        line = source_line(source, keys.count(key) > 1) + mark + trimmed
        click.echo(printable(line, one_line=True))


def show_context(messages: Sequence[dict[str, Any]]) -> None:
    """What is sent to the chat model, message by message."""
    if not messages:
        click.echo("(nothing relevant was found, so the chat model is not asked)")
    for message in messages:
        click.echo(f"--- {message['role']} ---")
        click.echo(printable(message["content"]))
    click.echo("--- answer ---")


def note(text: str) -> None:
    click.echo(f"note: {text}", err=True)


def run_chat(conversation: Conversation) -> int:
    """Read questions from stdin until /exit, EOF or Ctrl-C at the prompt; returns the
    exit code: 0 when every turn was answered (or stopped), else EXIT_UNAVAILABLE when
    the last failure was Ollama not answering, EXIT_ERROR for any other failure.
    Ctrl-C during a turn stops that answer and asks for the next question."""
    interactive = sys.stdin.isatty()
    if interactive:
        _line_editing()
        click.echo("ragkit chat: ask about your documents (/help for commands)", err=True)
    failed = 0
    while True:
        try:
            line = input("> " if interactive else "").strip()
        except (EOFError, KeyboardInterrupt):
            if interactive:
                click.echo()
            return failed
        if not line:
            continue
        if line.startswith("/"):
            if not _command(line, conversation):
                return failed
            continue
        failed = _turn(conversation, line, failed)
        if interactive:
            click.echo()


def _turn(conversation: Conversation, line: str, failed: int) -> int:
    """Answer one question; Ctrl-C stops the answer (closing its stream, so Ollama stops
    generating) and drops it. Returns the exit code so far."""
    stream = None
    try:
        stream = conversation.ask(line, stream=True)
        show_answer(stream)
    except KeyboardInterrupt:
        if stream is not None:
            stream.close()
        if stream is None or stream.answer is None:  # else it had ended: it is kept
            note("answer stopped (it is not kept in the conversation)")
    except RagkitError as exc:
        click.echo(f"Error: {printable(str(exc), one_line=True)}", err=True)
        return EXIT_UNAVAILABLE if isinstance(exc, OllamaUnavailable) else EXIT_ERROR
    return failed


def _line_editing() -> None:
    """Arrow keys and history for `input()`, where the platform has readline."""
    try:
        import readline  # noqa: F401  (importing it is what turns line editing on)
    except ImportError:
        pass


def _command(line: str, conversation: Conversation) -> bool:
    """Run a /command; False means leave."""
    name = line.split()[0].lower()
    if name in ("/exit", "/quit", "/q"):
        return False
    if name == "/sources":
        last = conversation.last_answer
        if last is None:
            click.echo("no sources yet")
        elif last.nothing_found:
            click.echo("the last question found nothing relevant in your documents")
        else:
            show_sources(last.sources, last.cited)
    elif name == "/reset":
        conversation.reset()
        click.echo("conversation cleared")
    elif name == "/help":
        click.echo(CHAT_HELP)
    else:
        click.echo(f"unknown command {printable(name)}; /help lists them", err=True)
    return True

"""Multi-turn chat over one index: each question is answered from fresh
retrieval, with the earlier turns sent along as history.

    >>> chat = Conversation(Retriever(), OllamaClient())
    >>> chat.ask("Where does the dome park?").text
    >>> chat.ask("And how long does that take?").cited_sources
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import config
from .answer import (
    DEFAULT_NUM_CTX,
    Answer,
    AnswerStream,
    Source,
    answer,
    content_terms,
    estimate_tokens,
    words,
)

if TYPE_CHECKING:
    from .ollama import OllamaClient
    from .retriever import Retriever

_PRONOUNS = frozenset(
    "it its it's they them their theirs this that these those he him his she her hers "
    "there then one ones such".split()
)
SHORT_QUESTION = 3  # fewer content words than this: a follow-up ("Why?", "And Wren?")
PRONOUN_QUESTION = 6  # fewer than this and a pronoun: a follow-up ("Who built it?")


class Conversation:
    """A multi-turn chat over one index: each question is answered from fresh
    retrieval, with the earlier turns as history.

        >>> chat = Conversation(retriever, OllamaClient())
        >>> chat.ask("Where does the dome park?").text
        >>> chat.ask("And how long does it take?").cited_sources

    A short question, or a shortish one with a pronoun, is searched for together
    with the previous question. The oldest turns are dropped once the history passes
    `max_history_tokens` (default: a quarter of `num_ctx`).
    """

    def __init__(
        self,
        retriever: Retriever,
        client: OllamaClient,
        *,
        model: str | None = None,
        k: int = 5,
        mode: str = "hybrid",
        num_ctx: int = DEFAULT_NUM_CTX,
        options: Mapping[str, Any] | None = None,
        max_history_tokens: int | None = None,
    ) -> None:
        self.retriever, self.client = retriever, client
        self.model = config.chat_model(model)
        self.settings = {"k": k, "mode": mode, "num_ctx": num_ctx, "options": dict(options or {})}
        self.max_history_tokens = max_history_tokens or num_ctx // 4
        self.turns: list[tuple[str, str]] = []  # (question, answer text)
        self.last_answer: Answer | None = None

    def __repr__(self) -> str:
        return f"<Conversation {self.model}: {len(self.turns)} turns>"

    @property
    def history(self) -> list[dict[str, str]]:
        """The kept turns as chat messages, oldest first."""
        return [
            message
            for question, reply in self.turns
            for message in (
                {"role": "user", "content": question},
                {"role": "assistant", "content": reply},
            )
        ]

    @property
    def last_sources(self) -> list[Source]:
        return self.last_answer.sources if self.last_answer else []

    def reset(self) -> None:
        """Forget every turn."""
        self.turns.clear()
        self.last_answer = None

    def search_query(self, question: str) -> str:
        """What to search for: the question, plus the previous one for a follow-up."""
        if not self.turns:
            return question
        size, pronoun = len(content_terms(question)), bool(set(words(question)) & _PRONOUNS)
        if size < SHORT_QUESTION or (pronoun and size < PRONOUN_QUESTION):
            return f"{self.turns[-1][0]} {question}"
        return question

    def ask(self, question: str, *, stream: bool = False) -> Answer | AnswerStream:
        """Answer the next question; with `stream=True` the turn is kept when the stream ends."""
        query, history = self.search_query(question), self.history
        result = answer(
            question,
            self.retriever,
            self.client,
            model=self.model,
            history=history,
            stream=stream,
            query=query,
            **self.settings,
        )
        if isinstance(result, AnswerStream):
            return result.then(self._remember)
        self._remember(result)
        return result

    def _remember(self, result: Answer) -> None:
        self.last_answer = result
        self.turns.append((result.question, result.text))
        self._trim()

    def _trim(self) -> None:
        """Drop the oldest turns until the history fits in `max_history_tokens`."""
        while (
            self.turns
            and sum(estimate_tokens(q) + estimate_tokens(a) + 8 for q, a in self.turns)
            > self.max_history_tokens
        ):
            self.turns.pop(0)

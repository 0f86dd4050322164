"""Multi-turn chat over one index: each question is answered from fresh
retrieval, with the earlier turns sent along as history.

    >>> chat = Conversation(Retriever(), OllamaClient())
    >>> chat.ask("Where does the dome park?").text
    >>> chat.ask("And how long does that take?").cited_sources
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from . import config
from .answer import (
    DEFAULT_NUM_CTX,
    Answer,
    AnswerStream,
    Source,
    answer,
    check_max_tokens,
    content_terms,
    estimate_tokens,
    require_models,
    shorten,
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
TURN_OVERHEAD = 8  # tokens of message framing per turn


class Turn(NamedTuple):
    """One kept turn: what was asked and answered, and what it searched for.

    `topic` is the question that started its thread of follow-ups (the question
    itself when it is not a follow-up).
    """

    question: str
    reply: str
    query: str
    topic: str


class Conversation:
    """A multi-turn chat over one index: each question is answered from fresh
    retrieval, with the earlier turns as history.

        >>> chat = Conversation(retriever, OllamaClient())
        >>> chat.ask("Where does the dome park?").text
        >>> chat.ask("And how long does it take?").cited_sources

    A short question, or a shortish one with a pronoun, is a follow-up: it is searched
    for together with the question that started the thread and the previous one
    ("dome shutter ...", "Who may do it?", "Why?" all search for the dome shutter).
    The oldest turns are dropped once the history passes `max_history_tokens`
    (default: a quarter of `num_ctx`); the newest turn is always kept, its answer
    shortened if it alone is over the budget. `max_tokens` caps each answer's length.
    The models are checked when the conversation starts, so a missing one is known
    before the first question.
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
        max_tokens: int | None = None,
    ) -> None:
        self.retriever, self.client = retriever, client
        self.model = config.chat_model(model)
        self.settings = {"k": k, "mode": mode, "num_ctx": num_ctx, "options": dict(options or {})}
        if max_tokens is not None:
            self.settings["max_tokens"] = check_max_tokens(max_tokens)
        require_models(retriever, client, self.model, mode)
        self.max_history_tokens = max_history_tokens or num_ctx // 4
        self._turns: list[Turn] = []
        self._pending: dict[str, Turn] = {}  # question -> its search, until answered
        self.last_answer: Answer | None = None

    def __repr__(self) -> str:
        return f"<Conversation {self.model}: {len(self.turns)} turns>"

    @property
    def turns(self) -> list[tuple[str, str]]:
        """The kept turns as (question, answer text), oldest first."""
        return [(turn.question, turn.reply) for turn in self._turns]

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
        self._turns.clear()
        self.last_answer = None

    def search_query(self, question: str) -> str:
        """What to search for: the question; for a follow-up, the question that started
        the thread, the previous question, then this one."""
        return self._plan(question).query

    def _plan(self, question: str) -> Turn:
        """The turn `question` would start (without its reply yet)."""
        question = question.strip()
        if not self._turns or not self._is_follow_up(question):
            return Turn(question, "", question, question)
        previous = self._turns[-1]
        parts = dict.fromkeys((previous.topic, previous.question, question))
        return Turn(question, "", " ".join(parts), previous.topic)

    @staticmethod
    def _is_follow_up(question: str) -> bool:
        size, pronoun = len(content_terms(question)), bool(set(words(question)) & _PRONOUNS)
        return size < SHORT_QUESTION or (pronoun and size < PRONOUN_QUESTION)

    def ask(self, question: str, *, stream: bool = False) -> Answer | AnswerStream:
        """Answer the next question; with `stream=True` the turn is kept when the stream ends."""
        plan, history = self._plan(question), self.history
        query = plan.query
        self._pending[plan.question] = plan
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
        plan = self._pending.pop(result.question, None) or self._plan(result.question)
        self._turns.append(plan._replace(reply=result.text))
        self._trim()

    def _trim(self) -> None:
        """Drop the oldest turns until the history fits in `max_history_tokens`; the
        newest turn always stays, its answer shortened if it alone is over budget."""

        def cost(turn: Turn) -> int:
            return estimate_tokens(turn.question) + estimate_tokens(turn.reply) + TURN_OVERHEAD

        while len(self._turns) > 1 and sum(map(cost, self._turns)) > self.max_history_tokens:
            self._turns.pop(0)
        if self._turns and cost(last := self._turns[-1]) > self.max_history_tokens:
            room = self.max_history_tokens - estimate_tokens(last.question) - TURN_OVERHEAD
            self._turns[-1] = last._replace(reply=shorten(last.reply, max(room, 1)))

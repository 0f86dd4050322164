"""Words of a query or a passage: the shared notion of which words carry meaning
(used to highlight matches, judge relevance and spot follow-up questions)."""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
STOPWORDS = frozenset(
    """a about after again all also am an and any are as at be been before being between both
    but by can could did do does doing done during each else ever every few for from get got
    had has have how i if in into is it its just kind like long many may me might more most
    much must my name named no nor not now of off on once one only or other our out over own
    same shall should so some such tell than that the their them then there these they this
    those through to too under until up use used very was way we were what when where which
    while who whom whose why will with would you your exactly""".split()
)


def words(text: str) -> list[str]:
    """Lowercased words, possessive `'s` dropped."""
    return [re.sub(r"['’]s$", "", w) for w in WORD.findall(text.lower())]


def meaningful_words(text: str) -> list[str]:
    """The words of a query that are not stopwords (short ones such as `os` count);
    empty for "the and of" or "???", which say nothing about what to look for."""
    return [w for w in words(text) if w not in STOPWORDS]


def content_terms(text: str) -> list[str]:
    """The words of a question that carry its meaning: no stopwords, no 1-2 letter words."""
    kept = (w for w in words(text) if w not in STOPWORDS and (len(w) > 2 or w.isdigit()))
    return list(dict.fromkeys(kept))

"""Mail: one .eml message, or every message of an .mbox.

A message becomes its From, To, Cc, Date and Subject lines, then its body (the
plain-text part, else the HTML part as text), then the names of its attachments,
which are not read. The subject is its title and its heading.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser

from .parts import Budget, Extract, tidy

HEADERS = ("From", "To", "Cc", "Date", "Subject")
_FROM_LINE = re.compile(rb"^From [^\n]*\n?", re.MULTILINE)
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)

HtmlToText = Callable[[str], str]


def read_eml(budget: Budget, data: bytes, html_text: HtmlToText) -> Extract:
    extract = _message(budget, data, html_text)
    if extract is None:
        raise budget.fail("not an email message (no headers, no body)", "--exclude it")
    return extract


def read_mbox(budget: Budget, data: bytes, html_text: HtmlToText) -> list[Extract]:
    """One `Extract` per message, in file order (message N is `path#N`)."""
    starts = list(_FROM_LINE.finditer(data))
    if not starts or starts[0].start() != 0:
        raise budget.fail(
            "not an mbox file (it does not start with a 'From ' line)", "--exclude it"
        )
    messages = []
    for number, line in enumerate(starts):
        budget.check_time(f"message {number + 1} of {len(starts)}")
        end = starts[number + 1].start() if number + 1 < len(starts) else len(data)
        raw = _QUOTED_FROM.sub(rb"\1", data[line.end() : end])
        extract = _message(budget, raw, html_text)
        messages.append(extract or Extract(text="(empty message)"))
    return messages


def _message(budget: Budget, data: bytes, html_text: HtmlToText) -> Extract | None:
    """A message's headers, body and attachment names as text; None if it has none."""
    message = BytesParser(policy=policy.compat32).parsebytes(data)  # 10x faster than default
    headers = ((name, _header(message, name)) for name in HEADERS)
    lines = [f"{name}: {value}" for name, value in headers if value]
    body, attachments = _body_and_attachments(message, html_text)
    parts = ["\n".join(lines), body]
    if attachments:
        parts.append("Attachments (not indexed): " + ", ".join(attachments))
    text = "\n\n".join(part for part in parts if part)
    if not text:
        return None
    budget.add_text(len(text))
    subject = _header(message, "Subject") or None
    headings = ((0, 1, subject),) if subject else None
    return Extract(text=text, title=subject, headings=headings)


def _header(message: Message, name: str) -> str:
    """A header's text, RFC 2047 encoded words decoded, on one line."""
    value = message.get(name)
    return "" if value is None else _words(str(value))


def _words(value: str) -> str:
    """`=?utf-8?q?...?=` encoded words decoded (kept as they are if broken), one line."""
    try:
        value = str(make_header(decode_header(value)))
    except (HeaderParseError, UnicodeError, LookupError, ValueError):
        pass
    return " ".join(value.split())


def _leaves(part: Message) -> Iterator[Message]:
    """The non-multipart parts, in order; an attached message is one leaf."""
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        for child in part.get_payload():
            yield from _leaves(child)
    else:
        yield part


def _body_and_attachments(message: Message, html_text: HtmlToText) -> tuple[str, list[str]]:
    """The first plain-text part (else the first HTML part, as text), and the names of
    the attachments."""
    plain = html = None
    attachments = []
    for part in _leaves(message):
        disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
        name = part.get_filename()
        kind = part.get_content_type()
        if name or disposition == "attachment" or not kind.startswith("text/"):
            attachments.append(_words(name) if name else kind)
        elif kind == "text/plain" and plain is None:
            plain = part
        elif kind == "text/html" and html is None:
            html = part
    chosen = plain if plain is not None else html
    if chosen is None:
        return "", attachments
    text = _decoded(chosen)
    text = html_text(text) if chosen is html else text
    return tidy(text.replace("\r\n", "\n").replace("\r", "\n")), attachments


def _decoded(part: Message) -> str:
    """A part's payload, transfer encoding undone, in its charset (UTF-8 if unknown)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return payload.decode("utf-8", errors="replace")

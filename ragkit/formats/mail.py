"""Mail: one .eml message, or every message of an .mbox.

A message becomes its From, To, Cc, Date and Subject lines, then its body (the
plain-text part, else the HTML part as text), then the names of its attachments,
which are not read. The subject is its title and its heading.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
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
    message = BytesParser(policy=policy.default).parsebytes(data)
    lines = [f"{name}: {_header(message, name)}" for name in HEADERS if _header(message, name)]
    body = _body(message, html_text)
    attachments = _attachment_names(message)
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


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, AttributeError, TypeError):  # too broken to parse
        value = ""
    return " ".join(str(value or "").split())


def _body(message: EmailMessage, html_text: HtmlToText) -> str:
    """The plain-text body, else the HTML body as text."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except (KeyError, ValueError, AttributeError):
        part = None
    if part is None:
        return ""
    text = _content(part)
    if part.get_content_subtype() == "html":
        text = html_text(text)
    return tidy(text.replace("\r\n", "\n").replace("\r", "\n"))


def _content(part: EmailMessage) -> str:
    try:
        return str(part.get_content())
    except (LookupError, ValueError, AssertionError):  # an unknown charset, a broken encoding
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""


def _attachment_names(message: EmailMessage) -> list[str]:
    try:
        parts = list(message.iter_attachments())
    except (KeyError, ValueError, AttributeError):
        return []
    return [part.get_filename() or part.get_content_type() for part in parts]

"""How errors read: the hint is a sentence of its own after the message's full stop."""

from __future__ import annotations

import ast
from pathlib import Path

from ragkit.errors import ConfigError, DocumentError, RagkitError

RAGKIT = Path(__file__).resolve().parent.parent / "ragkit"


def test_a_hint_starts_with_a_capital_after_the_full_stop():
    error = ConfigError("notes does not exist", hint="check the spelling")
    assert str(error) == "notes does not exist. Check the spelling"
    assert error.hint == "Check the spelling"  # also where callers join it themselves
    assert str(DocumentError("a.pdf", "PDF is encrypted", hint="decrypt it")).endswith(
        "encrypted. Decrypt it"
    )
    assert str(RagkitError("plain")) == "plain"
    assert str(RagkitError("odd", hint="`ragkit pull x`")) == "odd. `ragkit pull x`"


def _literal_start(node: ast.expr) -> str | None:
    """The first characters of a string literal or f-string, if it begins with text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        return _literal_start(node.values[0])
    return None


def test_every_hint_written_in_ragkit_starts_with_a_capital():
    lowercase = []
    for path in RAGKIT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "hint":
                text = _literal_start(node.value)
                if text and text[0].islower():
                    lowercase.append(f"{path.name}:{node.lineno}: {text[:40]}")
    assert not lowercase

"""Readers for container formats: office files, e-books, mail and notebooks.

    extracts = read_format("docx", path, data, max_bytes=..., max_seconds=...,
                           html_text=...)          # raises DocumentError

Standard library only (zipfile, xml.etree without DTDs, email, json). What a
file may unpack to and yield is bounded by `parts.Budget`. `readers.py` is the
front door: it maps extensions here and turns each `Extract` into a `Document`.
An .mbox gives one `Extract` per message; every other format exactly one.
"""

from __future__ import annotations

from pathlib import Path

from ragkit.errors import DocumentError

from .epub import read_epub
from .mail import HtmlToText, read_eml, read_mbox
from .notebook import read_ipynb
from .office import read_docx, read_pptx, read_xlsx
from .opendoc import read_opendocument
from .parts import Budget, Extract

TYPE_BY_EXTENSION: dict[str, str] = {
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".odt": "odt",
    ".odp": "odp",
    ".ods": "ods",
    ".epub": "epub",
    ".eml": "email",
    ".mbox": "mbox",
    ".ipynb": "notebook",
}
KINDS = frozenset(TYPE_BY_EXTENSION.values())

__all__ = ["KINDS", "TYPE_BY_EXTENSION", "Extract", "read_format"]


def read_format(
    kind: str,
    path: Path,
    data: bytes,
    *,
    max_bytes: int | None,
    max_seconds: float | None,
    html_text: HtmlToText,
    include_outputs: bool = False,
) -> list[Extract]:
    """The text of a file of one of `KINDS`; `html_text` turns a mail's HTML body into text."""
    if not data:
        if kind == "mbox":
            return []  # an emptied mail folder: no messages, nothing wrong
        raise DocumentError(path, f"file is empty, not a {kind} file", hint="--exclude it")
    budget = Budget.for_file(path, len(data), max_bytes, max_seconds)
    if kind == "mbox":
        return read_mbox(budget, data, html_text)
    if kind == "email":
        return [read_eml(budget, data, html_text)]
    if kind == "notebook":
        return [read_ipynb(budget, data, include_outputs=include_outputs)]
    if kind in ("odt", "odp", "ods"):
        return [read_opendocument(budget, data, kind)]
    readers = {"docx": read_docx, "pptx": read_pptx, "xlsx": read_xlsx, "epub": read_epub}
    return [readers[kind](budget, data)]

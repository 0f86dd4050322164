"""Jupyter notebooks (.ipynb, nbformat 4): markdown and code cells in order, the
markdown cells' headings as headings, and (only if asked) the text of outputs."""

from __future__ import annotations

import json

from ragkit.markdown import headings as markdown_headings

from .office import no_text
from .parts import Budget, Extract, TextBuilder

_TEXT_OUTPUTS = ("text/plain", "text/markdown")


def read_ipynb(budget: Budget, data: bytes, *, include_outputs: bool = False) -> Extract:
    notebook = _load(budget, data)
    out = TextBuilder(budget)
    cells = notebook["cells"] if isinstance(notebook["cells"], list) else []
    for number, cell in enumerate(cells, 1):
        if number % 100 == 0:
            budget.check_time(f"cell {number} of {len(cells)}")
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("markdown", "code"):
            continue
        source = _joined(cell.get("source")).strip()
        start = out.paragraph(source)
        if cell["cell_type"] == "markdown":
            for offset, level, title in markdown_headings(source):
                out.heading(level, title, at=start + offset)
        elif include_outputs and (outputs := _outputs_text(cell)):
            out.paragraph("Output:\n" + outputs)
    if out.empty():
        raise no_text(budget, "notebook")
    metadata = notebook.get("metadata")
    title = metadata.get("title") if isinstance(metadata, dict) else None
    return out.result(title.strip() if isinstance(title, str) and title.strip() else None)


def _outputs_text(cell: dict) -> str:
    outputs = cell.get("outputs")
    texts = (
        [_output_text(o) for o in outputs if isinstance(o, dict)]
        if isinstance(outputs, list)
        else []
    )
    return "\n".join(text for text in texts if text)


def _load(budget: Budget, data: bytes) -> dict:
    try:
        notebook = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise budget.fail(f"not a readable notebook (not JSON: {exc})", "--exclude it") from exc
    if not isinstance(notebook, dict):
        raise budget.fail("not a Jupyter notebook (its JSON is not an object)", "--exclude it")
    if "cells" not in notebook:
        version = notebook.get("nbformat", "unknown")
        raise budget.fail(
            f"notebook format {version} is not read (only nbformat 4)",
            "Open and save it in a current Jupyter to convert it",
        )
    return notebook


def _joined(source: object) -> str:
    """A cell's source or an output's text: a string or a list of lines."""
    if isinstance(source, str):
        return source
    if isinstance(source, list):
        return "".join(line for line in source if isinstance(line, str))
    return ""


def _output_text(output: dict) -> str:
    """Streams, results and errors as text; images and HTML are left out."""
    kind = output.get("output_type")
    if kind == "stream":
        return _joined(output.get("text")).strip()
    if kind == "error":
        return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    data = output.get("data")
    if isinstance(data, dict):
        return next((_joined(data[key]).strip() for key in _TEXT_OUTPUTS if key in data), "")
    return ""

"""Output of `ragkit ls` (the documents grouped under the folders they were indexed
from, a summary line per folder, then a line per document) and of `ragkit watch`."""

from __future__ import annotations

import os
from collections.abc import Sequence

import click

from .catalog import IndexedDocument
from .terminal import human_bytes, json_text, printable
from .watch import WatchEvent


def show_documents(documents: Sequence[IndexedDocument]) -> None:
    """Print each root folder's summary and its documents; a note when there are none."""
    if not documents:
        click.echo("no documents indexed (add some with `ragkit index FOLDER`)")
        return
    for root, group in group_by_root(documents).items():
        click.echo(printable(_summary(root, group), one_line=True))
        rows = [_row(root, doc) for doc in group]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
            click.echo(printable("  " + "  ".join(cells).rstrip(), one_line=True))


def group_by_root(documents: Sequence[IndexedDocument]) -> dict[str, list[IndexedDocument]]:
    """The documents under each outermost folder that directly holds one of them."""
    folders = sorted({os.path.dirname(doc.path) for doc in documents})
    roots: list[str] = []
    for folder in folders:
        if not roots or not (folder + os.sep).startswith(os.path.join(roots[-1], "")):
            roots.append(folder)
    groups: dict[str, list[IndexedDocument]] = {root: [] for root in roots}
    for doc in documents:
        root = max((r for r in roots if doc.path.startswith(os.path.join(r, ""))), key=len)
        groups[root].append(doc)
    return groups


def _summary(root: str, group: list[IndexedDocument]) -> str:
    count = len(group)
    chunks = sum(doc.chunks for doc in group)
    size = human_bytes(sum(doc.size for doc in group))
    states = [f"{n} {s}" for s in ("changed", "missing") if (n := _count(group, s))]
    tail = f"; {', '.join(states)} on disk" if states else ""
    documents = f"{count} document{'' if count == 1 else 's'}"
    return f"{root}: {documents}, {chunks} chunk{'' if chunks == 1 else 's'}, {size}{tail}"


def _count(group: list[IndexedDocument], state: str) -> int:
    return sum(1 for doc in group if doc.state == state)


def _row(root: str, doc: IndexedDocument) -> list[str]:
    """name, type, size, chunks, pages, when indexed, and the state if not as indexed."""
    return [
        os.path.relpath(doc.path, root),
        doc.type or "-",
        human_bytes(doc.size),
        f"{doc.chunks} chunk{'' if doc.chunks == 1 else 's'}",
        f"{doc.pages} page{'' if doc.pages == 1 else 's'}" if doc.pages else "",
        doc.indexed_at.replace("T", " ")[:16],
        "" if doc.state == "indexed" else doc.state,
    ]


def show_watch_event(event: WatchEvent, *, as_json: bool, quiet: bool) -> None:
    """One line per event: a JSON object on stdout with --json; else failures and waits
    on stderr, the rest on stdout unless --quiet. File names are shown escaped."""
    if as_json:
        click.echo(json_text(event.to_dict(), indent=None))
        return
    to_stderr = event.kind in ("failed", "waiting", "resumed")
    if to_stderr or not quiet:
        click.echo(printable(str(event), one_line=True), err=to_stderr)

"""`ragkit ls` output: the documents grouped under the folders they were indexed from,
a summary line per folder, then a line per document."""

from __future__ import annotations

import os
from collections.abc import Sequence

import click

from .catalog import IndexedDocument
from .terminal import human_bytes, printable


def show_documents(documents: Sequence[IndexedDocument]) -> None:
    """Print each root folder's summary and its documents; a note when there are none."""
    if not documents:
        click.echo("no documents indexed (add some with `ragkit index FOLDER`)")
        return
    for root, group in group_by_root(documents).items():
        click.echo(printable(_summary(root, group), one_line=True))
        for doc in group:
            click.echo(printable(_row(root, doc), one_line=True))


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
    return f"{root}: {count} document{'' if count == 1 else 's'}, {chunks} chunks, {size}{tail}"


def _count(group: list[IndexedDocument], state: str) -> int:
    return sum(1 for doc in group if doc.state == state)


def _row(root: str, doc: IndexedDocument) -> str:
    pages = f"{doc.pages} pages" if doc.pages else ""
    state = "" if doc.state == "indexed" else doc.state
    when = doc.indexed_at.replace("T", " ")[:16]
    name = os.path.relpath(doc.path, root)
    return (
        f"  {name}  {doc.type or '-'}  {human_bytes(doc.size)}  {doc.chunks} chunks"
        f"  {pages}  {when}  {state}".rstrip()
    )

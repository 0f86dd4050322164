"""The records the store takes and gives back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class ChunkLike(Protocol):
    """What `replace_document` needs of a chunk (`ragkit.chunking.Chunk` fits)."""

    @property
    def seq(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def page(self) -> int | None: ...
    @property
    def heading(self) -> str | None: ...


@dataclass(frozen=True)
class DocumentInfo:
    """An indexed document as ingest sees it: enough to skip, replace or prune."""

    id: int
    path: str
    hash: str
    size: int
    mtime: float
    type: str | None
    title: str | None
    chunks: int


@dataclass(frozen=True)
class NewDocument:
    """A document about to be written by `Store.replace_document`."""

    path: str
    hash: str
    size: int
    mtime: float
    type: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class ChunkRow:
    """A stored chunk with its document's path and title, as the retriever shows it."""

    id: int
    document_id: int
    path: str
    title: str | None
    seq: int
    text: str
    page: int | None
    start: int
    end: int
    heading: str | None


@dataclass(frozen=True)
class IdSummary:
    """What a copy of the embeddings must agree with: the chunk ids' count and range, and
    the raw embeddings of a few sample chunks, all read at one generation."""

    generation: int
    count: int
    lowest: int | None
    highest: int | None
    samples: dict[int, np.ndarray]

"""Paced answer streams for the fake Ollama: a pause between pieces, as a model
generating on a CPU makes, and a record of how far each stream got.

`Pacing` is mixed into `FakeOllama`. With `piece_latency` set, a chat or generate
stream waits that long before each piece after the first. `streams` then tells
whether the client read a stream to its end or closed it early: a client that
closes the connection makes the next write fail, so the stream stops there
instead of generating the rest.

    fake.piece_latency = 0.05
    ...  # a client reads a few pieces, then closes the connection
    fake.streams[-1].finished is False and fake.streams[-1].closed
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class StreamRecord:
    """How far one answer stream got."""

    lines: int  # lines the stream would send in all, the closing one included
    sent: int = 0  # lines handed to the connection (the last may have failed to go out)
    finished: bool = False  # every line went out
    closed: bool = False  # the server is done with it, finished or abandoned


class Pacing:
    """`piece_latency` and the `streams` log; the host calls `_clear_pacing` on reset."""

    _lock: threading.Lock  # these two come from `Faults`
    _sleep: Callable[[float], None]

    def _clear_pacing(self) -> None:
        self.piece_latency: float = 0.0
        self.streams: list[StreamRecord] = []

    def paced(self, lines: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """`lines`, `piece_latency` apart, each stream logged in `streams`."""
        lines = list(lines)
        record = StreamRecord(len(lines))
        with self._lock:
            self.streams.append(record)
        try:
            for number, line in enumerate(lines):
                if number and self.piece_latency:
                    self._sleep(self.piece_latency)
                record.sent += 1
                yield line
            record.finished = True
        finally:
            record.closed = True

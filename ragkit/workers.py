"""A few daemon threads for requests that may be abandoned.

`concurrent.futures.ThreadPoolExecutor` joins its threads when the interpreter
exits, so after Ctrl-C or an error the process waited for every request already
sent to Ollama (up to `--timeout` each). These threads are daemons: nobody waits
for them, and a request still in flight when the caller gives up is dropped with
the process.

    >>> with Workers(3) as workers:
    ...     future = workers.submit(client.embed_batch, texts, model)
    ...     vectors = future.result()
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Self

_STOP = None  # put once per thread: it ends when it takes this


class Workers:
    """`count` daemon threads running submitted calls; results come back as `Future`s
    (so `concurrent.futures.wait` works on them)."""

    def __init__(self, count: int, *, name: str = "ragkit-worker") -> None:
        self._jobs: queue.SimpleQueue[tuple[Future, Callable, tuple] | None] = queue.SimpleQueue()
        self._count = max(1, count)
        for n in range(self._count):
            threading.Thread(target=self._work, name=f"{name}-{n}", daemon=True).start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run `fn(*args)` on a free thread; its result or exception goes to the future."""
        future: Future = Future()
        self._jobs.put((future, fn, args))
        return future

    def close(self) -> None:
        """Cancel calls not started yet and let the threads end; never waits for a call
        that is running (its thread ends when it returns, or with the process)."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not _STOP:
                job[0].cancel()
        for _ in range(self._count):
            self._jobs.put(_STOP)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)
            else:
                future.set_result(result)

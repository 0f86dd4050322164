"""Misbehaviour switches, the request log and embed busy-time accounting of the fake Ollama.

`Faults` is mixed into `FakeOllama`. Every switch arms a `Pending` entry that the
next matching request (or stream, or embed) consumes; `reset()` disarms them all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from tests.fake_ollama_http import Aborted, StreamFault

INFERENCE = ("/api/embed", "/api/embeddings", "/api/chat", "/api/generate")
Logged = tuple[str, str, dict[str, Any] | None]


@dataclass
class Pending:
    """One armed misbehaviour; `count` requests left, optionally only on `path`."""

    kind: str  # fail | fail_after | hang | drop | malformed | error | stall | wrong_dim | ...
    count: int = 1
    path: str | None = None
    status: int = 0
    body: Any = None
    seconds: float = 0.0
    after_lines: int = 0
    message: str = ""


class Faults:
    """Switches, log and accounting; the host class calls `_init_faults` then `_clear_faults`."""

    per_text_latency: float
    serialize: bool

    def _init_faults(self) -> None:
        self._lock = threading.Lock()
        self._gpu = threading.Lock()  # held by embed jobs when `serialize` is on
        self._stopping = threading.Event()  # set by stop(): waits end, requests drop

    def _clear_faults(self) -> None:
        with self._lock:
            self.requests: list[Logged] = []
            self._pending: list[Pending] = []
            self._busy, self._busy_since, self._active = 0.0, 0.0, 0
            self._hanging = 0
            self.peak_concurrency = 0
            self.embedded_texts = 0
            self._load_seconds, self._loaded_at = 0.0, None

    def _log(self, method: str, path: str, body: Any) -> None:
        if not path.startswith("/_fake/"):
            with self._lock:
                self.requests.append((method, path, body if isinstance(body, dict) else None))

    def count(self, path: str, method: str | None = None) -> int:
        """How many logged requests went to `path` (and `method`, if given)."""
        return sum(1 for m, p, _ in self.requests if p == path and method in (None, m))

    def bodies(self, path: str) -> list[dict[str, Any] | None]:
        """The JSON bodies of the logged requests to `path`, oldest first."""
        return [body for _, p, body in self.requests if p == path]

    @property
    def hanging(self) -> int:
        """Requests held by `hang_next` right now: a client that gave up on one, or did
        not wait for it, returns while this is still 1 (an order, not a time)."""
        with self._lock:
            return self._hanging

    @property
    def busy_seconds(self) -> float:
        """Wall time during which at least one embed request was being processed."""
        with self._lock:
            running = time.perf_counter() - self._busy_since if self._active else 0.0
            return self._busy + running

    @property
    def active_embeds(self) -> int:
        """Embed requests being worked on right now (in their per-text latency)."""
        with self._lock:
            return self._active

    def fail_next(
        self, n: int = 1, status: int = 503, body: Any = None, path: str | None = None
    ) -> None:
        """The next `n` requests (to `path`, if given) get `status` with an Ollama-like body."""
        self._arm(Pending("fail", n, path, status=status, body=body))

    def fail_after(
        self, n: int, status: int = 500, body: Any = None, path: str | None = None
    ) -> None:
        """After `n` more inference requests (embed, embeddings, chat, generate; or requests
        to `path`) go through, every later one fails with `status` until `reset()`."""
        self._arm(Pending("fail_after", n, path, status=status, body=body))

    def hang_next(self, seconds: float, path: str | None = None) -> None:
        """The next request (to `path`, if given) waits `seconds` before it is handled."""
        self._arm(Pending("hang", 1, path, seconds=seconds))

    def drop_next_stream(self, after_lines: int = 2) -> None:
        """The next stream sends `after_lines` lines, then the socket closes mid-body."""
        self._arm(Pending("drop", after_lines=after_lines))

    def malformed_next_stream(self, after_lines: int = 1) -> None:
        """The next stream sends a line that is not JSON after `after_lines` lines."""
        self._arm(Pending("malformed", after_lines=after_lines))

    def error_next_stream(self, message: str, after_lines: int = 1) -> None:
        """The next stream sends `{"error": message}` after `after_lines` lines, then ends."""
        self._arm(Pending("error", after_lines=after_lines, message=message))

    def stall_next_stream(self, seconds: float, after_lines: int = 1) -> None:
        """The next stream goes quiet for `seconds` after `after_lines` lines, then goes on."""
        self._arm(Pending("stall", after_lines=after_lines, seconds=seconds))

    def wrong_dimension_next(self) -> None:
        """The next embed answers vectors one element short."""
        self._arm(Pending("wrong_dim"))

    def wrong_count_next(self) -> None:
        """The next `/api/embed` answers one vector fewer than it was sent texts."""
        self._arm(Pending("wrong_count"))

    @contextmanager
    def holding_embeds(self) -> Iterator[None]:
        """Embed requests wait until the block ends (a one-GPU server busy elsewhere)."""
        serialize, self.serialize = self.serialize, True
        try:
            with self._gpu:
                yield
        finally:
            self.serialize = serialize

    def load_slowly(self, seconds: float) -> None:
        """The embedding model is not loaded yet: the next embed starts a load of `seconds`,
        and it and every embed arriving meanwhile wait for it, as with Ollama. A client that
        gives up does not stop the load; once loaded, embeds are served as usual."""
        with self._lock:
            self._load_seconds, self._loaded_at = seconds, None

    def _wait_for_load(self) -> None:
        with self._lock:
            if self._load_seconds <= 0:
                return
            if self._loaded_at is None:
                self._loaded_at = time.monotonic() + self._load_seconds
            left = self._loaded_at - time.monotonic()
        self._sleep(left)

    def _arm(self, pending: Pending) -> None:
        with self._lock:
            self._pending.append(pending)

    def _take(self, kinds: tuple[str, ...], path: str | None = None) -> Pending | None:
        with self._lock:
            return self._take_locked(kinds, path)

    def _take_locked(self, kinds: tuple[str, ...], path: str | None) -> Pending | None:
        for p in self._pending:
            if p.kind in kinds and p.path in (None, path):
                p.count -= 1
                if p.count <= 0:
                    self._pending.remove(p)
                return p
        return None

    def _hang(self, path: str) -> None:
        """Hold this request if a hang is armed for it; counted in `hanging` from the
        moment it is taken (under the lock), so no later request can overtake the count."""
        with self._lock:
            hang = self._take_locked(("hang",), path)
            if hang is None:
                return
            self._hanging += 1
        try:
            self._sleep(hang.seconds)
        finally:
            with self._lock:
                self._hanging -= 1

    def _broken(self, path: str) -> Pending | None:
        """The armed `fail_after` once its allowance is used up (it stays armed)."""
        with self._lock:
            for p in self._pending:
                if p.kind == "fail_after" and path in ((p.path,) if p.path else INFERENCE):
                    if p.count <= 0:
                        return p
                    p.count -= 1
        return None

    def take_stream_fault(self) -> StreamFault | None:
        """The armed stream misbehaviour for the stream about to start, if any."""
        p = self._take(("drop", "malformed", "error", "stall"))
        return StreamFault(p.kind, p.after_lines, p.message, p.seconds) if p else None

    def _sleep(self, seconds: float) -> None:
        """Wait, unless the server stops first (then drop the request)."""
        if seconds > 0 and self._stopping.wait(seconds):
            raise Aborted

    @contextmanager
    def _embedding(self, n: int) -> Iterator[None]:
        """One embed job: a model load, the GPU lock if `serialize`, per-text latency,
        busy accounting."""
        self._wait_for_load()
        with self._gpu if self.serialize else nullcontext():
            with self._lock:
                if self._active == 0:
                    self._busy_since = time.perf_counter()
                self._active += 1
                self.peak_concurrency = max(self.peak_concurrency, self._active)
            done = 0
            try:
                self._sleep(self.per_text_latency * n)
                yield
                done = n
            finally:
                with self._lock:
                    self.embedded_texts += done
                    self._active -= 1
                    if self._active == 0:
                        self._busy += time.perf_counter() - self._busy_since

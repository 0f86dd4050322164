"""The models, loaded once per process by llama.cpp (`xllamacpp`), in this process.

`Engine` loads every model at start and keeps it; each request takes one of the
model's `parallel` slots (like `OLLAMA_NUM_PARALLEL`) and waits for one when all
are busy; past `max_queue` waiting requests it is refused with a 503, as Ollama
refuses them. Errors leave as `ApiError(status, message)`, which `api.py` sends as
Ollama's `{"error": message}` body.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import xllamacpp as xlc

from .models import ModelSpec

DEFAULT_PARALLEL = 1  # requests a model works on at once (OLLAMA_NUM_PARALLEL)
DEFAULT_MAX_QUEUE = 512  # requests waiting for a slot before a 503 (OLLAMA_MAX_QUEUE)
DEFAULT_NUM_CTX = 8192  # tokens of context per chat slot: SmolLM2's training length
EMBED_CTX = 512  # tokens per embedded text: MiniLM's position limit
_SAMPLING = {  # Ollama option -> llama.cpp request field
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "seed": "seed",
    "stop": "stop",
    "repeat_penalty": "repeat_penalty",
    "repeat_last_n": "repeat_last_n",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}


class ApiError(Exception):
    """A request the server answers with an HTTP error status and Ollama's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Completion:
    """A finished answer: its text, why it stopped, and Ollama's statistics."""

    text: str
    done_reason: str
    stats: dict[str, int] = field(default_factory=dict)


@dataclass
class _Loaded:
    spec: ModelSpec
    server: Any  # xllamacpp.Server
    slots: threading.BoundedSemaphore
    load_seconds: float


class Engine:
    """Every served model, loaded once; thread-safe."""

    def __init__(
        self,
        models: Mapping[str, ModelSpec],
        *,
        parallel: int = DEFAULT_PARALLEL,
        max_queue: int = DEFAULT_MAX_QUEUE,
        num_ctx: int = DEFAULT_NUM_CTX,
        threads: int | None = None,
    ) -> None:
        self.parallel, self.max_queue, self.num_ctx = parallel, max_queue, num_ctx
        # Half the CPUs: llama.cpp's threads wait for each other, so on a busy machine
        # more threads than free cores is slower than fewer.
        self.threads = threads or max(1, (os.cpu_count() or 2) // 2)
        self._waiting = self._active = self.requests = 0
        self._busy_since, self._busy = 0.0, 0.0
        self._lock = threading.Lock()
        self.models = {name: self._load(spec) for name, spec in models.items()}

    def _load(self, spec: ModelSpec) -> _Loaded:
        started = time.monotonic()
        server = xlc.Server(self._params(spec))
        slots = threading.BoundedSemaphore(self.parallel)
        return _Loaded(spec, server, slots, time.monotonic() - started)

    def _params(self, spec: ModelSpec) -> Any:
        params = xlc.CommonParams()
        params.model.path = str(spec.path)
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = self.threads
        params.verbosity = -1
        params.n_parallel = self.parallel
        if spec.kind == "embed":
            params.embedding = True
            params.n_ctx = EMBED_CTX * self.parallel
            params.n_batch = params.n_ubatch = EMBED_CTX  # a whole text in one ubatch
            params.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
        else:
            params.n_ctx = self.num_ctx * self.parallel
        return params

    def get(self, name: Any, kind: str | None = None, what: str = "") -> _Loaded:
        """The loaded model `name` (`x` is `x:latest`); 404 or 400 as Ollama answers."""
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "model is required")
        loaded = self.models.get(with_tag(name))
        if loaded is None:
            raise ApiError(404, f'model "{name}" not found, try pulling it first')
        if kind and loaded.spec.kind != kind:
            raise ApiError(400, f'"{name}" does not support {what}')
        return loaded

    @property
    def busy_seconds(self) -> float:
        """Seconds during which at least one request was inside a model."""
        with self._lock:
            ongoing = time.monotonic() - self._busy_since if self._active else 0.0
            return self._busy + ongoing

    def _started(self) -> None:
        with self._lock:
            self._waiting -= 1
            self._active += 1
            self.requests += 1
            if self._active == 1:
                self._busy_since = time.monotonic()

    def _ended(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0:
                self._busy += time.monotonic() - self._busy_since

    def _slot(self, loaded: _Loaded) -> _Slot:
        with self._lock:
            if self._waiting >= self.max_queue:
                raise ApiError(
                    503, "server busy, please try again.  maximum pending requests exceeded"
                )
            self._waiting += 1
        return _Slot(self, loaded.slots)

    # -- embeddings --------------------------------------------------------

    def embed(
        self, name: str, texts: Sequence[str], *, normalize: bool = True, truncate: bool = True
    ) -> tuple[list[list[float]], int]:
        """(one vector per text, prompt tokens). A text over EMBED_CTX tokens is cut to
        fit when `truncate` (Ollama's default), else refused with a 400."""
        loaded = self.get(name, "embed", "embeddings")
        request = {"input": list(texts), "embd_normalize": 2 if normalize else -1}
        with self._slot(loaded):
            reply = loaded.server.handle_embeddings(request)
            if _error(reply) and "too large" in _error(reply):
                if not truncate:
                    raise ApiError(400, "input length exceeds the context length")
                return self._embed_one_by_one(loaded, texts, request["embd_normalize"])
        return _vectors(reply), _usage(reply)

    def _embed_one_by_one(self, loaded: _Loaded, texts: Sequence[str], norm: int):
        """Each text alone, a too long one halved until it fits (at most ~12 halvings)."""
        vectors, tokens = [], 0
        for text in texts:
            while True:
                reply = loaded.server.handle_embeddings({"input": [text], "embd_normalize": norm})
                if not (_error(reply) and "too large" in _error(reply)) or len(text) < 2:
                    break
                text = text[: len(text) // 2]
            vectors += _vectors(reply)
            tokens += _usage(reply)
        return vectors, tokens

    # -- chat and generate -------------------------------------------------

    def complete(
        self,
        name: str,
        request: dict[str, Any],
        *,
        raw: bool = False,
        on_piece: Callable[[str], None] | None = None,
    ) -> Completion:
        """Run a chat (`request["messages"]`) or, with `raw`, a plain completion
        (`request["prompt"]`); each piece of text goes to `on_piece` as it comes.
        An exception from `on_piece` (the client went away) stops the generation."""
        loaded = self.get(name, "chat", "generate" if raw else "chat")
        call = loaded.server.handle_completions if raw else loaded.server.handle_chat_completions
        started = time.monotonic()
        if on_piece is None:
            with self._slot(loaded):
                reply = call({**request, "stream": False})
            _raise_for(reply)
            choice = (reply.get("choices") or [{}])[0]
            text = choice.get("text", "") if raw else (choice.get("message") or {}).get("content")
            return _completion(text or "", choice.get("finish_reason"), reply, started)
        return self._stream(call, request, raw, on_piece, loaded, started)

    def _stream(self, call, request, raw, on_piece, loaded, started) -> Completion:
        state: dict[str, Any] = {"pieces": [], "finish": None, "last": {}, "failed": None}

        def event(chunk: dict[str, Any]) -> bool:
            if _error(chunk):
                state["last"] = chunk
                return True
            choice = (chunk.get("choices") or [{}])[0]
            text = choice.get("text") if raw else (choice.get("delta") or {}).get("content")
            state["finish"] = choice.get("finish_reason") or state["finish"]
            state["last"] = chunk
            if text:
                state["pieces"].append(text)
                try:
                    on_piece(text)
                except Exception as exc:  # the client hung up: stop generating
                    state["failed"] = exc
                    return True
            return False

        with self._slot(loaded):
            reply = call({**request, "stream": True}, event)
        if state["failed"] is not None:
            raise state["failed"]
        _raise_for(reply)
        _raise_for(state["last"])
        return _completion("".join(state["pieces"]), state["finish"], state["last"], started)


class _Slot:
    """Holds one of a model's slots; counts as waiting until it has one."""

    def __init__(self, engine: Engine, slots: threading.BoundedSemaphore) -> None:
        self.engine, self.slots = engine, slots

    def __enter__(self) -> None:
        self.slots.acquire()
        self.engine._started()

    def __exit__(self, *exc: object) -> None:
        self.engine._ended()
        self.slots.release()


def with_tag(name: str) -> str:
    """Ollama treats `x` and `x:latest` as one model."""
    name = name.strip()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def sampling(options: Any) -> dict[str, Any]:
    """llama.cpp request fields from Ollama's `options` (num_predict -> max_tokens)."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ApiError(400, "options must be an object")
    request = {field: options[key] for key, field in _SAMPLING.items() if key in options}
    limit = options.get("num_predict")
    if isinstance(limit, int) and limit >= 0:
        request["max_tokens"] = limit
    return request


def _error(reply: Any) -> str | None:
    error = reply.get("error") if isinstance(reply, dict) else None
    if error is None:
        return None
    return str(error.get("message", error)) if isinstance(error, dict) else str(error)


def _raise_for(reply: Any) -> None:
    message = _error(reply)
    if message:
        status = 400 if "context" in message or "invalid" in message.lower() else 500
        raise ApiError(status, message)


def _vectors(reply: Any) -> list[list[float]]:
    _raise_for(reply)
    return [row["embedding"] for row in sorted(reply["data"], key=lambda row: row["index"])]


def _usage(reply: Any) -> int:
    return int((reply.get("usage") or {}).get("prompt_tokens", 0))


def _completion(text: str, finish: str | None, reply: Any, started: float) -> Completion:
    timings = (reply or {}).get("timings") or {}
    stats = {
        "total_duration": int((time.monotonic() - started) * 1e9),
        "load_duration": 0,  # loaded at start, once
        "prompt_eval_count": int(timings.get("prompt_n", 0)) + int(timings.get("cache_n", 0)),
        "prompt_eval_duration": int(timings.get("prompt_ms", 0) * 1e6),
        "eval_count": int(timings.get("predicted_n", 0)),
        "eval_duration": int(timings.get("predicted_ms", 0) * 1e6),
    }
    return Completion(text, "length" if finish == "length" else "stop", stats)

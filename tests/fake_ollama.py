"""A fake Ollama: a real loopback HTTP server that speaks Ollama's wire format.

ragkit's tests and benchmarks talk to this instead of Ollama. It serves
`/api/{version,tags,show,embed,embeddings,chat,generate,pull,ps,delete}` with
Ollama's bodies, status codes and error messages (Gin's text 404/405 included),
streams NDJSON with chunked transfer encoding, and can misbehave on demand
(`fail_next`, `drop_next_stream`, `hang_next`, ...) or want basic auth, like a
proxy in front of Ollama (`require_auth`). Embeddings carry meaning
(`fake_embedding`) and chat replies quote the best-matching numbered source.

    with FakeOllama() as fake:          # or the `fake_ollama` pytest fixture
        requests.post(f"{fake.url}/api/embed", json={"model": "nomic-embed-text", "input": "hi"})

    python -m tests.fake_ollama --port 11435 [--per-text-latency 0.002] [--serialize]
        [--load-seconds 20]
"""

from __future__ import annotations

import argparse
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from itertools import chain
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from tests.fake_ollama_auth import BasicAuth
from tests.fake_ollama_faults import Faults
from tests.fake_ollama_http import (
    GIN_TEXT,
    Handler,
    Reply,
    Server,
    Stream,
    decode_json,
    error_reply,
    failure_reply,
    go_json,
    go_quote,
    json_reply,
    shape_problem,
)
from tests.fake_ollama_models import (
    DEFAULT_INSTALLED,
    DEFAULT_PULLABLE,
    ModelInfo,
    base_name,
    completion_stats,
    model_for,
    normalize_name,
    now_rfc3339,
    pull_progress,
    show_payload,
    tags_entry,
)
from tests.fake_ollama_pacing import Pacing
from tests.fake_ollama_text import (
    default_chat_reply,
    embedding_matrix,
    fake_embedding,
    fake_embeddings,
    matrix_json,
    normalize_rows,
    split_pieces,
    token_estimate,
)

__all__ = ["FakeOllama", "fake_embedding", "fake_embeddings", "main"]

PULL_ERROR = "pull model manifest: file does not exist"
NOT_PULLED = "not found, try pulling it first"
TOO_LONG = "the input length exceeds the context length"
NO_EMBEDDINGS = "this model does not support embeddings"
ROUTES: dict[str, dict[str, str]] = {
    "/": {"GET": "_root", "HEAD": "_root"},
    "/api/version": {"GET": "_version", "HEAD": "_version"},
    "/api/tags": {"GET": "_tags", "HEAD": "_tags"},
    "/api/ps": {"GET": "_ps"},
    "/api/show": {"POST": "_show"},
    "/api/embed": {"POST": "_embed"},
    "/api/embeddings": {"POST": "_embeddings"},
    "/api/chat": {"POST": "_chat"},
    "/api/generate": {"POST": "_generate"},
    "/api/pull": {"POST": "_pull"},
    "/api/delete": {"DELETE": "_delete"},
    "/_fake/stats": {"GET": "_fake_stats"},  # not Ollama: for benchmarks in another process
}

ChatReply = str | Callable[[list[dict[str, Any]]], str] | None


@dataclass(frozen=True)
class _Settings:
    """Constructor settings that `reset()` restores."""

    version: str
    latency: float
    per_text_latency: float
    serialize: bool
    old_server: bool
    chat_reply: ChatReply
    piece_words: int


def _inputs(value: Any) -> list[str] | None:
    """`/api/embed` `input` as a list of strings, or None when of the wrong type."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


class FakeOllama(Faults, Pacing, BasicAuth):
    """A fake Ollama server on a loopback port; see the module docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        version: str = "0.6.2",
        models: Sequence[str] = DEFAULT_INSTALLED,
        pullable: Iterable[str] = DEFAULT_PULLABLE,
        dims: dict[str, int] | None = None,
        dim: int | None = None,
        latency: float = 0.0,
        per_text_latency: float = 0.0,
        serialize: bool = False,
        old_server: bool = False,
        chat_reply: ChatReply = None,
        piece_words: int = 1,
    ) -> None:
        self.host, self.port = host, port
        self._settings = _Settings(
            version, latency, per_text_latency, serialize, old_server, chat_reply, piece_words
        )
        self._initial_models = tuple(models)
        self._dims = {base_name(k): v for k, v in (dims or {}).items()}
        self._dim = dim
        self._pullable = {base_name(n) for n in pullable}
        self._init_faults()
        self._conns: set[socket.socket] = set()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:54321` (what OLLAMA_HOST would hold)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> FakeOllama:
        """Bind and serve in a daemon thread; after `stop()` it restarts on the same port."""
        if self._server is not None:
            return self
        self._stopping.clear()
        handler = type("FakeOllamaHandler", (Handler,), {"app": self})
        self._server = Server((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection, hanging ones included."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=1)

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ switches and log

    def reset(self) -> None:
        """Clear the log, counters and armed switches; restore settings and models."""
        s = self._settings
        self.version: str = s.version
        self.latency: float = s.latency
        self.per_text_latency: float = s.per_text_latency
        self.serialize: bool = s.serialize
        self.old_server: bool = s.old_server
        self.chat_reply: ChatReply = s.chat_reply
        self.piece_words: int = s.piece_words
        self._clear_faults()
        self._clear_pacing()
        self._clear_auth()
        self._models: dict[str, ModelInfo] = {}
        for name in self._initial_models:
            self.add_model(name)

    def add_model(self, name: str, kind: str | None = None, dim: int | None = None) -> ModelInfo:
        """Install a model; `kind` "embedding" | "chat" (default: catalog, else a guess)."""
        info = model_for(name, kind)
        override = dim or self._dims.get(base_name(name)) or self._dim
        if override and (info.kind == "embedding" or dim):
            info = model_for(name, kind, override)
        self._models[info.name] = info
        return info

    def remove_model(self, name: str) -> None:
        """Uninstall a model (no error if it is absent)."""
        self._models.pop(normalize_name(name), None)

    @property
    def models(self) -> list[str]:
        """Installed model names, normalized (`name:tag`)."""
        return list(self._models)

    def model(self, name: str) -> ModelInfo | None:
        """The installed model `name` (with or without `:latest`), if any."""
        return self._models.get(normalize_name(name))

    def dim_of(self, name: str) -> int:
        """The embedding length the server answers for model `name`."""
        info = self.model(name) or model_for(name)
        return info.dim

    def track(self, conn: socket.socket, *, add: bool) -> None:
        """Remember open connections so `stop()` can cut them."""
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    # ------------------------------------------------------------------ dispatch

    def respond(self, method: str, target: str, raw: bytes) -> Reply | Stream:
        """Answer one request (HTTP framing is the handler's job)."""
        path = urlsplit(target).path
        body, problem = decode_json(raw)
        self._log(method, path, body)
        self._sleep(self.latency)
        self._hang(path)
        failure = self._take(("fail",), path) or self._broken(path)
        if failure is not None:
            return failure_reply(failure.status, failure.body)
        return self._route(method, path, body, problem)

    def _route(self, method: str, path: str, body: Any, problem: str | None) -> Reply | Stream:
        methods = ROUTES.get(path)
        if methods is None or (self.old_server and path == "/api/embed"):
            return Reply(404, b"404 page not found", GIN_TEXT)
        handler = methods.get(method)
        if handler is None:
            return Reply(405, b"405 method not allowed", GIN_TEXT)
        if method in ("POST", "DELETE"):
            problem = problem or shape_problem(path, body)
            if problem is not None:
                return error_reply(400, problem)
        return getattr(self, handler)(body or {})

    # ------------------------------------------------------------------ plain endpoints

    def _root(self, body: dict[str, Any]) -> Reply:
        return Reply(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _version(self, body: dict[str, Any]) -> Reply:
        return json_reply({"version": self.version})

    def _tags(self, body: dict[str, Any]) -> Reply:
        return json_reply({"models": [tags_entry(m) for m in list(self._models.values())]})

    def _ps(self, body: dict[str, Any]) -> Reply:
        return json_reply({"models": []})

    def _fake_stats(self, body: dict[str, Any]) -> Reply:
        return json_reply(
            {
                "busy_seconds": self.busy_seconds,
                "requests": len(self.requests),
                "embedded_texts": self.embedded_texts,
                "peak_concurrency": self.peak_concurrency,
            }
        )

    def _show(self, body: dict[str, Any]) -> Reply:
        name = str(body.get("model") or body.get("name") or "")
        if not name:
            return error_reply(400, "model is required")
        info = self.model(name)
        if info is None:
            return error_reply(404, f"model '{name}' not found")
        return json_reply(show_payload(info))

    def _delete(self, body: dict[str, Any]) -> Reply:
        name = str(body.get("model") or body.get("name") or "")
        if self.model(name) is None:
            return error_reply(404, f"model '{name}' not found")
        self.remove_model(name)
        return Reply(200, b"", "")

    def _lookup(self, body: dict[str, Any], kind: str, verb: str) -> tuple[str, Reply | None]:
        """The model name, or an error reply when it is missing, absent or of the wrong kind."""
        name = str(body.get("model") or "")
        if not name:
            return name, error_reply(400, "model is required")
        info = self.model(name)
        if info is None:
            return name, error_reply(404, f"model {go_quote(name)} {NOT_PULLED}")
        if info.kind != kind:
            unsupported = f"{go_quote(name)} does not support {verb}"
            return name, error_reply(400, NO_EMBEDDINGS if kind == "embedding" else unsupported)
        return name, None

    # ------------------------------------------------------------------ embeddings

    def _embed(self, body: dict[str, Any]) -> Reply:
        name, problem = self._lookup(body, "embedding", "embeddings")
        if problem is not None:
            return problem
        texts = _inputs(body.get("input"))
        if texts is None:
            return error_reply(400, "invalid input type")
        if not texts:
            return json_reply({"model": name, "embeddings": []})
        info = self._models[normalize_name(name)]
        started = time.perf_counter_ns()
        limit = info.context_length * 4
        if body.get("truncate") is False and any(len(t) > limit for t in texts):
            return error_reply(400, TOO_LONG)
        texts = [t[:limit] for t in texts]
        with self._embedding(len(texts)):
            matrix = self._vectors(texts, info.dim, body.get("dimensions"))
            if self._take(("wrong_count",)):
                matrix = matrix[:-1]
            rows = matrix_json(matrix)
        head = go_json({"model": name})[:-1]
        tail = go_json(
            {
                "total_duration": time.perf_counter_ns() - started,
                "load_duration": 1_042_000,
                "prompt_eval_count": sum(map(token_estimate, texts)),
            }
        )[1:]
        return Reply(200, f'{head},"embeddings":[{",".join(rows)}],{tail}'.encode())

    def _embeddings(self, body: dict[str, Any]) -> Reply:
        _, problem = self._lookup(body, "embedding", "embeddings")
        if problem is not None:
            return problem
        prompt = str(body.get("prompt") or "")
        if not prompt:
            return json_reply({"embedding": []})
        info = self._models[normalize_name(str(body["model"]))]
        with self._embedding(1):
            row = matrix_json(self._vectors([prompt], info.dim, None))[0]
        return Reply(200, f'{{"embedding":{row}}}'.encode())

    def _vectors(self, texts: list[str], dim: int, dimensions: Any) -> np.ndarray:
        matrix = embedding_matrix(texts, dim)
        if isinstance(dimensions, int) and 0 < dimensions < dim:
            matrix = normalize_rows(matrix[:, :dimensions].copy())
        if self._take(("wrong_dim",)):
            matrix = matrix[:, :-1]
        return matrix

    # ------------------------------------------------------------------ chat and generate

    def _chat(self, body: dict[str, Any]) -> Reply | Stream:
        name, problem = self._lookup(body, "chat", "chat")
        if problem is not None:
            return problem
        raw = body.get("messages") or []
        messages = [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []
        if not messages:
            return self._loaded(name, {"role": "assistant", "content": ""}, "message")
        return self._complete(name, "message", messages, body)

    def _generate(self, body: dict[str, Any]) -> Reply | Stream:
        name, problem = self._lookup(body, "chat", "generate")
        if problem is not None:
            return problem
        prompt, system = str(body.get("prompt") or ""), str(body.get("system") or "")
        if not prompt:
            return self._loaded(name, "", "response")
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        return self._complete(name, "response", messages, body)

    def _loaded(self, name: str, empty: Any, field: str) -> Reply:
        """Ollama's answer to an empty chat/generate: load the model, say so."""
        return json_reply(
            {"model": name, "created_at": now_rfc3339(), field: empty}
            | {"done_reason": "load", "done": True}
        )

    def chat_text(self, messages: list[dict[str, Any]]) -> str:
        """The assistant reply the server gives to `messages` (honours `chat_reply`)."""
        reply = self.chat_reply
        if reply is None:
            return default_chat_reply(messages)
        return str(reply(messages)) if callable(reply) else str(reply)

    def _complete(
        self, name: str, field: str, messages: list[dict[str, Any]], body: dict[str, Any]
    ) -> Reply | Stream:
        """A chat/generate answer, streamed (the default) or in one object."""
        started = time.perf_counter_ns()
        pieces, reason = self._pieces(messages, body.get("options"))
        prompt_tokens = sum(token_estimate(str(m.get("content") or "")) for m in messages)

        def line(text: str, done: bool) -> dict[str, Any]:
            content = {"role": "assistant", "content": text} if field == "message" else text
            out = {"model": name, "created_at": now_rfc3339(), field: content}
            if not done:
                return out | {"done": False}
            elapsed = time.perf_counter_ns() - started
            out |= {"done_reason": reason, "done": True}
            out |= completion_stats(prompt_tokens, len(pieces), elapsed)
            return out | {"context": [1, 2, 3]} if field == "response" else out

        if body.get("stream", True) is False:
            return json_reply(line("".join(pieces), True))
        head = (line(piece, False) for piece in pieces)
        return Stream(self.paced(chain(head, (line("", True) for _ in range(1)))), name)

    def _pieces(self, messages: list[dict[str, Any]], options: Any) -> tuple[list[str], str]:
        """The reply split into stream pieces, cut at `num_predict` ("length")."""
        pieces = split_pieces(self.chat_text(messages), self.piece_words)
        limit = options.get("num_predict") if isinstance(options, dict) else None
        if isinstance(limit, int) and 0 < limit < len(pieces):
            return pieces[:limit], "length"
        return pieces, "stop"

    # ------------------------------------------------------------------ pull

    def _pull(self, body: dict[str, Any]) -> Reply | Stream:
        name = str(body.get("model") or body.get("name") or "")
        if not name:
            return error_reply(400, "invalid model name")
        stream = body.get("stream", True) is not False
        if base_name(name) not in self._pullable:
            if not stream:
                return error_reply(500, PULL_ERROR)
            return Stream(iter([{"status": "pulling manifest"}, {"error": PULL_ERROR}]), name)
        if not stream:
            self.add_model(name)
            return json_reply({"status": "success"})
        return Stream(self._pull_lines(name), name)

    def _pull_lines(self, name: str) -> Iterator[dict[str, Any]]:
        """Progress lines; the model is installed when `success` is sent."""
        for item in pull_progress(model_for(name)):
            if item["status"] == "success":
                self.add_model(name)
            yield item


# ---------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """Run a fake Ollama in the foreground until interrupted; print its URL first."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_ollama", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11435)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every reply")
    parser.add_argument("--per-text-latency", type=float, default=0.0, help="seconds per text")
    parser.add_argument("--serialize", action="store_true", help="one embed at a time (one GPU)")
    parser.add_argument("--load-seconds", type=float, default=0.0, help="first embed loads a model")
    parser.add_argument("--old-server", action="store_true", help="no /api/embed (pre-0.3)")
    parser.add_argument("--dim", type=int, default=None, help="embedding length for all models")
    parser.add_argument("--version", default="0.6.2", help="what /api/version reports")
    args = parser.parse_args(argv)
    fake = FakeOllama(
        args.host,
        args.port,
        version=args.version,
        dim=args.dim,
        latency=args.latency,
        per_text_latency=args.per_text_latency,
        serialize=args.serialize,
        old_server=args.old_server,
    )
    fake.load_slowly(args.load_seconds)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with fake:
        print(fake.url, flush=True)
        with suppress(KeyboardInterrupt):
            while not done.wait(0.5):
                pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Ollama's REST API over an `Engine`: the routes ragkit uses, Ollama's bodies and codes.

GET `/`, `/api/version`, `/api/tags`, `/api/ps`; POST `/api/show`, `/api/embed`,
`/api/embeddings`, `/api/chat`, `/api/generate` (NDJSON streaming unless
`"stream": false`), `/api/pull` (success for a served model, Ollama's in-stream
error for any other). Errors are `{"error": "..."}` with Ollama's status: 400 bad
request, 404 unknown model (`... not found, try pulling it first`), 503 busy;
an unknown route is a plain-text `404 page not found`. Each request is logged as
one line whose client-given values are JSON-escaped.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .engine import ApiError, Engine, sampling

VERSION = "0.6.2-ragkit-local"  # an Ollama version ragkit knows, marked as this server
_MAX_BODY = 64 * 1024 * 1024  # bytes of one request body


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class OllamaApi(BaseHTTPRequestHandler):
    """One request; `engine` and `log` are set on the server's subclass."""

    protocol_version = "HTTP/1.1"
    server_version = "ragkit-local-server"
    engine: Engine
    log: Callable[[str], None]

    def log_message(self, format: str, *args: Any) -> None:  # http.server's own lines
        pass

    # -- routing -----------------------------------------------------------

    def do_GET(self) -> None:
        routes = {"/": self.root, "/api/version": self.version, "/api/tags": self.tags}
        routes["/api/ps"] = self.tags
        self._dispatch(routes, None)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        routes = {
            "/api/show": self.show,
            "/api/embed": self.embed,
            "/api/embeddings": self.embeddings,
            "/api/chat": self.chat,
            "/api/generate": self.generate,
            "/api/pull": self.pull,
        }
        self._dispatch(routes, {})

    def _dispatch(self, routes: dict[str, Callable], body: dict | None) -> None:
        started, self._status, self._streaming = time.monotonic(), 200, False
        route = routes.get(self.path.split("?", 1)[0])
        try:
            if route is None:
                self._status = 404
                self.close_connection = body is not None  # its body was not read
                self._send(404, b"404 page not found", "text/plain")
            else:
                body = self._body() if body is not None else None
                route(body) if body is not None else route()
        except ApiError as exc:
            self._fail(exc.status, exc.message)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug or a llama.cpp failure: a 500, and the server goes on
            self._fail(500, f"{type(exc).__name__}: {exc}")
        self._log(time.monotonic() - started, body)

    def _log(self, seconds: float, body: dict | None) -> None:
        keys = ("model", "options", "stream", "keep_alive")
        shown = {k: body[k] for k in keys if body and k in body}
        line = f"{self.command} {json.dumps(self.path)} {self._status} {seconds:.3f}s"
        self.log(f"{line} {json.dumps(shown, ensure_ascii=True)}" if shown else line)

    def _fail(self, status: int, message: str) -> None:
        self._status = status
        if self._streaming:  # headers are gone: Ollama puts the error in the stream
            self._line({"error": message})
            self._end_stream()
        else:
            self._send(status, {"error": message})

    # -- plumbing ----------------------------------------------------------

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "request body too large")
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            raise ApiError(400, "missing request body")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, f"invalid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return body

    def _send(self, status: int, data: Any, content_type: str = "application/json") -> None:
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type + "; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._streaming = True

    def _line(self, event: dict[str, Any]) -> None:
        data = (json.dumps(event) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # -- metadata ----------------------------------------------------------

    def root(self) -> None:
        self._send(200, b"Ollama is running", "text/plain")

    def version(self) -> None:
        self._send(200, {"version": VERSION})

    def tags(self) -> None:
        self._send(200, {"models": [_entry(m.spec) for m in self.engine.models.values()]})

    def show(self, body: dict) -> None:
        spec = self.engine.get(body.get("model") or body.get("name")).spec
        info = {
            "general.architecture": spec.family,
            f"{spec.family}.context_length": spec.context_length,
        }
        capabilities = ["embedding"] if spec.kind == "embed" else ["completion"]
        entry = _entry(spec)
        self._send(
            200,
            {
                "modelfile": f"FROM {spec.path.name}\n",
                "parameters": "",
                "template": "",
                "details": entry["details"],
                "model_info": info,
                "capabilities": capabilities,
                "modified_at": entry["modified_at"],
            },
        )

    def pull(self, body: dict) -> None:
        name = body.get("model") or body.get("name")
        try:
            self.engine.get(name)
            events = [{"status": "pulling manifest"}, {"status": "success"}]
        except ApiError as exc:
            if exc.status != 404:
                raise
            events = [{"error": "pull model manifest: file does not exist"}]
        if body.get("stream") is False:
            if "error" in events[-1]:
                raise ApiError(500, events[-1]["error"])
            return self._send(200, events[-1])
        self._start_stream()
        for event in events:
            self._line(event)
        self._end_stream()

    # -- embeddings --------------------------------------------------------

    def embed(self, body: dict) -> None:
        started, name, given = time.monotonic(), body.get("model"), body.get("input")
        self.engine.get(name, "embed", "embeddings")
        texts = [given] if isinstance(given, str) else given if given is not None else []
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ApiError(400, "invalid input type")
        truncate = body.get("truncate", True) is not False
        vectors, tokens = self.engine.embed(name, texts, truncate=truncate) if texts else ([], 0)
        took = int((time.monotonic() - started) * 1e9)
        self._send(
            200,
            {
                "model": name,
                "embeddings": vectors,
                "total_duration": took,
                "load_duration": 0,
                "prompt_eval_count": tokens,
            },
        )

    def embeddings(self, body: dict) -> None:
        """The legacy route: one prompt, a vector that is not normalized."""
        name, prompt = body.get("model"), body.get("prompt") or ""
        self.engine.get(name, "embed", "embeddings")
        if not isinstance(prompt, str):
            raise ApiError(400, "prompt must be a string")
        vectors = self.engine.embed(name, [prompt], normalize=False)[0] if prompt else [[]]
        self._send(200, {"embedding": vectors[0]})

    # -- chat and generate -------------------------------------------------

    def chat(self, body: dict) -> None:
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages
        ):
            raise ApiError(400, "invalid message format")
        turns = [{"role": m["role"], "content": str(m.get("content") or "")} for m in messages]
        self._complete(body, {"messages": turns}, raw=False, empty=not turns, key="message")

    def generate(self, body: dict) -> None:
        prompt, system = body.get("prompt") or "", body.get("system")
        if not isinstance(prompt, str) or not isinstance(system, str | None):
            raise ApiError(400, "prompt must be a string")
        if body.get("raw"):
            self._complete(body, {"prompt": prompt}, raw=True, empty=not prompt, key="response")
            return
        turns = [{"role": "system", "content": system}] if system else []
        turns.append({"role": "user", "content": prompt})
        self._complete(body, {"messages": turns}, raw=False, empty=not prompt, key="response")

    def _complete(self, body: dict, request: dict, *, raw: bool, empty: bool, key: str) -> None:
        name = body.get("model")
        self.engine.get(name, "chat", "chat" if key == "message" else "generate")
        request.update(sampling(body.get("options")))
        request.update(_format(body.get("format")))
        if empty:  # Ollama: an empty request only loads the model
            return self._send(200, _event(name, key, "") | {"done": True, "done_reason": "load"})
        if body.get("stream", True) is False:
            done = self.engine.complete(name, request, raw=raw)
            return self._send(200, _final(name, key, done.text, done))

        def piece(text: str) -> None:
            if not self._streaming:
                self._start_stream()
            self._line(_event(name, key, text))

        done = self.engine.complete(name, request, raw=raw, on_piece=piece)
        if not self._streaming:
            self._start_stream()
        self._line(_final(name, key, "", done))
        self._end_stream()


def _event(name: str, key: str, text: str) -> dict[str, Any]:
    value: Any = {"role": "assistant", "content": text} if key == "message" else text
    return {"model": name, "created_at": now(), key: value, "done": False}


def _final(name: str, key: str, text: str, done) -> dict[str, Any]:
    return _event(name, key, text) | {"done": True, "done_reason": done.done_reason} | done.stats


def _format(given: Any) -> dict[str, Any]:
    if given == "json":
        return {"response_format": {"type": "json_object"}}
    if isinstance(given, dict):
        return {"json_schema": given}
    return {}


def _entry(spec) -> dict[str, Any]:
    """A model as `/api/tags` lists it."""
    stat = spec.path.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat().replace("+00:00", "Z")
    digest = hashlib.sha256(f"{spec.name}:{stat.st_size}:{stat.st_mtime}".encode()).hexdigest()
    details = {
        "format": "gguf",
        "family": spec.family,
        "families": [spec.family],
        "parameter_size": spec.parameter_size,
        "quantization_level": spec.quantization,
    }
    return {
        "name": spec.name,
        "model": spec.name,
        "modified_at": modified,
        "size": stat.st_size,
        "digest": digest,
        "details": details,
    }


def make_server(
    engine: Engine, host: str = "127.0.0.1", port: int = 0, log: Callable[[str], None] | None = None
) -> ThreadingHTTPServer:
    """A bound (not yet serving) HTTP server for `engine`; `port` 0 picks a free one."""
    handler = type("Handler", (OllamaApi,), {"engine": engine, "log": staticmethod(log or _stderr)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)

"""`ragkit serve`: the index as a small HTTP JSON API, for other programs on the machine.

    GET  /api/search?q=...&k=5&mode=hybrid&path=*.md   ranked hits
    POST /api/ask {"question": "...", "stream": true}   NDJSON pieces, then the answer
    GET  /api/status                                    documents, chunks, model, freshness
    GET  /api/documents?glob=...                        indexed documents
    GET  /api/document?uri=ragkit://doc/...             one document's indexed text
    GET  /openapi.json                                  this API, described

The standard library's `ThreadingHTTPServer`, one thread per connection, all
sharing one `Service` (so one retriever). It listens on loopback; another address
only when asked for explicitly (`0.0.0.0` or `::`), and then only with a token,
which every request must send as `Authorization: Bearer TOKEN`. Without a token,
requests must name a loopback `Host`, so a web page cannot reach the API through
DNS rebinding. Errors are `{"error": "one line. The fix"}` with a 4xx/5xx status.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
import sys
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import (
    ConfigError,
    IndexNotFound,
    ModelNotFound,
    OllamaError,
    OllamaUnavailable,
    RagkitError,
)
from .service import ASK_KEYS, Service, answer_dict
from .terminal import printable

DEFAULT_PORT = 8765
MAX_BODY = 1_000_000  # bytes of a POST body
OPEN_HOSTS = ("0.0.0.0", "::")  # the only non-loopback binds, and only with a token
LOOPBACK_NAMES = ("localhost",)


class HTTPError(RagkitError):
    """A request the API refuses, with its HTTP status."""

    def __init__(self, status: int, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse an address other programs could reach, unless it is `0.0.0.0` or `::`,
    given on purpose, with a token."""
    if _is_loopback(host):
        return
    if host not in OPEN_HOSTS:
        raise ConfigError(
            f"refusing to listen on {host!r}: only loopback, or every address, is allowed",
            value=host,
            hint="Use the default 127.0.0.1, or --host 0.0.0.0 --token SECRET",
        )
    if not token:
        raise ConfigError(
            f"listening on {host} lets other machines in, so it needs a token",
            value=host,
            hint="Add --token SECRET (clients send `Authorization: Bearer SECRET`)",
        )


def status_of(exc: RagkitError) -> int:
    """The HTTP status for a ragkit error: the caller's mistake is 4xx, Ollama's 5xx."""
    if isinstance(exc, HTTPError):
        return exc.status
    if isinstance(exc, IndexNotFound | ModelNotFound):
        return 404
    if isinstance(exc, ConfigError):
        return 400
    if isinstance(exc, OllamaUnavailable):
        return 503
    if isinstance(exc, OllamaError):
        return 502
    return 500


def _host_name(header: str) -> str:
    """The host of a Host header without its port: `[::1]:8765` -> `[::1]`."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0]


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _int(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise HTTPError(400, f"{name} must be a whole number, not {value!r}") from None


class Handler(BaseHTTPRequestHandler):
    """Routes one request to the server's `Service`; every answer is JSON (or NDJSON)."""

    server: APIServer
    protocol_version = "HTTP/1.1"  # keep-alive; a streamed answer closes its connection
    timeout = 60  # seconds a connection may sit idle (or send its body) before it is closed

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            self._check_access()
            route = ROUTES.get((method, url.path))
            if route is None:
                known = any(path == url.path for _, path in ROUTES)
                raise HTTPError(405 if known else 404, f"no route {method} {url.path}")
            route(self, parse_qs(url.query))
        except RagkitError as exc:
            self.close_connection = True  # a body left unread must not pass for a request
            self._send_json({"error": str(exc)}, status_of(exc))
        except Exception as exc:  # a bug must not kill the thread without an answer
            self.log_error("internal error: %r", exc)
            self.close_connection = True
            self._send_json({"error": f"internal error ({type(exc).__name__})"}, 500)

    def _check_access(self) -> None:
        token = self.server.token
        if token:
            given = self.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise HTTPError(
                    401, "missing or wrong token", hint="Send `Authorization: Bearer TOKEN`"
                )
            return
        host = _host_name(self.headers.get("Host") or "")
        if not _is_loopback(host):
            raise HTTPError(403, f"Host {host!r} is not this machine", hint="Use http://127.0.0.1")

    # -- routes ------------------------------------------------------------------

    def search(self, query: dict[str, list[str]]) -> None:
        k = _int(_one(query, "k"), "k", 5)
        found = self.server.service.search(
            _one(query, "q") or "",
            k,
            mode=_one(query, "mode") or "hybrid",
            path=_one(query, "path"),
        )
        self._send_json(found)

    def status(self, query: dict[str, list[str]]) -> None:
        self._send_json(self.server.service.status())

    def documents(self, query: dict[str, list[str]]) -> None:
        self._send_json(self.server.service.documents(_one(query, "glob")))

    def document(self, query: dict[str, list[str]]) -> None:
        uri = _one(query, "uri") or ""
        self._send_json({"uri": uri, "text": self.server.service.read(uri)})

    def openapi(self, query: dict[str, list[str]]) -> None:
        self._send_json(OPENAPI)

    def ask(self, query: dict[str, list[str]]) -> None:
        body = self._read_body()
        unknown = set(body) - {"question", "stream", *ASK_KEYS}
        if unknown:
            raise HTTPError(400, f"unknown field(s) {sorted(unknown)}", hint=_ASK_HINT)
        options = {key: body[key] for key in ASK_KEYS if body.get(key) is not None}
        stream = body.get("stream", True)
        if not isinstance(stream, bool):
            raise HTTPError(400, f"stream must be true or false, not {stream!r}")
        result = self.server.service.ask(body.get("question"), stream=stream, **options)
        if not stream:
            self._send_json(answer_dict(result))
            return
        self._stream(result)

    def _stream(self, result: Any) -> None:
        """NDJSON as Ollama streams it: `{"response": piece, "done": false}` lines, then
        `{"done": true, ...the answer}`; an error after the start is a last `{"error"}` line."""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for piece in result:
                self._line({"response": piece, "done": False})
            self._line({"done": True, **answer_dict(result.answer)})
        except RagkitError as exc:
            self._line({"error": str(exc), "done": True})
        except OSError:  # the client went away: stop the model too
            result.close()

    # -- plumbing ------------------------------------------------------------------

    def _read_body(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise HTTPError(400, "Content-Length is not a number") from None
        if length > MAX_BODY:
            raise HTTPError(413, f"the body is over {MAX_BODY} bytes")
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise HTTPError(400, f"the body is not JSON ({exc})", hint=_ASK_HINT) from None
        if not isinstance(body, dict):
            raise HTTPError(400, "the body must be a JSON object", hint=_ASK_HINT)
        return body

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the standard library finds itself (a malformed request line, an
        unknown method) as JSON like every other error."""
        self.close_connection = True
        self._send_json({"error": message or HTTPStatus(code).phrase}, code)

    def _line(self, data: Any) -> None:
        self.wfile.write(_json_bytes(data) + b"\n")
        self.wfile.flush()

    def _send_json(self, data: Any, status: int = 200) -> None:
        body = _json_bytes(data)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """One escaped line on stderr per request (a query or path is the client's text)."""
        line = f"{self.address_string()} {format % args}"
        self.server.log(printable(line, one_line=True))


_ASK_HINT = 'Send {"question": "...", "stream": false} plus any of: ' + ", ".join(ASK_KEYS)


def _json_bytes(data: Any) -> bytes:
    """ASCII JSON: every other character (controls, bidi, a file name's undecodable
    bytes as lone surrogates) is a `\\u` escape, so no client prints it raw."""
    return json.dumps(data, ensure_ascii=True).encode("ascii")


ROUTES: dict[tuple[str, str], Callable[[Handler, dict[str, list[str]]], None]] = {
    ("GET", "/api/search"): Handler.search,
    ("POST", "/api/ask"): Handler.ask,
    ("GET", "/api/status"): Handler.status,
    ("GET", "/api/documents"): Handler.documents,
    ("GET", "/api/document"): Handler.document,
    ("GET", "/openapi.json"): Handler.openapi,
}


class APIServer(ThreadingHTTPServer):
    """A threading HTTP server holding the `Service` its handlers use."""

    daemon_threads = True

    def __init__(
        self,
        service: Service,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        token: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        check_bind(host, token)
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.service, self.token = service, token
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        super().__init__((host.strip("[]"), port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _param(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _get(summary: str, params: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": list(params), "responses": _RESPONSES}}


_RESPONSES = {
    "200": {"description": "JSON"},
    "4XX": {"description": '{"error": "what is wrong. How to fix it"}'},
    "5XX": {"description": '{"error": "..."}: Ollama or the index failed'},
}
_ASK_BODY = {
    "type": "object",
    "required": ["question"],
    "properties": {
        "question": {"type": "string"},
        "stream": {"type": "boolean", "default": True},
        "k": {"type": "integer", "minimum": 1, "default": 5},
        "mode": {"enum": ["hybrid", "vector", "keyword"], "default": "hybrid"},
        "model": {"type": "string"},
        "num_ctx": {"type": "integer", "minimum": 512},
        "max_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0},
        "seed": {"type": "integer"},
    },
}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "ragkit", "version": "1", "description": __doc__.split("\n\n")[0]},
    "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        "/api/search": _get(
            "The passages that best match q, with their sources",
            [
                _param("q", "what to search for", {"type": "string"}, required=True),
                _param("k", "how many hits", {"type": "integer", "minimum": 1, "default": 5}),
                _param("mode", "by meaning, by words, or both", _ASK_BODY["properties"]["mode"]),
                _param("path", "only files matching this glob, e.g. *.md", {"type": "string"}),
            ],
        ),
        "/api/ask": {
            "post": {
                "summary": "Answer a question from the documents, citing them; NDJSON "
                'lines {"response": piece} then {"done": true, ...} unless stream is false',
                "requestBody": {"content": {"application/json": {"schema": _ASK_BODY}}},
                "responses": _RESPONSES,
            }
        },
        "/api/status": _get("Documents, chunks, embedding model, last write (updated_at)"),
        "/api/documents": _get(
            "The indexed documents",
            [_param("glob", "only paths matching, e.g. notes/*", {"type": "string"})],
        ),
        "/api/document": _get(
            "One document's indexed text, with [page N] markers",
            [_param("uri", "a uri from a hit or /api/documents", {"type": "string"}, True)],
        ),
        "/openapi.json": _get("This description"),
    },
}

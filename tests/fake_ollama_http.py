"""HTTP plumbing of the fake Ollama: replies, NDJSON streams, keep-alive framing.

The handler knows nothing about Ollama: it reads a request, asks an `App`
(the `FakeOllama`) for a `Reply` or a `Stream`, and writes it the way Go's
net/http + Gin would: `Content-Length` for whole bodies, chunked transfer
encoding flushed per line for streams. Stream faults (drop, malformed line,
error line) are applied here, while writing.
"""

from __future__ import annotations

import json
import socket
import sys
import traceback
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

JSON = "application/json; charset=utf-8"
NDJSON = "application/x-ndjson"
GIN_TEXT = "text/plain"
BUSY = "server busy, please try again.  maximum pending requests exceeded"
_NGINX = (
    "<html>\r\n<head><title>{0}</title></head>\r\n"
    "<body>\r\n<center><h1>{0}</h1></center>\r\n</body>\r\n</html>\r\n"
)
DEFAULT_FAILURES: dict[int, Any] = {
    500: {"error": "llama runner process has terminated: exit status 2"},
    502: _NGINX.format("502 Bad Gateway"),
    503: {"error": BUSY},
    504: _NGINX.format("504 Gateway Time-out"),
}


@dataclass
class Reply:
    """A complete (non-streamed) response."""

    status: int
    body: bytes = b""
    content_type: str = JSON


@dataclass
class Stream:
    """A 200 NDJSON response sent line by line with chunked encoding."""

    lines: Iterable[dict[str, Any]]
    model: str = ""


@dataclass
class StreamFault:
    """What to do to a stream once `after_lines` lines are out."""

    kind: str  # "drop" | "malformed" | "error" | "stall"
    after_lines: int
    message: str = ""
    seconds: float = 0.0


class Aborted(Exception):
    """Close the connection without (finishing) the answer."""


class App(Protocol):
    """What the handler needs from the server object."""

    def respond(self, method: str, target: str, raw: bytes) -> Reply | Stream: ...
    def take_stream_fault(self) -> StreamFault | None: ...
    def refuse(self, headers: Any) -> Reply | None: ...
    def track(self, conn: socket.socket, *, add: bool) -> None: ...


def go_json(payload: Any) -> str:
    """JSON as Go's encoder writes it: compact, UTF-8 left as is."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def json_reply(payload: Any, status: int = 200) -> Reply:
    """A JSON response, as Gin's `c.JSON` writes it."""
    return Reply(status, go_json(payload).encode())


def error_reply(status: int, message: str) -> Reply:
    """Ollama's error shape: `{"error": message}`."""
    return json_reply({"error": message}, status)


def failure_reply(status: int, body: Any = None) -> Reply:
    """An injected failure: `body` (dict -> JSON, str/bytes -> text/HTML) or a default."""
    if body is None:
        body = DEFAULT_FAILURES.get(status) or {"error": HTTPStatus(status).phrase.lower()}
    if isinstance(body, dict):
        return json_reply(body, status)
    data = body if isinstance(body, bytes) else str(body).encode()
    return Reply(status, data, "text/html" if data.lstrip().startswith(b"<") else GIN_TEXT)


def go_quote(text: str) -> str:
    """Go's `%q`, near enough."""
    return json.dumps(text, ensure_ascii=False)


def decode_json(raw: bytes) -> tuple[Any, str | None]:
    """Parse a JSON body; on failure return Go's `encoding/json` message."""
    if not raw.strip():
        return None, "missing request body"
    try:
        return json.loads(raw), None
    except UnicodeDecodeError:
        return None, "invalid character looking for beginning of value"
    except json.JSONDecodeError as exc:
        if exc.pos >= len(exc.doc.rstrip()):
            return None, "unexpected EOF"
        return None, f"invalid character {exc.doc[exc.pos]!r} looking for beginning of value"


GO_TYPES = {
    "/api/show": "ShowRequest",
    "/api/embed": "EmbedRequest",
    "/api/embeddings": "EmbeddingRequest",
    "/api/chat": "ChatRequest",
    "/api/generate": "GenerateRequest",
    "/api/pull": "PullRequest",
    "/api/delete": "DeleteRequest",
}


def shape_problem(path: str, body: Any) -> str | None:
    """Go's complaint when a JSON body is not an object."""
    if isinstance(body, dict):
        return None
    kind = {list: "array", str: "string", bool: "bool"}.get(type(body), "number")
    return f"json: cannot unmarshal {kind} into Go value of type api.{GO_TYPES.get(path)}"


class Server(ThreadingHTTPServer):
    """Threaded, never joins handler threads on close (stop must be quick)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that went away; report real bugs."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive framing around `App.respond`; subclassed with `app` set."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 60
    app: App

    def setup(self) -> None:
        super().setup()
        self.app.track(self.connection, add=True)

    def finish(self) -> None:
        self.app.track(self.connection, add=False)
        with suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silent, like a test double should be."""

    def send_response(self, code: int, message: str | None = None) -> None:
        """Status line and Date, no `Server` header (Go sends none)."""
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def do_GET(self) -> None:
        """Every method goes through `_serve`; the app's routing decides 404/405."""
        self._serve()

    do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _serve(self) -> None:
        try:
            raw = self._read_body()
            result = self.app.refuse(self.headers) or self.app.respond(self.command, self.path, raw)
            if isinstance(result, Stream):
                self._send_stream(result)
            else:
                self._send(result)
        except (Aborted, OSError):
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        except Exception as exc:  # a bug in the fake: say so loudly, keep serving
            traceback.print_exc()
            self.close_connection = True
            with suppress(OSError):
                self._send(error_reply(500, f"fake_ollama bug: {exc!r}"))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def _send_stream(self, stream: Stream) -> None:
        self.send_response(200)
        self.send_header("Content-Type", NDJSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        fault, sent = self.app.take_stream_fault(), 0
        for item in stream.lines:
            if fault is not None and sent >= fault.after_lines:
                if self._inject(fault, stream.model):
                    break
                fault = None
            self._chunk(go_json(item).encode() + b"\n")
            sent += 1
        else:
            if fault is not None:
                self._inject(fault, stream.model)
        self.wfile.write(b"0\r\n\r\n")

    def _inject(self, fault: StreamFault, model: str) -> bool:
        """Apply a stream fault; True when the stream must end after it."""
        if fault.kind == "drop":
            raise Aborted  # no terminating chunk: the client sees the body cut short
        if fault.kind == "error":
            self._chunk(go_json({"error": fault.message}).encode() + b"\n")
            return True
        if fault.kind == "stall":
            self.app._sleep(fault.seconds)  # then go on as if nothing happened
            return False
        self._chunk(f'{{"model":{go_quote(model)},"created_at":"2025-\n'.encode())
        return False

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

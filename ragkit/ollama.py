"""The Ollama REST client: the only module in ragkit that speaks HTTP.

    >>> client = OllamaClient()                       # OLLAMA_HOST or localhost:11434
    >>> client.embed(["a text", "another"], "nomic-embed-text").shape
    (2, 768)
    >>> for piece in client.chat([{"role": "user", "content": "Hi"}], "llama3.2", stream=True):
    ...     print(piece, end="")

Every failure leaves as a `RagkitError` (see `errors.py`); `requests` and
urllib3 exceptions are translated in `_translate` and `_send`, nowhere else.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from . import hosts
from .config import read_timeout
from .embedmodels import same_model
from .errors import (
    BadResponse,
    ConfigError,
    ModelNotFound,
    OllamaError,
    OllamaUnavailable,
    RagkitError,
)
from .hosts import Host

DEFAULT_CONNECT_TIMEOUT = 5.0  # seconds to open a connection
DEFAULT_READ_TIMEOUT = 300.0  # seconds between bytes: loading a model can take minutes
DEFAULT_RETRIES = 3  # for refused connections and 502/503/504, never for 4xx
DEFAULT_BACKOFF = 0.25  # seconds; sleeps 0, 0.5, 1.0 between the retries
DEFAULT_BATCH_SIZE = 64  # texts per /api/embed request
DEFAULT_TIMEOUT_RETRIES = 2  # an embed request with no answer in time is sent again this often
DEFAULT_TIMEOUT_BACKOFF = 2.0  # seconds before the first resend; doubles, at most the timeout
RETRY_STATUSES = (502, 503, 504)
_DIRECT = {"http": None, "https": None, "all": None}  # requests: None drops an env proxy
_HTML_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)

Message = Mapping[str, Any]


def parse_host(host: str | None = None) -> Host:
    """`host`, else OLLAMA_HOST, read as `hosts.parse_host` does; a URL `requests`
    would refuse to send to is a `ConfigError` here, not a surprise later."""
    raw = host if host is not None else os.environ.get("OLLAMA_HOST", "")
    parsed = hosts.parse_host(raw)
    try:
        requests.PreparedRequest().prepare_url(parsed.url, None)
    except requests.RequestException as exc:
        shown = hosts.redact_host(raw.strip())
        raise hosts.bad_host(shown, "a host name that cannot be in a URL") from exc
    return parsed


def resolve_host(host: str | None = None) -> str:
    """The base URL (never with credentials) of `host`, else OLLAMA_HOST."""
    return parse_host(host).url


def _is_loopback(base_url: str) -> bool:
    """Whether the server is on this machine (`localhost`, 127.0.0.0/8, ::1)."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Reply:
    """A finished chat or generate answer, with Ollama's closing statistics."""

    text: str
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def done_reason(self) -> str | None:
        return self.stats.get("done_reason")


class Stream:
    """Text pieces of a streaming answer as they arrive; `.reply` once exhausted.

    Iterate it to get `str` pieces. An `{"error": ...}` line, a malformed line,
    or a dropped connection raise a `RagkitError` from the iteration.
    """

    def __init__(self, client: OllamaClient, response: requests.Response, key: str, model: str):
        self._client, self._response, self._key, self._model = client, response, key, model
        self._pieces: list[str] = []
        self.reply: Reply | None = None

    def __iter__(self) -> Iterator[str]:
        try:
            for event in self._client._events(self._response, self._model):
                piece = _piece(event, self._key)
                if piece:
                    self._pieces.append(piece)
                    yield piece
                if event.get("done"):
                    self.reply = Reply("".join(self._pieces), _stats(event))
                    return
            raise OllamaError(
                "the answer stream ended before Ollama said it was done", url=self._client.base_url
            )
        finally:
            self._response.close()

    @property
    def text(self) -> str:
        """What has arrived so far."""
        return "".join(self._pieces)

    def close(self) -> None:
        self._response.close()


def _piece(event: Mapping[str, Any], key: str) -> str:
    if key == "message":
        message = event.get("message") or {}
        return message.get("content") or ""
    return event.get(key) or ""


def _stats(event: Mapping[str, Any]) -> dict[str, Any]:
    """The closing line's numbers: token counts, durations (ns), done_reason."""
    skip = {"message", "response", "context", "done", "created_at"}
    return {k: v for k, v in event.items() if k not in skip}


class OllamaClient:
    """A small, explicit client for Ollama's REST API.

    One `requests.Session` with retries (refused connections and 502/503/504,
    exponential backoff, never 4xx) and a `(connect, read)` timeout on every call.
    A `user:password@` in the host is sent as HTTP basic auth and never shown.
    `timeout` is that pair, or one number of seconds for both (the connect timeout
    stays at most DEFAULT_CONNECT_TIMEOUT); by default `RAGKIT_TIMEOUT`, else 300 s.
    An embed request that gets no answer within it is sent `timeout_retries` more
    times, after `timeout_backoff` seconds (doubling), before the call fails.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: float | tuple[float, float] | None = None,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout_retries: int = DEFAULT_TIMEOUT_RETRIES,
        timeout_backoff: float = DEFAULT_TIMEOUT_BACKOFF,
    ) -> None:
        self.host = parse_host(host)
        self.base_url = self.host.url
        self.timeout = _timeouts(timeout)
        self.timeout_retries, self.timeout_backoff = max(0, timeout_retries), timeout_backoff
        # A local server is talked to directly, never through HTTP(S)_PROXY, as Ollama's
        # own clients do: a proxy would otherwise receive every document's text.
        self._proxies = _DIRECT if _is_loopback(self.base_url) else None
        self.batch_size = batch_size
        self.session = requests.Session()
        self.session.auth = self.host.auth
        retry = Retry(
            total=retries,
            connect=retries,
            read=False,  # a read timeout is raised as itself, not retried
            other=0,
            status=retries,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,
            backoff_factor=backoff,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._legacy_embed = False
        self._dims: dict[str, int] = {}
        self._present: set[str] = set()  # models `require_models` found pulled

    def __repr__(self) -> str:
        return f"OllamaClient({self.host.shown!r})"

    def close(self) -> None:
        self.session.close()

    # -- metadata ----------------------------------------------------------

    def version(self) -> str:
        """The server's version string, e.g. `0.6.2`."""
        return str(self._json("GET", "/api/version").get("version", ""))

    def models(self) -> list[dict[str, Any]]:
        """The locally available models, as `/api/tags` lists them."""
        return list(self._json("GET", "/api/tags").get("models") or [])

    def has_model(self, model: str) -> bool:
        """Whether `model` (with or without `:latest`) has been pulled."""
        return any(same_model(model, m.get("name") or m.get("model", "")) for m in self.models())

    def require_models(self, models: Iterable[str]) -> None:
        """Raise `ModelNotFound` unless every one of `models` has been pulled: one
        `/api/tags` call, made before any slow work so a typo fails in a second. Models
        found once are remembered, so later calls for them send nothing. A server with
        no `/api/tags` cannot tell: the first real request will."""
        wanted = [m for m in dict.fromkeys(models) if m not in self._present]
        if not wanted:
            return
        try:
            names = [m.get("name") or m.get("model") or "" for m in self.models()]
        except _RouteMissing:
            return
        for model in wanted:
            if not any(same_model(model, name) for name in names):
                raise ModelNotFound(model, self.base_url)
            self._present.add(model)

    def show(self, model: str) -> dict[str, Any]:
        """Model details from `/api/show` (family, context length, capabilities)."""
        return self._json("POST", "/api/show", {"model": model}, model=model)

    def pull(self, model: str) -> Iterator[dict[str, Any]]:
        """Pull a model, yielding Ollama's progress events (`status`, `total`, `completed`).

        A name the library does not have is an `OllamaError` saying so, whether the
        server answers with an error status or with an error line in the stream."""
        try:
            payload = {"model": model, "stream": True}
            response = self._send("POST", "/api/pull", payload, stream=True)
        except OllamaError as exc:
            raise _not_in_library(model, exc) from exc
        try:
            yield from self._events(response, model=None)
        except OllamaError as exc:
            raise _not_in_library(model, exc) from exc
        finally:
            response.close()

    # -- embeddings --------------------------------------------------------

    def embed(
        self, texts: Sequence[str], model: str, *, batch_size: int | None = None
    ) -> np.ndarray:
        """Embed texts in batches; returns float32 `(len(texts), dim)`.

        Raises `BadResponse` when the server returns the wrong number of
        vectors or a dimension that differs from earlier answers.
        """
        size = batch_size or self.batch_size
        batches = [self.embed_batch(texts[i : i + size], model) for i in range(0, len(texts), size)]
        if not batches:
            return np.zeros((0, self._dims.get(model, 0)), dtype=np.float32)
        return np.concatenate(batches) if len(batches) > 1 else batches[0]

    def embed_batch(self, texts: Sequence[str], model: str) -> np.ndarray:
        """Embed texts in one request (or, on an old server, one request per text).

        A busy server or a model being loaded may not answer within the read timeout:
        the request is sent again, `timeout_retries` times, after a growing pause."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._dims.get(model, 0)), dtype=np.float32)
        attempt = 0
        while True:
            try:
                return self._embed_once(texts, model)
            except _NoAnswer as exc:
                if attempt >= self.timeout_retries:
                    raise self._busy(attempt + 1, model) from exc
            time.sleep(min(self.timeout_backoff * 2**attempt, self.timeout[1]))
            attempt += 1

    def _embed_once(self, texts: list[str], model: str) -> np.ndarray:
        if not self._legacy_embed:
            try:
                body = self._json(
                    "POST", "/api/embed", {"model": model, "input": texts}, model=model
                )
                return self._check_vectors(body.get("embeddings"), len(texts), model)
            except _RouteMissing:
                self._legacy_embed = True
        rows = [self._legacy_embedding(text, model) for text in texts]
        return self._check_vectors(rows, len(texts), model)

    def _busy(self, tries: int, model: str) -> OllamaError:
        times = f", {tries} times in a row" if tries > 1 else ""
        return OllamaError(
            f"no answer from {self.base_url} within {self.timeout[1]:g}s{times}: "
            f"the server is busy or the model '{model}' is still loading",
            hint="Try again later (`ragkit index` resumes where it stopped), or allow a "
            "longer wait with --timeout SECONDS or RAGKIT_TIMEOUT",
            url=self.base_url,
        )

    def _legacy_embedding(self, text: str, model: str) -> Any:
        try:
            body = self._json(
                "POST", "/api/embeddings", {"model": model, "prompt": text}, model=model
            )
        except _RouteMissing as exc:
            raise OllamaError(
                "this server has neither /api/embed nor /api/embeddings",
                url=self.base_url,
                hint="Upgrade Ollama, or check that OLLAMA_HOST points at Ollama",
            ) from exc
        return body.get("embedding")

    def _check_vectors(self, rows: Any, expected: int, model: str) -> np.ndarray:
        """Validate the server's vectors: right count, one dimension, same as before."""
        try:
            vectors = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise BadResponse(
                f"{model} returned vectors of uneven length", url=self.base_url
            ) from exc
        if vectors.ndim != 2 or vectors.shape[0] != expected or vectors.shape[1] == 0:
            got = vectors.shape[0] if vectors.ndim == 2 else "no usable"
            raise BadResponse(
                f"{model} returned {got} embeddings for {expected} texts", url=self.base_url
            )
        known = self._dims.setdefault(model, vectors.shape[1])
        if vectors.shape[1] != known:
            raise BadResponse(
                f"{model} returned {vectors.shape[1]}-dimensional embeddings, "
                f"earlier {known}-dimensional",
                url=self.base_url,
            )
        if not np.isfinite(vectors).all():
            raise BadResponse(
                f"{model} returned embeddings with NaN or infinity", url=self.base_url
            )
        return vectors

    # -- chat and generate -------------------------------------------------

    def chat(
        self,
        messages: Sequence[Message],
        model: str,
        *,
        stream: bool = False,
        options: Mapping[str, Any] | None = None,
        keep_alive: str | int | None = None,
        format: str | Mapping[str, Any] | None = None,
    ) -> Reply | Stream:
        """`/api/chat`: a `Reply`, or with `stream=True` a `Stream` of text pieces."""
        payload = {"model": model, "messages": [dict(m) for m in messages]}
        extras = {"options": options, "keep_alive": keep_alive, "format": format}
        return self._complete("/api/chat", "message", payload, stream=stream, extras=extras)

    def generate(
        self,
        prompt: str,
        model: str,
        *,
        stream: bool = False,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        keep_alive: str | int | None = None,
        format: str | Mapping[str, Any] | None = None,
    ) -> Reply | Stream:
        """`/api/generate`: a `Reply`, or with `stream=True` a `Stream` of text pieces."""
        payload: dict[str, Any] = {"model": model, "prompt": prompt}
        extras = {"system": system, "options": options, "keep_alive": keep_alive, "format": format}
        return self._complete("/api/generate", "response", payload, stream=stream, extras=extras)

    def _complete(
        self,
        path: str,
        key: str,
        payload: dict[str, Any],
        *,
        stream: bool,
        extras: Mapping[str, Any],
    ) -> Reply | Stream:
        """Send a chat/generate request; `key` names the field that carries the text."""
        model = payload["model"]
        _check_options(extras.get("options"))
        payload["stream"] = stream
        payload.update(
            {k: (dict(v) if k == "options" else v) for k, v in extras.items() if v is not None}
        )
        if stream:
            return Stream(
                self, self._send("POST", path, payload, stream=True, model=model), key, model
            )
        body = self._json("POST", path, payload, model=model)
        return Reply(_piece(body, key), _stats(body))

    # -- transport ---------------------------------------------------------

    def _json(
        self, method: str, path: str, payload: Any = None, *, model: str | None = None
    ) -> dict:
        response = self._send(method, path, payload, model=model)
        try:
            body = response.json()
        except ValueError as exc:
            raise BadResponse(
                f"{path} answered with something that is not JSON", url=self.base_url
            ) from exc
        if not isinstance(body, dict):
            raise BadResponse(
                f"{path} answered with a JSON {type(body).__name__}", url=self.base_url
            )
        return body

    def _send(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        stream: bool = False,
        model: str | None = None,
    ) -> requests.Response:
        """One HTTP call with retries; any non-2xx becomes the matching `RagkitError`."""
        url = self.base_url + path
        try:
            response = self.session.request(
                method,
                url,
                json=payload,
                timeout=self.timeout,
                stream=stream,
                proxies=dict(self._proxies) if self._proxies else None,
            )
        except requests.RequestException as exc:
            raise self._translate(exc) from exc
        if response.status_code >= 400:
            try:
                raise self._status_error(response, path, model)
            finally:
                response.close()
        return response

    def _status_error(self, response: requests.Response, path: str, model: str | None) -> Exception:
        message = _error_text(response)
        if response.status_code == 404 and not _is_json(response):
            return _RouteMissing(path)
        if model and _says_model_missing(message):
            return ModelNotFound(model, self.base_url)
        status, url = response.status_code, self.base_url
        if status == 401:  # e.g. an authenticating proxy in front of Ollama
            return OllamaError(
                message or response.reason, status=status, url=url, hint=self._auth_hint()
            )
        if model and "does not support" in message:  # e.g. an embedding model asked to chat
            hint = (
                f"'{model}' cannot do that: pick another model (answers: --model or "
                "RAGKIT_CHAT_MODEL, e.g. llama3.2; embeddings: --embed-model)"
            )
            return OllamaError(message, status=status, url=url, hint=hint)
        return OllamaError(message or response.reason, status=status, url=url)

    def _auth_hint(self) -> str:
        if self.host.auth is None:
            return (
                f"Ollama at {self.base_url} wants a user name and password: set OLLAMA_HOST "
                "(or --host) to http://USER:PASSWORD@HOST:PORT"
            )
        return (
            "The user name or password in OLLAMA_HOST (or --host) was refused: check them, "
            "and write @ : / in them as %40 %3A %2F"
        )

    def _events(self, response: requests.Response, model: str | None) -> Iterator[dict[str, Any]]:
        """Parse an NDJSON stream; an `error` line or a broken connection raises."""
        try:
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError as exc:
                    raise BadResponse(
                        f"malformed line in the answer stream: {line[:80]!r}", url=self.base_url
                    ) from exc
                if isinstance(event, dict) and "error" in event:
                    text = str(event["error"])
                    if model and _says_model_missing(text):
                        raise ModelNotFound(model, self.base_url)
                    raise OllamaError(text, url=self.base_url)
                yield event
        except requests.RequestException as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: requests.RequestException) -> RagkitError:
        """The one place where `requests` exceptions become ragkit's."""
        connect, read = self.timeout
        if isinstance(exc, requests.ConnectTimeout):
            return OllamaUnavailable(self.base_url, f"no connection within {connect:g}s")
        # A stream that stalls mid-answer arrives as a ConnectionError around urllib3's
        # ReadTimeoutError: the server is up, it just stopped sending.
        if isinstance(exc, requests.ReadTimeout) or _wraps(exc, ReadTimeoutError):
            return _NoAnswer(
                f"no answer from {self.base_url} within {read:g}s",
                hint="The model may still be loading: try again, or allow a longer timeout"
                " (--timeout SECONDS or RAGKIT_TIMEOUT)",
                url=self.base_url,
            )
        broken = isinstance(exc, requests.exceptions.ChunkedEncodingError)
        if broken or (isinstance(exc, requests.ConnectionError) and _broke_mid_answer(exc)):
            return OllamaError(
                f"the connection to {self.base_url} broke mid-answer", url=self.base_url
            )
        if isinstance(exc, requests.ConnectionError):
            return OllamaUnavailable(self.base_url)
        return OllamaError(f"request to {self.base_url} failed: {exc}", url=self.base_url)


def _not_in_library(model: str, exc: OllamaError) -> OllamaError:
    """`exc`, or for a name the library does not have (Ollama: "pull model manifest: file
    does not exist"; some servers: 404 "not found") an error that says so."""
    text = exc.message.lower()
    if "does not exist" not in text and "not found" not in text:
        return exc
    return OllamaError(
        f"'{model}' is not in the Ollama library",
        url=exc.url,
        hint="Check the model name at https://ollama.com/library, e.g. "
        "`ragkit pull nomic-embed-text` or `ragkit pull llama3.2`",
    )


def _check_options(options: Mapping[str, Any] | None) -> None:
    """Refuse NaN and infinite model options (temperature, top_p, ...) before sending."""
    for name, value in (options or {}).items():
        if isinstance(value, float | np.floating) and not math.isfinite(value):
            raise ConfigError(
                f"the model option {name} is {value}, not a finite number",
                value=value,
                hint=f"Give {name} a number, e.g. {name}=0.2, or leave it out",
            )


def _timeouts(timeout: float | tuple[float, float] | None) -> tuple[float, float]:
    """(connect, read) seconds from a pair, one number, or None (RAGKIT_TIMEOUT / default)."""
    if isinstance(timeout, tuple | list):
        return float(timeout[0]), float(timeout[1])
    read = float(timeout if timeout is not None else read_timeout() or DEFAULT_READ_TIMEOUT)
    return min(DEFAULT_CONNECT_TIMEOUT, read), read


class _NoAnswer(OllamaError):
    """No answer within the read timeout; `embed_batch` sends the request again."""


class _RouteMissing(OllamaError):
    """The server has no such endpoint (an older Ollama, or not Ollama at all)."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"the server has no {path} endpoint",
            status=404,
            hint="Upgrade Ollama, or check that OLLAMA_HOST points at Ollama",
        )


def _wraps(exc: Exception, kind: type[Exception]) -> bool:
    return bool(exc.args) and isinstance(exc.args[0], kind)


def _broke_mid_answer(exc: requests.ConnectionError) -> bool:
    text = str(exc)
    return "Connection broken" in text or "RemoteDisconnected" in text or "IncompleteRead" in text


def _is_json(response: requests.Response) -> bool:
    return "json" in response.headers.get("Content-Type", "")


def _error_text(response: requests.Response) -> str:
    """Ollama's own error text: the `error` field of a JSON body, else the raw body."""
    try:
        body = response.json()
    except ValueError:  # a proxy's HTML page: its title, on one line
        text = response.text
        title = _HTML_TITLE.search(text)
        return " ".join((title.group(1) if title else text).split())[:200]
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return json.dumps(body)[:200]


def _says_model_missing(message: str) -> bool:
    lowered = message.lower()
    return "not found" in lowered and "model" in lowered

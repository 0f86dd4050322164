"""Run the local server: load the models once, bind loopback, serve until stopped."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigError, RagkitError
from .api import make_server
from .engine import DEFAULT_MAX_QUEUE, DEFAULT_NUM_CTX, DEFAULT_PARALLEL, Engine
from .models import served_models

HOST = "127.0.0.1"  # loopback only: documents' text must not leave the machine


@dataclass(frozen=True)
class Ready:
    """What `run` tells its caller once it answers requests."""

    url: str
    load_seconds: dict[str, float]  # model name -> seconds its load took


@dataclass(frozen=True)
class Served:
    """What `run` returns once stopped."""

    requests: int  # that reached a model
    busy_seconds: float  # while at least one of them was inside a model


def parallel_from_env() -> int:
    """`OLLAMA_NUM_PARALLEL`, as Ollama reads it, else DEFAULT_PARALLEL."""
    raw = os.environ.get("OLLAMA_NUM_PARALLEL", "").strip()
    if not raw:
        return DEFAULT_PARALLEL
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise ConfigError(
            f"OLLAMA_NUM_PARALLEL must be a whole number from 1 to 64, not {raw!r}",
            value=raw,
            hint="Set it to e.g. 2, or unset it",
        )
    return int(raw)


def run(
    port: int,
    *,
    on_ready: Callable[[Ready], None],
    log: Callable[[str], None] | None = None,
    parallel: int | None = None,
    num_ctx: int = DEFAULT_NUM_CTX,
    threads: int | None = None,
) -> Served:
    """Serve on 127.0.0.1:`port` (0: a free port) until SIGTERM or Ctrl-C."""
    slots = parallel or parallel_from_env()
    engine = Engine(
        served_models(),
        parallel=slots,
        max_queue=DEFAULT_MAX_QUEUE,
        num_ctx=num_ctx,
        threads=threads,
    )
    try:
        httpd = make_server(engine, HOST, port, log)
    except OSError as exc:
        raise RagkitError(
            f"cannot listen on {HOST}:{port} ({exc.strerror or exc})",
            hint="Pick another port with --port, or --port 0 for a free one",
        ) from exc
    stop = lambda *_: threading.Thread(target=httpd.shutdown, daemon=True).start()  # noqa: E731
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        loads = {name: m.load_seconds for name, m in engine.models.items()}
        on_ready(Ready(f"http://{HOST}:{httpd.server_port}", loads))
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        httpd.server_close()
    return Served(engine.requests, engine.busy_seconds)

"""Terminal helpers without click: text made safe to print, a progress line for
stderr, byte sizes."""

from __future__ import annotations

import json
import math
import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Self, TextIO

from .errors import ConfigError

if TYPE_CHECKING:
    from .ingest import Progress

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "t": 1024**4,
    "tb": 1024**4,
}
MAX_SIZE = 1024**4  # 1TB: far more than one document ragkit can hold in memory

# What a document or file name must not send to a terminal raw: C0 controls but tab and
# newline, DEL, C1 (U+009B alone is CSI), the line and paragraph separators, bidi
# embeddings, overrides and isolates (they reorder what is shown), lone surrogates (the
# undecodable bytes of a file name).
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
UNSAFE_CHARS = re.compile(f"[{_UNSAFE}]")
_UNSAFE_IN_A_LINE = re.compile(f"[{_UNSAFE}\n]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def printable(text: str, *, one_line: bool = False) -> str:
    """`text` safe to show on a terminal: every character that could move the cursor,
    set the title, change colours or reorder the line becomes a visible escape
    (ESC -> `\\x1b`, U+202E -> `\\u202e`); newline and tab stay, unless `one_line`
    (then a newline is `\\n`, so a file name cannot start a line of its own)."""
    unsafe = _UNSAFE_IN_A_LINE if one_line else UNSAFE_CHARS
    return unsafe.sub(_visible, text)


def json_text(data: object, *, indent: int | None = 2) -> str:
    """Readable UTF-8 JSON (`indent=None`: one line) with every character a terminal
    could act on `\\u`-escaped (json.dumps leaves DEL, C1 and bidi controls raw); a
    file name's undecodable bytes (lone surrogates) too, so the text stays valid UTF-8
    and `os.fsencode(json.loads(...))` gives them back."""
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    return UNSAFE_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def parse_size(text: str | int) -> int:
    """`"50MB"` -> 52428800. Accepts B, KB, MB, GB, TB (powers of 1024), any case,
    up to MAX_SIZE (larger numbers overflow a read long before they mean anything)."""
    if isinstance(text, int) and not isinstance(text, bool):
        size = text
    else:
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
        unit = match.group(2).lower() if match else None
        if not match or unit not in _UNITS:
            raise ConfigError(
                f"not a size: {text!r}", value=text, hint="Use e.g. 500KB, 20MB or 1GB"
            )
        number = match.group(1)
        huge = len(number.partition(".")[0].lstrip("0")) > 15  # more than 1TB in any unit
        size = MAX_SIZE + 1 if huge else int(Decimal(number) * _UNITS[unit])
    if not 0 <= size <= MAX_SIZE:
        shown = repr(text) if len(repr(text)) <= 40 else repr(text)[:30] + "…"
        raise ConfigError(
            f"the size {shown} is {'negative' if size < 0 else 'over the 1TB limit'}",
            value=text,
            hint="Use e.g. 500KB, 20MB or 1GB",
        )
    return size


def human_bytes(size: float) -> str:
    """52428800 -> `50MB`; 1536 -> `1.5KB`."""
    unit = "B"
    for bigger in ("KB", "MB", "GB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f}".rstrip("0").rstrip(".") + unit


class StatusLine:
    """One self-rewriting line on stderr, drawn only when stderr is a terminal."""

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.width = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()

    def draw(self, line: str) -> None:
        """Replace the line on screen with `line`."""
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = max(self.width, len(line))


def bar(fraction: float, width: int = 24) -> str:
    """`[######------]` for a fraction between 0 and 1."""
    filled = int(width * min(max(fraction, 0.0), 1.0))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


class ProgressLine(StatusLine):
    """Indexing progress on one line: elapsed time, files done/total, chunks embedded
    out of those known so far, the rate and, once there is enough to go on, an ETA
    from chunks (never from files: unchanged ones settle in an instant).

    `update(progress)` takes an `ingest.Progress` and redraws at most 10 times a
    second (always on the last file); meanwhile a ticker thread redraws every `tick`
    seconds, so a slow server never looks hung. Draws only on a terminal or in a
    notebook; `clock` and `tick=None` are for tests."""

    WINDOW = 30.0  # seconds: the rate is measured over at least the last this many

    def __init__(
        self,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick: float | None = 0.5,
    ) -> None:
        super().__init__(enabled=enabled, stream=stream)
        self.enabled = enabled and (self.stream.isatty() or _is_notebook(self.stream))
        self.clock, self.tick = clock, tick
        self.started = clock()
        self.last_draw = float("-inf")
        self.progress: Progress | None = None
        self.samples: deque[tuple[float, int]] = deque()  # (time, chunks done) as it grew
        self.batches_back = 0  # times the chunks done grew
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Self:
        if self.enabled and self.tick:
            self._ticker = threading.Thread(target=self._tick, name="ragkit-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1)
        with self._lock:
            super().__exit__(*exc)

    def update(self, progress: Progress) -> None:
        """Take a new `Progress`; redraw unless the last drawing is under 0.1 s old."""
        with self._lock:
            now = self.clock()
            self._record(progress, now)
            finished = progress.files_done >= progress.files_total
            if self.enabled and (finished or now - self.last_draw >= 0.1):
                self._draw_at(now)

    def refresh(self) -> None:
        """Redraw with the current time (what the ticker does)."""
        with self._lock:
            if self.enabled:
                self._draw_at(self.clock())

    def _tick(self) -> None:
        while not self._stop.wait(self.tick):
            self.refresh()

    def _draw_at(self, now: float) -> None:
        self.last_draw = now
        line, width = self.render(now), _columns(self.stream)
        self.draw(line[: width - 1] if width > 1 else line)  # a wrapped line cannot be redrawn

    def _record(self, progress: Progress, now: float) -> None:
        """Keep the times at which chunks came back, from when there was work to do."""
        self.progress = progress
        if not self.samples and progress.chunks_total:
            self.samples.append((now, progress.chunks_done))  # the rate's clock starts
        elif self.samples and progress.chunks_done > self.samples[-1][1]:
            self.samples.append((now, progress.chunks_done))
            self.batches_back += 1
        while len(self.samples) > 2 and self.samples[1][0] <= now - self.WINDOW:
            self.samples.popleft()

    def rate(self, now: float) -> float | None:
        """Chunks per second since the newest sample at least WINDOW old (else since
        embedding began); None before the first chunks came back."""
        if len(self.samples) < 2 or self.progress is None:
            return None
        since, done_then = self.samples[0]
        return (self.progress.chunks_done - done_then) / max(now - since, 1e-9)

    def eta(self, now: float) -> float | None:
        """Seconds left at the current rate, once two batches came back and the run's
        chunks can be estimated; else None."""
        rate, progress = self.rate(now), self.progress
        if rate is None or progress is None or progress.chunks_expected is None:
            return None
        left = progress.chunks_expected - progress.chunks_done
        if self.batches_back < 2 or left <= 0:  # too early to tell, or only storing is left
            return None
        return left / rate  # rate > 0: chunks came back since its sample

    def render(self, now: float) -> str:
        """The line for time `now`: `1m05s [####----] 20/167 files  66/380 chunks ...`."""
        elapsed, progress = duration(now - self.started), self.progress
        if progress is None:
            return f"{elapsed}  looking for files..."
        done, total = progress.files_done, progress.files_total
        expected = progress.chunks_expected
        fraction = progress.chunks_done / expected if expected else (done / total if total else 1)
        parts = [
            f"{elapsed} {bar(fraction, 16)} {done}/{total} files",
            f"{progress.chunks_done}/{progress.chunks_total} chunks",
        ]
        rate, eta = self.rate(now), self.eta(now)
        if rate is not None:
            parts.append(f"{per_second(rate)} chunks/s")
        elif progress.chunks_total:
            parts.append("waiting for Ollama")
        if eta is not None:
            parts.append(f"ETA {duration(math.ceil(eta))}")
        return "  ".join(parts)


def duration(seconds: float) -> str:
    """`7s`, `3m05s`, `1h02m`."""
    whole = int(max(seconds, 0))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def per_second(rate: float) -> str:
    """A rate to two significant digits below 10 (`0.42`, `2.5`), whole above (`37`)."""
    if rate >= 10:
        return f"{rate:.0f}"
    return f"{rate:.2g}" if rate < 1 else f"{rate:.1f}"


def _is_notebook(stream: TextIO) -> bool:
    """A Jupyter output stream: not a terminal, but it honours `\r`."""
    return type(stream).__module__.startswith("ipykernel")


def _columns(stream: TextIO) -> int:
    """The terminal's width, 0 when unknown."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


class PullProgress(StatusLine):
    """`/api/pull` progress: a bar on a terminal, plain status lines otherwise."""

    def __init__(self, *, stream: TextIO | None = None) -> None:
        super().__init__(stream=stream)
        self.status = ""
        self.sizes: dict[str, int] = {}  # layer digest -> bytes

    @property
    def size(self) -> int:
        """Bytes of all layers seen so far."""
        return sum(self.sizes.values())

    def update(self, event: dict) -> None:
        status = printable(str(event.get("status") or ""), one_line=True)  # from the server
        total, done = event.get("total") or 0, event.get("completed") or 0
        if event.get("digest") and total:
            self.sizes[event["digest"]] = total
        if self.enabled:
            line = f"{status[:30]:<30}"
            if total:
                line += f" {bar(done / total)} {100 * min(done, total) // total:3d}%"
                line += f" {human_bytes(done)}/{human_bytes(total)}"
            self.draw(line.rstrip())
        elif status != self.status:
            self.stream.write(status + "\n")
            self.stream.flush()
        self.status = status

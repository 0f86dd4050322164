"""Terminal helpers without click: text made safe to print, a progress line for
stderr, byte sizes."""

from __future__ import annotations

import json
import re
import sys
import time
from decimal import Decimal
from typing import Self, TextIO

from .errors import ConfigError

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


def json_text(data: object) -> str:
    """Readable UTF-8 JSON with every character a terminal could act on `\\u`-escaped
    (json.dumps leaves DEL, C1 and bidi controls raw); a file name's undecodable bytes
    (lone surrogates) too, so the text stays valid UTF-8 and
    `os.fsencode(json.loads(...))` gives them back."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
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
    """Indexing progress: `update(progress)` takes an `ingest.Progress` and redraws
    at most 10 times a second (always on the last file)."""

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        super().__init__(enabled=enabled, stream=stream)
        self.started = time.monotonic()
        self.last_draw = 0.0

    def update(self, progress) -> None:
        now = time.monotonic()
        finished = progress.files_done >= progress.files_total
        if not self.enabled or (now - self.last_draw < 0.1 and not finished):
            return
        self.last_draw = now
        self.draw(self.render(progress, now - self.started))

    @staticmethod
    def render(progress, elapsed: float) -> str:
        done, total = progress.files_done, progress.files_total
        rate = progress.chunks_done / elapsed if elapsed > 0 else 0.0
        eta = elapsed / done * (total - done) if done else 0.0
        return (
            f"{bar(done / total if total else 1.0)} {done}/{total} files  "
            f"{progress.chunks_done} chunks  {rate:.0f} chunks/s  ETA {eta:.0f}s"
        )


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

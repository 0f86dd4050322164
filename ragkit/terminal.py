"""Terminal helpers without click: a progress line for stderr, byte sizes."""

from __future__ import annotations

import re
import sys
import time
from typing import TextIO

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
}


def parse_size(text: str | int) -> int:
    """`"50MB"` -> 52428800. Accepts B, KB, MB, GB (powers of 1024), any case."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise ConfigError(f"not a size: {text!r}", value=text, hint="Use e.g. 500KB, 20MB or 1GB")
    return int(float(match.group(1)) * _UNITS[unit])


def human_bytes(size: float) -> str:
    """52428800 -> `50MB`; 1536 -> `1.5KB`."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.1f}".rstrip("0").rstrip(".") + unit
        size /= 1024
    return f"{size}GB"  # unreachable; keeps type checkers calm


class ProgressLine:
    """One self-rewriting status line on stderr, only when stderr is a terminal.

    `update(progress)` takes an `ingest.Progress`; redraws at most 10 times a second."""

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.width = 0

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()

    def update(self, progress) -> None:
        now = time.monotonic()
        if not self.enabled or (
            now - self.last_draw < 0.1 and progress.files_done < progress.files_total
        ):
            return
        self.last_draw = now
        line = self.render(progress, now - self.started)
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = max(self.width, len(line))

    @staticmethod
    def render(progress, elapsed: float) -> str:
        done, total = progress.files_done, progress.files_total
        rate = progress.chunks_done / elapsed if elapsed > 0 else 0.0
        eta = elapsed / done * (total - done) if done else 0.0
        bar_width = 24
        filled = int(bar_width * done / total) if total else bar_width
        bar = "#" * filled + "-" * (bar_width - filled)
        return (
            f"[{bar}] {done}/{total} files  {progress.chunks_done} chunks  "
            f"{rate:.0f} chunks/s  ETA {eta:.0f}s"
        )

"""Ctrl-C and SIGTERM for the `ragkit` command: stop at once, no traceback.

After `install()`, SIGINT raises `KeyboardInterrupt` (as in any Python program)
and SIGTERM raises `Terminated`, so open transactions roll back
and `finally` blocks run as for any error: every document already stored stays
whole. Nothing waits for requests in flight (they run on daemon threads, see
`workers.py`). Once the command is on its way out (`ending()`), a further signal
ends the process at once with its exit code, so a second Ctrl-C is never a traceback.

    >>> install()
    >>> try:
    ...     run_command()
    ... except (KeyboardInterrupt, Terminated) as exc:
    ...     ending()
    ...     sys.exit(exit_code(exc))
"""

from __future__ import annotations

import os
import signal
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM
_installed = False  # only the `ragkit` command changes signal handling, never a library user


class Terminated(BaseException):
    """SIGTERM arrived. A `BaseException` like `KeyboardInterrupt`, but a different one:
    code that treats Ctrl-C as "stop this answer" does not swallow a request to quit."""


def install() -> None:
    """Make SIGTERM raise `Terminated` in the main thread, as Python makes SIGINT raise
    `KeyboardInterrupt`. A SIGTERM the process was started with ignored stays ignored."""
    global _installed
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    _installed = True


def ending() -> None:
    """From now on SIGINT and SIGTERM end the process at once (exit 130 / 143): the
    command is already stopping, and unwinding a second time would only print a traceback.
    Does nothing unless `install()` was called."""
    if not _installed:
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _exit_now)


def exit_code(exc: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM."""
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def _exit_now(signum: int, frame: FrameType | None) -> None:
    os._exit(EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED)

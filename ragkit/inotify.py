"""Linux inotify through ctypes: be told which paths in some folders changed, instead
of looking at every file again and again. No dependency: libc's inotify_init1,
inotify_add_watch and read() on the descriptor.

    with Inotify() as notes:
        notes.watch("/home/me/notes")
        touched = notes.wait(timeout=5.0)   # {"/home/me/notes/a.md", ...}, or set()

One watch per folder (inotify is not recursive): the caller adds new subfolders as
they appear. The kernel forgets a watch when its folder goes (IN_IGNORED); so do we,
so the table never outgrows the folders that exist.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import struct
import sys

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_ISDIR = 0x40000000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
MASK = (
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
    | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
)  # fmt: skip
OVERFLOW = "<overflow>"  # in `wait`'s answer: events were lost, look at everything
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len of the name that follows
_READ_SIZE = 64 * 1024


def available() -> bool:
    """True on Linux with a libc that has inotify."""
    return sys.platform.startswith("linux") and _libc() is not None


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None
    return libc if hasattr(libc, "inotify_init1") else None


class Inotify:
    """An inotify descriptor and the folders it watches."""

    def __init__(self) -> None:
        libc = _libc()
        if libc is None:
            raise OSError(errno.ENOSYS, "inotify is not available here")
        self._libc = libc
        self._fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        self._folders: dict[int, bytes] = {}  # watch descriptor -> folder
        self.writing: set[str] = set()  # files written to and not closed since

    def __enter__(self) -> Inotify:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the descriptor (the kernel drops every watch with it)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._folders.clear()

    @property
    def watched(self) -> int:
        """How many folders are watched now."""
        return len(self._folders)

    def watching(self, folder: str) -> bool:
        """True if `folder` (as named to `watch`) is watched now."""
        return os.fsencode(folder) in self._folders.values()

    def watch(self, folder: str) -> None:
        """Watch one folder (again is harmless). OSError: ENOSPC when the user's watch
        limit (fs.inotify.max_user_watches) is reached; ENOENT/ENOTDIR if it is gone."""
        name = os.fsencode(folder)
        wd = self._libc.inotify_add_watch(self._fd, name, MASK)
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), folder)
        self._folders[wd] = name

    def wait(self, timeout: float | None) -> set[str]:
        """The paths touched since the last call, waiting up to `timeout` seconds for
        the first (None: until one comes). Empty when the time ran out."""
        ready, _, _ = select.select([self._fd], [], [], timeout)
        touched: set[str] = set()
        while ready:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                break
            self._parse(data, touched)
        return touched

    def _parse(self, data: bytes, touched: set[str]) -> None:
        at = 0
        while at + _HEADER.size <= len(data):
            wd, mask, _, size = _HEADER.unpack_from(data, at)
            name = data[at + _HEADER.size : at + _HEADER.size + size].rstrip(b"\0")
            at += _HEADER.size + size
            if mask & IN_Q_OVERFLOW:
                touched.add(OVERFLOW)
                continue
            folder = self._folders.get(wd)
            if mask & IN_IGNORED:
                self._folders.pop(wd, None)
            if folder is not None:
                path = os.fsdecode(os.path.join(folder, name) if name else folder)
                touched.add(path)
                self._note_writer(path, mask)

    def _note_writer(self, path: str, mask: int) -> None:
        """Keep `writing` up to date: a file created or modified is open for writing
        until its IN_CLOSE_WRITE (or until it is deleted or moved away)."""
        if mask & (IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF):
            self.writing.discard(path)
        elif mask & (IN_MODIFY | IN_CREATE) and not mask & IN_ISDIR:
            self.writing.add(path)

"""Keep an index in step with folders as they change: `Watcher`, which `ragkit watch`
and `Index.watch` drive. It never prints: each change applied is a `WatchEvent` to a callback.

    watcher = Watcher(ingester, ["~/notes"], on_event=print)
    watcher.run()        # index once, then apply changes until Ctrl-C / SIGTERM

What the index should hold is decided as `ragkit index` decides it (the same
discovery of files, the same size-and-mtime comparison with the store), so after
any change the index equals a fresh `ragkit index` of the folders. Notifications
(Linux inotify, see `inotify.py`) only say when to look; without them, or with
`notify=False`, the folders are looked at every `interval` seconds (stat only: a file
whose size and mtime match its document is never read). A changed or removed path is
applied once it has looked the same for `settle` seconds (and, with notifications,
nothing touched it meanwhile): a burst of saves is embedded once, and a file being
written is not read half-written. Changes are applied in batches, each under the
run lock (`Ingester.update`), so a watcher never locks `ragkit index` out for long.
While Ollama cannot be reached the changes wait (the `waiting` event says so) and
are applied once it answers; memory holds only the paths that await a change.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from . import config, inotify
from .discovery import JUNK_DIRS, absolute, check_paths, discover_files
from .errors import OllamaUnavailable
from .ingest import Ingester, IngestSummary

DEFAULT_INTERVAL = config.DEFAULT_WATCH_INTERVAL  # seconds between looks when polling
DEFAULT_SETTLE = config.DEFAULT_WATCH_SETTLE  # a path must look the same this long
RESCAN_SECONDS = 60.0  # with notifications, look everywhere this often anyway
OPEN_WRITER_SECONDS = 30.0  # a file open for writing but untouched this long is taken anyway
MAX_RETRY_SECONDS = 10.0  # while Ollama is away, try again at least this often

Stat = tuple[int, float] | None  # (size, mtime) of a file; None: it is gone


@dataclass(frozen=True)
class WatchEvent:
    """Something the watcher did or is waiting for.

    kind: "indexed" (the first pass; detail is its summary), "watching" (detail: how),
    "new", "changed", "removed", "moved" (path, chunks; detail: the old path of a move),
    "failed" (path, detail: why),
    "waiting" (detail: for what), "resumed"."""

    kind: str
    path: str = ""
    chunks: int = 0
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        """The line `ragkit watch` prints (unescaped: pass it through `printable`)."""
        chunks = f" ({self.chunks} chunk{'' if self.chunks == 1 else 's'})"
        lines = {
            "indexed": f"indexed: {self.detail}",
            "watching": f"watching ({self.detail}); Ctrl-C to stop",
            "failed": f"failed: {self.path}: {self.detail}",
            "waiting": f"waiting: {self.detail}",
            "resumed": "resumed: Ollama answers again",
            "moved": f"moved: {self.detail} -> {self.path}",
        }
        return lines.get(self.kind, f"{self.kind}: {self.path}{chunks}")


class Watcher:
    """Applies the changes under some folders to an index, as they happen."""

    def __init__(
        self,
        ingester: Ingester,
        paths: Iterable[str | os.PathLike[str]],
        *,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        prune: bool = True,
        interval: float = DEFAULT_INTERVAL,
        settle: float = DEFAULT_SETTLE,
        notify: bool = True,
        on_event: Callable[[WatchEvent], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.ingester = ingester
        self.paths = list(paths)
        self.roots = [absolute(p) for p in check_paths(self.paths)]
        self.include, self.exclude, self.prune = include, exclude, prune
        self.interval, self.settle = interval, settle
        self.notify = notify and inotify.available()
        self.on_event = on_event or (lambda event: None)
        self.on_wait = on_wait
        self._seen: dict[str, tuple[Stat, float]] = {}  # awaiting: path -> (stat, since)
        self._failed: dict[str, Stat] = {}  # could not be indexed as it looked then
        self._touched: set[str] = set()  # named by a notification since the last look
        self._writing: set[str] = set()  # open for writing, as inotify tells (run() sets it)
        self._retry_at: float | None = None  # while Ollama is away
        self._retry_delay = settle

    def run(self, *, reembed: bool = False, stop: Callable[[], bool] | None = None) -> None:
        """Index the folders once, then apply changes until `stop()` is true (checked at
        least every `interval` seconds when given) or the process is interrupted.
        Notifications start before the first pass, so no change made during it is missed."""
        notes, how = self._open_notifications()
        self._writing = notes.writing if notes is not None else set()
        try:
            self._first_pass(reembed, stop)
            self.on_event(WatchEvent("watching", detail=how))
            while not (stop and stop()):
                self.step()
                timeout = self._timeout(bounded=stop is not None)
                if notes is not None:
                    self._touched |= notes.wait(timeout)
                    self._follow_folders(notes)
                else:
                    time.sleep(timeout)
        finally:
            if notes is not None:
                notes.close()

    def step(self) -> None:
        """Look once and apply what has settled (unless Ollama is away and it is not yet
        time to try again)."""
        now = time.monotonic()
        ready = self._settled(self._wanted(), now)
        if not ready or (self._retry_at is not None and now < self._retry_at):
            return
        try:
            self._apply(ready)
        except OllamaUnavailable as exc:
            self._wait_for_ollama(exc, now)
            return
        if self._retry_at is not None:
            self._retry_at, self._retry_delay = None, self.settle
            self.on_event(WatchEvent("resumed"))

    # -- the first pass ------------------------------------------------------------

    def _first_pass(self, reembed: bool, stop: Callable[[], bool] | None) -> None:
        """`Ingester.run` over the folders; while Ollama is away, retried."""
        while not (stop and stop()):
            try:
                summary = self.ingester.run(
                    self.paths,
                    include=self.include,
                    exclude=self.exclude,
                    prune=self.prune,
                    reembed=reembed,
                    on_wait=self.on_wait,
                )
            except OllamaUnavailable as exc:
                self._wait_for_ollama(exc, time.monotonic())
                time.sleep(max(0.0, self._retry_at - time.monotonic()))
                continue
            self._remember_failures(summary)
            self._retry_at, self._retry_delay = None, self.settle
            self.on_event(WatchEvent("indexed", detail=str(summary)))
            return

    def _remember_failures(self, summary: IngestSummary) -> None:
        for path, reason in summary.failed:
            self._failed[path] = _stat(path)
            self.on_event(WatchEvent("failed", path, detail=reason))

    def _wait_for_ollama(self, exc: OllamaUnavailable, now: float) -> None:
        if self._retry_at is None:
            queued = len(self._seen)
            what = f"{queued} change{'' if queued == 1 else 's'} queued" if queued else "waiting"
            self.on_event(WatchEvent("waiting", detail=f"{exc.message}; {what}, retrying"))
        else:
            self._retry_delay = min(self._retry_delay * 2, MAX_RETRY_SECONDS)
        self._retry_at = now + self._retry_delay

    # -- looking -------------------------------------------------------------------

    def _wanted(self) -> dict[str, Stat]:
        """Paths where the index differs from the folders: files to (re)index with their
        stat, documents to remove with None. Documents under a folder that cannot be
        listed, or under a named path that is not there now, are kept (not "gone")."""
        files, unlisted = self._scan()
        self._failed = {p: s for p, s in self._failed.items() if files.get(p) == s}
        indexed = {
            path: (info.size, info.mtime)
            for path, info in self.ingester.store.documents().items()
            if _under_any(path, self.roots)
        }
        wanted: dict[str, Stat] = {
            path: stat
            for path, stat in files.items()
            if indexed.get(path) != stat and path not in self._failed
        }
        if self.prune:
            for path in indexed.keys() - files.keys():
                if not _under_any(path, unlisted):
                    wanted[path] = None
        return wanted

    def _scan(self) -> tuple[dict[str, Stat], list[Path]]:
        """The files `ragkit index` would take now, with their stat; and the folders
        whose documents must be kept as they are (unreadable, or a root not there)."""
        present = [root for root in self.roots if root.exists()]
        unlisted = [root for root in self.roots if root not in present]
        unreadable: dict[Path, str] = {}
        found = discover_files(
            present,
            include=self.include,
            exclude=self.exclude,
            on_unreadable=unreadable.__setitem__,
        )
        files = {str(path): _stat(path) for path in found}
        return {p: s for p, s in files.items() if s is not None}, [*unlisted, *unreadable]

    def _settled(self, wanted: dict[str, Stat], now: float) -> list[str]:
        """The wanted paths that have looked the same for `settle` seconds and that no
        program is still writing (`_still_written`). Removals wait
        while any other path is still settling, so both halves of a move land in one
        batch (and the moved file keeps its vectors) however the notifications arrive."""
        seen: dict[str, tuple[Stat, float]] = {}
        for path, stat in wanted.items():
            before = self._seen.get(path)
            same = before is not None and before[0] == stat and path not in self._touched
            seen[path] = (stat, before[1] if same else now)
        self._seen, self._touched = seen, set()
        ready = [
            path
            for path, (stat, since) in seen.items()
            if now - since >= self.settle and not self._still_written(path, stat)
        ]
        if len(ready) < len(seen):  # a removal may be half of a move still settling:
            ready = [path for path in ready if seen[path][0] is not None]  # it waits for it
        return ready

    def _still_written(self, path: str, stat: Stat) -> bool:
        """A file another program holds open for writing (inotify saw it modified and not
        closed), unless it has not changed for OPEN_WRITER_SECONDS: a writer that pauses
        longer than `settle` does not get its file indexed half-written."""
        if path not in self._writing or stat is None:
            return False
        return time.time() - stat[1] < OPEN_WRITER_SECONDS

    def _timeout(self, *, bounded: bool) -> float | None:
        """How long to wait before looking again."""
        waits = [self.settle] if self._seen else []
        if self._retry_at is not None:
            waits.append(max(0.0, self._retry_at - time.monotonic()))
        waits.append(RESCAN_SECONDS if self.notify and not bounded else self.interval)
        return min(waits)

    # -- applying ------------------------------------------------------------------

    def _apply(self, ready: list[str]) -> None:
        """One `Ingester.update` for the settled paths (renames move, nothing embedded)."""
        removed = [path for path in ready if self._seen[path][0] is None]
        files = [Path(path) for path in ready if self._seen[path][0] is not None]
        self.ingester.update(files, removed, on_outcome=self._outcome, on_wait=self.on_wait)

    def _outcome(self, path: str, kind: str, chunks: int, detail: str) -> None:
        stat = self._seen.pop(path, (None, 0.0))[0]
        if kind == "moved":
            self._seen.pop(detail, None)
        if kind == "failed":
            self._failed[path] = stat
        if kind != "unchanged":
            self.on_event(WatchEvent(kind, path, chunks, detail))

    # -- notifications -------------------------------------------------------------

    def _open_notifications(self) -> tuple[inotify.Inotify | None, str]:
        """An inotify watching every folder under the roots, else None (polling); and
        which of the two, in words."""
        how = f"polling every {self.interval:g}s"
        if not self.notify:
            return None, how
        notes = inotify.Inotify()
        try:
            for folder in _folders(self.roots):
                notes.watch(folder)
        except OSError as exc:
            notes.close()
            self.notify = False
            return None, f"{how} (notifications unavailable: {exc.strerror})"
        count = notes.watched
        return notes, f"{count} folder{'' if count == 1 else 's'}, inotify"

    def _follow_folders(self, notes: inotify.Inotify) -> None:
        """Watch the folders that appeared (created, or moved in) among the touched paths."""
        if inotify.OVERFLOW in self._touched:
            new = list(self.roots)
        else:
            new = [Path(path) for path in self._touched if os.path.isdir(path)]
            new += [root for root in self.roots if not notes.watching(_folder_of(root))]
        for folder in _folders(new):
            try:
                notes.watch(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue  # gone again already
            except OSError as exc:  # the user's watch limit: look every `interval` too
                if self.notify:
                    self.notify = False
                    how = f"polling every {self.interval:g}s too: notifications {exc.strerror}"
                    self.on_event(WatchEvent("watching", detail=how))


def _folder_of(root: Path) -> str:
    """The folder whose notifications tell of `root`: itself, or a file's own folder."""
    return str(root if root.is_dir() or not root.exists() else root.parent)


def _folders(roots: Iterable[Path]) -> Iterable[str]:
    """Every folder under `roots` a walk could enter (hidden and junk folders skipped);
    for a file, its folder."""
    for root in roots:
        if not os.path.isdir(root):
            if os.path.isfile(root):
                yield str(root.parent)
            continue
        yield str(root)
        for folder, subfolders, _ in os.walk(root):
            subfolders[:] = [s for s in subfolders if not s.startswith(".") and s not in JUNK_DIRS]
            for sub in subfolders:
                yield os.path.join(folder, sub)


def _stat(path: str | Path) -> Stat:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime


def _under_any(path: str | Path, roots: Iterable[Path]) -> bool:
    path = Path(path)
    return any(path == root or root in path.parents for root in roots)

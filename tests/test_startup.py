"""Start-up cost: `ragkit --help` and `--version` load no heavy module, each command only
what it uses, and `from ragkit import Index, Retriever` stays lazy. Checked in fresh
interpreters (`sys.modules` after the command), never by timing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ragkit import config

# Runs the `ragkit` command in-process, then prints which of the watched modules it loaded.
_PROBE = """
import json, sys
watched = ("numpy", "requests", "sqlite3", "sqlite_utils", "pypdf")
try:
    from ragkit.cli import main
    main(sys.argv[1:])
except SystemExit:
    pass
finally:
    sys.stdout.flush()
    sys.stderr.write(json.dumps(sorted(m for m in watched if m in sys.modules)) + "\\n")
"""


def loaded_by(*args: str, cwd=None) -> list[str]:
    """The watched modules a `ragkit ARGS` process had imported when it ended."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, cwd=cwd
    )
    return json.loads(result.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["index", "--help"], ["ask", "-h"]])
def test_help_and_version_import_no_heavy_module(args):
    assert loaded_by(*args) == []


def test_status_needs_sqlite_but_not_http(tmp_path):
    assert "requests" not in loaded_by("status", "--db", str(tmp_path / "none.db"))


def test_a_bad_option_is_refused_before_anything_heavy_loads():
    assert loaded_by("search", "dome", "-k", "0") == []


def test_importing_ragkit_is_light_and_its_names_load_on_use():
    code = (
        "import sys, ragkit; heavy = [m for m in ('numpy', 'requests', 'sqlite3') "
        "if m in sys.modules]; from ragkit import Index, Retriever; "
        "from ragkit.index import Index as I; from ragkit.retriever import Retriever as R; "
        "print(heavy, Index is I and Retriever is R)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[] True", result.stderr


def test_option_defaults_moved_to_config_keep_their_old_names():
    from ragkit.answer import DEFAULT_NUM_CTX
    from ragkit.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
    from ragkit.ingest import DEFAULT_MAX_FILE_SIZE

    assert (DEFAULT_NUM_CTX, DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, DEFAULT_MAX_FILE_SIZE) == (
        config.DEFAULT_NUM_CTX,
        config.DEFAULT_CHUNK_SIZE,
        config.DEFAULT_OVERLAP,
        config.DEFAULT_MAX_FILE_SIZE,
    )

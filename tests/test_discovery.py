"""Tests for ragkit.discovery: real folder trees in tmp_path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ragkit.discovery import JUNK_DIRS, discover_files
from ragkit.errors import ConfigError
from ragkit.readers import read_document
from tests.test_readers import write


def rel(paths, root: Path) -> list[str]:
    return [p.relative_to(root.resolve()).as_posix() for p in paths]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in [
        "b.md",
        "a.txt",
        "UPPER.PDF",
        "image.png",
        "notes/z.rst",
        "notes/deeper/x.html",
        "notes/drafts/wip.md",
        ".hidden.md",
        ".obsidian/config.md",
        "node_modules/pkg/readme.md",
        "venv/lib/site.py",
        "src/app.py",
        "src/__pycache__/app.py",
        "notes/data.log",
    ]:
        write(tmp_path / "root" / name, "text")
    return tmp_path / "root"


def test_walk_skips_hidden_junk_and_unknown_in_stable_order(tree):
    found = rel(discover_files([tree]), tree)
    assert found == [
        "UPPER.PDF",
        "a.txt",
        "b.md",
        "notes/data.log",
        "notes/z.rst",
        "notes/deeper/x.html",
        "notes/drafts/wip.md",
        "src/app.py",
    ]
    assert list(discover_files(str(tree))) == list(discover_files([tree]))
    assert {"node_modules", ".git", "__pycache__", "venv"} <= JUNK_DIRS


def test_exclude_drops_files_and_whole_folders(tree):
    found = rel(discover_files([tree], exclude=["drafts", "*.LOG", "notes/deeper/"]), tree)
    assert found == ["UPPER.PDF", "a.txt", "b.md", "notes/z.rst", "src/app.py"]


def test_include_globs_replace_the_extension_list(tree):
    assert rel(discover_files([tree], include=["*.png", "notes/*.rst"]), tree) == [
        "image.png",
        "notes/z.rst",
    ]
    assert rel(discover_files([tree], include=["**/*.md"], exclude=["drafts"]), tree) == ["b.md"]


def test_named_files_are_yielded_even_unknown_or_hidden(tree):
    named = [tree / "image.png", tree / ".hidden.md", tree / "image.png"]
    assert rel(discover_files(named), tree) == ["image.png", ".hidden.md"]


def test_overlapping_roots_yield_each_file_once(tree):
    found = rel(discover_files([tree / "notes", tree, tree / "a.txt"]), tree)
    assert found[:4] == [
        "notes/data.log",
        "notes/z.rst",
        "notes/deeper/x.html",
        "notes/drafts/wip.md",
    ]
    assert len(found) == len(set(found)) == 8


def test_missing_path_is_a_config_error(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError) as err:
        list(discover_files([missing]))
    assert err.value.value == missing and "does not exist" in str(err.value)
    assert err.value.hint


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_symlink_loops_do_not_hang_and_file_links_are_followed(tmp_path):
    root = tmp_path / "root"
    write(root / "sub" / "doc.md", "x")
    write(tmp_path / "outside.txt", "y")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "self").symlink_to(root / "sub", target_is_directory=True)
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    (root / "broken.txt").symlink_to(tmp_path / "gone.txt")
    found = list(discover_files([root]))
    assert found == [root.resolve() / "link.txt", root.resolve() / "sub" / "doc.md"]
    followed = list(discover_files([root], follow_symlinks=True))
    # the loop and the second way into sub/ add nothing: each file comes once
    assert sorted(p.resolve() for p in followed) == sorted(p.resolve() for p in found)


@pytest.mark.skipif(sys.platform == "win32", reason="newlines in names")
def test_odd_file_names(tmp_path):
    names = ["with space.md", "new\nline.txt", "ünïcødé 日本.md", "semi;colon $HOME.txt"]
    for name in names:
        write(tmp_path / name, f"content of {name}")
    found = list(discover_files([tmp_path]))
    assert sorted(p.name for p in found) == sorted(names)
    for path in found:
        assert read_document(path).text == f"content of {path.name}"

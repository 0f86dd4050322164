"""`Index.documents` / `ragkit ls` and `Index.forget` / `ragkit forget`."""

from __future__ import annotations

import json
import os
import re

import pytest
from click.testing import CliRunner

from ragkit.cli import cli
from ragkit.cli_catalog import show_watch_event
from ragkit.errors import ConfigError
from ragkit.index import Index
from ragkit.watch import WatchEvent
from tests.conftest import SAMPLE_DOCUMENTS
from tests.index_checks import check_index, snapshot


@pytest.fixture
def notes_index(tmp_path, fake):
    """Two folders, four files, indexed: (index, notes folder, other folder)."""
    notes, other = tmp_path / "notes", tmp_path / "other"
    (notes / "sub").mkdir(parents=True)
    other.mkdir()
    (notes / "a.md").write_text("# Dome\n\nThe dome parks at azimuth term001.\n" * 40)
    (notes / "b.txt").write_text("Bunk beds built of term002 in spring.\n")
    (notes / "sub" / "c.md").write_text("Spare keys under the term003 stone.\n")
    (other / "d.txt").write_text("Another folder, term004.\n")
    index = Index(tmp_path / "index.db", host=fake.url)
    index.add([notes, other], progress=False)
    yield index, notes, other
    index.close()


def test_documents_lists_each_file_with_its_state_on_disk(notes_index):
    index, notes, _ = notes_index
    (notes / "b.txt").write_text("Bunk beds, rewritten.\n")
    (notes / "sub" / "c.md").unlink()
    documents = {os.path.basename(doc.path): doc for doc in index.documents()}
    assert sorted(documents) == ["a.md", "b.txt", "c.md", "d.txt"]
    assert [documents[n].state for n in ("a.md", "b.txt", "c.md")] == [
        "indexed",
        "changed",
        "missing",
    ]
    a = documents["a.md"]
    assert a.type == "markdown" and a.chunks >= 2 and a.size == (notes / "a.md").stat().st_size
    assert a.pages is None and a.indexed_at.endswith("+00:00")
    assert [os.path.basename(d.path) for d in index.documents("*.md")] == ["a.md", "c.md"]
    assert [os.path.basename(d.path) for d in index.documents("notes/sub/*")] == ["c.md"]


def test_documents_of_the_sample_corpus_count_pdf_pages(corpus_db):
    with Index(corpus_db) as index:
        documents = index.documents()
        pdfs = index.documents("*.pdf")
    assert len(documents) == SAMPLE_DOCUMENTS and all(doc.state == "indexed" for doc in documents)
    assert len(pdfs) == 2 and all(doc.pages and doc.pages >= 2 for doc in pdfs)


def test_forget_removes_a_folder_and_a_file_in_one_go(notes_index):
    index, notes, other = notes_index
    before = {d.path: d.chunks for d in index.documents()}
    removed = index.forget([notes / "sub", other / "d.txt"])
    assert removed.documents == 2
    gone = [str(notes / "sub" / "c.md"), str(other / "d.txt")]
    assert sorted(removed.paths) == sorted(gone)
    assert removed.chunks == sum(before[p] for p in gone)
    assert sorted(d.path for d in index.documents()) == sorted(set(before) - set(gone))
    assert not index.search("spare keys stone term003", k=5, mode="keyword")
    check_index(index.path)  # FTS in step, the sidecar holds exactly the store's vectors


def test_forget_refuses_a_path_that_matches_nothing_and_removes_nothing(notes_index, tmp_path):
    index, notes, _ = notes_index
    before = snapshot(index.path)
    with pytest.raises(ConfigError, match="matches no indexed document") as caught:
        index.forget([notes / "a.md", tmp_path / "elsewhere"])
    assert "ragkit ls" in caught.value.hint
    assert snapshot(index.path) == before
    assert index.forget(notes).documents == 3


def test_ls_prints_a_summary_per_folder_and_json(notes_index):
    index, notes, other = notes_index
    (notes / "a.md").write_text("changed")
    db = str(index.path)
    result = CliRunner().invoke(cli, ["ls", "--db", db])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{notes}: 3 documents, ") and "1 changed on disk" in lines[0]
    assert any(line.startswith(f"{other}: 1 document, 1 chunk,") for line in lines)
    assert any("sub/c.md" in line and "markdown" in line for line in lines)
    data = json.loads(CliRunner().invoke(cli, ["ls", "*.txt", "--db", db, "--json"]).output)
    assert [os.path.basename(d["path"]) for d in data] == ["b.txt", "d.txt"]
    assert set(data[0]) == {
        "path",
        "type",
        "title",
        "size",
        "chunks",
        "pages",
        "indexed_at",
        "state",
    }


def test_forget_on_the_command_line(notes_index, tmp_path):
    index, notes, _ = notes_index
    db = str(index.path)
    missing = CliRunner().invoke(cli, ["forget", str(tmp_path / "nothing"), "--db", db])
    assert missing.exit_code == 2 and "ragkit ls" in missing.output
    assert "Traceback" not in missing.output
    done = CliRunner().invoke(cli, ["forget", str(notes), "--db", db])
    assert done.exit_code == 0 and done.output.startswith("forgot 3 documents (")


HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b1m\u202e"  # window title, clear screen, C1 CSI, bidi
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_file_names_reach_ls_and_watch_lines_escaped(tmp_path, fake, capsys):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / f"evil{HOSTILE}.md").write_text("dome term001")
    with Index(tmp_path / "index.db", host=fake.url) as index:
        index.add(notes, progress=False)
    result = CliRunner().invoke(cli, ["ls", "--db", str(tmp_path / "index.db")], color=True)
    assert result.exit_code == 0 and "evil\\x1b]0;pwned" in result.output
    assert not RAW.search(result.output)
    path = str(notes / f"evil{HOSTILE}.md")
    for event in (WatchEvent("new", path, 1), WatchEvent("failed", path, detail=HOSTILE)):
        show_watch_event(event, as_json=False, quiet=False)
        show_watch_event(event, as_json=True, quiet=False)
    out, err = capsys.readouterr()
    assert not RAW.search(out + err)
    assert json.loads(out.splitlines()[-1])["path"] == path  # JSON lines stay exact

"""How an index run starts: a mistyped folder creates no database, and a second run
on the same database waits for the first instead of embedding the same files again."""

from __future__ import annotations

import random
import select
import subprocess
import time

import pytest
from click.testing import CliRunner

from ragkit.cli import cli
from ragkit.errors import ConfigError
from ragkit.index import Index
from ragkit.runlock import WAIT_NOTE, exclusive_run, lock_path
from tests.index_checks import run_ragkit, start_index, write_marked_corpus

# -- a path that does not exist ---------------------------------------------------


@pytest.mark.parametrize("named", [["missing"], ["notes", "missing"]], ids=["alone", "and one"])
def test_index_of_a_missing_folder_creates_no_database(tmp_path, fake_ollama, named):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text("# A\n\nThe dome.\n")
    db = tmp_path / "new" / "index.db"
    args = ["index", *(str(tmp_path / n) for n in named), "--db", str(db)]
    result = CliRunner().invoke(cli, [*args, "--host", fake_ollama.url])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {tmp_path / 'missing'} does not exist. "
        "Check the spelling, or pass an existing file or folder"
    )
    assert not db.parent.exists()  # neither the file nor its folder
    assert fake_ollama.requests == []


def test_index_add_of_a_missing_folder_creates_no_database(tmp_path, fake_ollama):
    db = tmp_path / "index.db"
    with Index(db, host=fake_ollama.url) as index, pytest.raises(ConfigError, match="missing"):
        index.add(tmp_path / "missing")
    assert not db.exists() and not lock_path(db).exists()


# -- two runs at once ----------------------------------------------------------------


def wait_for_embed_request(fake, before: int, proc: subprocess.Popen) -> None:
    """Until `proc` has sent an embed request: it holds the run lock by then."""
    deadline = time.monotonic() + 60
    while fake.count("/api/embed") == before:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no embed request"
        time.sleep(0.02)


def first_stderr_line(proc: subprocess.Popen, seconds: float = 60) -> str:
    ready, _, _ = select.select([proc.stderr], [], [], seconds)
    return proc.stderr.readline().strip() if ready else ""


def test_a_second_index_run_waits_for_the_first_and_embeds_nothing_twice(tmp_path, fake_ollama):
    corpus, db = tmp_path / "notes", tmp_path / "index.db"
    write_marked_corpus(corpus, 30, random.Random(5))
    alone = run_ragkit(["index", str(corpus), "--db", str(tmp_path / "alone.db")], fake_ollama.url)
    assert alone.returncode == 0, alone.stderr
    one_run, requests = fake_ollama.embedded_texts, fake_ollama.count("/api/embed")
    with fake_ollama.holding_embeds():  # the first run stays busy until the second waits
        first = start_index(corpus, db, fake_ollama.url)
        wait_for_embed_request(fake_ollama, requests, first)
        second = start_index(corpus, db, fake_ollama.url)
        assert first_stderr_line(second) == WAIT_NOTE
    outputs = [proc.communicate(timeout=60) for proc in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert fake_ollama.embedded_texts == 2 * one_run  # `alone`, then one run's worth
    assert "0 new, 0 changed, 30 unchanged" in outputs[1][0]  # the second found it all done


def test_the_lock_dies_with_its_process(tmp_path, fake_ollama):
    corpus, db = tmp_path / "notes", tmp_path / "index.db"
    write_marked_corpus(corpus, 5, random.Random(6))
    with fake_ollama.holding_embeds():
        killed = start_index(corpus, db, fake_ollama.url)
        wait_for_embed_request(fake_ollama, 0, killed)
        killed.kill()
        killed.communicate()
    assert lock_path(db).exists()  # left behind, but no longer held
    after = run_ragkit(["index", str(corpus), "--db", str(db)], fake_ollama.url)
    assert after.returncode == 0 and WAIT_NOTE not in after.stderr, after.stderr


def test_a_run_inside_a_run_of_the_same_process_does_not_wait_for_itself(tmp_path):
    notes = []
    with exclusive_run(tmp_path / "index.db", notes.append):
        with exclusive_run(tmp_path / "index.db", notes.append):
            pass
    assert notes == []

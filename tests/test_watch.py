"""`ragkit watch` as a real process against the fake Ollama: after each kind of change,
within a bounded wait, its index equals a fresh `ragkit index` of the folder (documents,
chunks and embeddings), and it embedded no more than what changed."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ragkit import inotify
from ragkit.cli import cli
from ragkit.index import Index
from ragkit.ingest import Ingester
from ragkit.ollama import OllamaClient
from ragkit.store import Store
from ragkit.watch import Watcher
from tests.conftest import timing_bound
from tests.fake_ollama import FakeOllama
from tests.index_checks import check_index, marked_text, run_ragkit
from tests.watch_checks import Watching, fresh_index, new_chunks, state


class InStep:
    """Checks a watcher against fresh indexes: `mark()` before a change, `check()` after
    it waits (bounded) until the child's index equals a fresh index of the folder, then
    checks the child embedded, since the mark, exactly the chunks whose content is new."""

    def __init__(self, child: Watching, db: Path, folder: Path, tmp_path: Path, fake, clean):
        self.child, self.db, self.folder, self.fake, self.clean = child, db, folder, fake, clean
        self.clean_db = tmp_path / "clean" / "index.db"
        self.mark()

    def mark(self) -> None:
        self.before, self.embedded = state(self.db)[1], self.fake.embedded_texts

    def check(self) -> None:
        expected = fresh_index(self.folder, self.clean_db, self.clean.url)
        self.child.wait_for(lambda: state(self.db) == expected, "the index to equal a fresh one")
        assert self.fake.embedded_texts - self.embedded == new_chunks(self.before, expected[1])
        self.mark()


def write_slowly(path: Path, text: str, pieces: int) -> None:
    """Write `text` in `pieces` appends, flushed one by one, with short pauses."""
    step = len(text) // pieces + 1
    with path.open("w", encoding="utf-8") as out:
        for at in range(0, len(text), step):
            out.write(text[at : at + step])
            out.flush()
            time.sleep(0.01)


@pytest.fixture
def clean_fake():
    """A second fake for the fresh reference indexes (its embeddings are the same)."""
    with FakeOllama() as server:
        yield server


@timing_bound
@pytest.mark.parametrize("how", ["inotify", "poll"])
def test_watch_keeps_the_index_equal_to_a_fresh_index_through_every_kind_of_change(
    tmp_path, fake, clean_fake, how
):
    rng = random.Random(14)
    root, db = tmp_path / "notes", tmp_path / "index.db"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "start.md").write_text(marked_text(rng, "mark0000v0", 1500))
    # Polling cannot see that a writer still holds a file open (inotify can), so there the
    # slow write is told from a finished one by time alone: give it a wider margin.
    extra = ["--poll", "--interval", "0.1", "--settle", "1.5"] if how == "poll" else []
    with Watching(root, db, fake.url, *extra) as child:
        assert ("watching" in child.kinds()) and child.events[0]["kind"] == "indexed"
        steps = InStep(child, db, root, tmp_path, fake, clean_fake)
        steps.check()  # the first pass
        note = root / "a" / "note.md"
        note.write_text(marked_text(rng, "mark0001v0", 2500))  # create
        steps.check()
        for version in (1, 2, 3):  # three quick saves: embedded once
            note.write_text(marked_text(rng, f"mark0001v{version}", 2500))
        steps.check()
        note.rename(root / "a" / "renamed.md")  # rename: nothing embedded
        steps.check()
        (root / "a" / "renamed.md").rename(root / "b" / "renamed.md")  # between folders
        steps.check()
        (root / "b" / "renamed.md").unlink()  # delete
        steps.check()
        sub = root / "b" / "new" / "deeper"
        sub.mkdir(parents=True)  # a subfolder with files (its own subfolder too)
        (sub.parent / "one.txt").write_text(marked_text(rng, "mark0002v0", 800))
        (sub / "two.md").write_text(marked_text(rng, "mark0003v0", 800))
        steps.check()
        (root / "a" / "start.md").unlink()  # a file replaced by a folder of that name
        (root / "a" / "start.md").mkdir()
        (root / "a" / "start.md" / "inside.md").write_text(marked_text(rng, "mark0004v0", 900))
        steps.check()
        write_slowly(root / "b" / "big.txt", marked_text(rng, "mark0005v0", 400_000), 100)
        steps.check()  # indexed once, whole: never half-written
        assert "moved" in child.kinds() and "failed" not in child.kinds()
        assert child.stop() == 143
    assert "terminated: what was already stored stays in the index" in "".join(child.errors)
    check_index(db)


def test_a_file_created_during_the_first_pass_is_not_missed(tmp_path, fake_ollama):
    """Notifications start before the first pass: a file written while it embeds is
    indexed within seconds, not at the next full look (`RESCAN_SECONDS`, a minute)."""
    root, db = tmp_path / "notes", tmp_path / "index.db"
    root.mkdir()
    for i in range(20):
        (root / f"n{i}.md").write_text(f"note {i} about term{i:03d}")
    fake_ollama.per_text_latency = 0.1  # the first pass embeds for about two seconds
    child = Watching(root, db, fake_ollama.url)
    try:
        child.wait_for(lambda: fake_ollama.active_embeds > 0, "the first pass to embed")
        (root / "late.md").write_text("written during the first pass, term999")
        fake_ollama.per_text_latency = 0
        child.wait_for(lambda: str(root / "late.md") in child.paths(), "late.md", limit=30)
        assert child.events[0]["kind"] == "indexed"
    finally:
        child.__exit__()


def test_an_idle_polling_watcher_reads_nothing_and_asks_nothing(tmp_path, fake):
    """Polling is stat only: unchanged files are never read or hashed again, and with
    nothing changed Ollama is never asked (each `update` would ask /api/tags first)."""
    root = tmp_path / "notes"
    root.mkdir()
    for i in range(20):
        (root / f"n{i}.md").write_text(f"note {i} about term{i:03d}")
    with Store(tmp_path / "index.db") as store:
        ingester = Ingester(store, OllamaClient(fake.url))
        watcher = Watcher(ingester, [root], notify=False, interval=0.01, settle=0.0)
        looks = iter(range(30))
        watcher.run(stop=lambda: next(looks, None) is None)
        requests = len(fake.requests)
        for _ in range(20):
            watcher.step()
        assert len(fake.requests) == requests
        (root / "n3.md").write_text("note 3, changed")
        watcher.step()
        assert fake.embedded_texts == 21  # the 20 once, then the one that changed


def test_a_removal_waits_for_a_new_file_still_settling_so_a_move_is_one_batch(tmp_path, fake):
    """A move seen as two notifications read apart: the new path's clock restarts at
    the second one, so the old path settles first. Applied alone it would be a removal,
    and the new path a new file embedded again."""
    root = tmp_path / "notes"
    root.mkdir()
    old, new = str(root / "old.md"), str(root / "new.md")
    with Store(tmp_path / "index.db") as store:
        watcher = Watcher(Ingester(store, OllamaClient(fake.url)), [root], notify=False, settle=1)
        wanted = {old: None, new: (10, 1.0)}
        assert watcher._settled(wanted, now=100.0) == []
        watcher._touched = {new}  # the second half of the move is read now
        assert watcher._settled(wanted, now=101.5) == []  # old.md settled, but waits
        assert sorted(watcher._settled(wanted, now=102.6)) == [new, old]  # one batch


@pytest.mark.skipif(not inotify.available(), reason="needs Linux inotify")
def test_a_file_still_open_for_writing_waits_for_its_writer(tmp_path, fake):
    """A writer that pauses longer than `settle` (a busy machine, a slow copy) does not
    get its file indexed half-written: inotify says it was modified and not yet closed."""
    root = tmp_path / "notes"
    root.mkdir()
    path = root / "big.txt"
    with Store(tmp_path / "index.db") as store, inotify.Inotify() as notes:
        watcher = Watcher(Ingester(store, OllamaClient(fake.url)), [root], notify=False, settle=0)
        watcher._writing = notes.writing
        notes.watch(str(root))
        with path.open("w") as out:
            out.write("half of it")
            out.flush()
            watcher._touched = notes.wait(5.0)
            stat = (path.stat().st_size, path.stat().st_mtime)
            assert watcher._settled({str(path): stat}, now=100.0) == []  # settled, but open
        watcher._touched = notes.wait(5.0)  # IN_CLOSE_WRITE
        stat = (path.stat().st_size, path.stat().st_mtime)
        assert watcher._settled({str(path): stat}, now=101.0) == [str(path)]


def test_index_watch_follows_a_folder_until_told_to_stop(tmp_path, fake):
    root = tmp_path / "notes"
    root.mkdir()
    (root / "a.md").write_text("alpha term001")
    events, looks = [], iter(range(2000))  # a bound on looks, not on time

    def stop() -> bool:
        look = next(looks, None)
        if look == 2:
            (root / "a.md").rename(root / "b.md")
            (root / "c.md").write_text("gamma term003")
        return look is None or {"moved", "new"} <= {event.kind for event in events}

    with Index(tmp_path / "index.db", host=fake.url) as index:
        index.watch(root, on_event=events.append, stop=stop, interval=0.01, notify=False)
        assert [doc.path for doc in index.documents()] == [str(root / "b.md"), str(root / "c.md")]
    assert [e.kind for e in events][:2] == ["indexed", "watching"]


def test_sigint_and_sigterm_stop_a_watcher_mid_batch_with_nothing_half_stored(
    tmp_path, fake_ollama
):
    fake = fake_ollama
    rng = random.Random(3)
    root, db = tmp_path / "notes", tmp_path / "index.db"
    root.mkdir()
    (root / "first.md").write_text(marked_text(rng, "mark0000v0", 500))
    for signum, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        fake.per_text_latency = 0
        with Watching(root, db, fake.url) as child:
            fake.per_text_latency = 60.0  # every request from now on is held
            for i in range(30):
                (root / f"f{signum}-{i}.md").write_text(marked_text(rng, f"mark{i:04d}v1", 3000))
            child.wait_for(lambda: fake.active_embeds > 0, "a request in flight")
            assert child.stop(signum) == code
        assert "Traceback" not in "".join(child.errors)
        check_index(db)


@timing_bound
def test_changes_wait_while_ollama_is_away_then_apply(tmp_path, fake_ollama, clean_fake):
    rng = random.Random(5)
    root, db = tmp_path / "notes", tmp_path / "index.db"
    root.mkdir()
    (root / "kept.md").write_text(marked_text(rng, "mark0000v0", 700))
    with Watching(root, db, fake_ollama.url) as child:
        fake_ollama.stop()
        (root / "while-away.md").write_text(marked_text(rng, "mark0001v0", 700))
        (root / "kept.md").write_text(marked_text(rng, "mark0000v1", 700))
        child.wait_for(lambda: "waiting" in child.kinds(), "the waiting line")
        waiting = next(e for e in child.events if e["kind"] == "waiting")
        assert "cannot reach Ollama" in waiting["detail"] and "queued" in waiting["detail"]
        fake_ollama.start()  # the same port
        expected = fresh_index(root, tmp_path / "clean" / "index.db", clean_fake.url)
        child.wait_for(lambda: state(db) == expected, "the queued changes")
        assert "resumed" in child.kinds()
        assert child.stop() == 143


def test_two_watchers_and_an_index_on_one_database(tmp_path, fake, clean_fake):
    rng = random.Random(8)
    root, db = tmp_path / "notes", tmp_path / "index.db"
    root.mkdir()
    (root / "a.md").write_text(marked_text(rng, "mark0000v0", 700))
    with Watching(root, db, fake.url) as one, Watching(root, db, fake.url) as two:
        for i in range(10):
            (root / f"n{i}.md").write_text(marked_text(rng, f"mark{i + 1:04d}v0", 1200))
        done = run_ragkit(["index", str(root), "--db", str(db)], fake.url)
        assert done.returncode == 0, done.stderr
        expected = fresh_index(root, tmp_path / "clean" / "index.db", clean_fake.url)
        for child in (one, two):
            child.wait_for(lambda: state(db) == expected, "both watchers in step")
        os.remove(root / "a.md")
        expected = fresh_index(root, tmp_path / "clean" / "index.db", clean_fake.url)
        one.wait_for(lambda: state(db) == expected, "the removal")
        assert one.stop() == 143 and two.stop() == 143
    for child in (one, two):
        assert not any("locked" in line.lower() for line in child.errors)
    check_index(db)


def test_watch_refuses_a_missing_folder_without_creating_an_index(tmp_path, fake):
    db = tmp_path / "i.db"
    result = CliRunner().invoke(cli, ["watch", str(tmp_path / "nope"), "--db", str(db)])
    assert result.exit_code == 1 and "does not exist" in result.output
    assert not db.exists()

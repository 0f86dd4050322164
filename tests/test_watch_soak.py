"""Soak (`make soak`): a `ragkit watch` through 1,000 random file operations, with the
Ollama server going away and coming back twice; at the end its index equals a fresh
index of the folder, and its peak RSS at the end is reported beside the one at the start."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest

from tests.fake_ollama import FakeOllama
from tests.index_checks import check_index, marked_text
from tests.watch_checks import Watching, fresh_index, state

OPERATIONS = 1000
OUTAGES = ((300, 400), (650, 750))  # (stop before operation i, start again before j)
SEED = 1414
PAUSE = 0.02  # seconds between operations


def peak_rss_kib(pid: int) -> int:
    """VmHWM of a process: the most resident memory it has held."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def random_operation(rng: random.Random, root: Path, n: int) -> None:
    """Create, save, save three times, rename, move, delete a file, make or remove a folder."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    folders = [root, *sorted(p for p in root.rglob("*") if p.is_dir())]
    kind = rng.choice(["create"] * 3 + ["save", "burst", "rename", "move", "delete", "folder"])
    if kind == "create" or not files:
        (rng.choice(folders) / f"f{n}.{rng.choice(['md', 'txt'])}").write_text(
            marked_text(rng, f"mark{n:04d}v0", rng.randint(50, 3000))
        )
    elif kind in ("save", "burst"):
        target = rng.choice(files)
        for version in range(3 if kind == "burst" else 1):
            target.write_text(marked_text(rng, f"mark{n:04d}v{version}", rng.randint(50, 3000)))
    elif kind == "rename":
        target = rng.choice(files)
        target.rename(target.with_name(f"r{n}{target.suffix}"))
    elif kind == "move":
        target = rng.choice(files)
        target.rename(rng.choice(folders) / f"m{n}{target.suffix}")
    elif kind == "delete":
        rng.choice(files).unlink()
    elif len(folders) < 12 or rng.random() < 0.5:
        folder = rng.choice(folders) / f"d{n}"
        folder.mkdir()
        (folder / f"in{n}.md").write_text(marked_text(rng, f"mark{n:04d}v0", 700))
    else:
        shutil.rmtree(rng.choice(folders[1:]))


@pytest.mark.soak
@pytest.mark.timeout(900)
def test_soak_a_thousand_random_operations_with_ollama_going_away_twice(
    tmp_path, fake_ollama, capsys
):
    rng = random.Random(SEED)
    root, db = tmp_path / "notes", tmp_path / "index.db"
    root.mkdir()
    for i in range(30):
        (root / f"start{i}.md").write_text(marked_text(rng, f"start{i:03d}", 1500))
    with Watching(root, db, fake_ollama.url) as child:
        start_rss = peak_rss_kib(child.proc.pid)
        for n in range(OPERATIONS):
            if any(n == down for down, _ in OUTAGES):
                fake_ollama.stop()
            if any(n == up for _, up in OUTAGES):
                fake_ollama.start()
            random_operation(rng, root, n)
            time.sleep(PAUSE)  # paces the operations, so each outage lasts seconds
        with FakeOllama() as clean:
            expected = fresh_index(root, tmp_path / "clean" / "index.db", clean.url)
        child.wait_for(lambda: state(db) == expected, "the index to equal a fresh one", 300)
        end_rss = peak_rss_kib(child.proc.pid)
        assert child.kinds().count("waiting") >= 2 and "resumed" in child.kinds()
        assert child.stop() == 143
    check_index(db)
    with capsys.disabled():
        print(f"\nwatch soak: peak RSS {start_rss / 1024:.1f} MiB after the first pass, "
              f"{end_rss / 1024:.1f} MiB after {OPERATIONS} operations")  # fmt: skip
    assert end_rss < start_rss + 64 * 1024  # no growth per event

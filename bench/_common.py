"""Shared helpers of the benchmarks: the fake Ollama as a separate process, child
processes measured for wall time and peak RSS, timers, and the results table.

Benchmarks print ratios against a floor measured in the same run and mark each
figure PASS or MISS against its target; they never fail a test on wall-clock.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RAGKIT = BIN / "ragkit"
OUT = ROOT / "bench" / "out"  # git-ignored

# Loopback traffic must not go through a proxy, in this process or its children.
LOOPBACK = "127.0.0.1,localhost,::1"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = LOOPBACK


# -- the fake Ollama in its own process ----------------------------------------


class FakeServer:
    """`python -m tests.fake_ollama` as a subprocess on a free port.

    >>> with FakeServer(per_text_latency=0.002, serialize=True) as fake:
    ...     fake.url, fake.stats()["busy_seconds"]
    """

    def __init__(self, *, per_text_latency: float = 0.0, serialize: bool = False) -> None:
        self.args = [sys.executable, "-m", "tests.fake_ollama", "--port", "0"]
        if per_text_latency:
            self.args += ["--per-text-latency", str(per_text_latency)]
        if serialize:
            self.args.append("--serialize")
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> FakeServer:
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=child_env()
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.__exit__()
            raise RuntimeError(f"the fake Ollama did not start: {self.url!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        assert self.proc is not None
        return process_cpu_seconds(self.proc.pid)

    def stats(self) -> dict:
        """busy_seconds, requests, embedded_texts, peak_concurrency (since start)."""
        with urllib.request.urlopen(f"{self.url}/_fake/stats", timeout=10) as response:
            return json.load(response)


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a running process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_env(**extra: str) -> dict[str, str]:
    """This environment (OPENBLAS_* untouched), isolated from the user's ragkit settings."""
    env = dict(os.environ)
    for name in ("RAGKIT_DB", "RAGKIT_EMBED_MODEL", "RAGKIT_CHAT_MODEL", "OLLAMA_HOST"):
        env.pop(name, None)
    env.update(extra)
    return env


# -- measured child processes --------------------------------------------------


@dataclass
class ChildRun:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes, ru_maxrss of this child alone


# Linux carries the high-water RSS of the memory image a process execs away from
# into its ru_maxrss; after (v)fork that image is the parent's, so a child spawned
# straight from a benchmark holding a 3 GB matrix would "peak" at 3 GB. A tiny
# launcher (python -S, ~10 MB) spawns the command instead and reports its wait4
# rusage and the wall time around it.
_LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "status": status, "maxrss_kib": usage.ru_maxrss}, out)
"""


def run_measured(args: Sequence[str], *, env: dict[str, str] | None = None) -> ChildRun:
    """Run a command to completion: its wall time and its own peak RSS (wait4 rusage)."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", suffix=".json") as report,
    ):
        launcher = [sys.executable, "-S", "-c", _LAUNCHER, report.name, *args]
        subprocess.run(launcher, stdout=out, stderr=err, env=env or child_env(), check=True)
        result = json.load(report)
        out.seek(0)
        err.seek(0)
        return ChildRun(
            result["seconds"],
            os.waitstatus_to_exitcode(result["status"]),
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            result["maxrss_kib"] * 1024,  # Linux reports KiB
        )


# -- timing --------------------------------------------------------------------


def median_seconds(func: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` calls of `func`."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextmanager
def timer() -> Iterator[list[float]]:
    """`with timer() as t: ...` then `t[0]` holds the seconds."""
    box = [0.0]
    started = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - started


# -- work folders --------------------------------------------------------------


@contextmanager
def work_dir(keep: str | None = None, prefix: str = "ragkit-bench-") -> Iterator[Path]:
    """A temporary folder, removed afterwards; or `keep` (created, never removed)."""
    if keep:
        path = Path(keep).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_index(db: Path) -> None:
    """Delete a database, its WAL files and its vector sidecar."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(f"{db}.vectors", ignore_errors=True)


# -- the results table ---------------------------------------------------------


@dataclass
class Row:
    name: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: reported, no target

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "MISS")


class Table:
    """Rows of (figure, value, target, PASS/MISS), printed aligned."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[Row] = []

    def add(self, name: str, value: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(name, value, target, ok))
        print(f"  .. {name}: {value}", flush=True)  # progress while the run goes on

    @property
    def misses(self) -> int:
        return sum(1 for row in self.rows if row.ok is False)

    def render(self) -> str:
        head = ("figure", "value", "target", "")
        cells = [head] + [(r.name, r.value, r.target, r.verdict) for r in self.rows]
        widths = [max(len(c[i]) for c in cells) for i in range(4)]
        lines = [self.title, "-" * len(self.title)]
        for i, cell in enumerate(cells):
            lines.append("  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def print(self) -> None:
        print("\n" + self.render(), flush=True)


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MiB"


def machine_note() -> str:
    """One line about the machine: cores, load, numpy, and OPENBLAS_* if set.

    The load average is there because a busy neighbour on a 2-core machine
    halves every figure; OPENBLAS_CORETYPE, where set, slows numpy's kernels."""
    import numpy as np

    blas = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}
    extra = f", {' '.join(f'{k}={v}' for k, v in blas.items())}" if blas else ""
    load = os.getloadavg()[0]
    python = sys.version.split()[0]
    return (
        f"{os.cpu_count()} cores, load {load:.2f}, Python {python}, numpy {np.__version__}{extra}"
    )

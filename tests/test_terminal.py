"""Terminal helpers: text made safe to print, sizes, and progress lines that only
draw on a terminal."""

from __future__ import annotations

import io
import re
import time
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragkit.errors import ConfigError
from ragkit.ingest import Progress
from ragkit.terminal import (
    MAX_SIZE,
    ProgressLine,
    bar,
    duration,
    human_bytes,
    parse_size,
    per_second,
    printable,
)

ATTACKS = ["\x1b]0;pwned\x07", "\x1b[2J", "\x1b[31m", "\x9b2J", "\x1b]8;;x\x1b\\", "\u202e", "\r"]
# Any character a terminal could act on (C0 but tab and newline, DEL, C1) or that
# reorders a line or breaks it (bidi controls, separators), and lone surrogates.
DANGEROUS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("text", "size"),
    [("500KB", 500 * 1024), ("20mb", 20 * 1024**2), ("1.5 GB", int(1.5 * 1024**3)), ("42", 42)],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["lots", "10 parsecs", "", "-5MB", "inf", "nan", "1e999", "٣MB"])
def test_parse_size_refuses_nonsense_with_an_example(bad):
    with pytest.raises(ConfigError) as info:
        parse_size(bad)
    assert "500KB" in str(info.value)


@pytest.mark.parametrize(
    "bad", ["99999999999999999999999999GB", "9" * 400, "1.5TB", "1025gb", 10**30, 2**63, -1]
)
def test_parse_size_refuses_absurd_sizes_naming_the_limit(bad):
    """Sizes a read could not even be asked for (OverflowError) never get that far."""
    with pytest.raises(ConfigError, match="1TB limit|negative") as info:
        parse_size(bad)
    assert "500KB" in str(info.value) and len(str(info.value)) < 120


def test_parse_size_accepts_up_to_one_terabyte():
    assert parse_size("1TB") == parse_size("1024 GB") == parse_size(MAX_SIZE) == 1024**4


def test_human_bytes():
    sizes = (0, 1023, 1024, 1536, 50 * 1024**2, 1024**3, 3 * 1024**4)
    assert [human_bytes(n) for n in sizes] == [
        "0B",
        "1023B",
        "1KB",
        "1.5KB",
        "50MB",
        "1GB",
        "3072GB",
    ]


def test_bar_is_clamped():
    assert bar(0.5, 4) == "[##--]" and bar(2, 4) == "[####]" and bar(-1, 4) == "[----]"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def progress_line(clock: Clock, stream: io.StringIO | None = None) -> ProgressLine:
    return ProgressLine(stream=stream or Terminal(), clock=clock, tick=None)


def last_line(line: ProgressLine) -> str:
    return line.stream.getvalue().split("\r")[-1].rstrip()


def test_progress_line_draws_elapsed_files_chunks_rate_and_eta_on_a_terminal():
    clock = Clock()
    with progress_line(clock) as line:
        clock.now += 1  # six of ten files were unchanged: done at once
        line.update(Progress(6, 10, 0, "a.md", chunks_total=40, chunks_expected=100.0))
        waiting = "1s [----------------] 6/10 files  0/40 chunks  waiting for Ollama"
        assert last_line(line) == waiting
        clock.now += 10
        line.update(Progress(6, 10, 20, "", chunks_total=60, chunks_expected=100.0))
        assert last_line(line).endswith("6/10 files  20/60 chunks  2.0 chunks/s")  # no ETA yet
        clock.now += 10
        line.update(Progress(7, 10, 40, "b.md", chunks_total=60, chunks_expected=100.0))
        assert last_line(line) == (
            "21s [######----------] 7/10 files  40/60 chunks  2.0 chunks/s  ETA 30s"
        )
    assert line.stream.getvalue().endswith("\r")  # cleared at the end


def test_before_any_progress_the_line_says_what_it_is_doing():
    clock = Clock()
    with progress_line(clock) as line:
        clock.now += 2.5
        line.refresh()
        assert last_line(line) == "2s  looking for files..."


def test_the_line_is_redrawn_while_nothing_changes():
    clock = Clock()
    with progress_line(clock) as line:
        line.update(Progress(0, 3, 0, "", chunks_total=64, chunks_expected=64.0))
        for _ in range(3):
            clock.now += 65
            line.refresh()
        drawn = [part.rstrip() for part in line.stream.getvalue().split("\r") if part.strip()]
    assert [part.split()[0] for part in drawn] == ["0s", "1m05s", "2m10s", "3m15s"]


def test_the_ticker_thread_redraws_on_its_own():
    with ProgressLine(stream=Terminal(), tick=0.01) as line:
        line.update(Progress(0, 3, 0, "", chunks_total=64))
        for _ in range(500):  # a bound on the waiting, not a speed requirement
            if line.stream.getvalue().count("files") >= 3:
                break
            time.sleep(0.01)
        assert line.stream.getvalue().count("files") >= 3


def test_a_slow_rate_keeps_its_digits():
    clock = Clock()
    with progress_line(clock) as line:
        line.update(Progress(0, 5, 0, "", chunks_total=100, chunks_expected=100.0))
        clock.now += 100
        line.update(Progress(1, 5, 42, "", chunks_total=100, chunks_expected=100.0))
        assert "0.42 chunks/s" in last_line(line)


@pytest.mark.parametrize(
    ("rate", "shown"), [(0.042, "0.042"), (0.4, "0.4"), (2.46, "2.5"), (37.4, "37"), (512, "512")]
)
def test_rates_have_sensible_precision(rate, shown):
    assert per_second(rate) == shown


@pytest.mark.parametrize(("seconds", "shown"), [(0.4, "0s"), (59, "59s"), (185, "3m05s")])
def test_durations_read_like_a_clock(seconds, shown):
    assert duration(seconds) == shown and duration(3720) == "1h02m"


def test_a_model_load_at_the_start_leaves_the_rate_once_it_is_half_a_minute_old():
    clock = Clock()
    with progress_line(clock) as line:
        line.update(Progress(0, 9, 0, "", chunks_total=3000, chunks_expected=3000.0))
        clock.now += 60  # the model loads; then a batch of 64 every second
        for batch in range(1, 42):
            line.update(Progress(0, 9, 64 * batch, "", chunks_total=3000, chunks_expected=3000.0))
            clock.now += 1
        clock.now -= 1
        assert line.rate(clock.now) == pytest.approx(64.0)
        assert "ETA 6s" in last_line(line)  # (3000 - 2624) / 64


def test_the_eta_counts_chunks_not_files():
    """The files were nearly all unchanged: done at once. The chunks say what is left."""
    clock = Clock()
    with progress_line(clock) as line:
        line.update(Progress(99, 100, 0, "", chunks_total=10, chunks_expected=1000.0))
        for done in (10, 20):
            clock.now += 10
            line.update(Progress(99, 100, done, "", chunks_total=30, chunks_expected=1000.0))
        assert line.eta(clock.now) == pytest.approx(980 / 1.0)


def test_progress_line_stays_quiet_when_piped():
    stream = io.StringIO()
    with ProgressLine(stream=stream) as line:
        line.update(Progress(files_done=1, files_total=1, chunks_done=3, path="a.md"))
        line.refresh()
    assert stream.getvalue() == "" and line._ticker is None


def test_progress_line_draws_in_a_notebook():
    notebook_stream = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})
    with ProgressLine(stream=notebook_stream(), tick=None) as line:
        line.update(Progress(files_done=1, files_total=1, chunks_done=3, path="a.md"))
    assert "1/1 files" in line.stream.getvalue()


def test_progress_line_redraws_at_most_ten_times_a_second_but_always_at_the_end():
    clock = Clock()
    with progress_line(clock) as line:
        for done in range(1, 51):
            clock.now += 0.01
            line.update(Progress(files_done=done, files_total=50, chunks_done=done, path="x"))
        drawn = line.stream.getvalue()
    assert drawn.count("files") == 6  # at 0.01 s, then every 0.1 s, then the last
    assert "50/50 files" in drawn


CONTROLS = st.characters(categories=["Cc", "Cf", "Cs", "Zl", "Zp"])


@given(st.lists(st.text() | st.sampled_from(ATTACKS) | CONTROLS, max_size=20))
def test_printable_text_holds_no_control_character_and_is_stable(parts):
    text = "".join(parts)
    shown, line = printable(text), printable(text, one_line=True)
    assert not DANGEROUS.search(shown) and not DANGEROUS.search(line)
    assert "\n" not in line and line.count("\\n") >= text.count("\n")
    assert all(unicodedata.category(c) != "Cc" for c in shown if c not in "\n\t")
    assert printable(shown) == shown and printable(line, one_line=True) == line
    assert shown.replace("\\n", "\n") == line.replace("\\n", "\n")


def test_printable_shows_escapes_and_leaves_text_alone():
    hostile = "title\x1b]0;pwned\x07 clear\x1b[2J csi\x9b31m rtl\u202eabc\u2066 del\x7f"
    assert printable(hostile) == (
        "title\\x1b]0;pwned\\x07 clear\\x1b[2J csi\\x9b31m rtl\\u202eabc\\u2066 del\\x7f"
    )
    plain = "Zoë's café, 日本語, emoji 🌍\n\ttab and a \\ backslash"
    assert printable(plain) == plain
    assert printable("a\nb\r\n", one_line=True) == "a\\nb\\r\\n"
    assert printable("undecodable \udcff") == "undecodable \\udcff"

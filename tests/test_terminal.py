"""Terminal helpers: text made safe to print, sizes, and progress lines that only
draw on a terminal."""

from __future__ import annotations

import io
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragkit.errors import ConfigError
from ragkit.ingest import Progress
from ragkit.terminal import MAX_SIZE, ProgressLine, bar, human_bytes, parse_size, printable

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


def test_progress_line_draws_files_chunks_rate_and_eta_on_a_terminal():
    with ProgressLine(stream=Terminal()) as line:
        line.started -= 2.0  # as if two seconds had passed
        line.update(Progress(files_done=5, files_total=10, chunks_done=100, path="a.md"))
        drawn = line.stream.getvalue()
    assert drawn.startswith("\r[############------------] 5/10 files  100 chunks")
    assert "50 chunks/s" in drawn and "ETA 2s" in drawn
    assert line.stream.getvalue().endswith("\r")  # cleared at the end


def test_progress_line_stays_quiet_when_piped():
    stream = io.StringIO()
    with ProgressLine(stream=stream) as line:
        line.update(Progress(files_done=1, files_total=1, chunks_done=3, path="a.md"))
    assert stream.getvalue() == ""


def test_progress_line_redraws_at_most_ten_times_a_second_but_always_at_the_end():
    with ProgressLine(stream=Terminal()) as line:
        for done in range(1, 51):
            line.update(Progress(files_done=done, files_total=50, chunks_done=done, path="x"))
        drawn = line.stream.getvalue()
    assert drawn.count("files") <= 3
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

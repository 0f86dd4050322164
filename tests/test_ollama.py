"""OllamaClient against the fake server, over real HTTP."""

from __future__ import annotations

import math
import socket
import sys
from urllib.parse import quote, urlsplit

import numpy as np
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from ragkit.errors import (
    BadResponse,
    ConfigError,
    ModelNotFound,
    OllamaError,
    OllamaUnavailable,
    RagkitError,
)
from ragkit.ollama import OllamaClient, Reply, Stream, parse_host, resolve_host, same_model

EMBED = "nomic-embed-text"
CHAT = "llama3.2"


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- host resolution ---------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "url"),
    [
        ("", "http://127.0.0.1:11434"),
        ("example.org", "http://example.org:11434"),
        ("example.org:1234", "http://example.org:1234"),
        (":5000", "http://127.0.0.1:5000"),
        ("http://example.org:8080", "http://example.org:8080"),
        ("https://example.org", "https://example.org:443"),
        ("http://example.org", "http://example.org:80"),
        ("example.org:1234/", "http://example.org:1234"),
        ("https://example.org/ollama/", "https://example.org:443/ollama"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("0.0.0.0:9999", "http://127.0.0.1:9999"),
        ("[::]:8080", "http://[::1]:8080"),
        ("::1", "http://[::1]:11434"),
        ("  10.1.2.3:80  ", "http://10.1.2.3:80"),
    ],
)
def test_resolve_host_accepts_what_ollama_users_write(written, url):
    assert resolve_host(written) == url


def test_resolve_host_reads_ollama_host(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:7777")
    assert resolve_host() == "http://127.0.0.1:7777"
    assert OllamaClient().base_url == "http://127.0.0.1:7777"
    assert OllamaClient("other:1").base_url == "http://other:1"  # explicit beats env


@pytest.mark.parametrize("bad", ["ftp://host", "host:port", "host:99999"])
def test_resolve_host_rejects_nonsense_with_a_hint(bad):
    with pytest.raises(ConfigError) as info:
        resolve_host(bad)
    assert bad in str(info.value)
    assert info.value.hint


@pytest.mark.parametrize(
    "bad",
    [
        "http://[::1",
        "[::1",
        "[::1]x",
        "[1.2.3.4]:80",
        "1:2:3",
        "http://a b:80",
        "host\x1b]0;owned\x07",
        "host?x=1",
        "host#top",
        "host:0",
        "ex!ample.org",
        "\u2044.org",  # a fraction slash: no IDNA label
        "\udcff.org",  # an undecodable byte of a non-UTF-8 environment
    ],
)
def test_resolve_host_refuses_malformed_hosts_naming_the_setting(bad):
    with pytest.raises(ConfigError) as info:
        resolve_host(bad)
    assert "OLLAMA_HOST" in str(info.value) and info.value.hint
    assert "\x1b" not in str(info.value) and "\x07" not in str(info.value)


def test_credentials_in_the_host_are_decoded_for_basic_auth_and_never_shown():
    host = parse_host("http://ann%40example:p%3Ass%2Fw%C3%B6rd@10.0.0.5:8080/ollama/")
    assert host.url == "http://10.0.0.5:8080/ollama"
    assert host.auth == (b"ann@example", "p:ss/wörd".encode())
    assert host.shown == "http://ann%40example:***@10.0.0.5:8080/ollama"
    client = OllamaClient("ann:Zs3cret@[::1]:9")
    assert client.base_url == "http://[::1]:9" and client.session.auth == (b"ann", b"Zs3cret")
    assert "Zs3cret" not in repr(client) + repr(client.host) + client.host.shown
    assert repr(client) == "OllamaClient('http://ann:***@[::1]:9')"
    assert parse_host("TOKEN123@host").shown == "http://***@host:11434"  # a token as user


@pytest.mark.parametrize(
    "bad",
    [
        "http://ann:Zs3cret@[::1",
        "ann:Zs3cret@host:99999",
        "ftp://ann:Zs3cret@host",
        "ann:Zs3/cret@h",
        "ann:Zs3://cret@h",
    ],
)
def test_a_malformed_host_with_credentials_never_shows_the_password(bad):
    with pytest.raises(ConfigError) as info:
        resolve_host(bad)
    assert "Zs3" not in str(info.value) and "Zs3" not in repr(info.value.value)
    assert "ann:***@" in str(info.value)


_HOST_PIECES = st.sampled_from(
    ["http://", "https://", "ftp://", "[", "]", ":", "::1", "@", "/", "%", "%41", "127.0.0.1"]
    + ["0.0.0.0", "host", "Ex.ORG", "_", "-", "0", "11434", "65536", " ", "?", "#", "\x00"]
    + ["\t", "\n", "ä", "\u2044", "\udcff", "xn--", ".", "user:pw@"]
)
HOST_TEXT = st.lists(_HOST_PIECES | st.text(max_size=4), max_size=8).map("".join)


@settings(max_examples=400, deadline=None)
@given(HOST_TEXT | st.text())
def test_any_host_text_gives_a_usable_url_or_a_config_error(text):
    try:
        url = resolve_host(text)
    except ConfigError as exc:
        assert exc.hint
        return
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.hostname
    assert 0 < parts.port < 65536 and "@" not in parts.netloc
    requests.Request("GET", url + "/api/version").prepare()  # requests can send to it


@settings(max_examples=200, deadline=None)
@given(user=st.text(), password=st.text(), tail=HOST_TEXT)
def test_any_password_is_sent_decoded_and_never_shown(user, password, tail):
    secret = "Zq7" + password
    written = f"http://{quote(user, safe='')}:{quote(secret, safe='')}@{tail}"
    try:
        host = parse_host(written)
    except ConfigError as exc:
        assert "Zq7" not in str(exc) + repr(exc.value)
        return
    if "@" not in tail:  # else the last `@` ends the user part, as in Go's url.Parse
        assert host.auth == (user.encode(), secret.encode())
    assert "Zq7" not in host.url + host.shown + repr(host) + repr(OllamaClient(written))


def test_same_model_ignores_latest_tag():
    assert same_model("nomic-embed-text", "nomic-embed-text:latest")
    assert not same_model("llama3.2", "llama3.2:1b")


# -- metadata ----------------------------------------------------------------


def test_version_models_show(client):
    assert client.version()
    names = [m["name"] for m in client.models()]
    assert "nomic-embed-text:latest" in names
    assert client.has_model(EMBED) and client.has_model(f"{EMBED}:latest")
    assert not client.has_model("no-such-model")
    assert "embedding" in client.show(EMBED).get("capabilities", [])


def test_show_unknown_model_is_model_not_found(client):
    with pytest.raises(ModelNotFound) as info:
        client.show("no-such-model")
    assert "ragkit pull no-such-model" in str(info.value)


def test_pull_streams_progress_then_model_is_there(client, fake_ollama):
    fake_ollama.remove_model(CHAT)
    assert not client.has_model(CHAT)
    events = list(client.pull(CHAT))
    assert events[0]["status"] == "pulling manifest"
    assert events[-1]["status"] == "success"
    assert any("completed" in e and "total" in e for e in events)
    assert client.has_model(CHAT)


def test_require_models_asks_once_and_remembers(client, fake_ollama):
    client.require_models([EMBED, CHAT, EMBED])
    client.require_models([CHAT])
    assert fake_ollama.count("/api/tags") == 1
    with pytest.raises(ModelNotFound, match="`ragkit pull no-such-model`"):
        client.require_models([EMBED, "no-such-model"])
    assert fake_ollama.count("/api/tags") == 2
    fake_ollama.fail_next(1, status=404, body="404 page not found", path="/api/tags")
    client.require_models(["another-model"])  # a server without /api/tags cannot tell
    assert fake_ollama.count("/api/tags") == 3 and fake_ollama.requests[-1][1] == "/api/tags"


def test_pull_of_unknown_name_says_to_check_it(client):
    with pytest.raises(OllamaError) as info:
        list(client.pull("definitely-not-a-model"))
    assert str(info.value).startswith(
        "Ollama error: 'definitely-not-a-model' is not in the Ollama library. Check the model name"
    )
    assert str(info.value).count("Ollama error") == 1


# -- embeddings --------------------------------------------------------------


def test_embed_batches_requests(client, fake_ollama):
    texts = [f"text number {i} about domes" for i in range(100)]
    vectors = client.embed(texts, EMBED, batch_size=16)
    assert vectors.shape == (100, 768)
    assert vectors.dtype == np.float32
    assert fake_ollama.count("/api/embed") == math.ceil(100 / 16)
    bodies = [body for method, path, body in fake_ollama.requests if path == "/api/embed"]
    assert [len(b["input"]) for b in bodies] == [16] * 6 + [4]
    assert all(b["model"] == EMBED for b in bodies)


def test_embed_default_batch_size(client, fake_ollama):
    client.embed([f"t{i}" for i in range(100)], EMBED)
    assert fake_ollama.count("/api/embed") == math.ceil(100 / client.batch_size)


def test_embed_vectors_carry_meaning(client):
    a, b, c = client.embed(
        ["the telescope dome rotates", "rotating the telescope dome", "soup recipe with leeks"],
        EMBED,
    )
    assert float(a @ b) > float(a @ c) + 0.3


def test_embed_empty_list_sends_nothing(client, fake_ollama):
    assert client.embed([], EMBED).shape[0] == 0
    assert fake_ollama.count("/api/embed") == 0


def test_embed_falls_back_to_old_endpoint(client, fake_ollama):
    fake_ollama.old_server = True
    vectors = client.embed(["one text", "two texts", "three"], EMBED)
    assert vectors.shape == (3, 768)
    assert fake_ollama.count("/api/embeddings") == 3
    fake_ollama.reset()
    fake_ollama.old_server = True
    client.embed(["again"], EMBED)  # remembered: no second try of /api/embed
    assert fake_ollama.count("/api/embed") == 0
    assert fake_ollama.count("/api/embeddings") == 1


def test_old_and_new_endpoint_agree(fake_ollama):
    new = OllamaClient(fake_ollama.url).embed(["same words here"], EMBED)
    fake_ollama.old_server = True
    old = OllamaClient(fake_ollama.url).embed(["same words here"], EMBED)
    np.testing.assert_allclose(new, old, atol=1e-5)


def test_embed_unknown_model(client):
    with pytest.raises(ModelNotFound) as info:
        client.embed(["x"], "no-such-embedder")
    assert "ragkit pull no-such-embedder" in str(info.value)
    assert info.value.model == "no-such-embedder"


def test_embed_wrong_count_is_caught(client, fake_ollama):
    fake_ollama.wrong_count_next()
    with pytest.raises(BadResponse) as info:
        client.embed(["a", "b", "c"], EMBED)
    assert "2 embeddings for 3 texts" in str(info.value)


def test_embed_wrong_dimension_is_caught(client, fake_ollama):
    client.embed(["first batch"], EMBED)
    fake_ollama.wrong_dimension_next()
    with pytest.raises(BadResponse) as info:
        client.embed(["second batch"], EMBED)
    assert "767-dimensional" in str(info.value) and "768" in str(info.value)


def test_two_503s_then_success_is_retried(client, fake_ollama):
    fake_ollama.fail_next(2, status=503)
    vectors = client.embed(["retry me"], EMBED)
    assert vectors.shape == (1, 768)
    assert fake_ollama.count("/api/embed") == 3


def test_persistent_503_gives_the_servers_message(client, fake_ollama):
    fake_ollama.fail_next(10, status=503)
    with pytest.raises(OllamaError) as info:
        client.embed(["x"], EMBED)
    assert info.value.status == 503
    assert "busy" in str(info.value)
    assert fake_ollama.count("/api/embed") == 4  # the try and three retries


def test_4xx_is_never_retried(client, fake_ollama):
    fake_ollama.fail_next(1, status=400)
    with pytest.raises(OllamaError) as info:
        client.embed(["x"], EMBED)
    assert info.value.status == 400
    assert fake_ollama.count("/api/embed") == 1


def _refused_backoffs(client: OllamaClient, url: str) -> list[float]:
    """The sleep before each retry the client's policy makes for a refused connection."""
    from urllib3.exceptions import NewConnectionError

    retry, sleeps = client.session.get_adapter(url).max_retries, []
    for _ in range(retry.connect):
        retry = retry.increment("POST", url, error=NewConnectionError(None, "refused"))
        sleeps.append(retry.get_backoff_time())
    return sleeps


def test_refused_connection_is_unavailable_within_connect_timeout():
    url = f"http://127.0.0.1:{free_port()}"
    client = OllamaClient(url, timeout=(2.0, 5.0))
    with pytest.raises(OllamaUnavailable) as info:
        client.embed(["x"], EMBED)
    assert sum(_refused_backoffs(client, url)) < 2.0  # every retry's sleep, within the timeout
    assert url in str(info.value)
    assert "ollama serve" in str(info.value) and "OLLAMA_HOST" in str(info.value)


def test_read_timeout_is_a_clear_error(fake_ollama):
    client = OllamaClient(fake_ollama.url, timeout=(2.0, 0.3))
    fake_ollama.hang_next(2.0)
    with pytest.raises(OllamaError) as info:
        client.version()
    assert "within 0.3s" in str(info.value)
    assert not isinstance(info.value, OllamaUnavailable)


def test_requests_exceptions_never_escape(fake_ollama):
    client = OllamaClient(fake_ollama.url, timeout=(2.0, 0.3), timeout_retries=0)
    fake_ollama.hang_next(2.0)
    try:
        client.embed(["x"], EMBED)
    except RagkitError:
        pass
    else:
        pytest.fail("a hanging server must raise")


def test_an_embed_that_times_out_is_sent_again_after_a_pause(fake_ollama):
    client = OllamaClient(fake_ollama.url, timeout=(2.0, 0.3), timeout_backoff=0.05)
    fake_ollama.hang_next(2.0, path="/api/embed")
    fake_ollama.hang_next(2.0, path="/api/embed")
    vectors = client.embed(["the dome", "the winch"], EMBED)
    assert vectors.shape == (2, 768)
    assert fake_ollama.count("/api/embed") == 3  # two timeouts, then the answer


def test_an_embed_that_keeps_timing_out_says_the_server_is_busy(fake_ollama):
    client = OllamaClient(fake_ollama.url, timeout=(2.0, 0.3), timeout_retries=1)
    client.timeout_backoff = 0.05
    fake_ollama.hang_next(2.0, path="/api/embed")
    fake_ollama.hang_next(2.0, path="/api/embed")
    with pytest.raises(OllamaError) as info:
        client.embed(["x"], EMBED)
    message = str(info.value)
    assert "within 0.3s, 2 times in a row" in message
    assert f"the server is busy or the model '{EMBED}' is still loading" in message
    assert "--timeout SECONDS or RAGKIT_TIMEOUT" in message
    assert fake_ollama.count("/api/embed") == 2 and not isinstance(info.value, OllamaUnavailable)


def test_an_embed_outlasts_a_model_load_longer_than_the_timeout(fake_ollama):
    fake_ollama.load_slowly(0.8)  # each try waits at most 0.3 s: the third one is served
    client = OllamaClient(fake_ollama.url, timeout=(2.0, 0.3), timeout_backoff=0.05)
    assert client.embed(["the dome"], EMBED).shape == (1, 768)
    assert 2 <= fake_ollama.count("/api/embed") <= 3


def test_a_chat_that_times_out_is_not_sent_again(fake_ollama):
    client = OllamaClient(fake_ollama.url, timeout=(2.0, 0.3), timeout_backoff=0.05)
    fake_ollama.hang_next(2.0, path="/api/chat")
    with pytest.raises(OllamaError, match=r"within 0\.3s"):
        client.chat([{"role": "user", "content": "Hi"}], CHAT)
    assert fake_ollama.count("/api/chat") == 1


# -- chat and generate -------------------------------------------------------

MESSAGES = [{"role": "user", "content": "Say something."}]


def test_chat_without_streaming(client, fake_ollama):
    fake_ollama.chat_reply = "The dome turns east. [1]"
    reply = client.chat(MESSAGES, CHAT, options={"temperature": 0, "num_ctx": 4096})
    assert isinstance(reply, Reply)
    assert reply.text == "The dome turns east. [1]"
    assert reply.done_reason == "stop"
    assert reply.stats["eval_count"] > 0
    body = [b for m, p, b in fake_ollama.requests if p == "/api/chat"][-1]
    assert body["stream"] is False
    assert body["options"] == {"temperature": 0, "num_ctx": 4096}
    assert body["messages"] == MESSAGES


def test_chat_streams_pieces_in_order(client, fake_ollama):
    fake_ollama.chat_reply = "One two three four five six seven eight nine ten."
    stream = client.chat(MESSAGES, CHAT, stream=True)
    assert isinstance(stream, Stream)
    pieces = list(stream)
    assert len(pieces) > 2
    assert "".join(pieces) == "One two three four five six seven eight nine ten."
    assert stream.reply.text == "".join(pieces)
    assert stream.reply.stats["eval_count"] > 0
    assert "message" not in stream.reply.stats


def test_generate_both_ways(client, fake_ollama):
    fake_ollama.chat_reply = "Generated words here."
    assert client.generate("hi", CHAT).text == "Generated words here."
    stream = client.generate("hi", CHAT, stream=True, system="be brief")
    assert "".join(stream) == "Generated words here."
    body = [b for m, p, b in fake_ollama.requests if p == "/api/generate"][-1]
    assert body["system"] == "be brief" and body["stream"] is True


def test_chat_unknown_model(client):
    with pytest.raises(ModelNotFound) as info:
        list(client.chat(MESSAGES, "no-such-chat", stream=True))
    assert "ragkit pull no-such-chat" in str(info.value)


def test_error_line_mid_stream_raises_after_earlier_pieces(client, fake_ollama):
    fake_ollama.chat_reply = "alpha beta gamma delta epsilon zeta eta theta"
    fake_ollama.error_next_stream("model runner crashed", after_lines=2)
    received = []
    with pytest.raises(OllamaError) as info:
        for piece in client.chat(MESSAGES, CHAT, stream=True):
            received.append(piece)
    assert "model runner crashed" in str(info.value)
    assert len(received) == 2


def test_dropped_stream_raises(client, fake_ollama):
    fake_ollama.chat_reply = "alpha beta gamma delta epsilon zeta eta theta"
    fake_ollama.drop_next_stream(after_lines=2)
    with pytest.raises(OllamaError) as info:
        list(client.chat(MESSAGES, CHAT, stream=True))
    assert "mid-answer" in str(info.value) or "ended before" in str(info.value)


def test_a_stream_that_stalls_is_a_timeout_not_a_dead_server(fake_ollama):
    client = OllamaClient(fake_ollama.url, timeout=(2.0, 0.3))
    fake_ollama.chat_reply = "alpha beta gamma delta epsilon zeta eta theta"
    fake_ollama.stall_next_stream(2.0, after_lines=2)
    received = []
    with pytest.raises(OllamaError) as info:
        for piece in client.chat(MESSAGES, CHAT, stream=True):
            received.append(piece)
    assert not isinstance(info.value, OllamaUnavailable)
    assert "within 0.3s" in str(info.value) and len(received) == 2


def test_falsy_settings_still_reach_the_server(client, fake_ollama):
    client.chat(MESSAGES, CHAT, keep_alive=0, options={"temperature": 0})
    body = fake_ollama.bodies("/api/chat")[-1]
    assert body["keep_alive"] == 0 and body["options"] == {"temperature": 0}


def test_malformed_line_raises_bad_response(client, fake_ollama):
    fake_ollama.malformed_next_stream(after_lines=1)
    with pytest.raises(BadResponse) as info:
        list(client.chat(MESSAGES, CHAT, stream=True))
    assert "malformed" in str(info.value)


def test_importing_the_client_does_not_import_click():
    import subprocess

    code = "import sys; from ragkit import OllamaClient, RagkitError; print('click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_model_that_cannot_do_the_task_gets_a_hint_to_pick_another(client):
    with pytest.raises(OllamaError) as info:
        client.chat(MESSAGES, EMBED)
    assert info.value.status == 400 and "does not support" in str(info.value)
    assert "--model" in info.value.hint and "serve" not in info.value.hint

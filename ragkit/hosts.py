"""What users write in OLLAMA_HOST, turned into a base URL and basic-auth credentials.

    >>> parse_host("http://ann:s%40cret@10.0.0.5:8080/ollama/")
    Host(url='http://10.0.0.5:8080/ollama', user='ann')
    >>> redact_host("http://ann:secret@10.0.0.5:8080")
    'http://ann:***@10.0.0.5:8080'

Pure text handling (no network): `ollama.py` adds what the HTTP layer would refuse.
The password never appears in a `Host`'s repr, its `url`, or any error message.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from .errors import ConfigError

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_PORT = 11434
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._\-\u0080-\U0010ffff]")  # ASCII a host name cannot hold
_PORT = re.compile("[0-9]{1,5}")
_SCHEME = re.compile("[A-Za-z][A-Za-z0-9+.-]*")
_HINT = "Use HOST, HOST:PORT, http://HOST:PORT, https://HOST or http://[::1]:PORT"
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class Host:
    """A parsed OLLAMA_HOST: the base URL (never with credentials in it) and, when the
    host named a user, the HTTP basic-auth credentials to send with every request."""

    url: str
    user: str | None = None  # as written (still percent-encoded), for display only
    auth: tuple[bytes, bytes] | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        """The URL as messages may show it: `http://user:***@host:port` with credentials."""
        if self.auth is None:
            return self.url
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{_masked(self.user)}@{rest}"


def parse_host(raw: str) -> Host:
    """Read an OLLAMA_HOST value as Ollama itself does; `ConfigError` if it is unusable.

    Accepts `host`, `host:port`, `:port`, `http://host:port`, `https://host`,
    IPv6 in brackets, `user:password@` before the host (percent-encoded; sent as
    HTTP basic auth) and a trailing slash or path; `0.0.0.0` (a bind address)
    becomes loopback. No scheme means http; no port means 11434, except after
    an explicit `http://` (80) or `https://` (443), as Ollama does.
    """
    raw = raw.strip()
    if not raw:
        return Host(DEFAULT_HOST)
    shown = redact_host(raw)
    if not raw.isprintable() or any(char in raw for char in " ?#"):
        raise bad_host(shown, "a space, a control character, '?' or '#'")
    scheme, rest, default_port = _scheme(raw, shown)
    authority, slash, path = rest.partition("/")
    if "@" in path:  # a '/' in a password ends the host part early
        raise bad_host(shown, "'@' after a '/': write a '/' in a user or password as %2F")
    userinfo, at, hostport = authority.rpartition("@")
    name, port = _host_port(hostport, default_port, shown)
    url = f"{scheme}://{name}:{port}" + (f"/{path}".rstrip("/") if slash else "")
    if not (at and userinfo):
        return Host(url)
    user, colon, password = userinfo.partition(":")
    return Host(url, user if colon else None, (_unquote(user), _unquote(password)))


def redact_host(text: str) -> str:
    """`text` with the password of a `user:password@host` part replaced by `***`
    (all of the user part when it has no password: it may be a token). Everything
    up to the last `@` counts as the user part, so nothing of a password shows."""
    at = text.rfind("@")
    if at < 0:
        return text
    sep = text.find("://")
    start = sep + 3 if 0 <= sep < at and _SCHEME.fullmatch(text[:sep]) else 0
    user, colon, _ = text[start:at].partition(":")
    return text[:start] + _masked(user if colon else None) + text[at:]


def bad_host(shown: str, problem: str, hint: str = _HINT) -> ConfigError:
    """The error for an OLLAMA_HOST value (already redacted) that has `problem`."""
    return ConfigError(
        f"the Ollama host {shown!r} (--host or OLLAMA_HOST) has {problem}", value=shown, hint=hint
    )


def _masked(user: str | None) -> str:
    return f"{user}:***" if user is not None else "***"


def _unquote(text: str) -> bytes:
    """Percent-decoding to bytes (credentials are sent as UTF-8 bytes, RFC 7617)."""
    return _ESCAPE.sub(lambda m: bytes.fromhex(m.group(1).decode()), text.encode())


def _scheme(raw: str, shown: str) -> tuple[str, str, int]:
    """(scheme, what follows it, default port); no scheme means http on 11434."""
    scheme, sep, rest = raw.partition("://")
    if not sep:
        return "http", raw, DEFAULT_PORT
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise bad_host(shown, "a scheme other than http or https", _HINT)
    return scheme, rest, 443 if scheme == "https" else 80


def _host_port(hostport: str, default_port: int, shown: str) -> tuple[str, int]:
    """The connectable host (IPv6 in brackets) and the port of `host[:port]`."""
    ipv6 = "an IPv6 address not written as [ADDRESS] or [ADDRESS]:PORT"
    if hostport.startswith("["):
        name, close, after = hostport[1:].partition("]")
        if not close or not _is_ip(name, version=6) or after[:1] not in ("", ":"):
            raise bad_host(shown, ipv6)
        port = after[1:]
    elif hostport.count(":") > 1:  # a bare IPv6 address such as ::1: no port
        if not _is_ip(hostport, version=6):
            raise bad_host(shown, ipv6)
        name, port = hostport, ""
    else:
        name, _, port = hostport.partition(":")
        if not _is_ip(name) and _NAME_CHARS.search(name):
            raise bad_host(shown, f"a character no host name has in {name!r}")
    if port and not (_PORT.fullmatch(port) and 0 < int(port) < 65536):
        raise bad_host(
            shown, "a port that is not a number from 1 to 65535", "Use HOST:PORT, e.g. :11434"
        )
    return _reachable(name or "127.0.0.1"), int(port or default_port)


def _is_ip(text: str, version: int | None = None) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return version in (None, address.version)


def _reachable(hostname: str) -> str:
    """A bind-all address is not something a client can connect to: use loopback."""
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        return hostname.lower()
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return f"[{address}]" if address.version == 6 else str(address)

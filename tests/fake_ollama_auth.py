"""HTTP basic auth for the fake Ollama, as an authenticating proxy in front of Ollama asks for it.

`BasicAuth` is mixed into `FakeOllama`:

    fake.require_auth("ann", "s3cret")   # until reset(): others get nginx's 401
    fake.authorizations                  # the Authorization header of every request, or None

A refused request never reaches the fake's routes, so it is not in `fake.requests`.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping

from tests.fake_ollama_http import Reply

NGINX_401 = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n"
    "<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n</body>\r\n</html>\r\n"
)


def basic_auth(user: str, password: str) -> str:
    """The `Authorization` header value for `user` and `password` (UTF-8, RFC 7617)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class BasicAuth:
    """Optional basic auth in front of every route; `_clear_auth` turns it off."""

    _lock: threading.Lock

    def _clear_auth(self) -> None:
        self._expected: str | None = None
        self.authorizations: list[str | None] = []

    def require_auth(self, user: str, password: str) -> None:
        """From now on, answer only requests that carry these credentials."""
        self._expected = basic_auth(user, password)

    def refuse(self, headers: Mapping[str, str]) -> Reply | None:
        """The 401 reply for a request without the required credentials, else None."""
        given = headers.get("Authorization")
        with self._lock:
            self.authorizations.append(given)
        if self._expected is None or given == self._expected:
            return None
        return Reply(401, NGINX_401.encode(), "text/html")

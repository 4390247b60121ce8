"""Keep secrets out of everything lineflow writes: URLs, bodies, messages, cassettes."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"

#: Query parameters and headers that carry credentials for any provider.
SECRET_PARAMS = frozenset({"apikey", "api_key", "key", "token", "access_token"})
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})


class Redactor:
    """Replaces known secret values and credential-bearing parameters with REDACTED."""

    def __init__(self, values: Iterable[str] = (), params: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._values = sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)
        self._params = SECRET_PARAMS | {p.lower() for p in params}

    def with_values(self, values: Iterable[str]) -> Redactor:
        return Redactor([*self._values, *values], self._params)

    def text(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, REDACTED)
        return text

    def bytes(self, body: bytes) -> bytes:
        for value in self._values:
            body = body.replace(value.encode(), REDACTED.encode())
        return body

    def query(self, params: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(k, REDACTED if k.lower() in self._params else v) for k, v in params]

    def url(self, url: str) -> str:
        """The URL with credential parameters masked and userinfo (proxy credentials) removed."""
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        query = urlencode(self.query(parse_qsl(parts.query, keep_blank_values=True)))
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

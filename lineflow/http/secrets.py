"""Keep secrets out of everything lineflow writes: URLs, bodies, messages, cassettes.

A secret is masked in every form it travels in, because servers and proxies echo what they
were sent in whatever form they received it: raw (a query parameter, `Bearer <token>`),
percent-encoded (a proxy URL's userinfo, a query string), JSON-escaped, and base64 (HTTP Basic
credentials: `Proxy-Authorization: Basic base64(user:password)`). Base64 is matched wherever
it sits in a longer encoded string too: the characters that encode only the secret's bytes are
the same at each of the three byte offsets modulo 3, so those cores are masked as well.
Registering a credential pair is registering `user:password` (`credential_pair`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"

#: Query parameters and headers that carry credentials for any provider.
SECRET_PARAMS = frozenset({"apikey", "api_key", "key", "token", "access_token"})
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})

#: Shorter values are not secrets (a one-character "secret" would mask every occurrence of
#: that character); shorter base64 cores would mask unrelated text by chance.
MIN_SECRET = 4
MIN_BASE64_CORE = 6


def credential_pair(username: str | None, password: str | None) -> str | None:
    """`user:password` as HTTP Basic authentication encodes it, or None without a password."""
    return f"{username or ''}:{password}" if password else None


def encodings(secret: str) -> set[str]:
    """Every form of `secret` to mask (see the module docstring)."""
    forms = {secret}
    for text in (quote(secret, safe=""), quote(secret), quote_plus(secret)):
        forms |= {text, re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), text)}
    escaped = json.dumps(secret)[1:-1]
    forms |= {escaped, escaped.replace("/", "\\/")}
    raw = secret.encode()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        # Characters that encode only the secret's bits: after the filler's, before padding.
        core = encoded[-(-8 * offset // 6) : 8 * (offset + len(raw)) // 6]
        if offset == 0:
            forms |= {encoded, encoded.rstrip("=")}
        if len(core) >= MIN_BASE64_CORE:
            forms.add(core)
    forms |= {form.translate(_URLSAFE) for form in forms if form != secret}
    return {form for form in forms if len(form) >= MIN_SECRET}


_URLSAFE = str.maketrans("+/", "-_")


class Redactor:
    """Replaces known secret values, in every encoding, and credential-bearing parameters
    with REDACTED."""

    def __init__(self, values: Iterable[str] = (), params: Iterable[str] = ()) -> None:
        self._secrets = sorted({v for v in values if v and len(v) >= MIN_SECRET})
        forms = set().union(*(encodings(v) for v in self._secrets))
        # Longest first, so a secret that contains another is replaced whole.
        self._values = sorted(forms, key=lambda form: (-len(form), form))
        self._params = SECRET_PARAMS | {p.lower() for p in params}

    def with_values(self, values: Iterable[str]) -> Redactor:
        return Redactor([*self._secrets, *values], self._params)

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

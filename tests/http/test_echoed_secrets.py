"""Proxy credentials echoed back, in any encoding, never reach what lineflow writes.

Two real HTTP proxies on loopback that repeat what they were sent: `decodo` refuses (403) with
the `Proxy-Authorization` header it received in its answer; `proxyfuel` forwards to the
stand-in provider and adds the header, and the credentials it decodes from it, to the JSON it
passes back. A live run goes through both, as a user runs it.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from lineflow.http.secrets import REDACTED, Redactor, encodings
from tests.conftest import query, run_cli
from tests.proxied import ENV, PROXY_PASSWORD, PROXY_USER, World

PAIR = f"{PROXY_USER}:{PROXY_PASSWORD}"
BASIC = base64.b64encode(PAIR.encode()).decode()
#: How the credentials look in each encoding they were echoed in.
LEAKS = {
    "raw password": PROXY_PASSWORD,
    "percent-encoded password": quote(PROXY_PASSWORD, safe=""),
    "user:password": PAIR,
    "base64 of user:password": BASIC,
    "base64 without padding": BASIC.rstrip("="),
    "URL-safe base64": base64.urlsafe_b64encode(PAIR.encode()).decode().rstrip("="),
    "base64 of the password": base64.b64encode(PROXY_PASSWORD.encode()).decode(),
}


#: Not passed upstream: the credentials, and encodings the proxy would have to undo to edit JSON.
HOP_HEADERS = {"proxy-authorization", "accept-encoding"}


class EchoProxy(BaseHTTPRequestHandler):
    """A forward proxy that echoes the credentials it was sent (`server.refuse`: 403)."""

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's naming)
        header = self.headers.get("Proxy-Authorization", "")
        if self.server.refuse:  # type: ignore[attr-defined]
            self._answer(403, f"Forbidden. You sent Proxy-Authorization: {header}".encode())
            return
        upstream = urllib.request.Request(
            self.path,  # absolute-form: the request a client sends a forward proxy
            headers={k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS},
        )
        with urllib.request.urlopen(upstream, timeout=30) as answer:
            payload = json.loads(answer.read())
        pair = base64.b64decode(header.removeprefix("Basic ")).decode()
        password = pair.split(":", 1)[1]
        echo = {
            "proxy_authorization": header,
            "urlsafe": base64.urlsafe_b64encode(pair.encode()).decode().rstrip("="),
            "user_password": pair,
            "percent_encoded": quote(password, safe=""),
            "password_base64": base64.b64encode(password.encode()).decode(),
        }
        if isinstance(payload, dict):
            payload["echo"] = echo
        self._answer(200, json.dumps(payload).encode(), "application/json")

    def _answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def echo_proxy(refuse: bool) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoProxy)
    server.refuse = refuse  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def refusing() -> Iterator[str]:
    yield from echo_proxy(refuse=True)


@pytest.fixture
def forwarding() -> Iterator[str]:
    yield from echo_proxy(refuse=False)


def test_credentials_echoed_in_any_encoding_are_masked_everywhere(
    clean: World, refusing: str, forwarding: str, tmp_path: Path
):
    home = tmp_path / "home"
    overrides = [o for o in clean.overrides(home) if not o.startswith("proxy.pools.")]
    result = run_cli(
        "run",
        *overrides,
        "only=[bettingpros]",
        f"proxy.pools.decodo.proxies=[{refusing}]",
        f"proxy.pools.proxyfuel.proxies=[{forwarding}]",
        env=ENV,
    )
    assert result.code == 0, result.stdout + result.stderr
    assert "answered via proxyfuel after decodo (403)" in result.stdout
    health = repr(
        sqlite3.connect(home / "state.sqlite").execute("SELECT * FROM proxy_health").fetchall()
    )
    landed = [p.read_bytes() for p in (home / "landing").rglob("*.json")]
    logs = "".join(p.read_text() for p in (home / "logs").glob("*.jsonl"))
    manifest = repr(query(home, "SELECT url, path FROM landed_files"))
    runs = repr(query(home, "SELECT error FROM run_history"))
    # The echoes happened, masked: the test is not passing on an echo that never came.
    assert f"Proxy-Authorization: Basic {REDACTED}" in health
    assert landed and all(b'"proxy_authorization": "Basic REDACTED"' in body for body in landed)
    assert all(b'"urlsafe": "REDACTED"' in body for body in landed)
    for name, leak in LEAKS.items():
        for where, text in [
            ("proxy_health", health),
            ("the run log", logs),
            ("landed_files", manifest),
            ("run_history", runs),
            ("the terminal", result.stdout + result.stderr),
        ]:
            assert leak not in text, f"{name} in {where}"
        assert not [body for body in landed if leak.encode() in body], f"{name} in a landed body"


@pytest.mark.parametrize("offset", ["", "a", "ab"])
def test_a_secret_is_masked_inside_any_longer_base64(offset):
    redactor = Redactor([PROXY_PASSWORD])
    for text in (f"{offset}{PROXY_USER}:{PROXY_PASSWORD}!", f"{offset}{PROXY_PASSWORD}"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(text.encode()).decode()
            masked = redactor.text(f"token {encoded} end")
            assert REDACTED in masked
            assert not any(form in masked for form in encodings(PROXY_PASSWORD))


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(PROXY_PASSWORD, id="raw"),
        pytest.param(quote(PROXY_PASSWORD, safe=""), id="percent-encoded"),
        pytest.param(
            re.sub("%[0-9A-F]{2}", lambda m: m[0].lower(), quote(PROXY_PASSWORD, safe="")),
            id="percent-encoded, lower-case hex",
        ),
        pytest.param(json.dumps(PROXY_PASSWORD)[1:-1].replace("/", "\\/"), id="JSON-escaped"),
        pytest.param(f"Basic {BASIC}", id="Basic header"),
        pytest.param(f"Bearer {PROXY_PASSWORD}", id="Bearer header"),
    ],
)
def test_each_encoding_of_a_registered_credential_is_masked(form):
    redactor = Redactor([PROXY_USER, PROXY_PASSWORD, PAIR])
    masked = redactor.text(f"seen: {form}.")
    assert PROXY_PASSWORD not in masked and BASIC not in masked
    assert masked.startswith("seen: ") and REDACTED in masked
    assert redactor.bytes(f"seen: {form}.".encode()) == masked.encode()


def test_ordinary_text_is_left_alone():
    redactor = Redactor([PROXY_USER, PROXY_PASSWORD, PAIR, "odds-key-5f1e2d3c4b5a69788796"])
    text = '{"players": ["LeBron James"], "line": 25.5, "book": "draftkings", "ok": true}'
    assert redactor.text(text) == text

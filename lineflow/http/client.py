"""HTTP for one source during one scrape pass, in live, record or replay mode.

Every mode goes through the same httpx client; only the transport differs, so nothing outside
this package knows which mode is active. Replay opens no socket.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx

from lineflow.config import HttpConfig, SourceConfig
from lineflow.http.cassette import Cassette, Recorded
from lineflow.http.errors import MissingSecret, ReplayMiss, RequestFailed
from lineflow.http.secrets import Redactor

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BLOCK_STATUSES = frozenset({403, 407})
MAX_RETRY_AFTER_S = 120.0

Outcome = Literal["ok", "blocked", "retry", "error"]


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes  # secrets already masked
    url: str  # absolute, secrets masked
    fetched_at: datetime  # the server's Date header when present, else the local clock
    attempts: int = 1

    @property
    def outcome(self) -> Outcome:
        return classify(self.status, self.headers, self.body)

    def describe(self) -> str:
        snippet = self.body[:120].decode("utf-8", "replace").replace("\n", " ")
        return f"HTTP {self.status} from {self.url}: {snippet}"


def classify(status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
    """Blocked (403/407, a Forbidden or HTML challenge where JSON was expected), retryable, ok."""
    if status in BLOCK_STATUSES:
        return "blocked"
    if status in RETRY_STATUSES:
        return "retry"
    if status >= 400:
        return "error"
    content_type = headers.get("content-type", "")
    head = body[:512].lstrip().lower()
    if "html" in content_type or head.startswith((b"<!doctype html", b"<html")):
        return "blocked"
    return "ok"


@dataclass
class Counters:
    sent: int = 0  # requests that reached the transport (network, or cassette in replay)
    retries: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class SourceClient:
    """Issues one source's requests; records or replays them through one cassette."""

    def __init__(
        self,
        source: SourceConfig,
        http: HttpConfig,
        cassette_path: Path,
        redactor: Redactor,
        *,
        secret: str | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.source = source
        self.mode = http.mode
        self.redactor = redactor
        self.counters = Counters()
        self._http = http
        self._secret = secret
        self._clock = clock
        self._sleep = (lambda _s: None) if http.mode == "replay" else sleep
        self._rng = rng or random.Random()
        self.cassette = self._open_cassette(cassette_path)
        if http.mode == "replay":
            transport: httpx.BaseTransport = _ReplayTransport(self.cassette, redactor)
        elif http.mode == "record":
            transport = _RecordTransport(httpx.HTTPTransport(), self.cassette, redactor)
        else:
            transport = httpx.HTTPTransport()
        if http.mode != "replay" and source.auth.kind != "none" and not secret:
            raise MissingSecret(
                f"sources.{source.name}: environment variable {source.auth.env} is not set "
                f"(needed for http.mode={http.mode})"
            )
        headers = dict(source.headers)
        if source.auth.kind == "header" and secret:
            headers[source.auth.name] = secret
        self._client = httpx.Client(
            base_url=source.base_url,
            headers=headers,
            timeout=http.timeout_s,
            transport=transport,
            follow_redirects=False,
        )

    def _open_cassette(self, path: Path) -> Cassette:
        if self.mode == "replay" and path.is_file():
            return Cassette.load(path)
        return Cassette(path)

    def get(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Response:
        """GET with retries on connection errors, timeouts, 429 and 5xx (Retry-After honoured)."""
        query: list[tuple[str, str | int | float | bool | None]] = list(params)
        if self.source.auth.kind == "query" and self._secret:
            query.append((self.source.auth.name, self._secret))
        elif self.source.auth.kind == "query":
            query.append((self.source.auth.name, "REDACTED"))
        attempts = self._http.max_attempts
        last_error = ""
        for attempt in range(1, attempts + 1):
            self.counters.sent += 1
            try:
                raw = self._client.get(path, params=query)
                body = raw.read()
            except ReplayMiss:
                raise
            except httpx.HTTPError as exc:
                last_error = self.redactor.text(f"{type(exc).__name__}: {exc}")
                if attempt < attempts:
                    self._backoff(attempt, None)
                    continue
                url = self.redactor.url(f"{self.source.base_url}{path}")
                message = f"GET {url} failed after {attempt} attempts: {last_error}"
                raise RequestFailed(message) from None
            response = self._response(raw, body, attempt)
            self.counters.statuses[response.status] = (
                self.counters.statuses.get(response.status, 0) + 1
            )
            if response.outcome == "retry" and attempt < attempts:
                self._backoff(attempt, response.headers.get("retry-after"))
                continue
            return response
        raise AssertionError("unreachable")

    def _response(self, raw: httpx.Response, body: bytes, attempt: int) -> Response:
        headers = {k.lower(): v for k, v in raw.headers.items()}
        return Response(
            status=raw.status_code,
            headers=headers,
            body=self.redactor.bytes(body),
            url=self.redactor.url(str(raw.request.url)),
            fetched_at=_server_time(headers.get("date")) or self._clock(),
            attempts=attempt,
        )

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        self.counters.retries += 1
        hinted = _retry_after_seconds(retry_after)
        if hinted is not None:
            delay = hinted
        else:
            cap = min(self._http.backoff_max_s, self._http.backoff_base_s * 2 ** (attempt - 1))
            delay = self._rng.uniform(0, cap)  # full jitter
        self._sleep(delay)

    def close(self) -> None:
        self._client.close()
        if self.mode == "record":
            self.cassette.save()

    def __enter__(self) -> SourceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _server_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header; <= 0 or unreadable means no hint (dlt #4036)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        when = _server_time(value)
        if when is None:
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds <= 0:
        return None
    return min(seconds, MAX_RETRY_AFTER_S)


def _relative_uri(request: httpx.Request, redactor: Redactor) -> str:
    parts = urlsplit(redactor.url(str(request.url)))
    return parts.path + (f"?{parts.query}" if parts.query else "")


class _ReplayTransport(httpx.BaseTransport):
    def __init__(self, cassette: Cassette, redactor: Redactor) -> None:
        self._cassette = cassette
        self._redactor = redactor

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        uri = _relative_uri(request, self._redactor)
        recorded = self._cassette.play(request.method, uri)
        if recorded is None:
            where = (
                f"cassette {self._cassette.path}"
                if self._cassette.path.is_file()
                else f"missing cassette {self._cassette.path}"
            )
            url = self._redactor.url(str(request.url))
            raise ReplayMiss(
                f"replay: no recorded response for {request.method} {url} in {where} "
                "(record it with http.mode=record)"
            )
        return httpx.Response(
            recorded.status,
            headers=recorded.headers,
            content=recorded.body,
            request=request,
            extensions={"reason_phrase": recorded.reason.encode()},
        )


class _RecordTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, cassette: Cassette, redactor: Redactor) -> None:
        self._inner = inner
        self._cassette = cassette
        self._redactor = redactor

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        body = response.read()
        response.close()
        recorded = Recorded(
            response.status_code,
            response.reason_phrase,
            {k: v for k, v in response.headers.items() if k.lower() != "content-encoding"},
            self._redactor.bytes(body),
        )
        self._cassette.record(request.method, _relative_uri(request, self._redactor), recorded)
        headers = [
            (k, v)
            for k, v in response.headers.items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=body,
            request=request,
            extensions={"reason_phrase": response.reason_phrase.encode()},
        )

    def close(self) -> None:
        self._inner.close()

"""HTTP for one source during one scrape pass: proxy chain, limits, retries, in any mode.

Every mode (live, record, replay) goes through the same httpx clients; only the transport
differs, so nothing outside this package knows which mode is active. Replay opens no socket,
but walks the proxy chain like a live run, matching each link's recorded answers.

One request: take a concurrency slot, check the quota floor, then walk the chain. For each
link, pick a proxy whose breaker is not open and try it, retrying connection errors, timeouts,
429 and 5xx with full-jitter backoff (Retry-After honoured, clamped). A block (403/407, a
Forbidden or challenge body) or a dead connection counts against that proxy's breaker and moves
on to the next link. Anything else is the answer.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlencode, urlsplit

import httpx

from lineflow.config import DIRECT, HttpConfig, SourceConfig
from lineflow.core.errors import Blocked, MissingSecret, ReplayMiss, RequestFailed
from lineflow.http.cassette import Cassette, Recorded
from lineflow.http.health import ProxyHealth, Verdict
from lineflow.http.limits import SourceLimits
from lineflow.http.proxies import DIRECT_PROXY, Link, Proxy
from lineflow.http.quota import QuotaGuard, is_exhausted
from lineflow.http.secrets import Redactor

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BLOCK_STATUSES = frozenset({403, 407})

Outcome = Literal["ok", "blocked", "retry", "error"]


def with_query(path: str, query: Sequence[tuple[str, str | int | float | bool | None]]) -> str:
    """`path?query` with spaces as %20, not the `+` httpx's params write: DraftKings' OData
    `$filter` expressions are read with %20, and every server reads %20 as a space in a query
    (`+` is a space only by the form-encoding convention). Values as httpx renders them."""
    if not query:
        return path

    def text(value: str | int | float | bool | None) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return f"{path}?{urlencode([(k, text(v)) for k, v in query], quote_via=quote)}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes  # secrets already masked
    url: str  # absolute, secrets masked
    fetched_at: datetime  # the server's Date header when present, else the local clock
    attempts: int = 1
    via: str = DIRECT  # the chain link that answered
    tried: tuple[str, ...] = ()  # links that failed before it, e.g. ("decodo (403)",)

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
    if len(body) < 200 and _is_forbidden_message(body):
        return "blocked"
    return "ok"


def _is_forbidden_message(body: bytes) -> bool:
    """API Gateway's `{"message":"Forbidden"}`, even behind a 200 (some proxies rewrite it)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return isinstance(payload, dict) and str(payload.get("message", "")).lower() == "forbidden"


@dataclass
class Counters:
    sent: int = 0  # requests that reached the transport (network, or cassette in replay)
    retries: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    #: provider credits the answers say they cost (The Odds API's x-requests-last)
    credits: int = 0


class SourceClient:
    """Issues one source's requests through its proxy chain; records or replays them."""

    def __init__(
        self,
        source: SourceConfig,
        http: HttpConfig,
        cassette_path: Path,
        redactor: Redactor,
        *,
        secret: str | None,
        links: list[Link] | None = None,
        health: ProxyHealth,
        limits: SourceLimits | None = None,
        quota: QuotaGuard | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.source = source
        self.mode = http.mode
        self.redactor = redactor
        self.counters = Counters()
        self._http = http
        self._secret = secret
        self._links = links or [Link(DIRECT, [DIRECT_PROXY], "round_robin")]
        self._health = health
        self._limits = limits
        self._quota = quota if http.mode != "replay" else None
        self._host = urlsplit(source.base_url).netloc
        self._clock = clock
        self._sleep = (lambda _s: None) if http.mode == "replay" else sleep
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self._clients: dict[Proxy, httpx.Client] = {}
        self.cassette = self._open_cassette(cassette_path)
        if http.mode != "replay" and source.auth.kind != "none" and not secret:
            raise MissingSecret(
                f"sources.{source.name}: environment variable {source.auth.env} is not set "
                f"(needed for http.mode={http.mode})"
            )

    def _open_cassette(self, path: Path) -> Cassette:
        if self.mode == "replay" and path.is_file():
            return Cassette.load(path)
        return Cassette(path)

    def _client(self, proxy: Proxy) -> httpx.Client:
        """One httpx client per proxy (connections are pooled per way out)."""
        if proxy not in self._clients:
            if self.mode == "replay":
                transport: httpx.BaseTransport = _ReplayTransport(
                    self.cassette, self.redactor, proxy.pool
                )
            else:
                inner = httpx.HTTPTransport(proxy=proxy.url) if proxy.url else httpx.HTTPTransport()
                transport = (
                    _RecordTransport(inner, self.cassette, self.redactor, proxy.pool)
                    if self.mode == "record"
                    else inner
                )
            headers = dict(self.source.headers)
            if self.source.auth.kind == "header" and self._secret:
                headers[self.source.auth.name] = self._secret
            self._clients[proxy] = httpx.Client(
                base_url=self.source.base_url,
                headers=headers,
                timeout=self._http.timeout_s,
                transport=transport,
                follow_redirects=False,
            )
        return self._clients[proxy]

    def get(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Response:
        """GET through the chain; raises Blocked when every link refused us (naming them)."""
        query: list[tuple[str, str | int | float | bool | None]] = list(params)
        if self.source.auth.kind == "query":
            query.append((self.source.auth.name, self._secret or "REDACTED"))
        with self._slot():
            if self._quota is not None:
                self._quota.check()
            tried: list[str] = []
            blocked: Response | None = None
            failure: str | None = None
            for link in self._links:
                proxy = link.pick(self.source.name, self._usable)
                if proxy is None:
                    tried.append(f"{link.name} ({self._cooling(link)})")
                    continue
                result = self._through(proxy, path, query)
                if isinstance(result, str):
                    tried.append(f"{link.name} ({result.split(':')[0]})")
                    failure = result
                elif result.outcome == "blocked":
                    tried.append(f"{link.name} ({result.status})")
                    blocked = blocked or result
                else:
                    return replace(result, via=link.name, tried=tuple(tried))
        url = self.redactor.url(f"{self.source.base_url}{path}")
        route = ", ".join(tried)
        if blocked is not None:
            raise Blocked(f"blocked via {route}: {blocked.describe()}")
        if failure is not None:
            raise RequestFailed(f"GET {url} failed via {route}: {failure}")
        raise Blocked(f"blocked via {route}: every link is cooling down after failures ({url})")

    def _usable(self, proxy: Proxy) -> bool:
        return self._health.usable(proxy, self._host, self._clock())

    @contextmanager
    def _slot(self) -> Iterator[None]:
        if self._limits is None:
            yield
        else:
            with self._limits.slot():
                yield

    def _cooling(self, link: Link) -> str:
        ends = [self._health.get(p, self._host).breaker.retry_at for p in link.proxies]
        known = [e for e in ends if e is not None]
        return f"breaker open until {min(known):%H:%M}Z" if known else "breaker open"

    def _through(
        self, proxy: Proxy, path: str, query: list[tuple[str, str | int | float | bool | None]]
    ) -> Response | str:
        """One link: the response (retries spent), or the last connection error as text."""
        attempts = self._http.max_attempts
        client = self._client(proxy)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            if self._limits is not None and self.mode != "replay":
                self._limits.bucket.acquire()
            self.counters.sent += 1
            started = self._monotonic()
            try:
                raw = client.get(with_query(path, query))
                body = raw.read()
            except ReplayMiss:
                raise
            except httpx.HTTPError as exc:
                error = self.redactor.text(f"{type(exc).__name__}: {exc}")
                verdict: Verdict = "failure" if last else "none"
                self._observe(proxy, type(exc).__name__, verdict, started, error)
                if last:
                    return error
                self._backoff(attempt, None)
                continue
            response = self._response(raw, body, attempt)
            self.counters.statuses[response.status] = (
                self.counters.statuses.get(response.status, 0) + 1
            )
            outcome = response.outcome
            if outcome == "blocked":
                verdict = "failure"
            elif outcome == "retry":
                verdict = "none"  # the target is busy or down: not the proxy's fault
            else:
                verdict = "success"
            detail = None if outcome == "ok" else response.describe()
            self._observe(proxy, str(response.status), verdict, started, detail)
            self.counters.credits += _cost(response.headers)
            if self._quota is not None:
                self._quota.observe(response.headers, self._clock())
                if is_exhausted(self._quota.config, response.status, response.body):
                    raise self._quota.exhausted(self._clock())
            if outcome == "retry" and not last:
                self._backoff(attempt, response.headers.get("retry-after"))
                continue
            return response
        raise AssertionError("unreachable")

    def _observe(
        self, proxy: Proxy, status: str, verdict: Verdict, started: float, error: str | None
    ) -> None:
        latency_ms = (self._monotonic() - started) * 1000
        self._health.record(proxy, self._host, status, verdict, latency_ms, error, self._clock())

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
        hinted = retry_after_seconds(retry_after, self._clock(), self._http.retry_after_max_s)
        if hinted is not None:
            delay = hinted
        else:
            cap = min(self._http.backoff_max_s, self._http.backoff_base_s * 2 ** (attempt - 1))
            delay = self._rng.uniform(0, cap)  # full jitter
        self._sleep(delay)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
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


def retry_after_seconds(value: str | None, now: datetime, ceiling: float) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), at most `ceiling`.

    <= 0 or unreadable means no hint: the caller backs off on its own (dlt #4036).
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        when = _server_time(value)
        if when is None:
            return None
        seconds = (when - now).total_seconds()
    if seconds != seconds or seconds <= 0:  # NaN or no wait
        return None
    return min(seconds, ceiling)


def _relative_uri(request: httpx.Request, redactor: Redactor) -> str:
    parts = urlsplit(redactor.url(str(request.url)))
    return parts.path + (f"?{parts.query}" if parts.query else "")


class _ReplayTransport(httpx.BaseTransport):
    def __init__(self, cassette: Cassette, redactor: Redactor, via: str) -> None:
        self._cassette = cassette
        self._redactor = redactor
        self._via = via

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        uri = _relative_uri(request, self._redactor)
        recorded = self._cassette.play(request.method, uri, self._via)
        if recorded is None:
            where = (
                f"cassette {self._cassette.path}"
                if self._cassette.path.is_file()
                else f"missing cassette {self._cassette.path}"
            )
            url = self._redactor.url(str(request.url))
            via = "" if self._via == DIRECT else f" via {self._via}"
            raise ReplayMiss(
                f"replay: no recorded response for {request.method} {url}{via} in {where} "
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
    def __init__(
        self, inner: httpx.BaseTransport, cassette: Cassette, redactor: Redactor, via: str
    ) -> None:
        self._inner = inner
        self._cassette = cassette
        self._redactor = redactor
        self._via = via

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
        uri = _relative_uri(request, self._redactor)
        self._cassette.record(request.method, uri, recorded, self._via)
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


def _cost(headers: Mapping[str, str]) -> int:
    """What one answer cost in provider credits (`x-requests-last`), 0 when it does not say."""
    try:
        return int(float(headers.get("x-requests-last", 0)))
    except ValueError:
        return 0

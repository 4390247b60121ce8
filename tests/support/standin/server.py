"""The stand-in provider's HTTP server: both APIs on one loopback port.

`/v4/...` is The Odds API, `/v3/...` is BettingPros, `/sites/...` DraftKings, `/__standin__/...`
the control API.
The server owns what changes while it runs (simulated clock, quota, blocks, fault rules,
request log); the provider modules render bodies from that. `StandIn.answer` turns one request
into one answer without a socket; the handler only moves bytes and applies gzip/truncation.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from tests.support.standin import bettingpros, draftkings, oddsapi

HOST = "127.0.0.1"
CONTROL_PREFIX = "/__standin__/"
#: Which path prefix each blockable source answers on.
SOURCE_PREFIXES = {"odds_api": "/v4/", "bettingpros": "/v3/", "draftkings": "/sites/"}
_SECRET_PARAMS = frozenset(("apikey", "api_key", "key", "user"))
_SECRET_HEADERS = frozenset(("x-api-key", "authorization"))
_LOGGED_HEADERS = (
    "user-agent",
    "accept-encoding",
    "via",
    "forwarded",
    "x-api-key",
    "origin",
    "referer",
    "sec-fetch-mode",
)
_MASK = "***"


@dataclass(frozen=True)
class Fault:
    """A rule that answers requests whose path matches `path` (a regex, searched) differently.

    With `status`, it answers that status, `body` and `Retry-After`; `delay_ms` sleeps first;
    `truncate` cuts the body short (Content-Length promises more, then the connection closes).
    `times` is how many requests it takes (-1 = forever).
    """

    path: str
    times: int = 1
    status: int | None = None
    body: str | None = None
    retry_after: str | None = None
    delay_ms: int = 0
    truncate: bool = False


class LoggedRequest(NamedTuple):
    """One request as the log keeps it: secrets masked, a few headers."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    #: the query as sent, still percent-encoded (how spaces travelled: %20 or +), secrets masked
    raw_query: str = ""


class Answer(NamedTuple):
    """What the server sends back: status, raw (uncompressed) body, headers, whether to cut."""

    status: int
    body: bytes
    headers: dict[str, str]
    truncate: bool = False


def json_bytes(payload: Any) -> bytes:
    """Bodies as the providers send them: compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class StandIn:
    """The stand-in provider: start it, point lineflow at `.url`, steer it, stop it."""

    def __init__(
        self,
        now: datetime | None = None,
        odds_api_key: str = "standin-odds-key",
        bettingpros_key: str = "standin-bp-key",
        quota: int = 20000,
        port: int = 0,
    ) -> None:
        self.odds_api_key = odds_api_key
        self.bettingpros_key = bettingpros_key
        self.quota = oddsapi.Quota(quota)
        self._port = port
        self._lock = threading.Lock()
        self._now = _utc(now) if now else None
        self._blocked: set[str] = set()
        self._blocked_via: list[str] = []
        self._faults: list[tuple[Fault, list[int]]] = []  # each rule with its remaining count
        self._log: list[LoggedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> StandIn:
        if self._server is None:
            self._server = _Server((HOST, self._port), _Handler)
            self._server.standin = self
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="standin",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not running: call start() first")
        return f"http://{HOST}:{self._server.server_address[1]}"

    # -- controls ------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulated clock: the time set, else the real UTC time (whole seconds)."""
        with self._lock:
            return self._now or datetime.now(UTC).replace(microsecond=0)

    def set_now(self, moment: datetime | None) -> None:
        """Freeze the clock at `moment` (naive = UTC); None follows the real clock again."""
        with self._lock:
            self._now = _utc(moment) if moment else None

    def block(self, source: str, blocked: bool = True) -> None:
        """Answer every request of `source` (a key of SOURCE_PREFIXES) with 403 Forbidden."""
        if source not in SOURCE_PREFIXES:
            raise ValueError(
                f"unknown source {source!r}; expected one of {sorted(SOURCE_PREFIXES)}"
            )
        with self._lock:
            (self._blocked.add if blocked else self._blocked.discard)(source)

    def block_via(self, name: str | None) -> None:
        """Refuse BettingPros requests that came through proxy `name`; None clears.

        A proxy names itself in `Via` (tinyproxy, squid) or `Forwarded: by=NAME` (RFC 7239;
        the proxy.py instances of tests.support.forward_proxy): either one counts.
        """
        with self._lock:
            if name is None:
                self._blocked_via.clear()
            elif name.lower() not in self._blocked_via:
                self._blocked_via.append(name.lower())

    def add_fault(self, path: str, **options: Any) -> Fault:
        """Add a `Fault` rule (see its fields); the first matching rule with uses left wins."""
        fault = Fault(path, **options)
        re.compile(fault.path)  # a bad pattern fails here, not on some later request
        with self._lock:
            self._faults.append((fault, [fault.times]))
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_quota(self, remaining: int, used: int | None = None) -> None:
        self.quota.set(remaining, used)

    @property
    def request_log(self) -> list[LoggedRequest]:
        """Every provider request so far (control calls excluded), oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def control(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a control document (the JSON of POST /__standin__/control); return the state."""
        unknown = set(payload) - {
            "now",
            "quota",
            "block",
            "block_via",
            "clear_faults",
            "fault",
            "clear_log",
        }
        if unknown:
            raise ValueError(f"unknown control keys: {sorted(unknown)}")
        if "now" in payload:
            self.set_now(datetime.fromisoformat(payload["now"]) if payload["now"] else None)
        if "quota" in payload:
            self.set_quota(int(payload["quota"]))
        for source, blocked in dict(payload.get("block") or {}).items():
            self.block(source, bool(blocked))
        if "block_via" in payload:
            self.block_via(payload["block_via"])
        if payload.get("clear_faults"):
            self.clear_faults()
        if payload.get("fault"):
            self.add_fault(**payload["fault"])
        if payload.get("clear_log"):
            self.clear_log()
        return self.state()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "now": self._now.isoformat() if self._now else None,
                "blocked": sorted(self._blocked),
                "blocked_via": list(self._blocked_via),
                "faults": [{**asdict(f), "left": left[0]} for f, left in self._faults],
                "quota": {"remaining": self.quota.remaining, "used": self.quota.used},
            }

    # -- answering -----------------------------------------------------------------------------

    def answer(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        now: datetime | None = None,
    ) -> Answer:
        """Answer one request (`target` = path?query, `headers` with lower-case names)."""
        now = now or self.now()
        url = urlsplit(target)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path.startswith(CONTROL_PREFIX):
            return self._answer_control(method, url.path, body)
        self._remember(method, url.path, query, headers, url.query)
        fault = self._take_fault(url.path)
        if fault and fault.delay_ms:
            time.sleep(fault.delay_ms / 1000)
        if fault and fault.status is not None:
            payload = (
                fault.body.encode()
                if fault.body is not None
                else json_bytes(_fault_body(url.path, fault.status))
            )
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return Answer(fault.status, payload, extra, fault.truncate)
        status, payload, extra = self._route(url.path, query, headers, now)
        data = payload if isinstance(payload, bytes) else json_bytes(payload)
        return Answer(status, data, extra, bool(fault and fault.truncate))

    def _route(
        self, path: str, query: dict[str, str], headers: Mapping[str, str], now: datetime
    ) -> tuple[int, Any, dict[str, str]]:
        if path.startswith("/sites/") and "draftkings" in self._blocked_sources():
            return 403, draftkings.AKAMAI_PAGE.encode(), {"Content-Type": "text/html"}
        if any(path.startswith(SOURCE_PREFIXES[s]) for s in self._blocked_sources()):
            return 403, bettingpros.forbidden_json(), {}
        if path.startswith("/v4/"):
            return oddsapi.route(path, query, now=now, api_key=self.odds_api_key, quota=self.quota)
        if path.startswith("/v3/"):
            via = f"{headers.get('via', '')} {headers.get('forwarded', '')}".lower()
            if any(name in via for name in self._blocked_via_names()):
                return 403, bettingpros.forbidden_json(), {}
            return bettingpros.route(path, query, headers, now=now, api_key=self.bettingpros_key)
        if path.startswith("/sites/"):
            return draftkings.route(path, query, headers, now)
        return 404, {"message": "Not Found"}, {}

    def _answer_control(self, method: str, path: str, body: bytes) -> Answer:
        endpoint = path[len(CONTROL_PREFIX) :].rstrip("/")
        if method == "GET" and endpoint == "log":
            return Answer(200, json_bytes([r._asdict() for r in self.request_log]), {})
        if method == "GET" and endpoint == "state":
            return Answer(200, json_bytes(self.state()), {})
        if method == "POST" and endpoint == "control":
            try:
                return Answer(200, json_bytes(self.control(json.loads(body or b"{}"))), {})
            except (ValueError, TypeError, re.error) as bad:
                return Answer(400, json_bytes({"error": str(bad)}), {})
        return Answer(404, json_bytes({"error": f"no control endpoint {method} {path}"}), {})

    def _remember(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        raw_query: str = "",
    ) -> None:
        masked_query = {k: _MASK if k.lower() in _SECRET_PARAMS else v for k, v in query.items()}
        raw_masked = "&".join(
            f"{pair.partition('=')[0]}={_MASK}"
            if pair.partition("=")[0].lower() in _SECRET_PARAMS
            else pair
            for pair in raw_query.split("&")
            if pair
        )
        kept = {
            name: _MASK if name in _SECRET_HEADERS else headers[name]
            for name in _LOGGED_HEADERS
            if name in headers
        }
        with self._lock:
            self._log.append(LoggedRequest(method, path, masked_query, kept, raw_masked))

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault, left in self._faults:
                if left[0] != 0 and re.search(fault.path, path):
                    if left[0] > 0:
                        left[0] -= 1
                    return fault
        return None

    def _blocked_sources(self) -> list[str]:
        with self._lock:
            return list(self._blocked)

    def _blocked_via_names(self) -> list[str]:
        with self._lock:
            return list(self._blocked_via)


def _fault_body(path: str, status: int) -> Any:
    if status == 429 and path.startswith("/v4/"):
        return oddsapi.error_json("EXCEEDED_FREQ_LIMIT")
    return {"message": HTTPStatus(status).phrase}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- transport ---------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: StandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (a timeout or fault test gave up on it) is not
        an error of the stand-in: socketserver would print its traceback to whatever stderr is
        then, which may be a later test's captured one (a one-line-error check failed on it)."""
        if isinstance(sys.exc_info()[1], ConnectionError):  # BrokenPipe, ConnectionReset, ...
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so Content-Length is what ends a body
    server_version = "standin"
    sys_version = ""
    timeout = 30
    server: _Server
    _now: datetime | None = None

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's naming)
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        standin = self.server.standin
        self._now = standin.now()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = standin.answer(self.command, self.path, headers, body, self._now)
        data, extra = answer.body, dict(answer.headers)
        if "gzip" in headers.get("accept-encoding", "") and data:
            data = gzip.compress(data, mtime=0)  # mtime=0: the same bytes every time
            extra["Content-Encoding"] = "gzip"
        self.send_response(answer.status)
        self.send_header("Content-Type", extra.pop("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        if answer.truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if answer.truncate else data)
        if answer.truncate:
            self.close_connection = True

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header comes from the simulated clock: lineflow takes it as the snapshot time.
        return format_datetime(self._now or datetime.now(UTC), usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the request log is kept by StandIn, not printed

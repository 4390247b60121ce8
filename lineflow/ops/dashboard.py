"""The live dashboard `lineflow serve` shows at `GET /dashboard`: read-only, one page, no assets.

`/dashboard` is one self-contained HTML page (inline CSS and script, nothing fetched from
elsewhere; the Content-Security-Policy header forbids it) that asks `/dashboard/data` for its
figures (`reporting/dashboard.gather`, the same figures as `lineflow status`)
`triggers.dashboard_refresh_s` seconds after its last answer and draws them; clicking a cell of
the grid shows its detail. Figures are gathered one request at a time and shared by the
requests that waited for them (`Figures`).

Who may read: the holder of the read token (`triggers.read_token_env`, default
LINEFLOW_READ_TOKEN, 16+ characters) or of the trigger token (it can do more already). A script
sends `Authorization: Bearer TOKEN`; a browser opens `/dashboard?token=TOKEN` once, is sent on to
`/dashboard` with a session cookie and the token leaves the address bar. The cookie holds an
HMAC of the token, never the token, is HttpOnly and SameSite=Strict, and is scoped to
`/dashboard`. The read token cannot trigger anything: `POST /` takes the trigger token only.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from lineflow.config import Settings
from lineflow.core.errors import ConfigError
from lineflow.ops.triggers.app import authorized

COOKIE = "lineflow_dashboard"
#: Nothing but this page's own inline code and its requests to this server.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def session_value(token: str) -> str:
    """What the cookie holds for a token: a keyed hash, so the cookie never is the token."""
    return hmac.new(token.encode(), b"lineflow dashboard session", hashlib.sha256).hexdigest()


class Readers:
    """The tokens that may read the dashboard, and the checks of a request against them."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = [t for t in tokens if t]

    def token(self, given: str) -> str | None:
        """The accepted token equal to `given` (compared in constant time), or None."""
        found = None
        for token in self.tokens:
            if hmac.compare_digest(given.encode(), token.encode()):
                found = token
        return found

    def allows(self, request: Request) -> bool:
        header = request.headers.get("authorization")
        if header and any(authorized(header, t) for t in self.tokens):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return any(hmac.compare_digest(cookie, session_value(t)) for t in self.tokens)


class Figures:
    """The dashboard's figures, gathered one at a time: requests that arrive while a gather
    runs wait for it and share what it found (for `FRESH_S`), so that many open pages cost
    the warehouse one reader, not one each."""

    #: How long gathered figures answer later requests for the same window.
    FRESH_S = 1.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.last: tuple[tuple[date | None, int], float, dict[str, object]] | None = None

    def get(self, end: date | None, days: int) -> dict[str, object]:
        with self.lock:
            now = time.monotonic()
            if self.last and self.last[0] == (end, days) and now - self.last[1] < self.FRESH_S:
                return self.last[2]
            figures = _gather(self.settings, end, days)
            self.last = ((end, days), time.monotonic(), figures)
            return figures


def dashboard_routes(settings: Settings, readers: Readers) -> list[Route]:
    """`GET /dashboard` (the page) and `GET /dashboard/data` (its figures, JSON)."""
    config = settings.triggers
    gathered = Figures(settings)

    async def page(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:
            token = readers.token(given)
            if token is None:
                return HTMLResponse(UNAUTHORIZED, 401, headers=HEADERS)
            rest = "&".join(
                f"{k}={v}" for k, v in request.query_params.items() if k in ("date", "days")
            )
            answer = RedirectResponse(f"/dashboard{'?' + rest if rest else ''}", 303, HEADERS)
            answer.set_cookie(
                COOKIE,
                session_value(token),
                path="/dashboard",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
            return answer
        if not readers.allows(request):
            return HTMLResponse(UNAUTHORIZED, 401, headers=HEADERS)
        html = PAGE.replace("__REFRESH_MS__", str(int(config.dashboard_refresh_s * 1000)))
        return HTMLResponse(html, headers=HEADERS)

    async def data(request: Request) -> JSONResponse:
        if not readers.allows(request):
            return JSONResponse(
                {"status": "unauthorized"}, 401, headers={"WWW-Authenticate": "Bearer", **HEADERS}
            )
        try:
            end, days = _window(request, config.dashboard_days)
        except ValueError as exc:
            return JSONResponse({"status": "bad_request", "reason": str(exc)}, 400, HEADERS)
        figures = await run_in_threadpool(gathered.get, end, days)
        return JSONResponse(figures, headers=HEADERS)

    return [Route("/dashboard", page), Route("/dashboard/data", data)]


def _window(request: Request, default_days: int) -> tuple[date | None, int]:
    text = request.query_params.get("date")
    try:
        end = date.fromisoformat(text) if text else None
    except ValueError:
        raise ValueError(f"date: expected YYYY-MM-DD, got {text!r}") from None
    days_text = request.query_params.get("days", str(default_days))
    if not days_text.isdigit() or not 1 <= int(days_text) <= 62:
        raise ValueError(f"days: expected a whole number from 1 to 62, got {days_text!r}")
    return end, int(days_text)


def _gather(settings: Settings, end: date | None, days: int) -> dict[str, object]:
    from lineflow.reporting import dashboard
    from lineflow.reporting.recorded import open_stores

    try:
        stores = open_stores(settings)
    except ConfigError as exc:  # nothing has run under this home yet
        return {"note": str(exc), "dates": [], "components": [], "grid": {}}
    return dashboard.gather(settings, stores, datetime.now(UTC), end, days)


UNAUTHORIZED = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>lineflow dashboard: sign in</title></head><body style="font:14px system-ui,sans-serif">
<h1>401: this dashboard needs its token</h1>
<p>Open <code>/dashboard?token=TOKEN</code> once with the read token
(<code>$LINEFLOW_READ_TOKEN</code>, or the trigger token), or send
<code>Authorization: Bearer TOKEN</code>.</p></body></html>
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lineflow dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px}
#updated{color:#555}#problem{color:#c62828;font-weight:600}
table{border-collapse:collapse;margin:4px 0 10px}td,th{border:1px solid #ccc;padding:3px 7px;
text-align:left;vertical-align:top}th{background:#f3f3f3}td.num{text-align:right}
#grid td{padding:2px}#grid button{width:100%;min-width:150px;text-align:left;border:0;
padding:6px 8px;cursor:pointer;font:inherit;border-radius:3px}
#grid button .word{display:block;font-weight:600}#grid button .summary{font-size:12px}
#grid button.selected{outline:3px solid #222}
.st-ok{background:#d7f0dc}.st-short,.st-partial{background:#fbe8b4}
.st-blocked{background:#f9cf9c}.st-missing,.st-failed{background:#f5b5b5}
.st-empty-day,.st-not-run{background:#eee;color:#666}
dl{display:grid;grid-template-columns:max-content max-content;gap:2px 16px;margin:6px 0}
dt{color:#555}dd{margin:0;font-weight:600;text-align:right}
.none{color:#666}
</style></head><body>
<h1>lineflow dashboard</h1>
<div id="updated">loading…</div><div id="problem"></div>
<h2>Dates × components</h2>
<table id="grid"></table>
<section id="detail"><p class="none">Click a cell for its detail.</p></section>
<h2>Self-heal log (regenerations and repairs)</h2><div id="self-heal"></div>
<h2 id="exclusions-title">Line-quality exclusions</h2><div id="exclusions"></div>
<h2>Locks</h2><div id="locks"></div>
<h2>Dead letters</h2><div id="dead-letters"></div>
<h2>Proxy breakers</h2><div id="proxy-breakers"></div>
<h2>Backfills</h2><div id="backfills"></div>
<script>
"use strict";
const REFRESH_MS = __REFRESH_MS__;
let data = null, selected = null;

function el(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const kid of kids) node.append(kid instanceof Node ? kid : String(kid ?? ""));
  return node;
}
function num(v) {
  if (v === null || v === undefined) return "—";
  return typeof v === "number" ? v.toLocaleString("en-US") : String(v);
}
const INSTANT = /^(\\d{4}-\\d\\d-\\d\\d)T(\\d\\d:\\d\\d:\\d\\d)[.\\d]*\\+00:00$/;
function text(v) {
  if (Array.isArray(v)) return v.join(", ");
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return num(v);
  const instant = INSTANT.exec(String(v));  // UTC instants as 2026-01-23 18:04:05Z
  return instant ? instant[1] + " " + instant[2] + "Z" : String(v);
}
function table(columns, rows, id) {
  if (typeof rows === "string") return el("p", {class: "none"}, rows);
  if (!rows || !rows.length) return el("p", {class: "none"}, "none");
  const head = el("tr", {}, ...columns.map(([label]) => el("th", {}, label)));
  const body = rows.map((row) => el("tr", {}, ...columns.map(([, key]) =>
    el("td", typeof row[key] === "number" ? {class: "num", "data-key": key} : {"data-key": key},
       text(row[key])))));
  return el("table", id ? {id} : {}, head, ...body);
}
function put(id, node) { document.getElementById(id).replaceChildren(node); }

function renderGrid() {
  const grid = document.getElementById("grid");
  const head = el("tr", {}, el("th", {}, "date"), ...data.components.map((c) => el("th", {}, c)));
  const rows = data.dates.map((day) => el("tr", {}, el("th", {}, day),
    ...data.components.map((component) => {
      const cell = data.grid[day][component];
      const button = el("button", {
        type: "button", class: "cell st-" + cell.status.replace(" ", "-"),
        "data-date": day, "data-component": component, "data-status": cell.status,
      }, el("span", {class: "word"}, cell.status), el("span", {class: "summary"}, cell.summary));
      if (selected && selected.date === day && selected.component === component)
        button.classList.add("selected");
      button.addEventListener("click", () => { selected = {date: day, component}; render(); });
      return el("td", {}, button);
    })));
  grid.replaceChildren(head, ...rows);
}

function renderDetail() {
  const box = document.getElementById("detail");
  if (!selected || !data.grid[selected.date]) return;
  const cell = data.grid[selected.date][selected.component];
  box.setAttribute("data-date", selected.date);
  box.setAttribute("data-component", selected.component);
  const figures = el("dl", {id: "figures"}, ...Object.entries(cell.figures).flatMap(([k, v]) =>
    [el("dt", {}, k), el("dd", {"data-figure": k}, num(v))]));
  const d = cell.detail || {};
  const parts = [
    el("h2", {}, selected.date + " · " + selected.component + ": ",
       el("span", {id: "detail-status"}, cell.status)),
    figures,
  ];
  if (d.note) parts.push(el("p", {id: "detail-note"}, d.note));
  const sections = [
    ["Failures", "detail-failures", [["what", "what"], ["reason", "reason"]], d.failures],
    ["Runs", "detail-runs", [["processor", "processor"], ["status", "status"],
      ["files", "files"], ["rows", "rows"], ["started", "started_at"], ["error", "error"]], d.runs],
    ["Files", "detail-files", [["endpoint", "endpoint"], ["pass", "pass_id"],
      ["HTTP", "http_status"], ["status", "status"], ["rows", "rows"], ["error", "error"],
      ["path", "path"]], d.files],
    ["Rules", "detail-rules", [["rule", "rule_id"], ["severity", "severity"],
      ["outcome", "outcome"], ["checked", "checked"], ["failed", "failed"],
      ["quarantined", "quarantined"], ["detail", "detail"]], d.rules],
    ["Exclusions", "detail-exclusions", [["player", "player_name"], ["market", "market"],
      ["reasons", "reasons"], ["books", "books"], ["usable books", "usable_books"]],
      d.exclusions],
  ];
  for (const [title, id, columns, rows] of sections) {
    if (rows === undefined) continue;
    parts.push(el("h3", {}, title), table(columns, rows, id));
  }
  box.replaceChildren(...parts);
}

function renderState() {
  put("self-heal", table([["when", "at"], ["date", "date"], ["what", "what"], ["who", "who"],
    ["why", "why"], ["by", "by"]], data.self_heal, "self-heal-table"));
  const day = selected ? selected.date : data.dates.find((d) =>
    data.grid[d].predictions && data.grid[d].predictions.status !== "not run");
  const cell = day && data.grid[day].predictions;
  document.getElementById("exclusions-title").textContent =
    "Line-quality exclusions" + (day ? ", " + day : "");
  put("exclusions", table([["player", "player_name"], ["market", "market"],
    ["reasons", "reasons"], ["books", "books"], ["usable books", "usable_books"]],
    cell && cell.detail.exclusions ? cell.detail.exclusions : "none", "exclusions-table"));
  put("locks", table([["key", "key"], ["owner", "owner"], ["since", "acquired_at"],
    ["heartbeat", "heartbeat_at"], ["expires", "expires_at"]], data.locks, "locks-table"));
  put("dead-letters", table([["id", "id"], ["kind", "kind"], ["partition", "partition"],
    ["attempts", "attempts"], ["pointer", "payload_ref"], ["reason", "reason"]],
    data.dead_letters, "dead-letters-table"));
  put("proxy-breakers", table([["pool", "pool"], ["proxy", "proxy"], ["host", "host"],
    ["state", "state"], ["requests", "requests"], ["successes", "successes"],
    ["retry at", "cooldown_until"], ["last error", "last_error"]], data.proxy_breakers,
    "proxy-breakers-table"));
  put("backfills", table([["id", "id"], ["range", "range"], ["sources", "sources"],
    ["status", "status"], ["done", "done"], ["of", "partitions"], ["rows", "rows"],
    ["requests", "requests"]], data.backfills, "backfills-table"));
}

function render() {
  document.getElementById("updated").textContent = data.note ? data.note :
    "home " + data.home + " · updated " + text(data.generated_at) + " · every " +
    REFRESH_MS / 1000 + " s";
  document.getElementById("updated").setAttribute("data-generated", data.generated_at || "");
  renderGrid();
  renderDetail();
  renderState();
}

async function load() {
  const query = new URLSearchParams(location.search);
  try {
    const answer = await fetch("/dashboard/data" + (query.toString() ? "?" + query : ""),
                               {cache: "no-store", credentials: "same-origin"});
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    data = await answer.json();
    document.getElementById("problem").textContent = "";
    render();
  } catch (error) {
    document.getElementById("problem").textContent = "could not refresh: " + error.message;
  }
}
async function poll() {  // the next request only once this one is answered
  await load();
  setTimeout(poll, REFRESH_MS);
}
poll();
</script></body></html>
"""

"""scrape: run each source's request plan for the partition; land every 2xx body once.

A request whose landing path is already in the manifest (or on disk) is not sent again, so a
rerun of a landed pass makes no HTTP request. Each source ends in its own status: whatever one
source raises (a malformed answer, a bug) fails that source with a one-line reason, and the
others are still scraped.

A file at a path scrape would write is *corrupt* when its bytes are not what landed there: its
content id differs from the manifest's for that path, or, with no manifest row (landed by a
run killed before the row, or put there by hand), it is not JSON. A corrupt file is set aside
(`Landing.set_aside`: renamed out of the layout, so nothing reads it again, and named in the
run's notes) and the request is sent again; a landed body is never overwritten.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from lineflow import sources
from lineflow.config import SourceConfig
from lineflow.core.errors import Blocked, HttpError, LineflowError, SourceFailed
from lineflow.core.faults import kill_point
from lineflow.http import Response, SourceClient
from lineflow.landing import BadSidecar, LandingConflict, LandingPath, check_sidecar, file_id
from lineflow.pipeline.stages.base import RunContext, StageResult
from lineflow.sources.base import Call, Fetch, Fetched, ParseError, decode_json, one_line
from lineflow.state.work import is_permanent, reason
from lineflow.warehouse.duckdb import LandedRow


class PassFetch(Fetch):
    """Fetch for one (source, pass): landing-aware, lazily opening the HTTP client."""

    def __init__(self, ctx: RunContext, source: SourceConfig, pid: str, result: StageResult):
        self.ctx = ctx
        self.source = source
        self.pid = pid
        self.result = result
        self._client: SourceClient | None = None
        # get_many's threads may be the first to ask for the client: one must make it, or each
        # makes its own and the run counts (and closes) only the last one's requests.
        self._client_lock = threading.Lock()
        landed = ctx.warehouse.landed(ctx.partition, source.name)
        #: the manifest's content id of every landed path of the source's partition
        self._landed: dict[str, str] = dict(zip(landed["path"], landed["file_id"], strict=True))
        self._failovers: dict[str, int] = {}
        self.deferred = 0  # requests not asked this run (dead-lettered or backing off)

    @property
    def client(self) -> SourceClient:
        with self._client_lock:
            if self._client is None:
                self._client = self.ctx.http.client(self.source, self.ctx.partition, self.pid)
            return self._client

    def where(self, call: Call) -> LandingPath:
        return LandingPath(self.source.name, call.endpoint, self.ctx.partition, self.pid, call.stem)

    def get(self, call: Call) -> Fetched:
        return self.get_many([call])[0]

    def get_many(self, calls: list[Call]) -> list[Fetched]:
        """Run calls (concurrently up to the source's limit); land each 2xx body in order."""
        done: dict[int, Fetched] = {}
        todo: list[int] = []
        for index, call in enumerate(calls):
            landed = self._already_landed(call)
            if landed is not None:
                done[index] = landed
            else:
                todo.append(index)
        todo = [i for i in todo if not self._deferred(calls[i], done, i)]
        workers = min(self.source.concurrency, len(todo))
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                responses = list(pool.map(self._send, [calls[i] for i in todo]))
        else:
            responses = [self._send(calls[i]) for i in todo]
        # Warehouse writes stay on this thread (a DuckDB connection is not shared across
        # threads). Everything that arrived lands before a block or an error is reported.
        if todo:
            kill_point("after_response")
        blocked: Blocked | None = None
        error: HttpError | None = None
        for index, response in zip(todo, responses, strict=True):
            call = calls[index]
            if isinstance(response, Blocked):
                blocked = blocked or response
                continue
            if isinstance(response, HttpError):
                error = error or response
                self._attempt_failed(call, response)
                continue
            if response.tried:
                route = f"via {response.via} after {', '.join(response.tried)}"
                self._failovers[route] = self._failovers.get(route, 0) + 1
            ok = 200 <= response.status < 300
            if ok:
                self._record(
                    self.where(call),
                    response.body,
                    response.url,
                    response.status,
                    response.fetched_at,
                )
            done[index] = Fetched(call, response.status, response.body, ok, False)
            if ok:
                self._attempt_succeeded(call, response.url)
            elif _never_succeeds(response.status):
                self._attempt_failed(call, SourceFailed(response.describe()))
        if blocked is not None:
            raise blocked
        if error is not None:
            raise error
        return [done[i] for i in range(len(calls))]

    # -- requests as units of work: attempts, backoff, dead letters ------------------------------
    def _work_key(self, call: Call) -> str:
        return f"{self.source.name}/{self.ctx.partition}/{call.endpoint}/{call.stem}"

    def _deferred(self, call: Call, done: dict[int, Fetched], index: int) -> bool:
        """A request that is dead-lettered, or waiting for its next attempt, is not sent: it
        never holds back the rest of the plan, and the result says so."""
        work = self.ctx.work
        if work is None or self.ctx.request.refresh:
            return False
        item = work.get("request", self._work_key(call))
        if item is None or item.status == "done":
            return False
        if item.status == "dead":
            why = "dead-lettered (lineflow dlq)"
        elif (item.next_attempt_at or 0) > work.clock():
            why = f"retried after {datetime.fromtimestamp(item.next_attempt_at or 0, UTC):%H:%M}Z"
        else:
            return False
        self.note(f"{call.endpoint} {call.stem}: not asked, {why}: {item.last_error}")
        self.deferred += 1
        done[index] = Fetched(call, 0, b"", False, False, deferred=True)
        return True

    def _attempt_failed(self, call: Call, error: LineflowError) -> None:
        """Count the request's failed attempt; its error's family decides retry or dead letter."""
        if self.ctx.work is None:
            return
        failure = self.ctx.work.failed(
            "request",
            self._work_key(call),
            f"request:{call.path}",
            self.ctx.http.redactor.text(str(error)),
            permanent=is_permanent(error),
            partition=str(self.ctx.partition),
        )
        if failure.dead:
            self.note(f"dead letter {failure.letter_id}: {call.endpoint} {call.stem}")

    def _attempt_succeeded(self, call: Call, url: str) -> None:
        work = self.ctx.work
        if work is not None and work.get("request", self._work_key(call)) is not None:
            work.succeeded(
                "request", self._work_key(call), f"request:{call.path}", str(self.ctx.partition)
            )

    def _already_landed(self, call: Call) -> Fetched | None:
        if self.ctx.request.refresh:
            return None
        where = self.where(call)
        body = self._sound_body(where)
        if body is None:
            return None
        if str(where) not in self._landed:
            # Landed by a run that died before its manifest row (its sidecar says how it was
            # fetched), or put there by hand.
            try:
                fetched = check_sidecar(self.ctx.landing.read_meta(where), where)
            except BadSidecar as exc:  # the body serves the plan; process dead-letters the file
                self.note(str(exc))
                return Fetched(call, 200, body, True, True)
            self._record(where, body, fetched.url, fetched.http_status, fetched.fetched_at)
        return Fetched(call, 200, body, True, True)

    def _sound_body(self, where: LandingPath) -> bytes | None:
        """The body at `where`; None when there is none, or it was corrupt and is set aside.
        A manifest's file gone from the landing zone (a mount that went away) is an error:
        fetching it again would hide the loss."""
        try:
            body = self.ctx.landing.read(where)
        except FileNotFoundError:
            if str(where) in self._landed:
                raise
            return None
        why = self._corrupt(where, body)
        if why is None:
            return body
        name = self.ctx.landing.set_aside(where, self.ctx.clock())
        self.note(f"set aside corrupt {where} as {name} ({why}); fetching it again")
        return None

    def _corrupt(self, where: LandingPath, body: bytes) -> str | None:
        """Why the body at `where` is corrupt (see the module's docstring), or None."""
        known = self._landed.get(str(where))
        if known is not None:
            return None if file_id(body) == known else "its content id is not the manifest's"
        try:
            decode_json(body, str(where))
        except ParseError as exc:
            return str(exc).removeprefix(f"{where}: ")
        return None

    def _send(self, call: Call) -> Response | HttpError:
        try:
            return self.client.get(call.path, call.params)
        except HttpError as exc:  # reported after the calls that did answer have landed
            return exc

    def _record(
        self, where: LandingPath, body: bytes, url: str | None, status: int | None, at: datetime
    ) -> None:
        meta = {"url": url, "http_status": status, "fetched_at": at.isoformat()}
        try:
            fid = self.ctx.landing.write(where, body, meta)
        except LandingConflict:
            # refresh=true asks again whatever landed; a corrupt file there is set aside, a
            # sound one is never overwritten.
            if self._sound_body(where) is not None:
                raise
            fid = self.ctx.landing.write(where, body, meta)
        kill_point("after_landing_write")
        self.ctx.warehouse.record_landed(
            LandedRow(
                path=str(where),
                file_id=fid,
                source=self.source.name,
                endpoint=where.endpoint,
                slate_date=self.ctx.partition,
                pass_id=self.pid,
                bytes=len(body),
                url=url,
                http_status=status,
                fetched_at=at,
                run_id=self.ctx.run_id,
            )
        )
        kill_point("after_manifest_write")
        self._landed.setdefault(str(where), fid)

    def note(self, message: str) -> None:
        self.result.notes.append(message)

    def close(self) -> None:
        for route, count in sorted(self._failovers.items()):
            self.note(f"{count} request{'s' if count > 1 else ''} answered {route}")
        if self._client is not None:
            self.result.requests += self._client.counters.sent
            self.result.credits += self._client.counters.credits
            self._client.close()


def run(ctx: RunContext) -> list[StageResult]:
    results = []
    for source in ctx.request.active_sources(ctx.settings):
        result = StageResult(f"scrape:{source.name}", "scrape", started_at=ctx.clock())
        results.append(result)
        try:
            _scrape_source(ctx, source, result)
        except LineflowError:
            raise  # the run's, not this source's (a busy warehouse): the runner reports it
        except Exception as exc:  # noqa: BLE001 - this source's failure; the others go on
            result.status = "failed"
            result.error = one_line(ctx.http.redactor.text(reason(exc)))
        result.files = _files_landed(ctx, source.name)
        result.figures = {"files_landed": result.files}
        result.finished_at = ctx.clock()
    return results


def _files_landed(ctx: RunContext, source: str) -> int:
    """Files this run landed for the source, by content: a body landed twice, identical (the
    events list of two passes), is one file, as in the processing ledger and `status`."""
    return int(
        ctx.warehouse.query(
            "SELECT count(DISTINCT file_id) AS n FROM landed_files "
            "WHERE slate_date = ? AND source = ? AND run_id = ?",
            [ctx.partition, source, ctx.run_id],
        ).item()
    )


def _scrape_source(ctx: RunContext, source: SourceConfig, result: StageResult) -> None:
    provider = sources.load(source)
    snapshot = ctx.request.snapshot_at
    if snapshot is not None and not provider.supports_history:
        result.status = "skipped"
        result.notes.append("no historical endpoint")
        return
    if _still_blocked(ctx, source, result):
        return
    passes = ctx.http.passes(source, ctx.partition, snapshot, ctx.request.refresh)
    if not passes:
        result.status = "failed"
        result.error = (
            f"replay: no recorded pass for {source.name} on {ctx.partition} under "
            f"{ctx.http.cassette_dir(source, ctx.partition)} (record one with http.mode=record)"
        )
        return
    for pid in passes:
        fetch = PassFetch(ctx, source, pid, result)
        try:
            provider.scrape(fetch, ctx.partition, snapshot)
        except Blocked as exc:
            result.status = "blocked"
            result.error = ctx.http.redactor.text(str(exc))
        except LineflowError as exc:
            result.status = "failed"
            result.error = ctx.http.redactor.text(str(exc))
        finally:
            fetch.close()
        if fetch.deferred and result.status == "success":
            result.status = "partial"
            result.error = f"{fetch.deferred} requests not asked (dead-lettered or backing off)"
        if result.status not in ("success", "partial"):
            break
    now = ctx.clock()
    if result.status == "blocked":
        retry = now + timedelta(minutes=source.blocked_cooldown_minutes)
        ctx.warehouse.record_block(
            source.name, ctx.partition, source.base_url, result.error or "", now, retry
        )
    elif result.status == "success":
        ctx.warehouse.resolve_blocks(source.name, ctx.partition, now)


def _still_blocked(ctx: RunContext, source: SourceConfig, result: StageResult) -> bool:
    """Inside the cooldown after a block, a rerun reports the block without asking again."""
    block = ctx.warehouse.open_block(source.name, ctx.partition)
    if block is None or ctx.request.refresh or ctx.clock() >= block["retry_after"]:
        return False
    result.status = "blocked"
    result.error = block["detail"]
    result.notes.append(
        f"blocked since {block['first_seen']:%Y-%m-%d %H:%M}Z; "
        f"not asking again before {block['retry_after']:%H:%M}Z"
    )
    return True


def _never_succeeds(status: int) -> bool:
    """A client error that asking again cannot fix (not 404, which the plan may expect, nor 429,
    nor the blocks the proxy chain handles)."""
    return 400 <= status < 500 and status not in (404, 407, 403, 408, 429)

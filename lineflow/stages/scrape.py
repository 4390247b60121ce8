"""scrape: run each source's request plan for the partition; land every 2xx body once.

A request whose landing path is already in the manifest (or on disk) is not sent again, so a
rerun of a landed pass makes no HTTP request.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from lineflow import sources
from lineflow.config import SourceConfig
from lineflow.errors import LineflowError
from lineflow.http import HttpError, Response, SourceClient
from lineflow.landing import LandingPath, pass_time
from lineflow.sources.base import Call, Fetch, Fetched, SourceBlocked, SourceFailed
from lineflow.stages.base import RunContext, StageResult
from lineflow.warehouse.duckdb import LandedRow


class PassFetch(Fetch):
    """Fetch for one (source, pass): landing-aware, lazily opening the HTTP client."""

    def __init__(self, ctx: RunContext, source: SourceConfig, pid: str, result: StageResult):
        self.ctx = ctx
        self.source = source
        self.pid = pid
        self.result = result
        self._client: SourceClient | None = None
        self._landed = ctx.warehouse.landed_paths(source.name, ctx.partition)

    @property
    def client(self) -> SourceClient:
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
        workers = min(self.source.concurrency, len(todo))
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                responses = list(pool.map(self._send, [calls[i] for i in todo]))
        else:
            responses = [self._send(calls[i]) for i in todo]
        # Warehouse writes stay on this thread (a DuckDB connection is not shared across
        # threads). Everything that arrived lands before a block is reported.
        blocked: Response | None = None
        arrived: list[LandedRow] = []
        for index, response in zip(todo, responses, strict=True):
            call = calls[index]
            if response.outcome == "blocked":
                blocked = blocked or response
                continue
            ok = 200 <= response.status < 300
            if ok:
                arrived.append(
                    self._land(
                        self.where(call),
                        response.body,
                        response.url,
                        response.status,
                        response.fetched_at,
                    )
                )
            done[index] = Fetched(call, response.status, response.body, ok, False)
        # One manifest write for the batch: a warehouse session and a commit per file cost
        # more than the requests (docs/benchmarks.md). Files land first, rows after.
        self.ctx.warehouse.record_landed_many(arrived)
        if blocked is not None:
            raise SourceBlocked(blocked.describe())
        return [done[i] for i in range(len(calls))]

    def _already_landed(self, call: Call) -> Fetched | None:
        if self.ctx.settings.refresh:
            return None
        where = self.where(call)
        if str(where) in self._landed:
            return Fetched(call, 200, self.ctx.landing.read(where), True, True)
        if self.ctx.landing.exists(where):
            # Landed by a run that died before its manifest row, or put there by hand.
            body = self.ctx.landing.read(where)
            self._record(where, body, None, None, pass_time(self.pid))
            return Fetched(call, 200, body, True, True)
        return None

    def _send(self, call: Call) -> Response:
        return self.client.get(call.path, call.params)

    def _record(
        self, where: LandingPath, body: bytes, url: str | None, status: int | None, at: datetime
    ) -> None:
        self.ctx.warehouse.record_landed(self._land(where, body, url, status, at))

    def _land(
        self, where: LandingPath, body: bytes, url: str | None, status: int | None, at: datetime
    ) -> LandedRow:
        """Write the body into the landing zone; return its manifest row (not yet recorded)."""
        fid = self.ctx.landing.write(where, body)
        row = LandedRow(
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
        self._landed.add(str(where))
        self.result.files += 1
        return row

    def note(self, message: str) -> None:
        self.result.notes.append(message)

    def close(self) -> None:
        if self._client is not None:
            self.result.requests += self._client.counters.sent
            self._client.close()


def run(ctx: RunContext) -> list[StageResult]:
    results = []
    for source in ctx.settings.active_sources():
        result = StageResult(f"scrape:{source.name}", "scrape", started_at=ctx.clock())
        results.append(result)
        _scrape_source(ctx, source, result)
        result.finished_at = ctx.clock()
    return results


def _scrape_source(ctx: RunContext, source: SourceConfig, result: StageResult) -> None:
    module = sources.load(source)
    snapshot = ctx.settings.snapshot_at(ctx.partition)
    if snapshot is not None and not module.SUPPORTS_HISTORY:
        result.status = "skipped"
        result.notes.append("no historical endpoint")
        return
    if _still_blocked(ctx, source, result):
        return
    passes = ctx.http.passes(source, ctx.partition, snapshot)
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
            module.scrape(fetch, source, ctx.partition, snapshot)
        except SourceBlocked as exc:
            result.status = "blocked"
            result.error = ctx.http.redactor.text(str(exc))
        except (SourceFailed, HttpError, LineflowError) as exc:
            result.status = "failed"
            result.error = ctx.http.redactor.text(str(exc))
        finally:
            fetch.close()
        if result.status != "success":
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
    if block is None or ctx.settings.refresh or ctx.clock() >= block["retry_after"]:
        return False
    result.status = "blocked"
    result.error = block["detail"]
    result.notes.append(
        f"blocked since {block['first_seen']:%Y-%m-%d %H:%M}Z; "
        f"not asking again before {block['retry_after']:%H:%M}Z"
    )
    return True

"""The partition-complete record: a rerun of a complete partition answers without opening the
warehouse, the state store or any stage.

A run whose every stage succeeded (a source blocked inside its cooldown and validate's rule
findings count: a rerun would only say them again, see SETTLED) writes
`complete/<pipeline>/<date>.json` under the home, as its very last act: the inputs it ran on,
and the results a rerun of those inputs would report. A later run of the same partition reads it
(`check`) and is complete only when all of these hold, each being what would make the runner do
something:

- the same request (stages, sources, HTTP mode, strict), no `refresh`, no `publish`;
- the same composed configuration (sources, rules, alias table, models, every setting) and the
  same lineflow version;
- the same landed files of every active source (path, size, modification time): a file that
  landed since, by a run or by hand, is work for `process`;
- the same scrape passes: the recorded passes in replay, the current snapshot slot live (a live
  run in a new slot is a new pass), the historical snapshot (the request's only use of it);
- no blocked source past its cooldown (the runner would ask it again);
- the secrets live and record modes need are set (a full run would stop on them);
- the same warehouse file (device and inode: not deleted or replaced since);
- the embedded engines: a DuckDB file, SQLite state and a local landing folder (a lake, shared
  state or a bucket is changed by other machines too, which a record in this home cannot see).

Invariants: every run of the partition that is not answered from the record deletes it before
its first write (`forget`), and only a run that ended cleanly writes it back, atomically,
after its last warehouse write. A killed or failing run therefore leaves no record, and a record
never outlives a change a run made. The record stores no secret: results carry only redacted
errors, as the run summary does.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lineflow.core.version import __version__
from lineflow.landing import LandingZone

if TYPE_CHECKING:
    from lineflow.config import Settings, SourceConfig
    from lineflow.pipeline.request import RunRequest
    from lineflow.pipeline.stages.base import RunContext, StageResult

#: Stages a record can stand for: publish writes to another system the record cannot vouch for.
RECORDABLE = frozenset({"scrape", "process", "validate", "consolidate", "predict"})
#: Phases whose figures count what this run did (files landed, files processed): a rerun of a
#: complete partition did nothing there, so they read 0; the others describe the partition.
PER_RUN_PHASES = frozenset({"scrape", "process"})
FORMAT = 1
#: Outcomes other than success that a rerun on the same inputs only repeats: a source blocked
#: inside its cooldown (scrape asks nothing, see `valid_until`), and rule findings (validate's
#: digest of its inputs is unchanged, so it says its last outcome again). A failed stage, or a
#: partial scrape or process (calls or files to retry), leaves work and no record.
SETTLED = frozenset({("scrape", "blocked"), ("validate", "partial")})


@dataclass(frozen=True)
class Complete:
    """A rerun answered from the record: the run that completed the partition and the results a
    rerun reports (timed now, 0 requests)."""

    run_id: str
    results: list[dict[str, Any]]


def record_path(settings: Settings, partition: date) -> Path:
    return settings.home / "complete" / settings.pipeline.name / f"{partition.isoformat()}.json"


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Claims and records of one partition replace each other one at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _replace(path: Path, content: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(json.dumps(content, default=str), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        # A write that fails (a full disk) names no file: name the record, leave no temp file,
        # and let the command say it in one line.
        tmp.unlink(missing_ok=True)
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def forget(settings: Settings, partition: date, run_id: str) -> None:
    """Replace the partition's record with this run's claim: every run that does work calls it
    before its first write, and only the run holding the claim at its end may record the
    partition complete (a run that started meanwhile may have work the first did not see)."""
    path = record_path(settings, partition)
    with _exclusive(path):
        _replace(path, {"format": FORMAT, "running": run_id})


def _eligible(settings: Settings, request: RunRequest) -> bool:
    return (
        not request.refresh
        and set(request.stages) <= RECORDABLE
        and settings.landing.url is None  # a bucket is not listed for a quick look
        # Shared engines are changed by other machines too: a record in this home cannot vouch
        # for them, so those runs always ask the warehouse and the state store.
        and settings.warehouse.kind == "duckdb"
        and settings.state.backend == "sqlite"
    )


def _listing(settings: Settings, request: RunRequest) -> dict[str, list[list[Any]]]:
    """Each active source's landed files of the partition: path, size, modification time."""
    landing = LandingZone(settings.landing.root)
    root = str(landing.root)
    files: dict[str, list[list[Any]]] = {}
    for source in request.active_sources(settings):
        listed = []
        for where in landing.discover(source.name, request.date):
            path = str(where)
            st = os.stat(f"{root}/{path}")  # a string, not a Path joined: a third of the cost
            listed.append([path, st.st_size, st.st_mtime_ns])
        files[source.name] = listed
    return files


def _inputs(
    settings: Settings,
    request: RunRequest,
    now: datetime,
    files: dict[str, list[list[Any]]] | None = None,
) -> dict[str, Any]:
    """Everything a full run decides its work from, that can be read without the warehouse
    (`files`: the `_listing` when the caller has just taken it)."""
    from lineflow.http.session import plan_passes

    active = request.active_sources(settings)
    mode = request.http_mode or settings.http.mode
    if files is None:
        files = _listing(settings, request)
    passes: dict[str, list[str]] = {}
    for source in active:
        if "scrape" in request.stages:  # passes are scrape's question alone
            passes[source.name] = plan_passes(
                mode, settings.http.cassettes, source, request.date, request.snapshot_at, now, False
            )
    try:  # the same warehouse file: one deleted or replaced since holds none of the record
        st = os.stat(settings.warehouse.path)
        warehouse: list[int] | None = [st.st_dev, st.st_ino]
    except OSError:
        warehouse = None
    config = settings.model_dump_json(exclude={"date", "now", "refresh", "strict", "snapshot"})
    # The snapshot only chooses scrape's pass, which `passes` holds when scrape is asked for.
    asked = request.model_dump_json(exclude={"now", "snapshot"})
    return {
        "version": __version__,
        "config": hashlib.sha256(config.encode()).hexdigest(),
        "request": hashlib.sha256(asked.encode()).hexdigest(),
        "files": hashlib.sha256(json.dumps(files).encode()).hexdigest(),
        "passes": passes,
        "warehouse": warehouse,
    }


def _secrets_missing(settings: Settings, active: list[SourceConfig], mode: str) -> bool:
    if mode == "replay":
        return False
    return any(
        s.auth.kind != "none" and s.auth.env and not os.environ.get(s.auth.env) for s in active
    )


def check(settings: Settings, request: RunRequest, now: datetime) -> Complete | None:
    """The partition's record when it still holds for this request at `now`, else None (the
    run must run). Reads files only."""
    if not _eligible(settings, request):
        return None
    try:
        record = json.loads(record_path(settings, request.date).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # no record, or one a crash or a person spoiled: run
    if record.get("format") != FORMAT or "inputs" not in record:
        return None  # an older layout, or a run's claim: that run has not finished cleanly
    until = record.get("valid_until")
    if until is not None and now >= datetime.fromisoformat(until):
        return None  # a blocked source is due to be asked again
    mode = request.http_mode or settings.http.mode
    if _secrets_missing(settings, request.active_sources(settings), mode):
        return None  # the full run says which secret is missing
    if record.get("inputs") != _inputs(settings, request, now):
        return None
    return Complete(record["run_id"], record["results"])


def write(ctx: RunContext, results: list[StageResult]) -> None:
    """Record the partition complete after a clean run (see the module docstring); a run that
    left anything for a later run to do records nothing."""
    settings, request = ctx.settings, ctx.request
    if not _eligible(settings, request) or not results:
        return
    if not all(r.status == "success" or (r.phase, r.status) in SETTLED for r in results):
        return
    blocks: dict[str, dict[str, Any]] = {}
    for result in results:
        if result.status == "blocked":
            name = result.processor.split(":", 1)[1]
            block = ctx.warehouse.open_block(name, ctx.partition)
            if block is None:
                return  # a block without a cooldown: the next run asks again
            blocks[name] = block
    # Inputs first, then the warehouse: a file landing in between changes the inputs.
    files = _listing(settings, request)
    inputs = _inputs(settings, request, ctx.clock(), files)
    # Not settled: a dropped file not registered (waiting for a retry, a dead letter), or a
    # landed file not in the ledger (the next run processes it).
    paths = {source: [path for path, _, _ in listed] for source, listed in files.items()}
    if not ctx.warehouse.settled(ctx.partition, paths):
        return
    retry = [b["retry_after"] for b in blocks.values()]
    record = {
        "format": FORMAT,
        "run_id": ctx.run_id,
        "recorded_at": ctx.clock().isoformat(),
        "valid_until": min(retry).isoformat() if retry else None,
        "inputs": inputs,
        "results": [_rerun_form(r, blocks, ctx.run_id) for r in results],
    }
    path = record_path(settings, ctx.partition)
    with _exclusive(path):
        try:
            claim = json.loads(path.read_text(encoding="utf-8")).get("running")
        except (OSError, ValueError):
            return
        if claim == ctx.run_id:  # else another run started since: its end records
            _replace(path, record)


def _rerun_form(
    result: StageResult, blocks: dict[str, dict[str, Any]], run_id: str
) -> dict[str, Any]:
    """What a rerun of the complete partition reports for this processor: what the stage itself
    says when it finds nothing to do."""
    from lineflow.pipeline.stages import predict, validate

    per_run = result.phase in PER_RUN_PHASES
    notes = [] if per_run else list(result.notes)
    if result.phase == "validate" and not any(n.startswith(validate.UNCHANGED) for n in notes):
        notes.append(validate.unchanged_since(run_id))
    if result.phase == "predict" and "player_markets_predicted" in result.figures:
        notes = [
            predict.up_to_date(
                result.figures.get("player_markets_predicted", 0),
                result.figures.get("player_markets_excluded", 0),
            )
        ]
    if result.status == "blocked":
        block = blocks[result.processor.split(":", 1)[1]]
        notes = [
            f"blocked since {block['first_seen']:%Y-%m-%d %H:%M}Z; "
            f"not asking again before {block['retry_after']:%H:%M}Z"
        ]
    return {
        "processor": result.processor,
        "phase": result.phase,
        "status": result.status,
        "files": 0 if per_run else result.files,
        "rows": 0 if per_run else result.rows,
        "error": result.error,
        "notes": notes,
        "figures": {k: 0 for k in result.figures} if per_run else dict(result.figures),
    }


def results_of(complete: Complete, at: datetime) -> list[StageResult]:
    from lineflow.pipeline.stages.base import StageResult

    return [StageResult(**r, started_at=at, finished_at=at) for r in complete.results]

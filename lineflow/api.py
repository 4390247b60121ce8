"""lineflow from Python: `lineflow.run`, `lineflow.status`, `lineflow.backfill`.

    import lineflow

    result = lineflow.run(date="2026-01-23", home="/tmp/lf")
    print(result.exit_code, result.stage("consolidate").rows)

Each function does what its command does (`lineflow run date=D key=value ...`) and returns
typed figures instead of printing them. Keyword arguments are the command line's keys and
config overrides: `home="/tmp/lf"`, `strict=True`, `only=["odds_api"]`; a dotted key is spelled
with `__` (`http__mode="replay"` is `http.mode=replay`), and `overrides=["+key=value"]` passes
Hydra overrides as written.

Invariants: bad input raises the one-line `ConfigError` the command prints (exit code 2 as
`error.exit_code`); a held lock or a busy warehouse raise theirs (`LockHeld`, `WarehouseBusy`,
exit code 4); nothing raises `SystemExit` but a SIGTERM received during a run, which ends the
run as the command's does (its locks released). A run whose stage failed is not an exception:
its result says so (`exit_code` 1, `ok` False); `raise_for_status()` turns it into `RunFailed`.
The pipeline's libraries (polars, DuckDB, Hydra) load on the first call, not at
`import lineflow`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lineflow.core.errors import LineflowError

if TYPE_CHECKING:
    from lineflow.config import Settings
    from lineflow.pipeline.runner import RunReport
    from lineflow.reporting.status import StatusReport

__all__ = [
    "BackfillResult",
    "PartitionFigures",
    "RunFailed",
    "RunResult",
    "StageFigures",
    "backfill",
    "run",
    "status",
]

#: A run's exit code in words (the command's verdict line).
VERDICTS = {0: "completed", 1: "failed", 3: "completed with problems (strict)"}


class RunFailed(LineflowError):
    """A run ended with a failed stage (or, with strict=true, degraded): `raise_for_status`."""

    exit_code = 1

    def __init__(self, result: RunResult) -> None:
        problems = "; ".join(
            f"{s.processor} {s.status}: {s.error}" if s.error else f"{s.processor} {s.status}"
            for s in result.stages
            if s.status in ("failed", "blocked", "partial")
        )
        said = f"run {result.run_id}: {result.verdict}"
        super().__init__(f"{said}: {problems}" if problems else said)
        self.exit_code = result.exit_code
        self.result = result


@dataclass(frozen=True)
class StageFigures:
    """One processor of a run (a row of the command's summary)."""

    processor: str
    stage: str
    status: str
    files: int
    rows: int
    requests: int
    seconds: float
    error: str | None
    notes: tuple[str, ...]
    #: the summary's figures, each key naming its unit (docs/health.md)
    figures: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """What `lineflow.run` did: the summary's figures per processor and the exit status."""

    run_id: str
    date: dt.date
    exit_code: int
    stages: tuple[StageFigures, ...]
    requests: int
    log_path: Path | None
    home: Path

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def verdict(self) -> str:
        return VERDICTS.get(self.exit_code, f"exit {self.exit_code}")

    def stage(self, processor: str) -> StageFigures:
        """The figures of one processor (`"consolidate"`, `"scrape:odds_api"`)."""
        for figures in self.stages:
            if figures.processor == processor:
                return figures
        known = ", ".join(s.processor for s in self.stages)
        raise KeyError(f"{processor!r}: no such processor in this run (ran: {known})")

    def raise_for_status(self) -> RunResult:
        """The result itself, or `RunFailed` when the command would have exited non-zero."""
        if not self.ok:
            raise RunFailed(self)
        return self


@dataclass(frozen=True)
class PartitionFigures:
    """One partition of a backfill (a row of `lineflow backfill status ID`)."""

    date: dt.date
    status: str
    attempts: int
    requests: int
    credits: int
    rows: int
    snapshot: str | None
    note: str | None


@dataclass(frozen=True)
class BackfillResult:
    """What `lineflow.backfill` did: its id (for `lineflow backfill resume ID`), its status
    (complete, failed or incomplete) and each partition's figures."""

    backfill_id: str
    status: str
    partitions: tuple[PartitionFigures, ...]

    @property
    def ok(self) -> bool:
        return self.status == "complete"


# -- keyword arguments as the command line's key=value words -----------------------------------


def _value(value: Any) -> str:
    """A Python value in Hydra's override grammar (strings quoted, so any text is one value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date | dt.datetime):
        value = value.isoformat()
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[" + ",".join(_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def as_overrides(keys: Mapping[str, Any], overrides: Sequence[str] = ()) -> list[str]:
    """`home="/tmp/lf", http__mode="replay"` as `["home='/tmp/lf'", "http.mode='replay'"]`,
    then `overrides` as given."""
    return [f"{key.replace('__', '.')}={_value(v)}" for key, v in keys.items()] + list(overrides)


def _compose(keys: Mapping[str, Any], overrides: Sequence[str]) -> Settings:
    from lineflow.core.allocator import configure

    configure()  # before DuckDB or polars load, as the command does (a no-op once loaded)
    from lineflow.config import compose

    return compose(as_overrides(keys, overrides))


# -- the functions ---------------------------------------------------------------------------------


def run(date: str | dt.date, *, overrides: Sequence[str] = (), **keys: Any) -> RunResult:
    """`lineflow run date=D [key=value ...]`: every stage of the pipeline for one partition."""
    from lineflow.pipeline.request import RunRequest
    from lineflow.pipeline.runner import run_partition

    settings = _compose({"date": date, **keys}, overrides)
    report = run_partition(settings, RunRequest.from_settings(settings))
    return _result(report, settings.home)


def _result(report: RunReport, home: Path) -> RunResult:
    return RunResult(
        run_id=report.run_id,
        date=report.partition,
        exit_code=report.exit_code,
        stages=tuple(
            StageFigures(
                processor=r.processor,
                stage=r.phase,
                status=r.status,
                files=r.files,
                rows=r.rows,
                requests=r.requests,
                seconds=r.seconds,
                error=r.error,
                notes=tuple(r.notes),
                figures=dict(r.figures),
            )
            for r in report.results
        ),
        requests=report.requests,
        log_path=report.log_path,
        home=home,
    )


def status(date: str | dt.date, *, overrides: Sequence[str] = (), **keys: Any) -> StatusReport:
    """`lineflow status date=D`: per component expected vs actual and a verdict, files, runs,
    locks, dead letters (`.to_json()` is `format=json`'s document)."""
    from lineflow.core.errors import ConfigError
    from lineflow.reporting.recorded import open_stores
    from lineflow.reporting.status import gather

    settings = _compose({"date": date, **keys}, overrides)
    if settings.date is None:  # date=None given
        raise ConfigError("date: required (pass date=YYYY-MM-DD)")
    now = settings.now or dt.datetime.now(dt.UTC)
    return gather(settings, open_stores(settings), settings.date, now)


def backfill(
    start: str | dt.date,
    end: str | dt.date,
    *,
    overrides: Sequence[str] = (),
    **keys: Any,
) -> BackfillResult:
    """`lineflow backfill start=S end=E [sources=[...] ...]`: a resumable sweep of partitions at
    a historical snapshot (or, with `pipeline__stages=["process", "validate", "consolidate"]`,
    what already landed). The backfill's own keys (sources, reprocess, snapshot, max_parallel,
    ...) go to the backfill, every other key to the config. Its parse workers are spawned
    processes: call it under `if __name__ == "__main__":` in a script."""
    from lineflow.cli.commands.backfill import request as backfill_request
    from lineflow.core.errors import ConfigError
    from lineflow.pipeline.backfill import BackfillRequest, Manifest, check, execute, to_skip
    from lineflow.state import open_state

    if keys.get("dry_run"):
        raise ConfigError("dry_run: `lineflow backfill ... dry_run=true` prices a backfill")
    own = {k: v for k, v in keys.items() if k in BackfillRequest.model_fields}
    values = {"start": start, "end": end, **own}
    request = backfill_request(values, set(values))
    settings = _compose({k: v for k, v in keys.items() if k not in own}, overrides)
    check(settings, request)
    manifest = Manifest(open_state(settings))
    backfill_id = manifest.start(request, to_skip(request, manifest.earlier_outcomes(request)))
    outcome = execute(settings, manifest, backfill_id, request)
    return BackfillResult(
        backfill_id,
        outcome,
        tuple(
            PartitionFigures(
                date=dt.date.fromisoformat(p["slate_date"]),
                status=p["status"],
                attempts=p["attempts"],
                requests=p["requests"],
                credits=p["credits"],
                rows=p["rows"],
                snapshot=p["snapshot_used"],
                note=p["last_error"] or p["note"],
            )
            for p in manifest.partitions(backfill_id)
        ),
    )

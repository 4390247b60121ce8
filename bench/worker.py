"""One measured job per process: `python -m bench.worker JOB JSON-ARGS`.

Each job runs in its own process so that its peak RSS is its own (the parent reads it from
`os.wait4`) and imports of one tool never help another. The job prints one JSON line: what it
did and how long its timed part took (imports and setup are outside the timer).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

#: Stages of the processing benchmark, in pipeline order; those the runner knows are used.
PROCESSING_STAGES = ("process", "validate", "consolidate")
#: The sources the season is generated for and processed with, by backfill and by the runner.
SEASON_SOURCES = ("odds_api", "bettingpros")


def processing_stages() -> list[str]:
    from lineflow.pipeline.runner import STAGES

    return [s for s in PROCESSING_STAGES if s in STAGES]


def lineflow_job(args: dict[str, Any]) -> dict[str, Any]:
    """lineflow's processing stages over each date of the season, as a user reprocesses one:
    `lineflow backfill start=... end=... sources=[odds_api,bettingpros]
    pipeline.stages=[process,validate,consolidate]` (partitions `max_parallel` at a time, one
    warehouse connection), or with `via: runner` through the runner date by date. With the
    allocator settings the `lineflow` command makes."""
    from lineflow.core.allocator import configure

    configure()
    from lineflow.config import compose

    stages = processing_stages()
    settings = compose(
        [
            f"home={args['home']}",
            f"landing.root={args['landing']}",
            f"pipeline.stages=[{','.join(stages)}]",
            *args.get("overrides", []),  # config overrides, e.g. warehouse.memory_limit=32MB
        ]
    )
    via = args.get("via", "backfill")
    started = time.perf_counter()
    if via == "backfill":
        options = {k: args[k] for k in BACKFILL_OPTIONS if args.get(k) is not None}
        _backfill(settings, args["dates"], options)
    else:
        _date_by_date(settings, args["dates"])
    seconds = time.perf_counter() - started
    per_date = _per_date(Path(args["home"]), args["dates"])
    return {
        "seconds": seconds,
        "via": via,
        "stages": stages,
        "dates": len(per_date),
        "files": sum(d["files"] for d in per_date),
        "staged_rows": sum(d["staged_rows"] for d in per_date),
        "rows": sum(d["rows"] for d in per_date),
        "per_date": per_date,
    }


#: The backfill's own keys a job may set (`args`); the others keep the command's defaults.
BACKFILL_OPTIONS = ("max_parallel", "parse_workers", "local_parallel")


def _backfill(settings: Any, dates: list[str], options: dict[str, Any]) -> None:
    """The backfill command's own code path, without its terminal output."""
    from lineflow.pipeline.backfill import BackfillRequest, Manifest, execute
    from lineflow.state import open_state

    keys: dict[str, Any] = {
        "start": dates[0],
        "end": dates[-1],
        "sources": list(SEASON_SOURCES),
        **options,
    }
    request = BackfillRequest.model_validate(keys)
    manifest = Manifest(open_state(settings))
    backfill_id = manifest.create(request)
    status = execute(settings, manifest, backfill_id, request)
    failed = [p for p in manifest.partitions(backfill_id) if p["status"] != "complete"]
    if status != "complete" or failed:
        raise SystemExit(f"lineflow backfill {status}: {failed[:1]}")


def _date_by_date(settings: Any, dates: list[str]) -> None:
    from lineflow.pipeline.request import RunRequest
    from lineflow.pipeline.runner import run_partition

    for text in dates:
        # The same request as the season's processing (its sources): a rerun, not another job.
        request = RunRequest.from_settings(
            settings, date=date.fromisoformat(text), only=SEASON_SOURCES
        )
        report = run_partition(settings, request)
        # Validation findings (a tiny season is short of players) are results, not failures.
        bad = [
            f"{r.processor}: {r.status} {r.error}" for r in report.results if r.status == "failed"
        ]
        if bad:
            raise SystemExit(f"lineflow run of {text} did not succeed: {bad[0]}")


def _per_date(home: Path, dates: list[str]) -> list[dict[str, Any]]:
    """Each partition's last run, from run_history: time, files, staged and canonical rows."""
    import duckdb

    con = duckdb.connect(str(home / "lineflow.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """
            SELECT slate_date::VARCHAR, processor, phase, files, rows,
                   epoch(finished_at) - epoch(started_at), epoch(started_at), epoch(finished_at)
            FROM run_history
            QUALIFY run_id = last(run_id ORDER BY started_at) OVER (PARTITION BY slate_date)
            ORDER BY slate_date, started_at
            """
        ).fetchall()
    finally:
        con.close()
    by_date: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_date.setdefault(row[0], []).append(row)
    out = []
    for text in dates:
        runs = by_date.get(text, [])
        out.append(
            {
                "date": text,
                "seconds": max((r[7] for r in runs), default=0.0)
                - min((r[6] for r in runs), default=0.0),
                "files": sum(r[3] for r in runs if r[2] == "process"),
                "staged_rows": sum(r[4] for r in runs if r[2] == "process"),
                "rows": sum(r[4] for r in runs if r[2] == "consolidate"),
                "stages": {r[1]: round(r[5], 4) for r in runs},
            }
        )
    return out


def floor_job(args: dict[str, Any]) -> dict[str, Any]:
    """DuckDB `read_json` of every landed file into one table per endpoint, nothing else."""
    import duckdb

    root = Path(args["landing"])
    con = duckdb.connect(args["db"])
    # Rows may land in any order: without this, DuckDB buffers a season of nested documents
    # to keep file order and runs out of memory (18.8 GiB at 160 dates on this machine).
    con.execute("SET preserve_insertion_order = false")
    started = time.perf_counter()
    tables = {}
    for source, endpoint in _endpoints(root):
        name = f"{source}_{endpoint}"
        pattern = str(root / source / endpoint / "*" / "*" / "*.json")
        con.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_json(?, maximum_object_size = 67108864)",
            [pattern],
        )
        row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
        tables[name] = row[0] if row else 0
    con.close()
    return {"seconds": time.perf_counter() - started, "tables": tables}


def storage_job(args: dict[str, Any]) -> dict[str, Any]:
    """What writing lineflow's rows costs DuckDB alone: each date's canonical rows (read from
    lineflow's warehouse, untimed) stored as lineflow stores them, into a fresh warehouse: once,
    in `stg_prop_lines` (numbered per file), plus the consolidation's list of the files it took
    (`prop_lines` is a view over them), one transaction per date, over lineflow's own held
    warehouse connection (its settings, row groups, checkpoints and allocator settings)."""
    from lineflow.core.allocator import configure

    configure()
    import duckdb
    import polars as pl

    from lineflow.config import compose
    from lineflow.warehouse import DuckDBWarehouse

    warehouse = DuckDBWarehouse.configured(compose([f"home={args['home']}"]).warehouse)
    source = duckdb.connect(args["source_db"], read_only=True)
    timed = 0.0
    rows = 0
    with warehouse.hold():
        for text in args["dates"]:
            frame = source.execute(
                "SELECT * FROM prop_lines WHERE slate_date = ?", [date.fromisoformat(text)]
            ).pl()
            frame = frame.with_columns(
                row_no=pl.int_range(pl.len(), dtype=pl.Int32).over("file_id")
            )
            t0 = time.perf_counter()
            with warehouse.session(), warehouse.transaction() as con:
                con.register("_rows", frame)
                con.execute("INSERT INTO stg_prop_lines SELECT * FROM _rows")
                con.execute(
                    "INSERT INTO consolidated_files SELECT DISTINCT slate_date, file_id FROM _rows"
                )
                con.unregister("_rows")
            timed += time.perf_counter() - t0
            rows += frame.height
        t0 = time.perf_counter()
    timed += time.perf_counter() - t0  # the hold's end: the last checkpoint
    source.close()
    return {"seconds": timed, "rows": rows}


def dlt_job(args: dict[str, Any]) -> dict[str, Any]:
    """dlt loading the same files into DuckDB with its default normalisation (nested tables)."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    import dlt

    root = Path(args["landing"])
    work = Path(args["dir"])

    def documents(source: str, endpoint: str) -> Callable[[], Any]:
        def read() -> Any:
            for path in sorted((root / source / endpoint).glob("*/*/*.json")):
                yield json.loads(path.read_bytes())

        return read

    resources = [
        dlt.resource(documents(s, e), name=f"{s}_{e}", write_disposition="append")
        for s, e in _endpoints(root)
    ]
    pipeline = dlt.pipeline(
        pipeline_name="bench",
        pipelines_dir=str(work / "pipelines"),
        destination=dlt.destinations.duckdb(str(work / "dlt.duckdb")),
        dataset_name="landing",
    )
    started = time.perf_counter()
    pipeline.run(resources)
    seconds = time.perf_counter() - started
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    counts = info.row_counts if info is not None else {}
    return {
        "seconds": seconds,
        "version": dlt.__version__,
        "tables": {k: v for k, v in counts.items() if not k.startswith("_dlt")},
    }


def pipeline_job(args: dict[str, Any]) -> dict[str, Any]:
    """Full `lineflow run`s (scrape, process, consolidate) live against a stand-in, twice."""
    import httpx

    from lineflow.config import compose
    from lineflow.pipeline.request import RunRequest
    from lineflow.pipeline.runner import run_partition

    url = args["standin"]
    settings = compose(
        [
            f"home={args['home']}",
            "http.mode=live",  # env=local: no publish; live HTTP to the stand-in
            "proxy.chains.bettingpros=[direct]",  # no proxy processes in the benchmark
            # The two sources the published figures measure (DraftKings: the declarative part).
            "only=[odds_api,bettingpros]",
            f"http.cassettes={args['home']}/cassettes",
            *(f"sources.{name}.base_url={url}" for name in ("odds_api", "bettingpros")),
        ]
    )
    rounds = []
    with httpx.Client(base_url=url, timeout=30) as control:
        for _ in range(2):  # the first run, then the rerun of the same partitions
            runs = []
            for text in args["dates"]:
                day = date.fromisoformat(text)
                now = datetime.combine(day, dtime(args["hour"]), UTC)
                control.post(
                    "/__standin__/control", json={"now": now.isoformat()}
                ).raise_for_status()
                logged = len(control.get("/__standin__/log").json())
                t0 = time.perf_counter()
                request = RunRequest.from_settings(settings, date=day, now=now)
                report = run_partition(settings, request)
                seconds = time.perf_counter() - t0
                log = control.get("/__standin__/log").json()[logged:]
                failed = [r for r in report.results if r.status == "failed"]
                if failed:
                    raise SystemExit(
                        f"lineflow run of {text}: {failed[0].processor} {failed[0].status} "
                        f"{failed[0].error}"
                    )
                runs.append(
                    {
                        "date": text,
                        "seconds": seconds,
                        "requests": report.requests,
                        "requests_seen_by_standin": len(log),
                        "scrape": {
                            r.processor.split(":", 1)[1]: {
                                "seconds": r.seconds,
                                "requests": r.requests,
                                "concurrency": settings.sources[
                                    r.processor.split(":", 1)[1]
                                ].concurrency,
                            }
                            for r in report.results
                            if r.phase == "scrape"
                        },
                        "rows": sum(r.rows for r in report.results if r.phase == "consolidate"),
                        "plan": _plan_shape(log),
                    }
                )
            rounds.append(runs)
    return {"first": rounds[0], "second": rounds[1]}


def _plan_shape(log: list[dict[str, Any]]) -> dict[str, Any]:
    """The request plan as the stand-in saw it: events, props calls, offers pages per market."""
    pages: dict[str, int] = {}
    shape = {"odds_api_events": 0, "odds_api_props": 0, "bettingpros_events": 0}
    for entry in log:
        path = entry["path"]
        if path.startswith("/v4/") and path.endswith("/events"):
            shape["odds_api_events"] += 1
        elif path.startswith("/v4/"):
            shape["odds_api_props"] += 1
        elif path == "/v3/events":
            shape["bettingpros_events"] += 1
        elif path == "/v3/offers":
            market = entry["query"].get("market_id", "?")
            pages[market] = pages.get(market, 0) + 1
    return {**shape, "bettingpros_pages": pages}


def _endpoints(root: Path) -> list[tuple[str, str]]:
    return sorted(
        (source.name, endpoint.name)
        for source in root.iterdir()
        if source.is_dir()
        for endpoint in source.iterdir()
        if endpoint.is_dir()
    )


JOBS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "lineflow": lineflow_job,
    "floor": floor_job,
    "dlt": dlt_job,
    "storage": storage_job,
    "pipeline": pipeline_job,
}


def main() -> None:
    job, raw = sys.argv[1], sys.argv[2]
    result = JOBS[job](json.loads(raw))
    print(json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()

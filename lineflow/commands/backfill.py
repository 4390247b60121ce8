"""`lineflow backfill start=... end=...`, `backfill resume ID`, `backfill status [ID]`."""

from __future__ import annotations

HELP = "fill a range of dates from the historical endpoints, resumably"

USAGE = """\
usage: lineflow backfill start=YYYY-MM-DD end=YYYY-MM-DD [key=value ...]
       lineflow backfill resume ID [key=value ...]
       lineflow backfill status [ID] [home=DIR]

Runs `lineflow run date=D snapshot=S only=[sources]` for every date of the range, up to
max_parallel at a time, and keeps a manifest (in {home}/state.sqlite) of each partition's
status, attempts, requests, rows, snapshot used and last error. Ctrl-C or a crash leaves a
manifest that `lineflow backfill resume ID` continues.

keys:
  start=, end=             the range, inclusive (required)
  sources=[odds_api]       sources to backfill (they need a historical endpoint, unless
                           pipeline.stages has no scrape: then what landed is processed,
                           validated and consolidated, nothing is fetched)
  reprocess=missing        missing: dates never done; failed: also dates that failed before;
                           all: every date again, re-fetching (no duplicate rows either way)
  snapshot=18:00Z          the snapshot time (UTC, on each date)
  fallback_snapshots=[16:00Z,20:00Z]  tried in order when a snapshot lists no games
  minutes_before_tip=N     instead: N minutes before each slate's first tip-off (the tip-off is
                           read from the historical events list at `snapshot`)
  max_parallel=4           partitions at a time
  parse_workers=1          processes parsing the landed files (0: each partition parses in
                           its own thread)
  dry_run=true             print the requests and Odds API credits it would spend, then stop
  order=asc|desc           oldest or newest first
  any config override      e.g. home=/tmp/lf http.mode=live

example: lineflow backfill start=2026-01-19 end=2026-01-22 dry_run=true
         lineflow backfill start=2025-10-21 end=2026-03-29 sources=[odds_api,bettingpros] \
             pipeline.stages=[process,validate,consolidate]   (a season of landed files)
"""


def main(args: list[str]) -> int:
    if args and args[0] == "status":
        return _status(args[1:])
    if args and args[0] == "resume":
        if len(args) < 2 or "=" in args[1]:
            from lineflow.errors import ConfigError

            raise ConfigError("backfill resume: which backfill? (lineflow backfill resume ID)")
        return _resume(args[1], args[2:])
    return _start(args)


def _settings(overrides: list[str]):  # type: ignore[no-untyped-def]
    from lineflow.config import compose

    return compose(overrides)


def _manifest(settings):  # type: ignore[no-untyped-def]
    from lineflow.backfill import Manifest
    from lineflow.state import StateStore

    return Manifest(StateStore(settings.home / "state.sqlite"))


def _start(args: list[str]) -> int:
    from rich.console import Console

    from lineflow import sources as source_modules
    from lineflow.backfill import credits_estimate_text, estimate, parse_request, to_skip
    from lineflow.errors import ConfigError

    request, overrides = parse_request(args)
    settings = _settings(overrides)
    scrapes = "scrape" in settings.pipeline.stages  # else: reprocess what has landed
    for name in request.sources:
        if name not in settings.sources:
            raise ConfigError(
                f"sources: unknown source {name!r} (known: {', '.join(settings.sources)})"
            )
        if scrapes and not source_modules.load(settings.sources[name]).supports_history:
            raise ConfigError(
                f"sources: {name} has no historical endpoint to backfill from (to reprocess "
                "its landed files only: pipeline.stages=[process,validate,consolidate])"
            )
    settings.snapshot_at(request.start)  # a bad snapshot fails before anything is written
    console = Console(highlight=False)
    state = settings.home / "state.sqlite"
    if request.dry_run and not state.exists():
        skipped: dict[str, str] = {}  # a dry run creates nothing, not even the state store
    else:
        manifest = _manifest(settings)
        skipped = to_skip(request, manifest.earlier_outcomes(request))
    todo = [d for d in request.partitions() if str(d) not in skipped]
    if request.dry_run:
        console.print(f"dry run: {credits_estimate_text(estimate(request, settings, todo))}")
        if skipped:
            console.print(f"skipped: {len(skipped)} partitions already done ({request.reprocess})")
        console.print("nothing was requested or written")
        return 0
    backfill_id = manifest.create(request)
    if skipped:
        for reason in set(skipped.values()):
            manifest.skip(backfill_id, [d for d, r in skipped.items() if r == reason], reason)
    console.print(f"backfill {backfill_id}: {len(todo)} partitions to run, {len(skipped)} skipped")
    return _execute(settings, manifest, backfill_id, request, console)


def _resume(backfill_id: str, overrides: list[str]) -> int:
    from rich.console import Console

    settings = _settings(overrides)
    manifest = _manifest(settings)
    request = manifest.request(backfill_id)
    console = Console(highlight=False)
    console.print(f"backfill {backfill_id}: resuming")
    return _execute(settings, manifest, backfill_id, request, console)


def _execute(settings, manifest, backfill_id, request, console) -> int:  # type: ignore[no-untyped-def]
    import threading

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from lineflow.backfill import execute

    parts = manifest.partitions(backfill_id)
    total = sum(p["status"] not in ("skipped",) for p in parts)
    done_already = sum(p["status"] == "complete" for p in parts)
    stats = {"requests": 0, "rows": 0, "errors": 0}
    stop = threading.Event()
    with Progress(
        TextColumn("[bold]backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "{task.fields[requests]} requests · {task.fields[rows]} rows · "
            "{task.fields[errors]} errors"
        ),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(
            "partitions", total=total, completed=done_already, requests=0, rows=0, errors=0
        )

        def on_done(outcome) -> None:  # type: ignore[no-untyped-def]
            stats["requests"] += outcome.requests
            stats["rows"] += outcome.rows
            stats["errors"] += outcome.status == "failed"
            progress.update(
                task,
                advance=1,
                requests=stats["requests"],
                rows=stats["rows"],
                errors=stats["errors"],
            )

        try:
            status = execute(
                settings,
                manifest,
                backfill_id,
                request,
                on_done=on_done,
                stop=stop,
            )
        except KeyboardInterrupt:
            stop.set()
            console.print(f"interrupted: resume with `lineflow backfill resume {backfill_id}`")
            return 130
    _table(manifest, backfill_id, console)
    console.print(f"backfill {backfill_id}: {status}")
    return 0 if status == "complete" else 1


def _table(manifest, backfill_id: str, console) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(title=f"backfill {backfill_id}")
    for column in ("date", "status", "snapshot", "attempts", "requests", "credits", "rows", "note"):
        table.add_column(column, no_wrap=column != "note")
    for p in manifest.partitions(backfill_id):
        table.add_row(
            p["slate_date"],
            p["status"],
            p["snapshot_used"] or "",
            str(p["attempts"]),
            f"{p['requests']:,}",
            f"{p['credits']:,}",
            f"{p['rows']:,}",
            p["last_error"] or p["note"] or "",
        )
    console.print(table)


def _status(args: list[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    backfill_id = args[0] if args and "=" not in args[0] else None
    overrides = args[1:] if backfill_id else args
    settings = _settings(overrides)
    manifest = _manifest(settings)
    console = Console(highlight=False)
    if backfill_id:
        manifest.request(backfill_id)
        _table(manifest, backfill_id, console)
        return 0
    table = Table(title="backfills")
    for column in ("id", "range", "sources", "snapshot", "status", "complete"):
        table.add_column(column, no_wrap=True)
    for b in manifest.list():
        table.add_row(
            b["id"],
            f"{b['start_date']}..{b['end_date']}",
            b["sources"],
            b["snapshot"],
            b["status"],
            f"{b['complete']}/{b['total']}",
        )
    console.print(table)
    return 0

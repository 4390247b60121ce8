"""`lineflow backfill start=... end=...`, `backfill resume ID`, `backfill status [ID]`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lineflow.cli.keys import Command, Key, boolean, choice, names, output_format, text

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed
    from lineflow.pipeline.backfill import BackfillRequest

#: The keys of a new backfill: the fields of `BackfillRequest`, which checks
#: their values (a key not given keeps the request's default), and where its partitions run
#: (`RUN_WHERE`: not part of the request, so a resume may run elsewhere), and how it reports.
RUN_WHERE = ("executor", "address")
REPORT = ("format",)
COMMAND = Command(
    name="backfill",
    summary="fill a range of dates from the historical endpoints, resumably",
    usage=(
        "start=YYYY-MM-DD end=YYYY-MM-DD [key=value ...]",
        "resume ID [executor=ray address=HOST:PORT] [key=value ...]",
        "status [ID] [format=table|json] [home=DIR]",
    ),
    about="""\
Runs `lineflow run date=D snapshot=S only=[sources]` for every date of the range, up to
max_parallel at a time, and keeps a manifest (in {home}/state.sqlite) of each partition's
status, attempts, requests, rows, snapshot used and last error. Ctrl-C or a crash leaves a
manifest that `lineflow backfill resume ID` continues. executor=ray runs the partitions as
tasks on a Ray cluster's nodes (docs/deploy.md, distributed backfill); this process keeps the
manifest.""",
    keys=(
        Key("start", text, None, "first date of the range (required)", "YYYY-MM-DD"),
        Key("end", text, None, "last date of the range, inclusive (required)", "YYYY-MM-DD"),
        Key(
            "sources",
            names,
            None,
            "sources to backfill (default [odds_api]); they need a historical endpoint unless "
            "pipeline.stages has no scrape (then landed files are reprocessed, nothing fetched)",
            "[odds_api]",
        ),
        Key(
            "reprocess",
            text,
            None,
            "missing: dates never done (default); failed: also dates that failed; all: every "
            "date again, re-fetching (no duplicate rows either way)",
            "missing|failed|all",
        ),
        Key(
            "snapshot", text, None, "the snapshot time, UTC on each date (default 18:00Z)", "18:00Z"
        ),
        Key(
            "fallback_snapshots",
            names,
            None,
            "tried in order when a snapshot lists no games (default [16:00Z,20:00Z])",
            "[16:00Z,20:00Z]",
        ),
        Key(
            "minutes_before_tip",
            text,
            None,
            "instead of snapshot: N minutes before each slate's first tip-off",
            "N",
        ),
        Key("max_parallel", text, None, "partitions at a time (default 4)", "N"),
        Key(
            "local_parallel",
            text,
            None,
            "of those, partitions processing, validating, consolidating at once (default 2)",
            "N",
        ),
        Key(
            "parse_workers",
            text,
            None,
            "processes parsing landed files (default 1; 0: each partition in its own thread)",
            "N",
        ),
        Key(
            "dry_run", boolean, None, "print the requests and credits it would spend, stop", "true"
        ),
        Key("order", text, None, "oldest (asc, default) or newest (desc) first", "asc|desc"),
        Key(
            "executor",
            choice("local", "ray"),
            "local",
            "local: partitions in this process's threads; ray: as tasks on a Ray cluster "
            "(pip install 'lineflow[ray]'); also for resume",
        ),
        Key(
            "address",
            text,
            None,
            "with executor=ray: the cluster's head node; also for resume",
            "HOST:PORT",
        ),
        Key(
            "games_per_day",
            text,
            None,
            "games a day assumed by dry-run estimates (default 10)",
            "N",
        ),
        output_format(),
    ),
    config=(
        ("http.mode=live", "ask the providers (env=local replays recorded fixtures)"),
        ("pipeline.stages=[..]", "e.g. [process,validate,consolidate]: landed files only"),
    ),
    actions=("resume", "status"),
    exit_codes="0 complete, 1 a partition failed, 2 bad input, 130 interrupted (resumable)",
    examples=(
        "lineflow backfill start=2026-01-19 end=2026-01-22 dry_run=true",
        "lineflow backfill start=2025-10-21 end=2026-03-29 sources=[odds_api,bettingpros] "
        "pipeline.stages=[process,validate,consolidate]",
        "lineflow backfill start=2025-10-21 end=2026-03-29 executor=ray address=10.0.0.5:6379",
    ),
)


def main(args: Parsed) -> int:
    from lineflow.core.errors import ConfigError

    words = args.words
    json_out = args.values["format"] == "json"
    if words[:1] == ["status"] and len(words) <= 2:
        _only_overrides(args, "status", allowed=REPORT)
        return _status(words[1] if len(words) == 2 else None, args.overrides, json_out)
    if words[:1] == ["resume"]:
        if len(words) != 2:
            raise ConfigError("backfill resume: which backfill? (lineflow backfill resume ID)")
        _only_overrides(args, "resume", allowed=RUN_WHERE + REPORT)
        return _resume(words[1], args.overrides, _where(args), json_out)
    if words:
        raise ConfigError(f"backfill: unexpected word {words[0]!r} (expected: resume, status)")
    where = _where(args)
    given = args.given - set(RUN_WHERE + REPORT)
    return _start(request(args.values, given), args.overrides, where, json_out)


def _only_overrides(args: Parsed, action: str, allowed: tuple[str, ...] = ()) -> None:
    extra = args.given - set(allowed)
    if extra:
        from lineflow.core.errors import ConfigError

        key = sorted(extra)[0]
        raise ConfigError(f"backfill {action}: {key} is a key of a new backfill, not of {action}")


def _where(args: Parsed) -> str | None:
    """The Ray cluster's address for executor=ray, None for a local backfill."""
    from lineflow.core.errors import ConfigError

    address = args.values["address"]
    if args.values["executor"] == "local":
        if address is not None:
            raise ConfigError("address: only with executor=ray (the Ray cluster's head node)")
        return None
    if not address:
        raise ConfigError("address: required with executor=ray (the head node's HOST:PORT)")
    return str(address)


def _connect(address: str | None, settings):  # type: ignore[no-untyped-def]
    """The Ray cluster the partitions run on (None: this process), joined before anything
    is written, so a bad address leaves no manifest."""
    if address is None:
        return None
    from lineflow.pipeline.distributed import connect

    return connect(address, settings)


def request(values: dict[str, Any], given: set[str]) -> BackfillRequest:
    """The backfill's request from the keys given; a bad value is one line naming its key."""
    from pydantic import ValidationError

    from lineflow.core.errors import ConfigError
    from lineflow.pipeline.backfill import BackfillRequest

    try:
        return BackfillRequest.model_validate({k: values[k] for k in given})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "backfill"
        if err["type"] == "missing":
            raise ConfigError(
                f"{key}: required (backfill start=YYYY-MM-DD end=YYYY-MM-DD)"
            ) from None
        raise ConfigError(f"{key}: {err['msg'].removeprefix('Value error, ')}") from None


def _settings(overrides: list[str]):  # type: ignore[no-untyped-def]
    from lineflow.config import compose

    return compose(overrides)


def _manifest(settings, create: bool = True):  # type: ignore[no-untyped-def]
    from lineflow.pipeline.backfill import Manifest
    from lineflow.state import open_state

    return Manifest(open_state(settings, create=create))


def _start(
    request: BackfillRequest, overrides: list[str], address: str | None, json_out: bool
) -> int:
    from lineflow.pipeline.backfill import check, credits_estimate_text, estimate, to_skip
    from lineflow.pipeline.logs import quiet

    settings = _settings(overrides)
    check(settings, request)  # bad sources or snapshot fail before any write
    console = _console(json_out)
    cluster = None if request.dry_run else _connect(address, settings)  # a dry run asks no one
    manifest = _manifest(settings, create=not request.dry_run)  # a dry run creates nothing
    skipped = to_skip(request, manifest.earlier_outcomes(request))
    todo = [d for d in request.partitions() if str(d) not in skipped]
    if request.dry_run:
        cost = estimate(request, settings, todo)
        if json_out:
            from lineflow.reporting.output import emit

            emit(
                {
                    "dry_run": True,
                    "partitions": cost.partitions,
                    "skipped": len(skipped),
                    "sources": {
                        name: None
                        if priced is None
                        else {
                            "requests": priced[1].requests,
                            "credits": priced[1].credits,
                            "unit": priced[0].unit,
                        }
                        for name, priced in cost.costs.items()
                    },
                    "estimate": credits_estimate_text(cost),
                }
            )
            return 0
        console.print(f"dry run: {credits_estimate_text(cost)}")
        if skipped:
            console.print(f"skipped: {len(skipped)} partitions already done ({request.reprocess})")
        console.print("nothing was requested or written")
        return 0
    backfill_id = manifest.start(request, skipped)
    if not quiet():
        console.print(
            f"backfill {backfill_id}: {len(todo)} partitions to run, {len(skipped)} skipped"
        )
    return _execute(settings, manifest, backfill_id, request, console, cluster, json_out)


def _resume(backfill_id: str, overrides: list[str], address: str | None, json_out: bool) -> int:
    settings = _settings(overrides)
    manifest = _manifest(settings, create=False)  # an unknown id leaves no state behind
    request = manifest.request(backfill_id)
    cluster = _connect(address, settings)
    console = _console(json_out)
    console.print(f"backfill {backfill_id}: resuming")
    return _execute(settings, manifest, backfill_id, request, console, cluster, json_out)


def _console(json_out: bool):  # type: ignore[no-untyped-def]
    """The report's console; with format=json its lines go to stderr, stdout being the JSON."""
    import sys

    from lineflow.reporting.output import console

    return console(sys.stderr if json_out else None)


def _execute(settings, manifest, backfill_id, request, console, cluster, json_out) -> int:  # type: ignore[no-untyped-def]
    import threading

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from lineflow.pipeline.backfill import execute
    from lineflow.pipeline.logs import quiet

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
        disable=quiet() or json_out,
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
                cluster=cluster,
            )
        except KeyboardInterrupt:
            stop.set()
            console.print(f"interrupted: resume with `lineflow backfill resume {backfill_id}`")
            return 130
    if json_out:
        from lineflow.reporting.output import emit

        emit(_report(manifest, backfill_id, status))
    elif not quiet() or status != "complete":
        _table(manifest, backfill_id, console)
        console.print(f"backfill {backfill_id}: {status}")
    return 0 if status == "complete" else 1


#: A partition of a backfill as `format=json` shows it (the manifest's columns).
PARTITION_KEYS = (
    "slate_date",
    "status",
    "snapshot_used",
    "attempts",
    "requests",
    "credits",
    "rows",
    "last_error",
    "note",
)
#: A backfill as `backfill status format=json` lists it.
BACKFILL_KEYS = (
    "id",
    "start_date",
    "end_date",
    "sources",
    "snapshot",
    "status",
    "complete",
    "total",
)


def _report(manifest, backfill_id: str, status: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "backfill": backfill_id,
        "status": status,
        "partitions": [
            {k: p.get(k) for k in PARTITION_KEYS} for p in manifest.partitions(backfill_id)
        ],
    }


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


def _status(backfill_id: str | None, overrides: list[str], json_out: bool) -> int:
    from rich.table import Table

    from lineflow.reporting.output import console as make_console
    from lineflow.reporting.output import emit

    settings = _settings(overrides)
    manifest = _manifest(settings, create=False)
    console = make_console()
    if backfill_id:
        status = manifest.status(backfill_id)
        if json_out:
            emit(_report(manifest, backfill_id, status))
            return 0
        _table(manifest, backfill_id, console)
        console.print(f"backfill {backfill_id}: {status}")
        return 0
    if json_out:
        emit({"backfills": [{k: b.get(k) for k in BACKFILL_KEYS} for b in manifest.list()]})
        return 0
    table = Table(title="backfills")
    for column in ("id", "range", "sources", "snapshot", "status", "complete"):
        table.add_column(column, no_wrap=column != "status")
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

"""`lineflow run date=YYYY-MM-DD [key=value ...]`, or `run -m date=D1,D2,...`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, output_format

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed

COMMAND = Command(
    name="run",
    summary="run every stage for one date (scrape, process, validate, consolidate)",
    usage=("date=YYYY-MM-DD [key=value ...]", "-m date=D1,D2,... [key=value ...]"),
    about="""\
Run every stage of the pipeline for one partition, idempotently: a rerun leaves the same tables
and makes no HTTP request for what already landed. With -m, each partition of the sweep is its
own job (joblib launcher, parallel processes; hydra.launcher.n_jobs=N); every value is checked
before any job runs, and one summary of all jobs ends the sweep.""",
    keys=(output_format(),),
    run_keys=("date", "refresh", "strict", "now", "snapshot", "only"),
    notes={
        "date": "partition to run (required): the games' US/Eastern date",
        "snapshot": "historical snapshot (sources with a historical endpoint)",
        "now": "clock override for scrape passes (UTC)",
    },
    config=(
        ("http.mode=live|record|replay", "how sources are asked (env=local: replay)"),
        ("bigquery.project=P", "env=prod publishes to BigQuery: bigquery.dataset=D too"),
        ("landing.url=gs://B/P", "land raw responses in a bucket"),
        ("sources.NAME.KEY=...", "any source setting, e.g. sources.odds_api.base_url=URL"),
        ("pipeline.stages=[..]", "the stages to run, e.g. [scrape] or [process,validate]"),
    ),
    multirun=True,
    exit_codes="0 completed, 1 a stage failed (or a blocking rule), 2 bad input, "
    "3 strict and degraded (-m: the worst of the jobs)",
    examples=(
        "lineflow run date=2026-01-23 home=/tmp/lf",
        "lineflow run -m date=2026-01-19,2026-01-20 home=/tmp/lf",
    ),
)


def main(args: Parsed) -> int:
    from lineflow.config import compose
    from lineflow.pipeline.logs import quiet
    from lineflow.pipeline.request import RunRequest
    from lineflow.pipeline.runner import run_partition
    from lineflow.reporting.output import console, emit
    from lineflow.reporting.summary import render, summary_json

    COMMAND.no_words(args)
    fmt = args.values["format"]
    if args.multirun:
        from lineflow.cli.multirun import multirun

        return multirun(args.overrides, level=args.level, fmt=fmt)
    settings = compose(args.overrides)
    report = run_partition(settings, RunRequest.from_settings(settings))
    if fmt == "json":
        emit(summary_json(report))
    else:
        render(report, console(), brief=quiet())
    return report.exit_code

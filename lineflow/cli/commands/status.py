"""`lineflow status date=YYYY-MM-DD [format=table|json]`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, output_format

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed

COMMAND = Command(
    name="status",
    summary="the state of one date's data: expected vs actual per source, files, locks, runs",
    usage=("date=YYYY-MM-DD [format=table|json] [key=value ...]",),
    about="""\
The data-state table of one partition: per component (each source's props, predictions staging,
predictions main) expected, actual and a status: ok, short, blocked (the provider refused us),
missing (nothing although games were scheduled) or empty-day (no games). Then landed vs processed
files per source, locks held, dead letters, proxy health, the prediction batch and the last run of
each stage. Sections whose data no feature has recorded yet say "not recorded yet".""",
    keys=(output_format(),),
    run_keys=("date", "now"),
    notes={"date": "partition to show (required)", "now": "judge ages at this time (UTC)"},
    exit_codes="0 shown, 2 bad input or nothing has run under home",
    examples=("lineflow status date=2026-01-23 home=/tmp/lf",),
)


def main(args: Parsed) -> int:
    from lineflow.cli.keys import now
    from lineflow.config import compose
    from lineflow.core.errors import ConfigError
    from lineflow.reporting import render, status
    from lineflow.reporting.output import console, emit
    from lineflow.reporting.recorded import open_stores

    COMMAND.no_words(args)
    settings = compose(args.overrides)
    if settings.date is None:
        raise ConfigError("date: required (pass date=YYYY-MM-DD)")
    report = status.gather(settings, open_stores(settings), settings.date, now(settings))
    if args.values["format"] == "json":
        emit(report.to_json())
    else:
        render.status_terminal(report, console())
    return 0

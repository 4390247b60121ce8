"""`lineflow validate date=YYYY-MM-DD [key=value ...]`: the rules alone over one partition."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineflow.cli.keys import Command, output_format

if TYPE_CHECKING:
    from lineflow.cli.keys import Parsed

COMMAND = Command(
    name="validate",
    summary="run the validation rules and the line-quality gate alone for one date",
    usage=("date=YYYY-MM-DD [key=value ...]",),
    about="""\
Run the validate stage alone: every rule of conf/rules over the partition's staging, writing
validation_results, quarantine and line_quality (no HTTP request, nothing consolidated), then
print one line per rule. After changing a rule, `lineflow run date=D` (or this command followed
by `lineflow run date=D pipeline.stages=[consolidate]`) re-consolidates, releasing rows that now
pass.""",
    keys=(output_format(),),
    run_keys=("date", "strict", "refresh"),
    notes={
        "date": "partition to validate (required)",
        "refresh": "always on here: the rules are evaluated even when no input changed",
    },
    config=(("rules.FILE...", "any rule setting (conf/rules/*.yaml, docs/rules.md)"),),
    exit_codes="0 rules evaluated, 1 a blocking rule failed, 2 bad input, 3 strict and an "
    "error or quarantine rule failed",
    examples=("lineflow validate date=2026-01-23",),
)


def main(args: Parsed) -> int:
    from lineflow.config import compose
    from lineflow.pipeline.request import RunRequest
    from lineflow.pipeline.runner import run_partition
    from lineflow.reporting.output import console, emit
    from lineflow.reporting.validation import render_validation, validation_report

    COMMAND.no_words(args)
    settings = compose(args.overrides)
    request = RunRequest.from_settings(
        settings,
        stages=("validate",),
        # Validation reads only what landed: never ask a provider (or for its secret).
        http_mode="replay",
        # Asked for by name: evaluate the rules even when no input changed since last time.
        refresh=True,
    )
    report = run_partition(settings, request)
    found = validation_report(report, settings)
    if args.values["format"] == "json":
        emit(found)
    else:
        render_validation(found, console())
    return report.exit_code
